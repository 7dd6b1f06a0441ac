// SessionStore: where session records live. Implementations: memory, SQLite, Redis. One
// conformance suite (tests/store_conformance) runs against every implementation.
//
// Blocking: every method may block on I/O (SQLite: a disk read or a commit's sync, and up to
// busy_timeout for another process's write lock; a network store: a round trip; ReadChanges also
// up to its `wait`). The server calls them only from its store pool, password pool, maintenance
// or feed thread, never from an I/O thread (docs/design.md "Threading").
//
// Every method is thread-safe. A method that cannot reach its storage returns Code::kUnavailable
// (Reason::kStore, or kStoreBusy when locked), never a made-up answer: callers fail closed. Policy
// (timeouts, throttled last-seen writes) is not here but in SessionManager; the store only keeps
// records and enforces what must be atomic, because only it can: the per-user limit, refresh-token
// rotation, and the end of a session together with its refresh family and revocation entry.
//
// Token sessions (docs/design.md "The bridge"). A token login is a Session of kind kToken whose refresh
// tokens form one family. The store keeps only SHA-256 of each refresh token (SC-09) and never
// lists them. Ending a session, however it happens (Remove, RemoveByHandle, RemoveByUser,
// RemoveByRefresh, RemoveExpired, eviction by the per-user limit, reuse detection), removes its
// refresh family in the same transaction and, when access tokens were issued for it
// (tokens_until > 0), records Revocation{handle, tokens_until}: a restarted verifier rebuilds its
// in-memory revocation set from ListRevocations and still rejects those access tokens.
//
// The change feed (change_feed.h). Every session that ends, however, appends one kSessionEnded
// entry in the same atomic step (with the handle and tokens_until it had), and every
// AddRevocation one kTokenRevoked entry, so that other processes drop what they cached per key.
//
// A bounded family (RFC 6749 section 10.4, RFC 9700 section 4.14.2). Reuse of ANY rotated
// ancestor must end the family, yet a family may rotate every few seconds for 30 days, so the
// store cannot keep a record (or even a fingerprint) per ancestor. Instead every refresh token
// names its family and its place in it: token::TokenService makes it
//   base64url(family id: 128 random bits || generation: 48 bits || 256 fresh random bits)
// and hands the store SHA-256 of the whole token, the family's key (a domain-separated SHA-256 of
// the family id) and the generation. Per family the store keeps only
//   - the live token's record (generation n), which also carries the family key and n, and
//   - the record of its predecessor (generation n - 1), rotated, with the seal a grace replay
//     opens, for as long as a grace window can be running (at most kMaxRefreshGraceSeconds).
// Every older record is deleted when the token after it rotates: its successor is spent, so a
// replay of it could never be a grace replay, only theft. So a family holds at most two records
// however long it lives. A presented token whose hash is unknown but whose family key names a live
// family at a generation older than the live token's is a pruned ancestor: theft, exactly as if
// its record were still there.
//   Forgery. Only a holder of one of the family's tokens knows the family id (128 bits from the
// CSPRNG, never stored: the store has its hash), and such a holder can end the family anyway (by
// presenting an old token, or revoking the live one). An outsider who makes up a token, even with
// a real sid or handle, names no family, or names it with a generation that is not older: kUnknown,
// nothing changes. A copy of the store holds neither family ids nor tokens.
//   Tokens from before families (43 characters, no prefix) have records without a family key;
// those are never pruned, since nothing else could recognise them, and end with their session
// (30 days at most). Their successors start a family.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/result.h"
#include "tessera/session/change_feed.h"
#include "tessera/session/session.h"

namespace tessera::session {

enum class OnLimit : uint8_t { kEvictOldest, kReject };

// RemoveExpired keeps a revocation entry this long past its `until`: verifiers accept a token up
// to their clock-skew leeway past its exp (at most 60 s, docs/security.md JV-05), and one that reads
// the list in that window (a restart, another process syncing) must still find the entry.
inline constexpr int64_t kRevocationRetentionSeconds = 300;

// The longest refresh_reuse_grace (the configuration caps it at 5 minutes). A sealed successor is
// kept only while a grace replay could still ask for it: RemoveExpired drops the records of tokens
// rotated longer ago (clears the seals of tokens without a family), and a rotation drops the
// records of the presented token's predecessors (see "A bounded family" above).
inline constexpr int64_t kMaxRefreshGraceSeconds = 300;
inline constexpr int64_t kMaxRefreshGraceMillis = kMaxRefreshGraceSeconds * 1000;

struct LimitPolicy {
  size_t max_per_user = 0;  // 0: no limit
  OnLimit on_limit = OnLimit::kEvictOldest;
};

// One refresh token of a token session's family. The token itself is never stored, so a copy of
// the store yields no usable token.
struct RefreshRecord {
  std::string hash;             // SHA-256 (binary) of the refresh token; unique in the store
  std::string session_id_hash;  // the token session whose family it belongs to
  int64_t issued_at = 0;        // seconds
  // 0 while live (never presented); when it was rotated otherwise, in milliseconds since the
  // epoch (the grace window is measured in milliseconds).
  int64_t rotated_at_ms = 0;
  std::string successor_hash;  // the token that replaced it; empty while live
  // The successor token sealed (AEAD) by the caller under a key derived from THIS token; opaque
  // bytes to the store. A replay inside the grace window unseals it to hand back the same
  // successor, while a copy of the store (which has only the hash of this token) yields nothing.
  std::string sealed_successor;
  // The family key the token names (see "A bounded family"); empty for a token from before
  // families. The family's first token has generation 0, each successor one more.
  std::string family;
  int64_t generation = 0;

