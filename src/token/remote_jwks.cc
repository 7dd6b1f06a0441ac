#include "tessera/token/remote_jwks.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <optional>
#include <utility>

#include "core/json.h"
#include "core/worker_pool.h"
#include "crypto/hash.h"
#include "token/http_get.h"

namespace tessera::token {
namespace {

// Bounds on durations, far beyond any sensible value, so that time sums cannot overflow.
constexpr int64_t kMaxSeconds = 366 * 86400;
constexpr int64_t kMaxTimeoutMs = 600 * 1000;

Status BadConfig(std::string message) {
  return InvalidArgument(Reason::kBadConfig, std::move(message));
}

Status CheckOptions(const RemoteJwksOptions& o) {
  auto in = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  if (o.issuer.empty() && o.jwks_url.empty()) {
    return BadConfig("remote JWKS: an issuer (for discovery) or a JWKS URL is required");
  }
  if (!in(o.connect_timeout_ms, 1, kMaxTimeoutMs) || !in(o.total_timeout_ms, 1, kMaxTimeoutMs)) {
    return BadConfig("remote JWKS: timeouts must be within 1 ms and 600 s");
  }
  if (o.max_body_bytes == 0) return BadConfig("remote JWKS: max_body_bytes must be positive");
  if (!in(o.min_refresh_seconds, 1, kMaxSeconds) ||
      !in(o.max_refresh_seconds, o.min_refresh_seconds, kMaxSeconds) ||
      !in(o.default_refresh_seconds, o.min_refresh_seconds, o.max_refresh_seconds)) {
    return BadConfig("remote JWKS: need 1 <= min_refresh <= default_refresh <= max_refresh");
  }
  // Zero would let every token with a made-up kid cause a fetch (KM-03).
  if (!in(o.unknown_kid_interval_seconds, 1, kMaxSeconds)) {
    return BadConfig("remote JWKS: unknown_kid_interval_seconds must be at least 1");
  }
  if (!in(o.unknown_kid_min_gap_seconds, 1, o.unknown_kid_interval_seconds)) {
    return BadConfig(
        "remote JWKS: need 1 <= unknown_kid_min_gap_seconds <= unknown_kid_interval_seconds");
  }
  return Status::Ok();
}

HttpGetOptions HttpOptions(const RemoteJwksOptions& o, const std::atomic<bool>* cancel = nullptr) {
  return {.ca_file = o.ca_file,
          .connect_timeout_ms = o.connect_timeout_ms,
          .total_timeout_ms = o.total_timeout_ms,
          .max_body_bytes = o.max_body_bytes,
          .cancel = cancel};
}

// True when `since` is at least `interval` ago. A clock stepped back by more than `step_back`
// counts as the interval having passed, not as a lockout; a smaller step, or concurrent callers
// whose `now` differ by a second or two, waits it out (else they could alternate a limit open).
bool Passed(int64_t since, int64_t now, int64_t interval, int64_t step_back) {
  return now - since >= interval || since - now > step_back;
}

// The JWKS URL from the issuer's discovery document (OpenID Connect Discovery 1.0 section 4).
Result<std::string> Discover(const RemoteJwksOptions& o) {
  return DiscoverUrl(o.issuer, "jwks_uri", HttpOptions(o), o.allow_plain_http);
}

bool HasKid(const jose::Jwks& keys, std::string_view kid) {
  return std::any_of(keys.keys().begin(), keys.keys().end(),
                     [&](const jose::Jwk& k) { return k.kid() == kid; });
}

}  // namespace

struct RemoteJwks::Fetched {
  Status status;
  std::string body;
  std::shared_ptr<const jose::Jwks> keys;  // set when status is OK
  std::optional<int64_t> max_age;
};

RemoteJwks::RemoteJwks(RemoteJwksOptions options, std::string jwks_url)
    : options_(std::move(options)), jwks_url_(std::move(jwks_url)) {}

Result<std::unique_ptr<RemoteJwks>> RemoteJwks::Create(RemoteJwksOptions options, int64_t now) {
  TESSERA_RETURN_IF_ERROR(CheckOptions(options));
  std::string url = options.jwks_url;
  if (url.empty()) {
    TESSERA_ASSIGN_OR_RETURN(url, Discover(options));
  } else {
    TESSERA_RETURN_IF_ERROR(CheckKeyUrl(url, options.allow_plain_http));
  }
  std::unique_ptr<RemoteJwks> jwks(new RemoteJwks(std::move(options), std::move(url)));
  // The first fetch runs here, before the fetch thread exists: its failure is Create's.
  Fetched first = jwks->Fetch();
  if (!first.status.ok()) return first.status;
  {
    std::lock_guard lock(jwks->mu_);
    jwks->Install(std::move(first), now);
  }
  jwks->thread_ = std::thread([p = jwks.get()] {
    NameThisThread("tessera-jwks");
    p->Loop();
  });
  return jwks;
}

RemoteJwks::~RemoteJwks() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cancel_.store(true);  // a fetch in flight gives up instead of running to its timeout
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

RemoteJwks::Fetched RemoteJwks::Fetch() const {
  Fetched f;
  auto response = HttpGet(jwks_url_, HttpOptions(options_, &cancel_));
  if (!response) {
    f.status = response.error();
    return f;
  }
  auto jwks = jose::Jwks::Parse(response->body);
  if (!jwks) {
    f.status = Status(jwks.error().code(), jwks.error().reason(),
                      jwks_url_ + ": not a usable key set: " + jwks.error().message());
    return f;
  }
  // A published private or secret key is a broken issuer (KM-01), and a secret one would let
  // whoever fetched it mint tokens: refuse the whole answer rather than guess.
  for (const jose::Jwk& key : jwks->keys()) {
    if (key.is_private()) {
      f.status = InvalidArgument(Reason::kKeyInvalid,
                                 jwks_url_ + ": the set publishes a private or secret key");
      return f;
    }
  }
  // An empty answer (a misconfigured endpoint) would take every key away at once; keep the last
  // good set and report it instead.
  if (jwks->empty()) {
    f.status = InvalidArgument(Reason::kNoKey, jwks_url_ + ": no usable signing key in the set");
    return f;
  }
  f.keys = std::make_shared<const jose::Jwks>(std::move(*jwks));
  f.body = std::move(response->body);
  f.max_age = CacheMaxAge(response->cache_control);
  return f;
}

void RemoteJwks::Install(Fetched f, int64_t now) {
  ++done_;
  last_status_ = f.status;
  if (!f.status.ok()) {
    refresh_at_ = now + options_.min_refresh_seconds;
    return;
  }
  // An unchanged answer keeps the set's identity: the verified-token cache is keyed on it.
  if (!keys_ || f.body != body_) {
    keys_ = std::move(f.keys);
    body_ = std::move(f.body);
  }
  refresh_at_ = now + (f.max_age ? std::clamp(*f.max_age, options_.min_refresh_seconds,
                                              options_.max_refresh_seconds)
                                 : options_.default_refresh_seconds);
}

std::shared_ptr<const jose::Jwks> RemoteJwks::Keys(int64_t now) {
  std::lock_guard lock(mu_);
  // A refresh time further ahead than any interval means the clock was stepped back.
  bool due = now >= refresh_at_ || refresh_at_ - now > options_.max_refresh_seconds;
  if (due && !fetching_ && !wanted_) Want(now);
  // An unknown kid's refetch that had to wait for the gap starts with the first call after it.
  if (unknown_kid_pending_) WantForUnknownKid(now);
  return keys_;
}

bool RemoteJwks::RefreshForUnknownKid(std::string_view kid, int64_t now) {
  // Hashed outside the lock: the table holds fixed-size digests, whatever size the kid is.
  std::string digest = crypto::Sha256(kid);
  std::lock_guard lock(mu_);
  if (HasKid(*keys_, kid)) return true;  // a fetch landed since the caller's Keys()
  if (unknown_kid_pending_) WantForUnknownKid(now);
  if (auto it = seen_index_.find(digest); it != seen_index_.end()) {
    SeenKid& seen = *it->second;
    // This kid asked for a refetch within the interval (and it has started or is pending).
    if (!Passed(seen.at, now, options_.unknown_kid_interval_seconds,
                options_.unknown_kid_interval_seconds)) {
      return false;
    }
    seen.at = now;
    seen_kids_.splice(seen_kids_.end(), seen_kids_, it->second);  // the newest now
  } else {
    // A kid not seen lately always gets in, by forgetting the oldest: made-up kids cannot fill
    // the table against a genuine one. (One that guessed a kid before the issuer published it
    // delays that kid by an interval at most.)
    if (seen_kids_.size() >= kMaxTrackedKids) {
      seen_index_.erase(seen_kids_.front().digest);
      seen_kids_.pop_front();
    }
    seen_kids_.push_back({.digest = std::move(digest), .at = now});
    seen_index_.emplace(seen_kids_.back().digest, std::prev(seen_kids_.end()));
  }
  WantForUnknownKid(now);
  return false;
}

Status RemoteJwks::Refresh(int64_t now) {
  std::unique_lock lock(mu_);
  FetchAndWait(lock, now);
  return last_status_;
}

void RemoteJwks::Want(int64_t now) {
  wanted_now_ = wanted_ ? std::max(wanted_now_, now) : now;
  wanted_ = true;
  cv_.notify_all();
}

void RemoteJwks::WantForUnknownKid(int64_t now) {
  if (wanted_) {  // a fetch that has not started yet serves this kid too
    unknown_kid_pending_ = false;
    return;
  }
  if (unknown_kid_fetched_ &&
      !Passed(unknown_kid_fetch_at_, now, options_.unknown_kid_min_gap_seconds,
              options_.unknown_kid_interval_seconds)) {
    unknown_kid_pending_ = true;
    return;
  }
  unknown_kid_fetched_ = true;
  unknown_kid_fetch_at_ = now;
  unknown_kid_pending_ = false;
  // Queued behind a fetch in flight, if any: that one may have started before the kid was
  // published. A fetch already queued has not started, so it serves this kid too.
  Want(now);
}

void RemoteJwks::FetchAndWait(std::unique_lock<std::mutex>& lock, int64_t now) {
  // The fetch asked for here finishes after the one in flight, if any.
  const uint64_t target = done_ + (fetching_ ? 1 : 0) + 1;
  Want(now);
  // The fetch thread finishes every fetch within total_timeout_ms (curl enforces it); the bound
  // here only guards against that promise breaking.
  cv_.wait_for(lock, std::chrono::milliseconds(2 * options_.total_timeout_ms + 1000),
               [&] { return done_ >= target || stop_; });
}

void RemoteJwks::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || wanted_; });
    if (stop_) return;
    wanted_ = false;
    fetching_ = true;
    const int64_t now = wanted_now_;
    lock.unlock();
    Fetched fetched = Fetch();  // the network, outside the lock: Keys() never waits for it
    lock.lock();
    Install(std::move(fetched), now);
    fetching_ = false;
    cv_.notify_all();
  }
}

Status RemoteJwks::last_status() const {
  std::lock_guard lock(mu_);
  return last_status_;
}

int64_t RemoteJwks::refresh_at() const {
  std::lock_guard lock(mu_);
  return refresh_at_;
}

uint64_t RemoteJwks::fetch_count() const {
  std::lock_guard lock(mu_);
  return done_;
}

size_t RemoteJwks::unknown_kids_tracked() const {
  std::lock_guard lock(mu_);
  return seen_kids_.size();
}

}  // namespace tessera::token
