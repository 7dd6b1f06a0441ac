// SessionStore: where session records live. Implementations: memory, SQLite, later Redis. One
// conformance suite (tests/store_conformance) runs against every implementation.
//
// Every method is thread-safe. A method that cannot reach its storage returns Code::kUnavailable
// (Reason::kStore, or kStoreBusy when locked), never a made-up answer: callers fail closed. Policy
// (timeouts, throttled last-seen writes) is not here but in SessionManager; the store only keeps
// records and enforces what must be atomic, because only it can: the per-user limit, refresh-token
// rotation, and the end of a session together with its refresh family and revocation entry.
//
// Token sessions (DESIGN.md "The bridge"). A token login is a Session of kind kToken whose refresh
// tokens form one family. The store keeps only SHA-256 of each refresh token (SC-09) and never
// lists them. Ending a session, however it happens (Remove, RemoveByHandle, RemoveByUser,
// RemoveByRefresh, RemoveExpired, eviction by the per-user limit, reuse detection), removes its
// refresh family in the same transaction and, when access tokens were issued for it
// (tokens_until > 0), records Revocation{handle, tokens_until}: a restarted verifier rebuilds its
// in-memory revocation set from ListRevocations and still rejects those access tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/result.h"
#include "tessera/session/session.h"

namespace tessera::session {

enum class OnLimit : uint8_t { kEvictOldest, kReject };

// RemoveExpired keeps a revocation entry this long past its `until`: verifiers accept a token up
// to their clock-skew leeway past its exp (at most 60 s, SECURITY.md JV-05), and one that reads
// the list in that window (a restart, another process syncing) must still find the entry.
inline constexpr int64_t kRevocationRetentionSeconds = 300;

// The longest refresh_reuse_grace (the configuration caps it at 5 minutes). A sealed successor is
// kept only while a grace replay could still ask for it: RemoveExpired clears seals of tokens
// rotated longer ago, and a rotation clears the seal of the presented token's predecessor.
inline constexpr int64_t kMaxRefreshGraceSeconds = 300;

struct LimitPolicy {
  size_t max_per_user = 0;  // 0: no limit
  OnLimit on_limit = OnLimit::kEvictOldest;
};

// One refresh token of a token session's family. The token itself is never stored, so a copy of
// the store yields no usable token.
struct RefreshRecord {
  std::string hash;             // SHA-256 (binary) of the refresh token; unique in the store
  std::string session_id_hash;  // the token session whose family it belongs to
  int64_t issued_at = 0;
  int64_t rotated_at = 0;      // 0 while live (never presented); when it was rotated otherwise
  std::string successor_hash;  // the token that replaced it; empty while live
  // The successor token sealed (AEAD) by the caller under a key derived from THIS token; opaque
  // bytes to the store. A replay inside the grace window unseals it to hand back the same
  // successor, while a copy of the store (which has only the hash of this token) yields nothing.
  std::string sealed_successor;

