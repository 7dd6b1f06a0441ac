#include "tessera/token/revocation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/hash.h"
#include "store_conformance/store_factory.h"
#include "tessera/store/memory.h"
#include "tessera/store/sqlite.h"

namespace tessera::token {
namespace {

using session::Revocation;
using session::Session;
using session::SessionKind;
using session::SessionStore;

constexpr int64_t kT0 = 1'800'000'000;
constexpr int64_t kLeeway = 60;

TEST(TokenIdRevocationKey, PrefixesTheJtiAndTokenIdOfRevocationKeyTakesItOff) {
  EXPECT_EQ(TokenIdRevocationKey("abc"), "jti:abc");
  EXPECT_EQ(TokenIdOfRevocationKey(TokenIdRevocationKey("abc")), "abc");
  EXPECT_EQ(TokenIdOfRevocationKey("jti:"), "");
  EXPECT_EQ(TokenIdOfRevocationKey("0123abcd"), std::nullopt);  // a session handle
  EXPECT_EQ(TokenIdOfRevocationKey("xjti:abc"), std::nullopt);
  EXPECT_EQ(TokenIdRevocationKey(""), "jti:");
}

TEST(LocalRevocationList, SessionRevokedUntilUntilPlusLeewayThenNot) {
  LocalRevocationList list(kLeeway);
  EXPECT_FALSE(list.IsRevoked("s1", "", kT0));
  list.RevokeSession("s1", kT0 + 900);
  EXPECT_TRUE(list.IsRevoked("s1", "", kT0));
  EXPECT_TRUE(list.IsRevoked("s1", "", kT0 + 900));
  // A verifier accepts a token up to leeway past its exp: so long the entry must hold.
  EXPECT_TRUE(list.IsRevoked("s1", "", kT0 + 900 + kLeeway - 1));
  EXPECT_FALSE(list.IsRevoked("s1", "", kT0 + 900 + kLeeway));
  EXPECT_FALSE(list.IsRevoked("s2", "", kT0));
  EXPECT_EQ(list.size(), 1u);
}

TEST(LocalRevocationList, TokenIdRevokedUntilUntilPlusLeewayThenNot) {
  LocalRevocationList list(kLeeway);
  list.RevokeTokenId("j1", kT0 + 900);
  EXPECT_TRUE(list.IsRevoked("", "j1", kT0 + 900 + kLeeway - 1));
  EXPECT_FALSE(list.IsRevoked("", "j1", kT0 + 900 + kLeeway));
  // Either argument alone suffices: a revoked jti under a live sid is refused.
  EXPECT_TRUE(list.IsRevoked("live-sid", "j1", kT0));
  EXPECT_FALSE(list.IsRevoked("live-sid", "j2", kT0));
}

TEST(LocalRevocationList, EmptyKeysAreNeverRevokedAndNeverStored) {
  LocalRevocationList list(kLeeway);
  list.RevokeSession("", kT0 + 900);
  list.RevokeTokenId("", kT0 + 900);
  EXPECT_EQ(list.size(), 0u);
  EXPECT_FALSE(list.IsRevoked("", "", kT0));
}

TEST(LocalRevocationList, SessionAndTokenIdNamespacesAreSeparate) {
  LocalRevocationList list(kLeeway);
  // A token whose jti equals a revoked session's handle is not thereby revoked, and the reverse:
  // otherwise a client choosing nothing could still collide two unrelated namespaces.
  list.RevokeSession("abcdef", kT0 + 900);
  EXPECT_FALSE(list.IsRevoked("other", "abcdef", kT0));
  list.RevokeTokenId("123456", kT0 + 900);
  EXPECT_FALSE(list.IsRevoked("123456", "", kT0));
  EXPECT_TRUE(list.IsRevoked("abcdef", "", kT0));
  EXPECT_TRUE(list.IsRevoked("", "123456", kT0));
}

TEST(LocalRevocationList, RevokeKeepsTheLaterUntil) {
  LocalRevocationList list(kLeeway);
  list.RevokeSession("s1", kT0 + 900);
  list.RevokeSession("s1", kT0 + 100);  // an older, shorter entry must not shorten it
  EXPECT_TRUE(list.IsRevoked("s1", "", kT0 + 900 + kLeeway - 1));
  list.RevokeSession("s1", kT0 + 2000);
  EXPECT_TRUE(list.IsRevoked("s1", "", kT0 + 2000 + kLeeway - 1));
  EXPECT_FALSE(list.IsRevoked("s1", "", kT0 + 2000 + kLeeway));
  list.RevokeTokenId("j1", kT0 + 900);
  list.RevokeTokenId("j1", kT0 + 10);
  EXPECT_TRUE(list.IsRevoked("", "j1", kT0 + 900 + kLeeway - 1));
  EXPECT_EQ(list.size(), 2u);
}

TEST(LocalRevocationList, UntilNearInt64MaxDoesNotOverflow) {
  LocalRevocationList list(kLeeway);
  list.RevokeSession("s1", std::numeric_limits<int64_t>::max() - 1);
  EXPECT_TRUE(list.IsRevoked("s1", "", kT0));
  EXPECT_TRUE(list.IsRevoked("s1", "", std::numeric_limits<int64_t>::max() - 1));
}

TEST(LocalRevocationList, MergeSortsJtiKeysFromSessionHandles) {
  LocalRevocationList list(kLeeway);
  list.Merge({{.handle = "0123abcd", .until = kT0 + 900},
              {.handle = TokenIdRevocationKey("tok-1"), .until = kT0 + 300},
              {.handle = "jti:", .until = kT0 + 300},  // no jti: ignored
              {.handle = "", .until = kT0 + 300}});    // no handle: ignored
  EXPECT_EQ(list.size(), 2u);
  EXPECT_TRUE(list.IsRevoked("0123abcd", "", kT0));
  EXPECT_TRUE(list.IsRevoked("", "tok-1", kT0));
  // The prefixed key is a token id, not a session handle, and its bare form is not a handle.
  EXPECT_FALSE(list.IsRevoked("jti:tok-1", "", kT0));
  EXPECT_FALSE(list.IsRevoked("tok-1", "", kT0));
  EXPECT_FALSE(list.IsRevoked("", "0123abcd", kT0));
  // Merged entries get the same leeway as local ones.
  EXPECT_TRUE(list.IsRevoked("", "tok-1", kT0 + 300 + kLeeway - 1));
  EXPECT_FALSE(list.IsRevoked("", "tok-1", kT0 + 300 + kLeeway));
  // A merge is a union that keeps the later until.
  list.Merge({{.handle = "0123abcd", .until = kT0 + 10}});
  EXPECT_TRUE(list.IsRevoked("0123abcd", "", kT0 + 900 + kLeeway - 1));
  EXPECT_EQ(list.size(), 2u);
}

TEST(LocalRevocationList, PruneDropsOnlyWhatNoLongerMatters) {
  LocalRevocationList list(kLeeway);
  list.RevokeSession("s-short", kT0 + 100);
  list.RevokeSession("s-long", kT0 + 900);
  list.RevokeTokenId("j-short", kT0 + 100);
  list.RevokeTokenId("j-long", kT0 + 900);
  EXPECT_EQ(list.Prune(kT0 + 100 + kLeeway - 1), 4u);  // still inside the leeway
  EXPECT_EQ(list.Prune(kT0 + 100 + kLeeway), 2u);
  EXPECT_EQ(list.size(), 2u);
  EXPECT_TRUE(list.IsRevoked("s-long", "", kT0 + 100 + kLeeway));
  EXPECT_TRUE(list.IsRevoked("", "j-long", kT0 + 100 + kLeeway));
  EXPECT_EQ(list.Prune(kT0 + 900 + kLeeway), 0u);
  EXPECT_FALSE(list.IsRevoked("s-long", "", kT0));  // gone, even if asked about the past
}

// A token session as the store keeps it, with access tokens issued until `tokens_until`.
Session TokenSession(std::string handle, int64_t tokens_until) {
  Session s;
  s.id_hash = crypto::Sha256(handle);
  s.handle = std::move(handle);
  s.user_id = "u1";
  s.kind = SessionKind::kToken;
  s.created_at = s.last_seen_at = kT0;
  s.expires_at = kT0 + 86400;
  s.tokens_until = tokens_until;
  return s;
}

// Two store objects on one SQLite file stand for two processes (the server and the CLI, or two
// instances): what one removes, the other's list gets through the change feed, wired as the
// server wires it (Apply per entry, Load to reload).
// The filter in front of each map grows with it and is made again by Prune: every entry is found
// whatever the list went through, and a key never added is never revoked.
TEST(LocalRevocationList, ManyEntriesAreAllFoundThroughGrowthAndPrune) {
  LocalRevocationList list(0);
  constexpr int kEntries = 20000;
  for (int i = 0; i < kEntries; ++i) {
    // Half expire early; the rest much later.
    list.RevokeSession("s" + std::to_string(i), i % 2 ? kT0 + 10 : kT0 + 1000);
    list.RevokeTokenId("j" + std::to_string(i), i % 2 ? kT0 + 10 : kT0 + 1000);
  }
  EXPECT_EQ(list.size(), 2u * kEntries);
  for (int i = 0; i < kEntries; ++i) {
    ASSERT_TRUE(list.IsRevoked("s" + std::to_string(i), "", kT0)) << i;
    ASSERT_TRUE(list.IsRevoked("", "j" + std::to_string(i), kT0)) << i;
    ASSERT_FALSE(list.IsRevoked("never-" + std::to_string(i), "s" + std::to_string(i), kT0)) << i;
  }
  EXPECT_EQ(list.Prune(kT0 + 10), static_cast<size_t>(kEntries));
  for (int i = 0; i < kEntries; ++i) {
    ASSERT_EQ(list.IsRevoked("s" + std::to_string(i), "", kT0), i % 2 == 0) << i;
    ASSERT_EQ(list.IsRevoked("", "j" + std::to_string(i), kT0), i % 2 == 0) << i;
  }
  EXPECT_EQ(list.Prune(kT0 + 1000), 0u);
  EXPECT_FALSE(list.IsRevoked("s0", "j0", kT0));
  list.RevokeSession("s0", kT0 + 5);  // and the emptied list still takes entries
  EXPECT_TRUE(list.IsRevoked("s0", "", kT0));
}

// Keys are packed by their shape (hex handles and base64url jtis as their 16 bytes, short keys
// as they are, anything else beside them): every shape is found, not confused with a near miss,
// and comes back from Snapshot exactly as it went in.
TEST(LocalRevocationList, EveryKeyShapeIsFoundAndComesBackAsItWasGiven) {
  const std::vector<std::string> sessions = {
      "0123456789abcdef0123456789abcdef",    // a handle: 32 lowercase hex digits
      "0123456789ABCDEF0123456789ABCDEF",    // upper case: not the same key, kept as it is
      "0123456789abcdef0123456789abcdeg",    // 32 characters, not hex
      "s1",                                  // short
      "",                                    // (never stored)
      "a-session-handle-of-forty-characters-xx",  // long
      std::string("nul\0inside", 10),        // bytes, not text
  };
  const std::vector<std::string> jtis = {
      "AAECAwQFBgcICQoLDA0ODw",  // a jti: 22 base64url characters (16 bytes)
      "AAECAwQFBgcICQoLDA0ODx",  // the same bytes, spelled with stray low bits: another key
      "AAECAwQFBgcICQoLDA0OD",   // 21 characters
      "j",
      "a-jti-that-is-much-longer-than-any-packed-form",
  };
  LocalRevocationList list(kLeeway);
  for (const auto& k : sessions) list.RevokeSession(k, kT0 + 100);
  for (const auto& k : jtis) list.RevokeTokenId(k, kT0 + 200);
  EXPECT_EQ(list.size(), sessions.size() - 1 + jtis.size());
  for (const auto& k : sessions) {
    EXPECT_EQ(list.IsRevoked(k, "", kT0), !k.empty()) << k;
    EXPECT_FALSE(list.IsRevoked("", k, kT0)) << k;  // a handle is not a jti
  }
  for (const auto& k : jtis) EXPECT_TRUE(list.IsRevoked("", k, kT0)) << k;
  // Near misses of the packed shapes.
  EXPECT_FALSE(list.IsRevoked("0123456789abcdef0123456789abcdee", "", kT0));
  EXPECT_FALSE(list.IsRevoked("", "AAECAwQFBgcICQoLDA0ODg", kT0));
  EXPECT_FALSE(list.IsRevoked("s", "", kT0));
  EXPECT_FALSE(list.IsRevoked(std::string("nul\0insidf", 10), "", kT0));

  std::vector<Revocation> snapshot = list.Snapshot();
  std::vector<std::pair<std::string, int64_t>> got;
  for (const auto& r : snapshot) got.emplace_back(r.handle, r.until);
  std::vector<std::pair<std::string, int64_t>> want;
  for (const auto& k : sessions) {
    if (!k.empty()) want.emplace_back(k, kT0 + 100);
  }
  for (const auto& k : jtis) want.emplace_back(TokenIdRevocationKey(k), kT0 + 200);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

// Against a plain map, through growth, replacement with a later or earlier until, and prunes.
TEST(LocalRevocationList, AgreesWithAMapThroughRandomWork) {
  LocalRevocationList list(0);
  std::map<std::string, int64_t> model;
  uint64_t x = 88172645463325252ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  auto key = [&](uint64_t r) {
    char hex[33];
    switch (r % 3) {
      case 0:
        std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(r % 5000),
                      static_cast<unsigned long long>(r % 5000 * 7));
        return std::string(hex);
      case 1: return "k" + std::to_string(r % 5000);
      default: return "a-long-key-that-cannot-be-packed-" + std::to_string(r % 5000);
    }
  };
  int64_t now = kT0;
  for (int step = 0; step < 60000; ++step) {
    const uint64_t r = next();
    if (r % 1000 == 0) {
      now += 50;
      list.Prune(now);
      std::erase_if(model, [now](const auto& kv) { return kv.second <= now; });
      ASSERT_EQ(list.size(), model.size()) << step;
      continue;
    }
    const std::string k = key(r >> 8);
    const int64_t until = now + static_cast<int64_t>(next() % 400);
    list.RevokeSession(k, until);
    model[k] = std::max(model[k], until);
  }
  ASSERT_EQ(list.size(), model.size());
  for (const auto& [k, until] : model) {
    ASSERT_TRUE(list.IsRevoked(k, "", until - 1)) << k;
    ASSERT_FALSE(list.IsRevoked(k, "", until)) << k;
  }
  for (int i = 0; i < 5000; ++i) {
    const std::string k = key(static_cast<uint64_t>(i) * 7919);  // asked at random
    ASSERT_EQ(list.IsRevoked(k, "", now), model.contains(k)) << k;
  }
}

TEST(LocalRevocationList, AFollowedFeedBringsARemovalMadeThroughAnotherStoreOnTheSameFile) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/tessera.db";
  auto a = store::OpenSqliteSessionStore(path);
  ASSERT_TRUE(a) << a.error().ToString();
  auto b = store::OpenSqliteSessionStore(path);
  ASSERT_TRUE(b) << b.error().ToString();

