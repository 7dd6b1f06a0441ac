// The bridge between stateless access tokens and server-side sessions (docs/design.md "The bridge"):
// every verifier holds the set of revoked session handles (`sid`) and token ids (`jti`) in
// memory, so that checking a token stays a signature check plus an O(1) lookup with no I/O, and
// yet a logout, "sign out everywhere", an admin action or a detected refresh-token theft takes
// effect at once.
//
// RevocationList is the interface verifiers use. LocalRevocationList is the in-process
// implementation: revocations made in this process take effect at the call; those other
// processes record in a shared SessionStore (the CLI, other instances on the same SQLite file or
// Redis) arrive through the store's change feed (session::ChangeFollower calls Apply, and Load
// after a gap), and Check fails closed while that feed is not current.
//
// An entry never needs to be withdrawn: session handles and token ids are random and never
// reused, so the set only grows by additions and shrinks by expiry, and merging two views of it
// is their union.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tessera/result.h"
#include "tessera/session/change_feed.h"
#include "tessera/session/session_store.h"

namespace tessera::token {

class RevocationList {
 public:
  virtual ~RevocationList() = default;

  // True when tokens of session `sid`, or the token with id `jti`, must be refused at `now`.
  // Either may be empty. No I/O, O(1), thread-safe: called on every verification.
  virtual bool IsRevoked(std::string_view sid, std::string_view jti, int64_t now) const = 0;

  // Refuse every token of session `sid` until `until` (the latest `exp` any of them can have).
  // Effective in this process when the call returns. Thread-safe.
  virtual void RevokeSession(std::string_view sid, int64_t until) = 0;

  // Refuse the one token with id `jti` until `until` (its `exp`). Thread-safe.
  virtual void RevokeTokenId(std::string_view jti, int64_t until) = 0;

  // Entries held (for a gauge).
  virtual size_t size() const = 0;

  // kUnavailable when the list may lack revocations made elsewhere (its feed from the shared
  // store has failed for too long): verifiers then refuse every token (fail closed, 503) rather
  // than accept one whose session may have ended. OK otherwise. No I/O. Thread-safe.
  virtual Status Check(int64_t now) const = 0;
};

// The key under which SessionStore::AddRevocation / ListRevocations keep a revoked token id, so
// that it cannot be mistaken for a session handle (handles are hex; this has a colon).
std::string TokenIdRevocationKey(std::string_view jti);
// The jti of a TokenIdRevocationKey; nullopt for anything else (a session handle).
std::optional<std::string_view> TokenIdOfRevocationKey(std::string_view key);

class LocalRevocationList final : public RevocationList {
 public:
  // Entries are kept `leeway_seconds` past their `until`, the clock skew verifiers allow on exp.
  explicit LocalRevocationList(int64_t leeway_seconds = 60) : leeway_(leeway_seconds) {}

  bool IsRevoked(std::string_view sid, std::string_view jti, int64_t now) const override;
  void RevokeSession(std::string_view sid, int64_t until) override;
  void RevokeTokenId(std::string_view jti, int64_t until) override;

  // Adds the store's revocations (session handles and TokenIdRevocationKey entries).
  void Merge(const std::vector<session::Revocation>& entries);

  // Adds what a change-feed entry revokes: a session that ended with access tokens out
  // (kSessionEnded with until > 0), a revocation recorded on its own (kTokenRevoked). Other
  // entries revoke nothing.
  void Apply(const session::Change& change);

  // Reads every revocation the store records (until + leeway > now) and merges it: at start, and
  // after a gap in the change feed. On a store error nothing changes and the error is returned.
  Status Load(session::SessionStore& store, int64_t now);

  // Where revocations made by other processes come from: a function that says whether that feed
  // is current (session::ChangeFollower::Fresh). While it says no, Check fails. Unset: this
  // process is the only writer, and the list is complete by itself. Set it before the list is
  // shared between threads.
  void set_feed(std::function<bool()> fresh) { feed_fresh_ = std::move(fresh); }

