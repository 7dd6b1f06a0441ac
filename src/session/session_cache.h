// The session records SessionManager keeps in memory so that a check needs no store read: what a
// check uses of a Session, packed into about 200 bytes a record (a Session with its strings takes
// about 600; docs/benchmarks.md "Memory"). Not kept: the user agent and the IP address, which only
// the session lists show, and those read the store.
//
// Bounded: when full, a Put evicts one record chosen at random, never the whole cache, so that
// someone who signs in again and again (or the sessions of one busy client) can push out at most
// one other record per session made, and a flood of new sessions does not send every other
// session's next check to the store.
//
// Not thread-safe: SessionManager holds its lock around every call.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "tessera/session/session.h"

namespace tessera::session {

class SessionCache {
 public:
  // At most `capacity` records; 0 keeps none.
  explicit SessionCache(size_t capacity);

  // The record of the session whose id_hash this is, with empty user_agent and ip.
  std::optional<Session> Find(std::string_view id_hash) const;
  // Keeps `s` (replacing its older record). A record that does not fit the packed form (an
  // id_hash that is not 32 bytes, a field over 255 bytes: never one tessera made) is not kept,
  // and checks of that session read the store.
  void Put(const Session& s);
  void Erase(std::string_view id_hash);
  // Records the last activity of a kept session; nothing when it is not kept.
  void SetLastSeen(std::string_view id_hash, int64_t last_seen_at);
  // Drops the records of `user_id`'s sessions, except the one whose id_hash is `keep_id_hash`.
  void EraseUser(std::string_view user_id, std::string_view keep_id_hash);
  void Clear() { map_.clear(); }
  size_t size() const { return map_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  static constexpr size_t kIdHashBytes = 32;  // SHA-256
  using Key = std::array<char, kIdHashBytes>;
  struct KeyHash {
    // The key is a SHA-256 output: any eight of its bytes are as good as a hash of all of it.
    // noexcept, so that the table does not keep a copy of the hash in every node.
    size_t operator()(const Key& k) const noexcept;
  };
  struct Entry {
    int64_t created_at = 0;
    int64_t last_seen_at = 0;
    int64_t expires_at = 0;
    int64_t tokens_until = 0;
    // handle, user_id and csrf_hash, one after the other, in one allocation.
    std::unique_ptr<char[]> text;
    uint8_t handle_size = 0;
    uint8_t user_id_size = 0;
    uint8_t csrf_hash_size = 0;
    bool mfa = false;
    SessionKind kind = SessionKind::kCookie;

    std::string_view handle() const { return {text.get(), handle_size}; }
    std::string_view user_id() const { return {text.get() + handle_size, user_id_size}; }
    std::string_view csrf_hash() const {
      return {text.get() + handle_size + user_id_size, csrf_hash_size};
    }
  };

  static std::optional<Key> KeyOf(std::string_view id_hash);
  void EvictOne();

  size_t capacity_;
  uint64_t random_;  // xorshift state: which record an eviction takes
  std::unordered_map<Key, Entry, KeyHash> map_;
};

}  // namespace tessera::session