  friend bool operator==(const RefreshRecord&, const RefreshRecord&) = default;
};

// The first refresh token of a token session, for SessionStore::CreateTokenSession.
struct FirstRefreshToken {
  std::string_view hash;    // SHA-256 of the token
  std::string_view family;  // the key of the family it starts (generation 0); may be empty
};

// One refresh request, for SessionStore::RotateRefresh.
struct RefreshRotation {
  std::string presented_hash;    // SHA-256 of the refresh token the client presented
  std::string successor_hash;    // SHA-256 of a fresh token the caller made to replace it
  std::string sealed_successor;  // that fresh token, sealed as RefreshRecord::sealed_successor
  // The family key and generation the presented token names (its prefix). A stored token's own
  // record wins over these; they matter when the presented hash is unknown (a pruned ancestor is
  // recognised by them) and when the presented record has no family (a token from before
  // families): its successor then starts `family` at generation + 1. The successor the caller made
  // must name the presented token's family and generation + 1. Empty: the token names no family.
  std::string family;
  int64_t generation = 0;
  int64_t now_ms = 0;  // milliseconds since the epoch. REQUIRES: > 0 (rotated_at_ms = 0 is live)
  // A replay of a just-rotated token less than this many milliseconds after its rotation
  // (now_ms - rotated_at_ms < grace_ms), while its successor is unused, returns that successor
  // (two tabs refreshing at once). <= 0: no window, every reuse is theft.
  int64_t grace_ms = 0;
  // A session last seen before this (last_seen_at < idle_cutoff, seconds) is over by the idle
  // timeout and refreshes nothing. 0: no idle check. A session is over by its absolute deadline
  // when expires_at * 1000 <= now_ms; a refresh moves last_seen_at to now_ms / 1000.
  int64_t idle_cutoff = 0;
  // The `exp` of the access token the caller issues with a kRotated or kGraceReplay answer; the
  // session's tokens_until is raised to it in the same transaction, so that the token cannot
  // escape a revocation that follows. 0: none.
  int64_t access_expires_at = 0;
};

enum class RefreshOutcome : uint8_t {
  // The presented token was live: it is now rotated (rotated_at_ms = now_ms, successor fields
  // set), the successor is stored live, and the session's last_seen_at moves up to now (a refresh
  // is activity). Records of older ancestors are dropped.
  kRotated,
  // The presented token was rotated less than grace_ms ago and its successor is still live:
  // the caller unseals `presented.sealed_successor` and hands that same successor out again.
  // Nothing is rotated and the caller's fresh successor is not stored; only tokens_until may rise.
  kGraceReplay,
  // Any other presentation of a rotated token (grace over, successor already used, an older
  // ancestor, stored or pruned): theft (RT-03). The session and its whole family are gone,
  // revocation recorded.
  kReuseDetected,
  // No such token (and no live family that it is an ancestor of), or its session is gone or past
  // its absolute or idle deadline (the family's lifetime is its session's). Nothing changed.
  kUnknown,
};

struct RefreshResult {
  RefreshOutcome outcome = RefreshOutcome::kUnknown;
  // The presented token's record as it now stands (kRotated: just rotated), or as it stood before
  // its family was removed (kReuseDetected; for a pruned ancestor only hash, session_id_hash,
  // family and generation are set). Empty for kUnknown.
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
  // entries that no longer matter (until <= now - kRevocationRetentionSeconds) and the records of
  // tokens rotated before now - kMaxRefreshGraceSeconds (for tokens without a family, which must
  // stay recognisable, only their sealed successors).
  virtual Result<size_t> RemoveExpired(int64_t now, int64_t idle_cutoff) = 0;

  // Sessions alive at `now`, for the active-sessions gauge.
  virtual Result<size_t> CountAlive(int64_t now) = 0;

  // The change feed (change_feed.h; the conformance suite covers it for every store).
  // The feed's identity and its newest entry's number; also the cheapest round trip to the store
  // (readiness checks).
  virtual Result<FeedPosition> FeedHead() = 0;
  // The entries after `after`, at most `max` (> 0), oldest first. When there are none, waits up
  // to `wait` for one to be written (0: answers at once). gap (and no entries) when `after` is
  // not in this feed: another feed (after.feed differs), a cursor past the head (the store lost
  // data) or older than the oldest entry kept.
  virtual Result<ChangeBatch> ReadChanges(const FeedPosition& after, size_t max,
                                          std::chrono::milliseconds wait) = 0;
  // Appends a change the store cannot see itself: kUserChanged or kKeysetChanged (the others are
  // kInvalidArgument: the store writes them with the change they report). seq is assigned.
  virtual Status PublishChange(const Change& c) = 0;

