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

Status LocalRevocationList::Check(int64_t) const {
  if (feed_fresh_ && !feed_fresh_()) {
    return Status(Code::kUnavailable, Reason::kStore,
                  "the revocation list cannot be brought up to date from the session store");
  }
  return Status::Ok();
}

void LocalRevocationList::Apply(const session::Change& change) {
  switch (change.kind) {
    case session::ChangeKind::kSessionEnded:
      if (change.until > 0) RevokeSession(change.handle, change.until);
      break;
    case session::ChangeKind::kTokenRevoked:
      Merge({session::Revocation{.handle = change.handle, .until = change.until}});
      break;
    case session::ChangeKind::kUserChanged:
    case session::ChangeKind::kKeysetChanged:
      break;
  }
}

Status LocalRevocationList::Load(session::SessionStore& store, int64_t now) {
  // Entries whose tokens expired less than the leeway ago still stop them here.
  TESSERA_ASSIGN_OR_RETURN(std::vector<session::Revocation> entries,
                           store.ListRevocations(now - leeway_));
  Merge(entries);
  return Status::Ok();
}

size_t LocalRevocationList::Prune(int64_t now) {
  std::unique_lock lock(mu_);
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second <= now; });
  std::erase_if(token_ids_, [now](const auto& kv) { return kv.second <= now; });
  return sessions_.size() + token_ids_.size();
}

std::vector<session::Revocation> LocalRevocationList::Snapshot() const {
  std::shared_lock lock(mu_);
  std::vector<session::Revocation> out;
  out.reserve(sessions_.size() + token_ids_.size());
  for (const auto& [sid, until] : sessions_) {
    out.push_back({.handle = sid, .until = until - leeway_});
  }
  for (const auto& [jti, until] : token_ids_) {
    out.push_back({.handle = TokenIdRevocationKey(jti), .until = until - leeway_});
  }
  return out;
}

size_t LocalRevocationList::size() const {
  std::shared_lock lock(mu_);
  return sessions_.size() + token_ids_.size();
}

}  // namespace tessera::token
