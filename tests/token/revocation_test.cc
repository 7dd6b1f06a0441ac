#include "tessera/token/revocation.h"

#include <gtest/gtest.h>

#include <atomic>
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

TEST(TokenIdRevocationKey, PrefixesTheJti) {
  EXPECT_EQ(TokenIdRevocationKey("abc"), "jti:abc");
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
// instances): what one removes, the other's list sees after SyncFrom.
TEST(LocalRevocationList, SyncFromSeesARemovalMadeThroughAnotherStoreOnTheSameFile) {
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
  auto first = list.SyncFrom(**a, kT0);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_TRUE(*first);  // the first call always reads
  EXPECT_FALSE(list.IsRevoked(s.handle, "", kT0));

  // Nothing written since: no read.
  auto idle = list.SyncFrom(**a, kT0 + 1);
  ASSERT_TRUE(idle);
  EXPECT_FALSE(*idle);

  // "Process B" ends the session; "process A" learns of it at its next sync.
  auto gone = (*b)->RemoveByHandle(s.handle);
  ASSERT_TRUE(gone && gone->has_value());
  EXPECT_FALSE(list.IsRevoked(s.handle, "", kT0 + 2));
  auto after = list.SyncFrom(**a, kT0 + 2);
  ASSERT_TRUE(after) << after.error().ToString();
  EXPECT_TRUE(*after);
  EXPECT_TRUE(list.IsRevoked(s.handle, "", kT0 + 2));
  EXPECT_TRUE(list.IsRevoked(s.handle, "", kT0 + 900 + kLeeway - 1));
  EXPECT_FALSE(list.IsRevoked(s.handle, "", kT0 + 900 + kLeeway));

  // A single access token revoked through B (RFC 7009) arrives as a token id, not a handle.
  ASSERT_TRUE(
      (*b)->AddRevocation({.handle = TokenIdRevocationKey("jti-9"), .until = kT0 + 600}).ok());
  auto jti = list.SyncFrom(**a, kT0 + 3);
  ASSERT_TRUE(jti);
  EXPECT_TRUE(*jti);
  EXPECT_TRUE(list.IsRevoked("", "jti-9", kT0 + 3));
  EXPECT_FALSE(list.IsRevoked("jti-9", "", kT0 + 3));

  auto quiet = list.SyncFrom(**a, kT0 + 4);
  ASSERT_TRUE(quiet);
  EXPECT_FALSE(*quiet);
  EXPECT_EQ(list.size(), 2u);
}

TEST(LocalRevocationList, SyncFromReadsOnceFromAStoreNobodyElseWrites) {
  auto store = store::NewMemorySessionStore();
  ASSERT_TRUE(store->AddRevocation({.handle = "feed", .until = kT0 + 900}).ok());
  LocalRevocationList list(kLeeway);
  auto first = list.SyncFrom(*store, kT0);
  ASSERT_TRUE(first);
  EXPECT_TRUE(*first);
  EXPECT_TRUE(list.IsRevoked("feed", "", kT0));
  auto second = list.SyncFrom(*store, kT0 + 1);
  ASSERT_TRUE(second);
  EXPECT_FALSE(*second);
}

// Regression (found writing this test): SyncFrom asks the store for ListRevocations(now), which
// leaves out every entry whose `until` has passed, yet a verifier still accepts a token for
// leeway seconds past its exp, and a local RevokeSession keeps its entry that long. A process
// that syncs in that window (at start, or after another process revoked a session whose last
// token has just expired) accepts the revoked tokens until until + leeway.
TEST(LocalRevocationList, SyncFromKeepsAStoreEntryForTheLeewayPastItsUntil) {
  auto store = store::NewMemorySessionStore();
  ASSERT_TRUE(store->AddRevocation({.handle = "0a0b", .until = kT0}).ok());
  LocalRevocationList list(kLeeway);
  auto read = list.SyncFrom(*store, kT0 + 10);
  ASSERT_TRUE(read);
  // A token of session 0a0b with exp = kT0 verifies until kT0 + leeway: it must be refused.
  EXPECT_TRUE(list.IsRevoked("0a0b", "", kT0 + 10));
}

// A store that fails: SyncFrom returns its error and changes nothing, and tries again next time.
class FailingStore final : public SessionStore {
 public:
  bool fail_version = false;
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
  Result<uint64_t> ExternalVersion() override {
    if (fail_version) return Status(Code::kUnavailable, Reason::kStore, "down");
    return uint64_t{7};
  }
  Result<std::vector<Revocation>> ListRevocations(int64_t) override {
    if (fail_list) return Status(Code::kUnavailable, Reason::kStoreBusy, "busy");
    return std::vector<Revocation>{{.handle = "beef", .until = kT0 + 900}};
  }
  // Not used by SyncFrom.
  static Status Unused() { return Status(Code::kInternal, Reason::kNone, "not used here"); }
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

TEST(LocalRevocationList, SyncFromReturnsStoreErrorsAndRetries) {
  FailingStore store;
  LocalRevocationList list(kLeeway);
  store.fail_version = true;
  auto r1 = list.SyncFrom(store, kT0);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code(), Code::kUnavailable);
  store.fail_version = false;
  store.fail_list = true;
  auto r2 = list.SyncFrom(store, kT0);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().reason(), Reason::kStoreBusy);
  EXPECT_EQ(list.size(), 0u);
  // The failed read must not count as done: the same version is read again.
  store.fail_list = false;
  auto r3 = list.SyncFrom(store, kT0);
  ASSERT_TRUE(r3);
  EXPECT_TRUE(*r3);
  EXPECT_TRUE(list.IsRevoked("beef", "", kT0));
}

// Fail closed (docs/security.md FB-01): a list whose feed has failed for longer than its bound may
// lack revocations made elsewhere, so Check refuses to vouch for it; a list with no feed at all
// (never synced) only knows this process's revocations, which is all there is.
TEST(LocalRevocationList, CheckFailsOnceTheFeedHasFailedForTooLong) {
  FailingStore store;
  LocalRevocationList list(kLeeway, /*max_staleness_seconds=*/3);
  EXPECT_TRUE(list.Check(kT0).ok()) << "no feed: nothing to be stale about";
  ASSERT_TRUE(list.SyncFrom(store, kT0));
  EXPECT_TRUE(list.Check(kT0 + 3).ok());
  store.fail_version = true;
  EXPECT_FALSE(list.SyncFrom(store, kT0 + 2));
  EXPECT_TRUE(list.Check(kT0 + 3).ok()) << "within the bound of the last success";
  EXPECT_FALSE(list.SyncFrom(store, kT0 + 4));
  const Status stale = list.Check(kT0 + 4);
  EXPECT_EQ(stale.code(), Code::kUnavailable);
  store.fail_version = false;
  ASSERT_TRUE(list.SyncFrom(store, kT0 + 5));
  EXPECT_TRUE(list.Check(kT0 + 5).ok()) << "a success restores it";
}

// A list whose first sync fails (the store is down at start) is stale from the start.
TEST(LocalRevocationList, CheckFailsWhenTheFeedNeverWorked) {
  FailingStore store;
  store.fail_version = true;
  LocalRevocationList list(kLeeway, 3);
  EXPECT_FALSE(list.SyncFrom(store, kT0));
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
