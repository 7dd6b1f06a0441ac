// SessionStore: where session records live. Implementations: memory, SQLite, later Redis. One
// conformance suite (tests/store_conformance) runs against every implementation.
//
// Every method is thread-safe. A method that cannot reach its storage returns Code::kUnavailable
// (Reason::kStore, or kStoreBusy when locked), never a made-up answer: callers fail closed. Policy
// (timeouts, throttled last-seen writes) is not here but in SessionManager; the store only keeps
// records and enforces the per-user limit atomically, because only it can.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tessera/result.h"
#include "tessera/session/session.h"

namespace tessera::session {

enum class OnLimit : uint8_t { kEvictOldest, kReject };

struct LimitPolicy {
  size_t max_per_user = 0;  // 0: no limit
  OnLimit on_limit = OnLimit::kEvictOldest;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // Stores `s`, enforcing `limit` atomically (even across processes sharing the store): when the
  // user already has max_per_user sessions alive at `now` (expires_at > now), kEvictOldest removes
  // the oldest by created_at first and appends them to *evicted; kReject stores nothing and
  // returns kResourceExhausted/kSessionLimit. kAlreadyExists when id_hash or handle exists.
  virtual Status Create(const Session& s, const LimitPolicy& limit, int64_t now,
                        std::vector<Session>* evicted) = 0;

  // The session, or nullopt when there is none.
  virtual Result<std::optional<Session>> Get(std::string_view id_hash) = 0;

  // The user's sessions, oldest first.
  virtual Result<std::vector<Session>> ListByUser(std::string_view user_id) = 0;

  // Every session, oldest first, at most `limit` (for the admin CLI).
  virtual Result<std::vector<Session>> ListAll(size_t limit) = 0;

  // Removes and returns the session with this public handle, nullopt when there is none.
  virtual Result<std::optional<Session>> RemoveByHandle(std::string_view handle) = 0;

  // Sets last_seen_at. OK (and nothing happens) when the session is gone. Idempotent.
  virtual Status Touch(std::string_view id_hash, int64_t last_seen_at) = 0;

  // Removes and returns the session, nullopt when there was none.
  virtual Result<std::optional<Session>> Remove(std::string_view id_hash) = 0;

  // Removes every session of the user except `keep_id_hash` (may be empty); returns them.
  virtual Result<std::vector<Session>> RemoveByUser(std::string_view user_id,
                                                    std::string_view keep_id_hash) = 0;

  // Removes sessions past their absolute deadline (expires_at <= now) or idle since before
  // `idle_cutoff` (last_seen_at < idle_cutoff); returns how many.
  virtual Result<size_t> RemoveExpired(int64_t now, int64_t idle_cutoff) = 0;

  // Sessions alive at `now`, for the active-sessions gauge.
  virtual Result<size_t> CountAlive(int64_t now) = 0;

  // A number that changes whenever another process may have changed the store (for SQLite,
  // PRAGMA data_version). Callers that cache records drop the cache when it changes. Cheap: no
  // disk I/O. A store that only this process can change returns a constant.
  virtual Result<uint64_t> ExternalVersion() = 0;
};

}  // namespace tessera::session