  friend bool operator==(const RefreshRecord&, const RefreshRecord&) = default;
};

// One refresh request, for SessionStore::RotateRefresh.
struct RefreshRotation {
  std::string presented_hash;    // SHA-256 of the refresh token the client presented
  std::string successor_hash;    // SHA-256 of a fresh token the caller made to replace it
  std::string sealed_successor;  // that fresh token, sealed as RefreshRecord::sealed_successor
  int64_t now = 0;               // REQUIRES: > 0 (rotated_at = 0 means live)
  // A replay of a just-rotated token at most this many seconds after its rotation, while its
  // successor is unused, returns that successor (two tabs refreshing at once). <= 0: no window,
  // every reuse is theft.
  int64_t grace_seconds = 0;
  // A session last seen before this (last_seen_at < idle_cutoff) is over by the idle timeout and
  // refreshes nothing. 0: no idle check.
  int64_t idle_cutoff = 0;
  // The `exp` of the access token the caller issues with a kRotated or kGraceReplay answer; the
  // session's tokens_until is raised to it in the same transaction, so that the token cannot
  // escape a revocation that follows. 0: none.
  int64_t access_expires_at = 0;
};

enum class RefreshOutcome : uint8_t {
  // The presented token was live: it is now rotated (rotated_at = now, successor fields set), the
  // successor is stored live, and the session's last_seen_at moves up to now (a refresh is
  // activity).
  kRotated,
  // The presented token was rotated at most grace_seconds ago and its successor is still live:
  // the caller unseals `presented.sealed_successor` and hands that same successor out again.
  // Nothing is rotated and the caller's fresh successor is not stored; only tokens_until may rise.
  kGraceReplay,
  // Any other presentation of a rotated token (grace over, successor already used, an older
  // ancestor): theft (RT-03). The session and its whole family are gone, revocation recorded.
  kReuseDetected,
  // No such token, or its session is gone or past its absolute or idle deadline (the family's
  // lifetime is its session's). Nothing changed.
  kUnknown,
};

struct RefreshResult {
  RefreshOutcome outcome = RefreshOutcome::kUnknown;
  // The presented token's record as it now stands (kRotated: just rotated), or as it stood before
  // its family was removed (kReuseDetected). Empty for kUnknown.
  RefreshRecord presented;
  // kRotated, kGraceReplay: the session as updated (user, handle = the access token's `sid`).
  // kReuseDetected: the session that was removed. Empty for kUnknown.
  Session session;
};

// A removed session whose access tokens may still be presented: reject `sid` = handle until then.
struct Revocation {
  std::string handle;
  int64_t until = 0;  // the latest `exp` of the session's access tokens

  friend bool operator==(const Revocation&, const Revocation&) = default;
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

  // Touch for many sessions at once: (id_hash, last_seen_at) pairs, each moving last_seen_at
  // forward only (two instances may touch one session). Backends that can write the batch in one
  // transaction do (SQLite: one sync to disk for all). Never creates a session.
  virtual Status TouchMany(const std::vector<std::pair<std::string, int64_t>>& touches) {
    for (const auto& [id_hash, at] : touches) {
      TESSERA_ASSIGN_OR_RETURN(std::optional<Session> s, Get(id_hash));
      if (s && s->last_seen_at < at) TESSERA_RETURN_IF_ERROR(Touch(id_hash, at));
    }
    return Status::Ok();
  }

  // Removes and returns the session, nullopt when there was none.
  virtual Result<std::optional<Session>> Remove(std::string_view id_hash) = 0;

  // Removes every session of the user except `keep_id_hash` (may be empty); returns them.
  virtual Result<std::vector<Session>> RemoveByUser(std::string_view user_id,
                                                    std::string_view keep_id_hash) = 0;

  // Removes sessions past their absolute deadline (expires_at <= now) or idle since before
  // `idle_cutoff` (last_seen_at < idle_cutoff); returns how many. Also drops the revocation
  // entries that no longer matter (until <= now - kRevocationRetentionSeconds) and the sealed
  // successors of tokens rotated before now - kMaxRefreshGraceSeconds.
  virtual Result<size_t> RemoveExpired(int64_t now, int64_t idle_cutoff) = 0;

  // Sessions alive at `now`, for the active-sessions gauge.
  virtual Result<size_t> CountAlive(int64_t now) = 0;

  // A number that changes whenever another process may have changed the store (for SQLite,
  // PRAGMA data_version). Callers that cache records drop the cache when it changes. Cheap: no
  // disk I/O. A store that only this process can change returns a constant.
  virtual Result<uint64_t> ExternalVersion() = 0;

  // Token sessions. The defaults answer kUnavailable (fail closed) for stores that do not keep
  // them; the memory and SQLite stores implement all of them.

