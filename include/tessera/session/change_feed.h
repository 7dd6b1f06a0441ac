// The change feed (docs/design.md "The change feed"): how every process sharing a session store
// learns, per key and within milliseconds, what another one changed, so that each can keep its
// caches (sessions, accounts) and its revocation list in memory and still refuse at once what was
// ended elsewhere.
//
// The store writes an entry in the same atomic step as the change it reports, so no change can
// happen without its entry: every way a session ends (SessionEnded), every revocation recorded on
// its own (TokenRevoked). Changes the store does not see itself are published by whoever makes
// them (SessionStore::PublishChange): an account changed (UserChanged), the signing keys
// rotated (KeysetChanged). Entries are numbered; a reader keeps a cursor (FeedPosition) and asks
// for what follows it. A feed keeps entries for a while (an hour, or the last 100,000), not
// forever: a reader whose cursor fell out of it, or whose feed was replaced (the store's data
// lost, a new database), is told so (ChangeBatch::gap) and must reload everything it caches.
//
// ChangeFollower does that for a process: one thread reads the feed, applies each entry through
// the callbacks it was given, reloads on a gap, and says whether it is current (Fresh), which the
// server turns into fail-closed behaviour when it is not.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tessera/clock.h"
#include "tessera/result.h"

namespace tessera::session {

class SessionStore;

enum class ChangeKind : uint8_t {
  // A session ended, however (logout, revocation, eviction, theft detected, expiry purged).
  // id_hash, handle and user_id name it; until > 0 when its access tokens (sid = handle) must be
  // refused until then.
  kSessionEnded = 1,
  // SessionStore::AddRevocation: refuse `handle` (a session handle, or
  // token::TokenIdRevocationKey(jti)) until `until`.
  kTokenRevoked = 2,
  // The account `user_id` changed (removed, disabled, new password or roles): cached copies go.
  kUserChanged = 3,
  // The signing keyset changed: reload it.
  kKeysetChanged = 4,
};

struct Change {
  uint64_t seq = 0;  // its position; the first entry of a feed is 1
  ChangeKind kind = ChangeKind::kSessionEnded;
  std::string id_hash;  // kSessionEnded
  std::string handle;   // kSessionEnded, kTokenRevoked
  std::string user_id;  // kSessionEnded, kUserChanged
  int64_t until = 0;    // kSessionEnded (0: no access tokens), kTokenRevoked

  friend bool operator==(const Change&, const Change&) = default;
};

// Where a reader stands: the feed's identity (it changes when the feed is replaced) and the
// number of the last entry it has seen (0: none).
struct FeedPosition {
  std::string feed;
  uint64_t seq = 0;

  friend bool operator==(const FeedPosition&, const FeedPosition&) = default;
};

struct ChangeBatch {
  // The entries after the cursor, oldest first, numbered without holes from cursor.seq + 1.
  std::vector<Change> changes;
  // Where to read next: past the last entry, or (gap) the feed's head.
  FeedPosition next;
  // The cursor is not in the feed (trimmed past it, or another feed): entries were lost to this
  // reader. `changes` is empty; reload everything, then read from `next`.
  bool gap = false;
};

// What a follower does with the feed. Every callback runs on the follower's thread.
struct ChangeSinks {
  // One entry. Must not fail: dropping a cache entry or adding a revocation cannot.
  std::function<void(const Change&)> apply;
  // Everything cached may be stale: drop it and reload what must be complete (the revocation
  // list, from SessionStore::ListRevocations). Called before the first read and after a gap.
  std::function<Status()> reload;
  // After a successful reload: the feed position it is current as of, from which entries follow.
  // May be empty.
  std::function<void(const FeedPosition& head)> reloaded;
  // Spawn's thread says here when reading starts to fail (the error) and when it works again
  // (OK): once per change, for the log. May be empty.
  std::function<void(const Status&)> report;
};

// Reads a store's feed on a thread of its own and applies it. Start, PollOnce, Fresh and position
// are thread-safe; Spawn and Stop are for the owner's thread.
class ChangeFollower {
 public:
  struct Options {
    // How long one read waits for news when there is none (a blocking read on Redis, polls on
    // SQLite). Bounds how late Stop returns.
    std::chrono::milliseconds wait{500};
    // After this long without a successful read the follower is not Fresh.
    std::chrono::milliseconds max_staleness{2000};
    // Between attempts after a failure.
    std::chrono::milliseconds retry{100};
    size_t batch = 1000;
  };

  // REQUIRES: `store` outlives the follower.
  ChangeFollower(SessionStore* store, ChangeSinks sinks, Options options);
  ChangeFollower(SessionStore* store, ChangeSinks sinks)
      : ChangeFollower(store, std::move(sinks), Options()) {}
  ~ChangeFollower();  // Stop()

  // Reloads (sinks.reload) and takes the feed's head as the cursor, so that what is cached is
  // complete up to it. Call once before serving; on failure nothing is current.
  Status Start();
  // Reads what follows the cursor (waiting up to `wait` when there is nothing) and applies it;
  // on a gap, reloads and goes on from the head. On failure the cursor stays put.
  Status PollOnce(std::chrono::milliseconds wait);
  // PollOnce in a loop on a thread of its own until Stop (Start first, retried there until it
  // succeeds when it was not called or failed); errors are retried every `retry`.
  void Spawn();
  void Stop();

  // True while the last read that reached the feed's head (or the last Start) was asked for at
  // most max_staleness ago: everything written to the store before then has been applied. False
  // from a gap until its reload succeeds. No I/O.
  bool Fresh() const;
  FeedPosition position() const;
  // Gaps met since Start (each one meant a reload).
  uint64_t gaps() const { return gaps_.load(std::memory_order_relaxed); }

 private:
  Status StartLocked();
  Status PollLocked(std::chrono::milliseconds wait);

  SessionStore* store_;
  ChangeSinks sinks_;
  Options options_;
  std::mutex read_mu_;     // one reader at a time
  FeedPosition cursor_;    // GUARDED_BY(read_mu_)
  bool started_ = false;   // GUARDED_BY(read_mu_)
  mutable std::mutex position_mu_;
  FeedPosition position_;  // GUARDED_BY(position_mu_); a copy of cursor_ for position()
  std::atomic<int64_t> last_ok_ns_{0};  // steady clock; 0: never
  std::atomic<uint64_t> gaps_{0};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // GUARDED_BY(stop_mu_)
  std::thread thread_;
};

}  // namespace tessera::session