  const Session s = TokenSession("0123456789abcdef0123456789abcdef", kT0 + 900);
  std::vector<Session> evicted;
  ASSERT_TRUE((*b)->CreateTokenSession(s, std::string(32, 'R'), {}, kT0, &evicted).ok());

  LocalRevocationList list(kLeeway);
  session::ChangeFollower follower(
      a->get(), session::ChangeSinks{.apply = [&](const session::Change& c) { list.Apply(c); },
                                     .reload = [&] { return list.Load(**a, kT0); }});
  ASSERT_TRUE(follower.Start().ok());
  EXPECT_FALSE(list.IsRevoked(s.handle, "", kT0));

  // "Process B" ends the session; "process A" learns of it at its next read of the feed.
  auto gone = (*b)->RemoveByHandle(s.handle);
  ASSERT_TRUE(gone && gone->has_value());
  EXPECT_FALSE(list.IsRevoked(s.handle, "", kT0 + 2));
  ASSERT_TRUE(follower.PollOnce(std::chrono::milliseconds(0)).ok());
  EXPECT_TRUE(list.IsRevoked(s.handle, "", kT0 + 2));
  EXPECT_TRUE(list.IsRevoked(s.handle, "", kT0 + 900 + kLeeway - 1));
  EXPECT_FALSE(list.IsRevoked(s.handle, "", kT0 + 900 + kLeeway));