  // Token sessions: every store keeps them (no defaults; the conformance suite covers each).

  // Create for a token login: stores `s` and, in the same transaction, the first refresh token of
  // its family (live, generation 0, issued at s.created_at), with the same limit rules, evictions
  // and errors as Create. kAlreadyExists also when the token's hash or its (non-empty) family key
  // exists; then nothing is stored. kInvalidArgument when s.kind is not kToken or the hash is
  // empty.
  virtual Status CreateTokenSession(const Session& s, const FirstRefreshToken& first,
                                    const LimitPolicy& limit, int64_t now,
                                    std::vector<Session>* evicted) = 0;
  // The same for a first token that names no family (a token from before families: never pruned).
  Status CreateTokenSession(const Session& s, std::string_view refresh_hash,
                            const LimitPolicy& limit, int64_t now, std::vector<Session>* evicted) {
    return CreateTokenSession(s, FirstRefreshToken{.hash = refresh_hash}, limit, now, evicted);
  }

  // Presents a refresh token, atomically (even across processes sharing the store): one refresh
  // of one token never yields two live successors, whatever runs at the same time. The outcome
  // (see RefreshOutcome) depends only on the stored state at `r.now_ms`:
  //   session gone, expires_at <= now or last_seen_at < idle_cutoff              -> kUnknown
  //   live token                                                                 -> kRotated
  //   rotated, grace_ms > 0, now_ms - rotated_at_ms < grace_ms, successor live   -> kGraceReplay
  //   any other rotated token                                                    -> kReuseDetected
  //   unknown hash, r.family names a live family whose live token is of a later
  //   generation than r.generation (a pruned ancestor)                           -> kReuseDetected
  //   any other unknown hash                                                     -> kUnknown
  // kAlreadyExists (nothing changed) when the token is live and successor_hash already names a
  // token; kInvalidArgument when a hash is empty, now_ms <= 0 or generation < 0. Not idempotent:
  // repeating a kRotated call is a replay.
  virtual Result<RefreshResult> RotateRefresh(const RefreshRotation& r) = 0;

  // Removes and returns the session that the refresh token `refresh_hash` belongs to, whatever
  // the token's state, with its family (RFC 7009: revoking a refresh token ends its grant).
  // nullopt when no token has this hash.
  virtual Result<std::optional<Session>> RemoveByRefresh(std::string_view refresh_hash) = 0;

  // RemoveByRefresh for a pruned ancestor: removes and returns the session whose live refresh
  // token is of family `family` and of a later generation than `generation`. nullopt otherwise
  // (no such family, or `generation` is not older than its live token). kInvalidArgument when
  // family is empty.
  virtual Result<std::optional<Session>> RemoveByRefreshAncestor(std::string_view family,
                                                                 int64_t generation) = 0;

  // The refresh token `refresh_hash` and its session, for introspection (RFC 7662); nullopt when
  // no token has this hash (pruned ancestors included). Changes nothing. The caller decides
  // liveness (rotated_at_ms == 0, the session not expired).
  virtual Result<std::optional<std::pair<RefreshRecord, Session>>> FindRefresh(
      std::string_view refresh_hash) = 0;

  // Records a revocation that no session removal implies, such as one access token revoked on
  // its own (RFC 7009); `r.handle` is then token::TokenIdRevocationKey(jti). Keeps the later
  // `until` when the key is already recorded. ListRevocations returns it; RemoveExpired drops it.
  virtual Status AddRevocation(const Revocation& r) = 0;

  // Raises the session's tokens_until to `exp` (never lowers it). Call it before handing out an
  // access token that expires at `exp`. kNotFound/kUnknownSession when the session is gone: then
  // the token must not be issued, since no revocation entry would cover it. Idempotent.
  virtual Status ExtendTokensUntil(std::string_view id_hash, int64_t exp) = 0;

  // Every recorded revocation with until > now, in no particular order (one per handle, with the
  // latest until). For rebuilding the in-memory revocation set when a process starts. Entries
  // with until <= now are dropped by RemoveExpired.
  virtual Result<std::vector<Revocation>> ListRevocations(int64_t now) = 0;

 protected:
  // The precondition of CreateTokenSession, checked the same way by every backend.
  static Status CheckTokenSession(const Session& s, const FirstRefreshToken& first) {
    if (s.kind != SessionKind::kToken || first.hash.empty()) {
      return Status(Code::kInvalidArgument, Reason::kNone,
                    "a token session needs kind kToken and a refresh hash");
    }
    return Status::Ok();
  }
  // The precondition of PublishChange.
  static Status CheckPublished(const Change& c) {
    if (c.kind != ChangeKind::kUserChanged && c.kind != ChangeKind::kKeysetChanged) {
      return Status(Code::kInvalidArgument, Reason::kNone,
                    "only account and keyset changes are published; the store records the rest");
    }
    return Status::Ok();
  }
};

}  // namespace tessera::session
