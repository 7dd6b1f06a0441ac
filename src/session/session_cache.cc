#include "session/session_cache.h"

#include <cstring>
#include <random>

namespace tessera::session {

size_t SessionCache::KeyHash::operator()(const Key& k) const noexcept {
  size_t h;
  std::memcpy(&h, k.data(), sizeof h);
  return h;
}

SessionCache::SessionCache(size_t capacity) : capacity_(capacity) {
  std::random_device seed;
  random_ = (uint64_t{seed()} << 32 | seed()) | 1;  // xorshift needs a state other than zero
}

std::optional<SessionCache::Key> SessionCache::KeyOf(std::string_view id_hash) {
  if (id_hash.size() != kIdHashBytes) return std::nullopt;
  Key k;
  std::memcpy(k.data(), id_hash.data(), kIdHashBytes);
  return k;
}

std::optional<Session> SessionCache::Find(std::string_view id_hash) const {
  const std::optional<Key> key = KeyOf(id_hash);
  if (!key) return std::nullopt;
  const auto it = map_.find(*key);
  if (it == map_.end()) return std::nullopt;
  const Entry& e = it->second;
  Session s;
  s.id_hash.assign(id_hash);
  s.handle.assign(e.handle());
  s.user_id.assign(e.user_id());
  s.csrf_hash.assign(e.csrf_hash());
  s.kind = e.kind;
  s.created_at = e.created_at;
  s.last_seen_at = e.last_seen_at;
  s.expires_at = e.expires_at;
  s.tokens_until = e.tokens_until;
  s.mfa = e.mfa;
  return s;
}

void SessionCache::Put(const Session& s) {
  if (capacity_ == 0) return;
  const std::optional<Key> key = KeyOf(s.id_hash);
  if (!key) return;
  if (s.handle.size() > 255 || s.user_id.size() > 255 || s.csrf_hash.size() > 255) {
    map_.erase(*key);  // an older record of it must not stay behind
    return;
  }
  Entry e;
  e.created_at = s.created_at;
  e.last_seen_at = s.last_seen_at;
  e.expires_at = s.expires_at;
  e.tokens_until = s.tokens_until;
  e.handle_size = static_cast<uint8_t>(s.handle.size());
  e.user_id_size = static_cast<uint8_t>(s.user_id.size());
  e.csrf_hash_size = static_cast<uint8_t>(s.csrf_hash.size());
  e.mfa = s.mfa;
  e.kind = s.kind;
  const size_t text = s.handle.size() + s.user_id.size() + s.csrf_hash.size();
  e.text = std::make_unique_for_overwrite<char[]>(text == 0 ? 1 : text);
  char* p = e.text.get();
  std::memcpy(p, s.handle.data(), s.handle.size());
  std::memcpy(p + s.handle.size(), s.user_id.data(), s.user_id.size());
  std::memcpy(p + s.handle.size() + s.user_id.size(), s.csrf_hash.data(), s.csrf_hash.size());
  if (auto it = map_.find(*key); it != map_.end()) {
    it->second = std::move(e);
    return;
  }
  if (map_.size() >= capacity_) EvictOne();
  map_.emplace(*key, std::move(e));
}

void SessionCache::EvictOne() {
  if (map_.empty()) return;
  // A random bucket, then the next one that holds a record: about uniform over the records, and
  // a few steps at the table's load factor.
  random_ ^= random_ << 13;
  random_ ^= random_ >> 7;
  random_ ^= random_ << 17;
  const size_t buckets = map_.bucket_count();
  for (size_t b = random_ % buckets;; b = (b + 1) % buckets) {
    if (map_.bucket_size(b) > 0) {
      map_.erase(map_.begin(b)->first);
      return;
    }
  }
}

void SessionCache::Erase(std::string_view id_hash) {
  if (const std::optional<Key> key = KeyOf(id_hash)) map_.erase(*key);
}

void SessionCache::SetLastSeen(std::string_view id_hash, int64_t last_seen_at) {
  const std::optional<Key> key = KeyOf(id_hash);
  if (!key) return;
  if (auto it = map_.find(*key); it != map_.end()) it->second.last_seen_at = last_seen_at;
}

void SessionCache::EraseUser(std::string_view user_id, std::string_view keep_id_hash) {
  const std::optional<Key> keep = KeyOf(keep_id_hash);
  std::erase_if(map_, [&](const auto& kv) {
    return kv.second.user_id() == user_id && !(keep && kv.first == *keep);
  });
}

}  // namespace tessera::session
