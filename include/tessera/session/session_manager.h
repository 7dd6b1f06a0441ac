// SessionManager: the session policy, held once for every store (Chromium's CookieMonster over
// its persistent store): 256-bit secrets kept only as SHA-256, a new secret on every login, idle
// and absolute timeouts, throttled last-seen writes, the per-user limit, and a read cache that
// keeps the request path free of disk I/O while revocations still take effect at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tessera/clock.h"
#include "tessera/result.h"
#include "tessera/session/change_feed.h"
#include "tessera/session/session.h"
#include "tessera/session/session_store.h"

namespace tessera::session {

struct SessionOptions {
  int64_t idle_timeout_seconds = 24 * 3600;      // no activity for this long ends a session
  int64_t absolute_timeout_seconds = 14 * 86400;  // no session lives longer, active or not
  LimitPolicy limit;                              // sessions per user
  // last_seen_at is written at most once per this many seconds per session: activity within a
  // minute does not need a write, and idle timeouts are minutes to hours.
  int64_t touch_interval_seconds = 60;
  // true: last_seen_at writes are queued in memory and written in batches by FlushTouches(),
  // which the owner calls every second or so from a background thread, so that no request waits
  // for a disk write (SQLite syncs every commit). The in-memory record is current at once; a
  // crash loses at most the queued touches, which only makes idle expiry come a little early.
  bool defer_touches = false;
  // Cached records at most (about 200 bytes each); when the cache is full, one record chosen at
  // random makes room for a new one.
  size_t cache_capacity = 100000;
};

// What a sign-in knows about the client, kept in the session it starts.
struct DeviceInfo {
  std::string user_agent;
  std::string ip;
  bool mfa = false;  // the sign-in passed a second factor (Session::mfa)
};

// What a login hands to the client. The secret and the CSRF token exist only here and in the
// client: the store holds their hashes.
struct NewSession {
  std::string secret;      // 256 bits from the OS CSPRNG, base64url (43 characters)
  std::string csrf_token;  // CsrfTokenFor(secret); empty for token sessions
  Session record;
  std::vector<Session> evicted;  // sessions the per-user limit ended to make room
};

class SessionCache;  // src/session/session_cache.h

class SessionManager {
 public:
  // REQUIRES: `store` and `clock` outlive the manager.
  SessionManager(SessionStore* store, SessionOptions options, const Clock* clock);
  ~SessionManager();
  SessionManager(const SessionManager&) = delete;
  SessionManager& operator=(const SessionManager&) = delete;

  // Starts a session for `user_id`. Always a fresh secret: an identifier the client had before
  // login is never adopted (session fixation).
  Result<NewSession> Create(std::string_view user_id, SessionKind kind, const DeviceInfo& device);

  // Starts a token session (docs/design.md: a token login is a session too) with the first refresh
  // token of its family, `refresh_hash` (of family `refresh_family`, generation 0; see
  // session_store.h), under the same per-user limit as Create. It ends
  // `lifetime_seconds` after now (token.refresh_ttl: the family's absolute lifetime) or by the
  // idle timeout, whichever comes first; a refresh is activity. `tokens_until` is the `exp` of
  // the access token the caller hands out with it. The returned secret is empty: a token session
  // has no cookie, only its refresh tokens.
  Result<NewSession> CreateTokenSession(std::string_view user_id, const DeviceInfo& device,
                                        std::string_view refresh_hash, int64_t lifetime_seconds,
                                        int64_t tokens_until,
                                        std::string_view refresh_family = {});

  // Called with every session this manager ends (logout, revocation by handle or by user,
  // eviction by the per-user limit, expiry found on use), once the store has removed it: the
  // bridge puts the session's sid into the revocation list here. Set before the manager is used.
  void set_on_end(std::function<void(const Session&)> on_end) { on_end_ = std::move(on_end); }

  // The live session behind `secret`. kUnauthenticated with kUnknownSession or kSessionExpired
  // otherwise; kUnavailable when the store cannot answer. `passive` requests (background polls)
  // do not count as activity. The record has no user_agent and ip (the cache does not keep
  // them; List has them).
  Result<Session> Authenticate(std::string_view secret, bool passive);

  // When the session ends if nothing else happens: min(absolute deadline, last seen + idle).
  int64_t ExpiresAt(const Session& s) const;

