#include "tessera/session/session_manager.h"

#include <algorithm>

#include "core/blocking.h"
#include "crypto/hash.h"
#include "crypto/hmac.h"
#include "crypto/random.h"
#include "session/session_cache.h"
#include "tessera/jose/base64url.h"

namespace tessera::session {
namespace {

constexpr size_t kSecretBytes = 32;   // 256 bits (docs/design.md; ASVS 5 asks at least 128)
constexpr size_t kHandleBytes = 16;
constexpr size_t kMaxUserAgent = 256;

std::string RandomToken(size_t bytes) { return jose::Base64UrlEncode(crypto::RandomString(bytes)); }

// Handles are hex: they are typed and pasted into commands, where a leading '-' (possible in
// base64url) would read as an option.
std::string RandomHandle(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string raw = crypto::RandomString(bytes);
  std::string out;
  out.reserve(2 * bytes);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// A secret can only be 43 base64url characters; anything else is refused before any lookup, so
// garbage cookies cost nothing and never reach the store.
bool WellFormedSecret(std::string_view s) {
  return s.size() == jose::Base64UrlEncodedSize(kSecretBytes) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
         });
}

Status Unknown() { return Unauthenticated(Reason::kUnknownSession, "no such session"); }

}  // namespace

SessionManager::SessionManager(SessionStore* store, SessionOptions options, const Clock* clock)
    : store_(store),
      options_(options),
      clock_(clock),
      cache_(std::make_unique<SessionCache>(options.cache_capacity)) {}

SessionManager::~SessionManager() = default;

std::string SessionManager::HashSecret(std::string_view secret) { return crypto::Sha256(secret); }

std::string SessionManager::CsrfTokenFor(std::string_view secret) {
  // HMAC keyed by the session secret: whoever holds the cookie can compute it (and already owns
  // the session); a cross-site page, which can make the browser send the cookie but never read
  // it, cannot. Deriving it lets the page ask for it again (GET /v1/me) instead of storing it.
  const crypto::HmacKey key(crypto::Hash::kSha256, secret);
  uint8_t tag[32];
  key.Compute("tessera csrf v1", tag);
  return jose::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(tag), sizeof tag));
}

bool SessionManager::CheckCsrf(const Session& s, std::string_view token) {
  if (s.csrf_hash.empty() || token.empty()) return false;
  return crypto::ConstantTimeEquals(crypto::Sha256(token), s.csrf_hash);
}

int64_t SessionManager::ExpiresAt(const Session& s) const {
  return std::min(s.expires_at, s.last_seen_at + options_.idle_timeout_seconds);
}

bool SessionManager::Expired(const Session& s, int64_t now) const { return now >= ExpiresAt(s); }

Session SessionManager::NewRecord(std::string_view user_id, SessionKind kind,
                                  const DeviceInfo& device, int64_t now, int64_t lifetime_seconds,
                                  std::string* secret) const {
  *secret = RandomToken(kSecretBytes);
  Session s;
  s.id_hash = HashSecret(*secret);
  s.handle = RandomHandle(kHandleBytes);
  s.user_id = std::string(user_id);
  s.kind = kind;
  s.created_at = s.last_seen_at = now;
  s.expires_at = now + lifetime_seconds;
  s.user_agent = device.user_agent.substr(0, kMaxUserAgent);
  s.ip = device.ip;
  s.mfa = device.mfa;
  return s;
}

void SessionManager::ForgetEvicted(const std::vector<Session>& evicted) {
  if (evicted.empty()) return;
  {
    std::unique_lock lock(mu_);
    for (const Session& e : evicted) cache_->Erase(e.id_hash);
    ++epoch_;
  }
  for (const Session& e : evicted) Ended(e);
}

Result<NewSession> SessionManager::Create(std::string_view user_id, SessionKind kind,
                                          const DeviceInfo& device) {
  const int64_t now = clock_->NowSeconds();
  NewSession out;
  out.record = NewRecord(user_id, kind, device, now, options_.absolute_timeout_seconds, &out.secret);
  if (kind == SessionKind::kCookie) {
    out.csrf_token = CsrfTokenFor(out.secret);
    out.record.csrf_hash = crypto::Sha256(out.csrf_token);
  }
  TESSERA_RETURN_IF_ERROR(store_->Create(out.record, options_.limit, now, &out.evicted));
  ForgetEvicted(out.evicted);
  return out;
}