  // Create for a token login: stores `s` and, in the same transaction, the first refresh token of
  // its family (live, issued at s.created_at), with the same limit rules, evictions and errors as
  // Create. kAlreadyExists also when `refresh_hash` exists; then nothing is stored.
  // kInvalidArgument when s.kind is not kToken or refresh_hash is empty.
  virtual Status CreateTokenSession(const Session& s, std::string_view refresh_hash,
                                    const LimitPolicy& limit, int64_t now,
                                    std::vector<Session>* evicted) {
    (void)s, (void)refresh_hash, (void)limit, (void)now, (void)evicted;
    return NoTokenSessions();
  }

  // Presents a refresh token, atomically (even across processes sharing the store): one refresh
  // of one token never yields two live successors, whatever runs at the same time. The outcome
  // (see RefreshOutcome) depends only on the stored state at `r.now`:
  //   unknown token; session gone, expires_at <= now or last_seen_at < idle_cutoff -> kUnknown
  //   live token                                                             -> kRotated
  //   rotated, grace > 0, now - rotated_at <= grace, successor still live    -> kGraceReplay
  //   any other rotated token                                                -> kReuseDetected
  // kAlreadyExists (nothing changed) when the token is live and successor_hash already names a
  // token; kInvalidArgument when a hash is empty or now <= 0. Not idempotent: repeating a kRotated
  // call is a replay.
  virtual Result<RefreshResult> RotateRefresh(const RefreshRotation& r) {
    (void)r;
    return NoTokenSessions();
  }

  // Removes and returns the session that the refresh token `refresh_hash` belongs to, whatever
  // the token's state, with its family (RFC 7009: revoking a refresh token ends its grant).
  // nullopt when no token has this hash.
  virtual Result<std::optional<Session>> RemoveByRefresh(std::string_view refresh_hash) {
    (void)refresh_hash;
    return NoTokenSessions();
  }

  // The refresh token `refresh_hash` and its session, for introspection (RFC 7662); nullopt when
  // no token has this hash. Changes nothing. The caller decides liveness (rotated_at == 0, the
  // session not expired).
  virtual Result<std::optional<std::pair<RefreshRecord, Session>>> FindRefresh(
      std::string_view refresh_hash) {
    (void)refresh_hash;
    return NoTokenSessions();
  }

  // Records a revocation that no session removal implies, such as one access token revoked on
  // its own (RFC 7009); `r.handle` is then token::TokenIdRevocationKey(jti). Keeps the later
  // `until` when the key is already recorded. ListRevocations returns it; RemoveExpired drops it.
  virtual Status AddRevocation(const Revocation& r) {
    (void)r;
    return NoTokenSessions();
  }

  // Raises the session's tokens_until to `exp` (never lowers it). Call it before handing out an
  // access token that expires at `exp`. kNotFound/kUnknownSession when the session is gone: then
  // the token must not be issued, since no revocation entry would cover it. Idempotent.
  virtual Status ExtendTokensUntil(std::string_view id_hash, int64_t exp) {
    (void)id_hash, (void)exp;
    return NoTokenSessions();
  }

  // Every recorded revocation with until > now, in no particular order (one per handle, with the
  // latest until). For rebuilding the in-memory revocation set when a process starts. Entries
  // with until <= now are dropped by RemoveExpired.
  virtual Result<std::vector<Revocation>> ListRevocations(int64_t now) {
    (void)now;
    return NoTokenSessions();
  }

 protected:
  // The precondition of CreateTokenSession, checked the same way by every backend.
  static Status CheckTokenSession(const Session& s, std::string_view refresh_hash) {
    if (s.kind != SessionKind::kToken || refresh_hash.empty()) {
      return Status(Code::kInvalidArgument, Reason::kNone,
                    "a token session needs kind kToken and a refresh hash");
    }
    return Status::Ok();
  }

 private:
  static Status NoTokenSessions() {
    return Status(Code::kUnavailable, Reason::kStore, "this store does not keep token sessions");
  }
};

}  // namespace tessera::session