  // A single access token revoked through B (RFC 7009) arrives as a token id, not a handle.
  ASSERT_TRUE(
      (*b)->AddRevocation({.handle = TokenIdRevocationKey("jti-9"), .until = kT0 + 600}).ok());
  ASSERT_TRUE(follower.PollOnce(std::chrono::milliseconds(0)).ok());
  EXPECT_TRUE(list.IsRevoked("", "jti-9", kT0 + 3));
  EXPECT_FALSE(list.IsRevoked("jti-9", "", kT0 + 3));
  EXPECT_EQ(list.size(), 2u);
}

// A session that ended without access tokens revokes nothing; account and keyset news neither.
TEST(LocalRevocationList, ApplyRevokesOnlyWhatTheEntrySays) {
  LocalRevocationList list(kLeeway);
  list.Apply({.kind = session::ChangeKind::kSessionEnded, .handle = "cookie", .until = 0});
  list.Apply({.kind = session::ChangeKind::kUserChanged, .user_id = "u"});
  list.Apply({.kind = session::ChangeKind::kKeysetChanged});
  EXPECT_EQ(list.size(), 0u);
  list.Apply({.kind = session::ChangeKind::kSessionEnded, .handle = "tok", .until = kT0 + 10});
  list.Apply({.kind = session::ChangeKind::kTokenRevoked, .handle = "jti:j1", .until = kT0 + 10});
  EXPECT_TRUE(list.IsRevoked("tok", "", kT0));
  EXPECT_TRUE(list.IsRevoked("", "j1", kT0));
}

// Regression (found writing this test): reading the store with ListRevocations(now) leaves out
// every entry whose `until` has passed, yet a verifier still accepts a token for leeway seconds
// past its exp, and a local RevokeSession keeps its entry that long. A process that loads in that
// window (at start, or after a gap) would accept the revoked tokens until until + leeway.
TEST(LocalRevocationList, LoadKeepsAStoreEntryForTheLeewayPastItsUntil) {
  auto store = store::NewMemorySessionStore();
  ASSERT_TRUE(store->AddRevocation({.handle = "0a0b", .until = kT0}).ok());
  LocalRevocationList list(kLeeway);
  ASSERT_TRUE(list.Load(*store, kT0 + 10).ok());
  // A token of session 0a0b with exp = kT0 verifies until kT0 + leeway: it must be refused.
  EXPECT_TRUE(list.IsRevoked("0a0b", "", kT0 + 10));
}

// A store that fails: Load returns its error and changes nothing.
class FailingStore final : public SessionStore {
 public:
  bool fail_list = false;
  Status Create(const Session&, const session::LimitPolicy&, int64_t,
                std::vector<Session>*) override {
    return Status::Ok();
  }
  Result<std::optional<Session>> Get(std::string_view) override { return std::optional<Session>(); }
  Result<std::vector<Session>> ListByUser(std::string_view) override {
    return std::vector<Session>();
  }
  Result<std::vector<Session>> ListAll(size_t) override { return std::vector<Session>(); }
  Result<std::optional<Session>> RemoveByHandle(std::string_view) override {
    return std::optional<Session>();
  }
  Status Touch(std::string_view, int64_t) override { return Status::Ok(); }
  Result<std::optional<Session>> Remove(std::string_view) override {
    return std::optional<Session>();
  }
  Result<std::vector<Session>> RemoveByUser(std::string_view, std::string_view) override {
    return std::vector<Session>();
  }
  Result<size_t> RemoveExpired(int64_t, int64_t) override { return size_t{0}; }
  Result<size_t> CountAlive(int64_t) override { return size_t{0}; }
  Result<std::vector<Revocation>> ListRevocations(int64_t) override {
    if (fail_list) return Status(Code::kUnavailable, Reason::kStoreBusy, "busy");
    return std::vector<Revocation>{{.handle = "beef", .until = kT0 + 900}};
  }
  // Not used by Load.
  static Status Unused() { return Status(Code::kInternal, Reason::kNone, "not used here"); }
  Result<session::FeedPosition> FeedHead() override { return Unused(); }
  Result<session::ChangeBatch> ReadChanges(const session::FeedPosition&, size_t,
                                           std::chrono::milliseconds) override {
    return Unused();
  }
  Status PublishChange(const session::Change&) override { return Unused(); }
  Status CreateTokenSession(const Session&, const session::FirstRefreshToken&,
                            const session::LimitPolicy&, int64_t,
                            std::vector<Session>*) override {
    return Unused();
  }
  Result<session::RefreshResult> RotateRefresh(const session::RefreshRotation&) override {
    return Unused();
  }
  Result<std::optional<Session>> RemoveByRefresh(std::string_view) override { return Unused(); }
  Result<std::optional<Session>> RemoveByRefreshAncestor(std::string_view, int64_t) override {
    return Unused();
  }
  Result<std::optional<std::pair<session::RefreshRecord, Session>>> FindRefresh(
      std::string_view) override {
    return Unused();
  }
  Status AddRevocation(const Revocation&) override { return Unused(); }
  Status ExtendTokensUntil(std::string_view, int64_t) override { return Unused(); }
};

TEST(LocalRevocationList, LoadReturnsStoreErrorsAndChangesNothing) {
  FailingStore store;
  LocalRevocationList list(kLeeway);
  store.fail_list = true;
  const Status failed = list.Load(store, kT0);
  EXPECT_EQ(failed.reason(), Reason::kStoreBusy);
  EXPECT_EQ(list.size(), 0u);
  store.fail_list = false;
  ASSERT_TRUE(list.Load(store, kT0).ok());
  EXPECT_TRUE(list.IsRevoked("beef", "", kT0));
}

// Fail closed (docs/security.md FB-01): a list whose feed is behind may lack revocations made
// elsewhere, so Check refuses to vouch for it; a list with no feed at all only knows this
// process's revocations, which is all there is.
TEST(LocalRevocationList, CheckFailsWhileTheFeedIsBehind) {
  LocalRevocationList list(kLeeway);
  EXPECT_TRUE(list.Check(kT0).ok()) << "no feed: nothing to be stale about";
  bool fresh = true;
  list.set_feed([&] { return fresh; });
  EXPECT_TRUE(list.Check(kT0).ok());
  fresh = false;
  EXPECT_EQ(list.Check(kT0).code(), Code::kUnavailable);
  fresh = true;
  EXPECT_TRUE(list.Check(kT0).ok()) << "a current feed restores it";
}

// Wired to a follower whose store is down at start, the list is stale from the start.
TEST(LocalRevocationList, CheckFailsWhenTheFeedNeverWorked) {
  FailingStore store;
  LocalRevocationList list(kLeeway);
  session::ChangeFollower follower(&store, {});
  list.set_feed([&] { return follower.Fresh(); });
  EXPECT_FALSE(follower.Start().ok());
  EXPECT_EQ(list.Check(kT0).code(), Code::kUnavailable);
}

// Readers on many threads while a writer revokes: every revocation is visible to every reader
// once RevokeSession returned, is never seen to go away, and nothing else is ever revoked. Run
// under ASan/UBSan (TESSERA_SANITIZE); the shared_mutex makes it race-free by construction.
TEST(LocalRevocationList, ConcurrentReadersSeeRevocationsMonotonically) {
  LocalRevocationList list(kLeeway);
  constexpr int kSids = 2000;
  std::vector<std::string> sids;
  for (int i = 0; i < kSids; ++i) sids.push_back("sid-" + std::to_string(i));
  std::atomic<int> published{0};  // sids [0, published) have been revoked
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  std::atomic<int64_t> reads{0};

  auto reader = [&](int seed) {
    int i = seed;
    do {
      const int limit = published.load(std::memory_order_acquire);
      i = (i * 7 + 13) % kSids;
      const bool revoked = list.IsRevoked(sids[i], "", kT0);
      // Revoked before we read `published`: must be visible. Never revoked: must not be.
      if (i < limit && !revoked) violations.fetch_add(1);
      if (list.IsRevoked("never-revoked", "", kT0)) violations.fetch_add(1);
      reads.fetch_add(1, std::memory_order_relaxed);
    } while (!done.load(std::memory_order_acquire));
  };
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) readers.emplace_back(reader, t + 1);
  for (int i = 0; i < kSids; ++i) {
    list.RevokeSession(sids[i], kT0 + 900);
    list.RevokeTokenId("jti-" + std::to_string(i), kT0 + 900);
    published.store(i + 1, std::memory_order_release);
  }
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(list.size(), 2u * kSids);
  for (const std::string& sid : sids) ASSERT_TRUE(list.IsRevoked(sid, "", kT0)) << sid;
}

}  // namespace
}  // namespace tessera::token