Result<NewSession> SessionManager::CreateTokenSession(std::string_view user_id,
                                                      const DeviceInfo& device,
                                                      std::string_view refresh_hash,
                                                      int64_t lifetime_seconds,
                                                      int64_t tokens_until,
                                                      std::string_view refresh_family) {
  const int64_t now = clock_->NowSeconds();
  NewSession out;
  // The secret only makes an unguessable key for the record; nobody ever holds it.
  out.record = NewRecord(user_id, SessionKind::kToken, device, now, lifetime_seconds, &out.secret);
  crypto::SecureZero(out.secret.data(), out.secret.size());
  out.secret.clear();
  out.record.tokens_until = tokens_until;
  TESSERA_RETURN_IF_ERROR(
      store_->CreateTokenSession(out.record,
                                 FirstRefreshToken{.hash = refresh_hash, .family = refresh_family},
                                 options_.limit, now, &out.evicted));
  ForgetEvicted(out.evicted);
  return out;
}

void SessionManager::Apply(const Change& change) {
  if (change.kind == ChangeKind::kSessionEnded && !change.id_hash.empty()) {
    CacheErase(change.id_hash);
  }
}

Status SessionManager::PublishUserChanged(std::string_view user_id) {
  return store_->PublishChange(Change{.kind = ChangeKind::kUserChanged, .user_id = std::string(user_id)});
}

void SessionManager::DropCache() {
  std::unique_lock lock(mu_);
  cache_->Clear();
  ++epoch_;
  external_generation_.fetch_add(1);
}

size_t SessionManager::cached_sessions() const {
  std::shared_lock lock(mu_);
  return cache_->size();
}

void SessionManager::CacheErase(std::string_view id_hash) {
  std::unique_lock lock(mu_);
  cache_->Erase(id_hash);
  ++epoch_;
}

Result<Session> SessionManager::Authenticate(std::string_view secret, bool passive) {
  if (!WellFormedSecret(secret)) return Unknown();
  const int64_t now = clock_->NowSeconds();
  const std::string id_hash = HashSecret(secret);
  // While the feed is behind, a cached record may be of a session another process ended.
  const bool trusted = cache_trusted();
  std::optional<Session> found;
  uint64_t epoch;
  {
    std::shared_lock lock(mu_);
    if (trusted) {
      found = cache_->Find(id_hash);
    }
    epoch = epoch_;
  }
  if (found && Expired(*found, now)) {
    // The cached last_seen_at may be old: other processes serve this session too, and their
    // activity reaches the store, not this cache (no feed entry for a touch). Only the stored
    // record may end it for idleness.
    found.reset();
    CacheErase(id_hash);
    std::shared_lock lock(mu_);
    epoch = epoch_;  // as of after the erase: a removal during the read below still moves it
  }
  if (!found) {
    if (!MayBlock()) return WouldBlock();
    TESSERA_ASSIGN_OR_RETURN(found, store_->Get(id_hash));
    if (!found) return Unknown();
    if (options_.defer_touches) {
      // A touch still queued is newer than what the store holds.
      std::lock_guard lock(touches_mu_);
      if (auto it = touches_.find(id_hash); it != touches_.end()) {
        found->last_seen_at = std::max(found->last_seen_at, it->second);
      }
    }
    std::unique_lock lock(mu_);
    // A revocation that ran while we read the store may have removed this record after we read
    // it; caching it then would bring it back. Serve this one request, but do not cache.
    if (epoch_ == epoch) {
      cache_->Put(*found);
    }
  }
  Session s = std::move(*found);
  // The same answer whether it came from the cache (which does not keep these) or the store.
  s.user_agent.clear();
  s.ip.clear();
  if (Expired(s, now)) {
    // An expired session is over for good; remove it so that it cannot come back.
    if (!MayBlock()) return WouldBlock();
    CacheErase(id_hash);
    TESSERA_ASSIGN_OR_RETURN(std::optional<Session> gone, store_->Remove(id_hash));
    if (gone) Ended(*gone);
    return Unauthenticated(Reason::kSessionExpired, "session expired");
  }
  if (!passive && now - s.last_seen_at >= options_.touch_interval_seconds) {
    s.last_seen_at = now;
    if (options_.defer_touches) {
      std::lock_guard lock(touches_mu_);
      touches_[id_hash] = now;
    } else {
      if (!MayBlock()) return WouldBlock();
      TESSERA_RETURN_IF_ERROR(store_->Touch(id_hash, now));
    }
    std::unique_lock lock(mu_);
    cache_->SetLastSeen(id_hash, now);
  }
  return s;
}