  // The leeway entries are kept past their until; read the store with ListRevocations(now - it).
  int64_t leeway_seconds() const { return leeway_; }

  // Every entry held, as the store records them (a session handle, or TokenIdRevocationKey(jti)),
  // with the until it was given: what GET /v1/revocations hands a verifier as its snapshot.
  std::vector<session::Revocation> Snapshot() const;

  // Drops entries that no longer matter (until + leeway <= now). Returns how many remain.
  size_t Prune(int64_t now);

  size_t size() const override;
  Status Check(int64_t now) const override;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  // Keys (a session handle, a jti) -> until + leeway, in about 30 to 60 bytes an entry (issue 16:
  // at most 64; a std::unordered_map of strings took 127), with a Bloom filter in front, one
  // 64-bit word per key and 8 to 16 bits per entry: a key that is not there (every live token:
  // the common case) is answered from the key's hash and one word of a table of a few hundred
  // kilobytes for 100,000 entries, which stays in the CPU's cache (bench/verifier_bench.cc).
  //
  // Entries sit in an open-addressing table of 24-byte slots (linear probing, at most 80% full,
  // expired entries taken out in place by backward shifting, shrunk under 20% full):
  // the key packed into 16 bytes (32 hex digits, as session handles are, or 22 base64url
  // characters, as jtis are, as the bytes they encode; any other key of up to 16 bytes as it is)
  // and the until in the low 56 bits of a word whose top byte says how the key is packed. A key
  // that packs no way (longer, or not canonical) goes to a small map beside it. Both are placed by
  // the hash of the key's text, so a lookup hashes the string as it arrives and packs it only
  // after the filter said maybe. Not thread-safe: the list locks.
  class Table {
   public:
    // The until of `key`, or nullopt.
    std::optional<int64_t> Find(std::string_view key) const;
    // Keeps the later until when the key is there. Untils are kept in [0, 2^56 - 1], the top
    // of which reads back as INT64_MAX (a revocation that never ends).
    void Put(std::string_view key, int64_t until);
    // Drops the entries with until <= now.
    void EraseUpTo(int64_t now);
    size_t size() const { return size_ + overflow_.size(); }
    // Calls fn(key, until) for every entry.
    void ForEach(const std::function<void(std::string_view, int64_t)>& fn) const;

   private:
    struct Slot {
      unsigned char key[16];
      uint64_t word = 0;  // top byte: how the key is packed (0: empty slot); low 56 bits: until
    };
    static uint64_t Bits(size_t hash);
    // The packed form of `key` into *slot (until 0), or false when it has none.
    static bool Pack(std::string_view key, Slot* slot);
    // The key text of a used slot, into `out` (at least 32 bytes); returns its length.
    static size_t Unpack(const Slot& slot, char* out);
    size_t Probe(size_t hash) const;  // the first slot of `hash`'s run
    size_t Home(const Slot& slot) const;  // Probe of the hash of the slot's key
    void EraseAt(size_t i);               // empties used slot i
    void Mark(size_t hash);
    void RebuildFilter(size_t words);
    // Moves every entry into a table of `slots` slots (a power of two).
    void Resize(size_t slots);
    void Insert(size_t hash, const Slot& slot);

    std::vector<Slot> slots_;  // empty, or a power of two
    size_t size_ = 0;          // used slots
    std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> overflow_;
    std::vector<uint64_t> filter_ = std::vector<uint64_t>(64);  // a power of two of words
    size_t erased_since_filter_ = 0;  // entries erased since the filter was made
  };

  const int64_t leeway_;
  std::function<bool()> feed_fresh_;
  mutable std::shared_mutex mu_;
  Table sessions_;   // GUARDED_BY(mu_); by session handle
  Table token_ids_;  // GUARDED_BY(mu_); by jti
};

}  // namespace tessera::token