  // The CSRF token of the cookie session behind `secret`: derived from it, so the holder of the
  // cookie can be told it again on any page load.
  static std::string CsrfTokenFor(std::string_view secret);

  // True when `token` is the CSRF token bound to `s` (constant-time).
  static bool CheckCsrf(const Session& s, std::string_view token);

  // The user's live sessions, oldest first.
  Result<std::vector<Session>> List(std::string_view user_id);

  // Ends the session behind `secret` (logout). Returns it, or nullopt when there was none.
  Result<std::optional<Session>> Revoke(std::string_view secret);

  // Ends the user's session with this public handle. kNotFound when the user has no such
  // session: another user's handle is indistinguishable from a made-up one (no IDOR oracle).
  Result<Session> RevokeByHandle(std::string_view user_id, std::string_view handle);

  // Ends the session with this public handle, whoever owns it (administrators). nullopt when
  // there is none.
  Result<std::optional<Session>> RevokeHandle(std::string_view handle);

  // Ends every session of the user except `keep_id_hash` (may be empty: all). Returns them.
  Result<std::vector<Session>> RevokeAll(std::string_view user_id, std::string_view keep_id_hash);

  // Writes the queued last_seen_at updates (defer_touches) in one batch. Thread-safe. On failure
  // the batch is queued again (a newer touch of the same session wins).
  Status FlushTouches();

  // Deletes expired records from the store. Returns how many.
  Result<size_t> PurgeExpired();

  // Sessions alive now (for a gauge).
  Result<size_t> CountAlive();

  const SessionOptions& options() const { return options_; }

  // What other processes change reaches the cache through the store's change feed
  // (change_feed.h): a session::ChangeFollower calls Apply for each entry and DropCache after a
  // gap. Sessions this manager ends leave the cache at once without it.

  // Drops the cached record of a session that ended (kSessionEnded); other entries change
  // nothing here. Thread-safe.
  void Apply(const Change& change);
  // Tells every process sharing the store that the account changed (kUserChanged), so that
  // they drop their cached copies. Call it after the change is stored.
  Status PublishUserChanged(std::string_view user_id);
  // Drops every cached record (the feed lost entries). Thread-safe.
  void DropCache();
  // Records in the cache now. Thread-safe.
  size_t cached_sessions() const;
  // Whether the cache may answer: a function saying whether the feed is current
  // (ChangeFollower::Fresh). While it says no, every Authenticate reads the store (and fails
  // closed when that fails). Unset: this process is the store's only writer. Set before use.
  void set_feed(std::function<bool()> fresh) { feed_fresh_ = std::move(fresh); }
  // Whether caches kept beside this one may answer now (the feed is current, or there is none).
  bool cache_trusted() const { return !feed_fresh_ || feed_fresh_(); }

  // Moves whenever DropCache dropped everything; caches kept beside this one (of users, say)
  // drop theirs when it moves.
  uint64_t external_generation() const { return external_generation_.load(); }

  // SHA-256 of a secret, the key under which the store keeps its session.
  static std::string HashSecret(std::string_view secret);

 private:
  bool Expired(const Session& s, int64_t now) const;
  // A new record for `user_id` with fresh secret and handle; *secret receives the secret.
  Session NewRecord(std::string_view user_id, SessionKind kind, const DeviceInfo& device,
                    int64_t now, int64_t lifetime_seconds, std::string* secret) const;
  // Sessions the per-user limit removed for a new one: out of the cache, and Ended.
  void ForgetEvicted(const std::vector<Session>& evicted);
  void Ended(const Session& s) const {
    if (on_end_) on_end_(s);
  }
  void CacheErase(std::string_view id_hash);

  SessionStore* store_;
  SessionOptions options_;
  std::function<void(const Session&)> on_end_;
  const Clock* clock_;
  mutable std::shared_mutex mu_;
  std::unique_ptr<SessionCache> cache_;  // GUARDED_BY(mu_); by id_hash
  std::function<bool()> feed_fresh_;
  std::atomic<uint64_t> external_generation_{0};
  // Bumped by every removal from the cache; a store read only enters the cache when no removal
  // happened while it ran.
  uint64_t epoch_ = 0;  // GUARDED_BY(mu_)
  std::mutex touches_mu_;
  std::unordered_map<std::string, int64_t> touches_;  // GUARDED_BY(touches_mu_); by id_hash
};

}  // namespace tessera::session
