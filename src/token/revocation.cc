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

std::optional<std::string_view> TokenIdOfRevocationKey(std::string_view key) {
  if (!key.starts_with(kTokenIdPrefix)) return std::nullopt;
  return key.substr(kTokenIdPrefix.size());
}

const int64_t* LocalRevocationList::Table::Find(std::string_view key) const {
  const size_t h = Hash{}(key);
  const uint64_t bits = Bits(h);
  if ((filter_[h & (filter_.size() - 1)] & bits) != bits) return nullptr;  // surely absent
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : &it->second;
}

void LocalRevocationList::Table::Put(std::string_view key, int64_t until) {
  auto it = map_.find(key);
  if (it != map_.end()) {
    it->second = std::max(it->second, until);
    return;
  }
  map_.emplace(std::string(key), until);
  // Below 8 bits an entry, false positives (which cost a map lookup) grow: twice the words.
  if (map_.size() > filter_.size() * 8) {
    Rebuild(filter_.size() * 2);
  } else {
    Mark(Hash{}(key));
  }
}

void LocalRevocationList::Table::EraseUpTo(int64_t now) {
  const size_t before = map_.size();
  std::erase_if(map_, [now](const auto& kv) { return kv.second <= now; });
  if (map_.size() == before) return;
  // A filter cannot forget a key: made again, sized for what is left (8 to 16 bits an entry).
  size_t words = 64;
  while (words * 8 < map_.size()) words *= 2;
  Rebuild(words);
}

// Four bits of one word, from the hash's high half (its low bits pick the word).
uint64_t LocalRevocationList::Table::Bits(size_t hash) {
  const uint64_t m = static_cast<uint64_t>(hash) * 0x9E3779B97F4A7C15ull;
  return (uint64_t{1} << (m >> 58)) | (uint64_t{1} << ((m >> 52) & 63)) |
         (uint64_t{1} << ((m >> 46) & 63)) | (uint64_t{1} << ((m >> 40) & 63));
}

void LocalRevocationList::Table::Mark(size_t hash) {
  filter_[hash & (filter_.size() - 1)] |= Bits(hash);
}

void LocalRevocationList::Table::Rebuild(size_t words) {
  filter_.assign(words, 0);
  for (const auto& kv : map_) Mark(Hash{}(kv.first));
}

bool LocalRevocationList::IsRevoked(std::string_view sid, std::string_view jti,
                                    int64_t now) const {
  std::shared_lock lock(mu_);
  if (!sid.empty()) {
    if (const int64_t* until = sessions_.Find(sid); until && *until > now) return true;
  }
  if (!jti.empty()) {
    if (const int64_t* until = token_ids_.Find(jti); until && *until > now) return true;
  }
  return false;
}

void LocalRevocationList::RevokeSession(std::string_view sid, int64_t until) {
  if (sid.empty()) return;
  std::unique_lock lock(mu_);
  sessions_.Put(sid, SaturatingAdd(until, leeway_));
}

void LocalRevocationList::RevokeTokenId(std::string_view jti, int64_t until) {
  if (jti.empty()) return;
  std::unique_lock lock(mu_);
  token_ids_.Put(jti, SaturatingAdd(until, leeway_));
}

void LocalRevocationList::Merge(const std::vector<session::Revocation>& entries) {
  std::unique_lock lock(mu_);
  for (const session::Revocation& r : entries) {
    const int64_t until = SaturatingAdd(r.until, leeway_);
    if (auto jti = TokenIdOfRevocationKey(r.handle)) {
      if (!jti->empty()) token_ids_.Put(*jti, until);
    } else if (!r.handle.empty()) {
      sessions_.Put(r.handle, until);
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
  sessions_.EraseUpTo(now);
  token_ids_.EraseUpTo(now);
  return sessions_.size() + token_ids_.size();
}

std::vector<session::Revocation> LocalRevocationList::Snapshot() const {
  std::shared_lock lock(mu_);
  std::vector<session::Revocation> out;
  out.reserve(sessions_.size() + token_ids_.size());
  for (const auto& [sid, until] : sessions_.map()) {
    out.push_back({.handle = sid, .until = until - leeway_});
  }
  for (const auto& [jti, until] : token_ids_.map()) {
    out.push_back({.handle = TokenIdRevocationKey(jti), .until = until - leeway_});
  }
  return out;
}

size_t LocalRevocationList::size() const {
  std::shared_lock lock(mu_);
  return sessions_.size() + token_ids_.size();
}

}  // namespace tessera::token
