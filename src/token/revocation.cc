#include "tessera/token/revocation.h"

#include <algorithm>
#include <limits>

namespace tessera::token {
namespace {

constexpr std::string_view kTokenIdPrefix = "jti:";

int64_t SaturatingAdd(int64_t a, int64_t b) {
  return a > std::numeric_limits<int64_t>::max() - b ? std::numeric_limits<int64_t>::max() : a + b;
}

}  // namespace

std::string TokenIdRevocationKey(std::string_view jti) {
  std::string key(kTokenIdPrefix);
  key += jti;
  return key;
}

void LocalRevocationList::Put(Map& map, std::string_view key, int64_t until) {
  auto it = map.find(key);
  if (it == map.end()) {
    map.emplace(std::string(key), until);
  } else {
    it->second = std::max(it->second, until);
  }
}

bool LocalRevocationList::IsRevoked(std::string_view sid, std::string_view jti,
                                    int64_t now) const {
  std::shared_lock lock(mu_);
  if (!sid.empty()) {
    if (auto it = sessions_.find(sid); it != sessions_.end() && it->second > now) return true;
  }
  if (!jti.empty()) {
    if (auto it = token_ids_.find(jti); it != token_ids_.end() && it->second > now) return true;
  }
  return false;
}

void LocalRevocationList::RevokeSession(std::string_view sid, int64_t until) {
  if (sid.empty()) return;
  std::unique_lock lock(mu_);
  Put(sessions_, sid, SaturatingAdd(until, leeway_));
}

void LocalRevocationList::RevokeTokenId(std::string_view jti, int64_t until) {
  if (jti.empty()) return;
  std::unique_lock lock(mu_);
  Put(token_ids_, jti, SaturatingAdd(until, leeway_));
}

void LocalRevocationList::Merge(const std::vector<session::Revocation>& entries) {
  std::unique_lock lock(mu_);
  for (const session::Revocation& r : entries) {
    const int64_t until = SaturatingAdd(r.until, leeway_);
    std::string_view key = r.handle;
    if (key.starts_with(kTokenIdPrefix)) {
      key.remove_prefix(kTokenIdPrefix.size());
      if (!key.empty()) Put(token_ids_, key, until);
    } else if (!key.empty()) {
      Put(sessions_, key, until);
    }
  }
}

Status LocalRevocationList::Check(int64_t now) const {
  const int64_t ok = last_sync_ok_.load(std::memory_order_relaxed);
  if (ok >= 0 && now - ok > max_staleness_) {
    return Status(Code::kUnavailable, Reason::kStore,
                  "the revocation list cannot be brought up to date from the session store");
  }
  return Status::Ok();
}

Result<bool> LocalRevocationList::SyncFrom(session::SessionStore& store, int64_t now) {
  std::lock_guard sync(sync_mu_);
  // From the first call on, the list is only as good as its feed (Check).
  if (last_sync_ok_.load() < 0) last_sync_ok_.store(0);
  TESSERA_ASSIGN_OR_RETURN(uint64_t version, store.ExternalVersion());
  if (synced_ && version == store_version_) {
    last_sync_ok_.store(now, std::memory_order_relaxed);
    return false;
  }
  // Read the list after the version: a write that lands in between moves the version again and
  // is read on the next call. Merging is a union, so reading an entry twice is harmless.
  // Entries whose tokens expired less than the leeway ago still stop them here.
  TESSERA_ASSIGN_OR_RETURN(std::vector<session::Revocation> entries,
                           store.ListRevocations(now - leeway_));
  Merge(entries);
  store_version_ = version;
  synced_ = true;
  last_sync_ok_.store(now, std::memory_order_relaxed);
  return true;
}

size_t LocalRevocationList::Prune(int64_t now) {
  std::unique_lock lock(mu_);
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second <= now; });
  std::erase_if(token_ids_, [now](const auto& kv) { return kv.second <= now; });
  return sessions_.size() + token_ids_.size();
}

size_t LocalRevocationList::size() const {
  std::shared_lock lock(mu_);
  return sessions_.size() + token_ids_.size();
}

}  // namespace tessera::token
