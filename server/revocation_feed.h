// What GET /v1/revocations serves (docs/design.md "Revocations for other services"): the
// revocations this instance has applied from the session store's change feed, so that a service
// verifying access tokens by itself can hold the same list as tessera and refuse a revoked
// session within milliseconds, with no call per request.
//
// A client loads the snapshot (every revocation held now, and a cursor), then asks for what
// follows its cursor, waiting up to a bound for the next entry (a long poll). Entries carry the
// store feed's numbers, so a cursor is good on every instance sharing the store, and one instance
// answers from where another left off. A cursor this instance cannot continue (another feed after
// a failover or a restart without data, or older than what it keeps) gets a reset: load the
// snapshot again.
//
// Fed by the change follower's thread (Apply after each entry, Reset after each reload); read by
// the handler on an I/O thread (everything is in memory: no call here waits on a store). Waiting
// clients are answered from the follower's thread when an entry arrives, or by Expire (the
// maintenance loop, every second) when their wait ends. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/session/change_feed.h"
#include "tessera/session/session_store.h"

namespace tessera::server {

class RevocationFeed {
 public:
  struct Options {
    // Entries kept to continue from (older cursors get a reset).
    size_t capacity = 100000;
    // Clients waiting at once; more are refused (503) rather than held.
    size_t max_waiters = 1024;
  };

  struct Entry {
    uint64_t seq = 0;                // the store feed's number of the entry
    session::Revocation revocation;  // a session handle, or token::TokenIdRevocationKey(jti)
  };

  struct Page {
    std::string cursor;          // where to continue from
    std::vector<Entry> entries;  // after the cursor asked with, oldest first
    bool reset = false;          // that cursor cannot be continued here: load the snapshot
  };

  explicit RevocationFeed(Options options);
  RevocationFeed() : RevocationFeed(Options{}) {}

  // ---- the follower's side ----
  // After a (re)load: entries before `head` are in the revocation list only (the snapshot), and
  // every waiting client is told to reload.
  void Reset(const session::FeedPosition& head);
  // One feed entry, after the revocation list has applied it. Entries that revoke nothing only
  // move the cursor.
  void Apply(const session::Change& change);

  // ---- the handler's side ----
  // Where this instance stands now. Take it before reading the revocation list for a snapshot:
  // an entry applied in between is then in both, which is harmless (adding it twice changes
  // nothing), never in neither.
  std::string Cursor() const;
  // What follows `cursor`, now.
  Page Since(std::string_view cursor) const;
  // The store feed position of a cursor of the current feed, even one older than what is kept
  // here (a restart, a cursor from another instance): the handler then reads the store's feed
  // from there. nullopt for another feed or what is not a cursor.
  std::optional<session::FeedPosition> Resolve(std::string_view cursor) const;
  // The cursor of position `seq` of the current feed.
  std::string CursorAt(uint64_t seq) const;
  // Whether a change feed entry revokes something (and so is served).
  static bool Revokes(const session::Change& change);
  // What follows `cursor`: at once when there is something (or a reset), else when an entry
  // arrives or at `deadline_ms` (Expire), through `done`, which may run on another thread.
  // False (and `done` not called) when too many clients wait already.
  using Done = std::function<void(Page)>;
  bool Wait(std::string_view cursor, int64_t deadline_ms, Done done);
  // Answers the waits that ended by `now_ms`.
  void Expire(int64_t now_ms);
  // Answers every wait now, and every later one at once (the server is stopping).
  void ReleaseAll();
  size_t waiting() const;

 private:
  struct Waiter {
    uint64_t after = 0;
    int64_t deadline_ms = 0;
    Done done;
  };
  struct Parsed {
    std::string tag;
    uint64_t seq = 0;
  };
  static std::optional<Parsed> Parse(std::string_view cursor);
  std::string CursorLocked(uint64_t seq) const;
  Page SinceLocked(std::string_view cursor) const;
  // Takes the waiters that have something to receive now, or whose wait ended by `now_ms`.
  std::vector<std::pair<Done, Page>> TakeReadyLocked(int64_t now_ms);

  const Options options_;
  mutable std::mutex mu_;
  std::string feed_;             // GUARDED_BY(mu_): the store's feed
  std::string tag_;              // GUARDED_BY(mu_): names the store's feed, opaquely
  uint64_t position_ = 0;        // GUARDED_BY(mu_): the last entry applied
  uint64_t floor_ = 0;           // GUARDED_BY(mu_): every revoking entry after it is in entries_
  std::deque<Entry> entries_;    // GUARDED_BY(mu_)
  std::vector<Waiter> waiters_;  // GUARDED_BY(mu_)
  bool closed_ = false;          // GUARDED_BY(mu_): ReleaseAll was called
};

}  // namespace tessera::server