Result<std::vector<Session>> SessionManager::List(std::string_view user_id) {
  const int64_t now = clock_->NowSeconds();
  TESSERA_ASSIGN_OR_RETURN(std::vector<Session> all, store_->ListByUser(user_id));
  std::erase_if(all, [&](const Session& s) { return Expired(s, now); });
  return all;
}

Result<std::optional<Session>> SessionManager::Revoke(std::string_view secret) {
  if (!WellFormedSecret(secret)) return std::optional<Session>();
  const std::string id_hash = HashSecret(secret);
  // The cache entry goes first, so that from this moment no request is served from it whatever
  // the store answers, and again after the store forgot it, in case a concurrent miss cached it
  // in between.
  CacheErase(id_hash);
  auto gone = store_->Remove(id_hash);
  CacheErase(id_hash);
  if (gone && *gone) Ended(**gone);
  return gone;
}

Result<Session> SessionManager::RevokeByHandle(std::string_view user_id, std::string_view handle) {
  TESSERA_ASSIGN_OR_RETURN(std::vector<Session> all, store_->ListByUser(user_id));
  for (const Session& s : all) {
    if (s.handle != handle) continue;
    CacheErase(s.id_hash);
    auto removed = store_->Remove(s.id_hash);
    CacheErase(s.id_hash);
    TESSERA_ASSIGN_OR_RETURN(std::optional<Session> gone, std::move(removed));
    if (gone) {
      Ended(*gone);
      return *gone;
    }
    break;
  }
  return Status(Code::kNotFound, Reason::kUnknownSession, "no such session");
}

Result<std::optional<Session>> SessionManager::RevokeHandle(std::string_view handle) {
  TESSERA_ASSIGN_OR_RETURN(std::optional<Session> gone, store_->RemoveByHandle(handle));
  // The id is known only now; a request that cached the record meanwhile loses it here, and one
  // still reading the store sees the epoch move and does not cache.
  if (gone) {
    CacheErase(gone->id_hash);
    Ended(*gone);
  }
  return gone;
}

Result<std::vector<Session>> SessionManager::RevokeAll(std::string_view user_id,
                                                       std::string_view keep_id_hash) {
  // As in Revoke: the cache forgets the user's sessions before and after the store does.
  auto forget = [&] {
    std::unique_lock lock(mu_);
    cache_->EraseUser(user_id, keep_id_hash);
    ++epoch_;
  };
  forget();
  auto gone = store_->RemoveByUser(user_id, keep_id_hash);
  forget();
  if (gone) {
    for (const Session& s : *gone) Ended(s);
  }
  return gone;
}

Status SessionManager::FlushTouches() {
  std::unordered_map<std::string, int64_t> batch;
  {
    std::lock_guard lock(touches_mu_);
    batch.swap(touches_);
  }
  if (batch.empty()) return Status::Ok();
  std::vector<std::pair<std::string, int64_t>> touches(batch.begin(), batch.end());
  Status written = store_->TouchMany(touches);
  if (!written.ok()) {
    std::lock_guard lock(touches_mu_);
    for (auto& [id_hash, at] : batch) {
      int64_t& queued = touches_[id_hash];
      queued = std::max(queued, at);
    }
  }
  return written;
}

Result<size_t> SessionManager::PurgeExpired() {
  const int64_t now = clock_->NowSeconds();
  return store_->RemoveExpired(now, now - options_.idle_timeout_seconds);
}

Result<size_t> SessionManager::CountAlive() { return store_->CountAlive(clock_->NowSeconds()); }

}  // namespace tessera::session
