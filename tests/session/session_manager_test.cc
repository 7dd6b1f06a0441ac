#include "tessera/session/session_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "store_conformance/store_factory.h"
#include "tessera/jose/base64url.h"

namespace tessera::session {
namespace {

constexpr int64_t kT0 = 1'800'000'000;

class SessionManagerTest : public ::testing::Test {
 protected:
  SessionManager Manager(SessionOptions o = {}) { return SessionManager(store_.get(), o, &clock_); }
  FakeClock clock_{kT0};
  std::unique_ptr<SessionStore> store_ = store::NewMemorySessionStore();
};

TEST_F(SessionManagerTest, SecretsAre256BitsAndStoredOnlyAsHashes) {
  auto m = Manager();
  std::set<std::string> secrets;
  for (int i = 0; i < 200; ++i) {
    auto s = m.Create("u1", SessionKind::kCookie, {"UA", "10.0.0.1"});
    ASSERT_TRUE(s) << s.error().ToString();
    EXPECT_EQ(s->secret.size(), 43u);
    EXPECT_EQ(jose::Base64UrlDecode(s->secret)->size(), 32u);
    EXPECT_TRUE(secrets.insert(s->secret).second);
    EXPECT_EQ(s->record.id_hash, SessionManager::HashSecret(s->secret));
    EXPECT_NE(s->record.handle, s->secret);
    // Hex, so that a handle pasted into a command can never look like an option.
    EXPECT_EQ(s->record.handle.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(s->record.handle.size(), 32u);
    EXPECT_NE(s->record.csrf_hash, s->csrf_token);
    EXPECT_EQ(s->record.csrf_hash.size(), 32u);
  }
  // Nothing in the store holds a secret or a CSRF token in the clear.
  const auto records = store_->ListByUser("u1");
  ASSERT_TRUE(records);
  for (const Session& r : *records) {
    EXPECT_EQ(secrets.count(r.id_hash), 0u);
    EXPECT_EQ(secrets.count(r.handle), 0u);
  }
}

TEST_F(SessionManagerTest, AuthenticateFindsTheSessionAndRejectsOthers) {
  auto m = Manager();
  auto s = m.Create("u1", SessionKind::kCookie, {});
  ASSERT_TRUE(s);
  auto ok = m.Authenticate(s->secret, false);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->user_id, "u1");
  // A well-formed but unknown secret, and garbage, are both unknown sessions.
  const std::string unknown = jose::Base64UrlEncode(std::string(32, 'x'));
  EXPECT_EQ(m.Authenticate(unknown, false).error().reason(), Reason::kUnknownSession);
  for (const char* bad : {"", "short", "AAAA AAAA", "%00"}) {
    EXPECT_EQ(m.Authenticate(bad, false).error().reason(), Reason::kUnknownSession) << bad;
  }
  std::string tweaked = s->secret;
  tweaked[0] = tweaked[0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(m.Authenticate(tweaked, false).error().reason(), Reason::kUnknownSession);
}

TEST_F(SessionManagerTest, IdleTimeoutAtTheBoundary) {
  auto m = Manager({.idle_timeout_seconds = 300, .absolute_timeout_seconds = 3600,
                    .touch_interval_seconds = 0});
  auto s = m.Create("u1", SessionKind::kCookie, {});
  clock_.Set(kT0 + 299);
  ASSERT_TRUE(m.Authenticate(s->secret, false));  // activity: idle clock restarts at T0+299
  clock_.Set(kT0 + 299 + 299);
  ASSERT_TRUE(m.Authenticate(s->secret, false));
  clock_.Set(kT0 + 598 + 300);
  EXPECT_EQ(m.Authenticate(s->secret, false).error().reason(), Reason::kSessionExpired);
  // Gone for good: the record was removed.
  EXPECT_FALSE(store_->Get(s->record.id_hash)->has_value());
}

TEST_F(SessionManagerTest, PassiveRequestsDoNotExtendIdleTime) {
  auto m = Manager({.idle_timeout_seconds = 300, .touch_interval_seconds = 0});
  auto s = m.Create("u1", SessionKind::kCookie, {});
  clock_.Set(kT0 + 200);
  ASSERT_TRUE(m.Authenticate(s->secret, /*passive=*/true));
  clock_.Set(kT0 + 299);
  ASSERT_TRUE(m.Authenticate(s->secret, true));
  clock_.Set(kT0 + 300);
  EXPECT_EQ(m.Authenticate(s->secret, true).error().reason(), Reason::kSessionExpired);
}

TEST_F(SessionManagerTest, AbsoluteTimeoutDespiteActivity) {
  auto m = Manager({.idle_timeout_seconds = 100, .absolute_timeout_seconds = 250,
                    .touch_interval_seconds = 0});
  auto s = m.Create("u1", SessionKind::kCookie, {});
  for (int64_t t = 50; t < 250; t += 50) {
    clock_.Set(kT0 + t);
    ASSERT_TRUE(m.Authenticate(s->secret, false)) << t;
  }
  clock_.Set(kT0 + 249);
  ASSERT_TRUE(m.Authenticate(s->secret, false));
  EXPECT_EQ(m.ExpiresAt(*m.Authenticate(s->secret, false)), kT0 + 250);
  clock_.Set(kT0 + 250);
  EXPECT_EQ(m.Authenticate(s->secret, false).error().reason(), Reason::kSessionExpired);
}

TEST_F(SessionManagerTest, LastSeenWritesAreThrottled) {
  auto m = Manager({.idle_timeout_seconds = 3600, .touch_interval_seconds = 60});
  auto s = m.Create("u1", SessionKind::kCookie, {});
  clock_.Set(kT0 + 59);
  ASSERT_TRUE(m.Authenticate(s->secret, false));
  EXPECT_EQ(store_->Get(s->record.id_hash)->value().last_seen_at, kT0);
  clock_.Set(kT0 + 60);
  ASSERT_TRUE(m.Authenticate(s->secret, false));
  EXPECT_EQ(store_->Get(s->record.id_hash)->value().last_seen_at, kT0 + 60);
}

TEST_F(SessionManagerTest, DeferredTouchesWaitForFlushAndAreNeverLost) {
  SessionOptions o;
  o.touch_interval_seconds = 10;
  o.idle_timeout_seconds = 100;
  o.defer_touches = true;
  auto m = Manager(o);
  auto s = m.Create("u1", SessionKind::kCookie, {});
  ASSERT_TRUE(s);
  const std::string& id = s->record.id_hash;
  clock_.Advance(60);
  auto seen = m.Authenticate(s->secret, false);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->last_seen_at, kT0 + 60);                       // the caller sees it at once
  EXPECT_EQ(store_->Get(id)->value().last_seen_at, kT0);         // the store not yet
  ASSERT_TRUE(m.FlushTouches().ok());
  EXPECT_EQ(store_->Get(id)->value().last_seen_at, kT0 + 60);
  ASSERT_TRUE(m.FlushTouches().ok());                            // nothing queued: no-op

  // A queued touch counts even when the record is read from the store again (the cache dropped
  // it): without it the session would look idle since kT0 + 60 and be expired at kT0 + 200.
  o.cache_capacity = 1;
  auto small = Manager(o);
  auto other = small.Create("u2", SessionKind::kCookie, {});
  ASSERT_TRUE(other);
  clock_.Set(kT0 + 150);
  ASSERT_TRUE(small.Authenticate(s->secret, false));      // queues kT0 + 150
  ASSERT_TRUE(small.Authenticate(other->secret, false));  // the cache is full: cleared
  clock_.Set(kT0 + 200);
  auto later = small.Authenticate(s->secret, /*passive=*/true);
  ASSERT_TRUE(later) << later.error().ToString();
  EXPECT_EQ(later->last_seen_at, kT0 + 150);
  ASSERT_TRUE(small.FlushTouches().ok());
  EXPECT_EQ(store_->Get(id)->value().last_seen_at, kT0 + 150);
}

TEST_F(SessionManagerTest, RevocationTakesEffectAtOnceDespiteTheCache) {
  auto m = Manager();
  auto a = m.Create("u1", SessionKind::kCookie, {});
  auto b = m.Create("u1", SessionKind::kCookie, {});
  auto c = m.Create("u1", SessionKind::kCookie, {});
  for (const auto* s : {&*a, &*b, &*c}) ASSERT_TRUE(m.Authenticate(s->secret, false));  // cached
  ASSERT_TRUE(m.Revoke(a->secret)->has_value());
  EXPECT_EQ(m.Authenticate(a->secret, false).error().reason(), Reason::kUnknownSession);
  auto gone = m.RevokeAll("u1", c->record.id_hash);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->size(), 1u);
  EXPECT_FALSE(m.Authenticate(b->secret, false));
  EXPECT_TRUE(m.Authenticate(c->secret, false));
}

TEST_F(SessionManagerTest, RevokeByHandleOnlyForTheOwner) {
  auto m = Manager();
  auto mine = m.Create("u1", SessionKind::kCookie, {});
  auto theirs = m.Create("u2", SessionKind::kCookie, {});
  EXPECT_EQ(m.RevokeByHandle("u1", theirs->record.handle).status().code(), Code::kNotFound);
  EXPECT_TRUE(m.Authenticate(theirs->secret, false));
  EXPECT_EQ(m.RevokeByHandle("u1", "made-up").status().code(), Code::kNotFound);
  ASSERT_TRUE(m.RevokeByHandle("u1", mine->record.handle));
  EXPECT_FALSE(m.Authenticate(mine->secret, false));
}

TEST_F(SessionManagerTest, CsrfTokenIsBoundToItsSession) {
  auto m = Manager();
  auto a = m.Create("u1", SessionKind::kCookie, {});
  auto b = m.Create("u1", SessionKind::kCookie, {});
  EXPECT_TRUE(SessionManager::CheckCsrf(a->record, a->csrf_token));
  EXPECT_FALSE(SessionManager::CheckCsrf(a->record, b->csrf_token));
  EXPECT_FALSE(SessionManager::CheckCsrf(a->record, ""));
  auto token = m.Create("u1", SessionKind::kToken, {});
  EXPECT_TRUE(token->csrf_token.empty());
  EXPECT_FALSE(SessionManager::CheckCsrf(token->record, ""));
}

TEST_F(SessionManagerTest, ListHidesExpiredAndPurgeRemovesThem) {
  auto m = Manager({.idle_timeout_seconds = 100, .touch_interval_seconds = 0});
  auto old_session = m.Create("u1", SessionKind::kCookie, {});
  clock_.Set(kT0 + 90);
  auto fresh = m.Create("u1", SessionKind::kCookie, {"Firefox", "::1"});
  clock_.Set(kT0 + 150);
  auto list = m.List("u1");
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].user_agent, "Firefox");
  EXPECT_EQ(m.PurgeExpired().value(), 1u);
  EXPECT_EQ(store_->ListByUser("u1")->size(), 1u);
}

TEST_F(SessionManagerTest, UserAgentIsTruncated) {
  auto m = Manager();
  auto s = m.Create("u1", SessionKind::kCookie, {std::string(5000, 'a'), "::1"});
  EXPECT_EQ(s->record.user_agent.size(), 256u);
}

// Two processes on one SQLite file: a revocation by the CLI (another connection) reaches the
// server's cache through the change feed, for that session only.
TEST(SessionManagerSqlite, RevocationByAnotherProcessLeavesTheCacheThroughTheFeed) {
  testing::TempDir dir;
  FakeClock clock(kT0);
  auto server_store = testing::SqliteBackend::Sessions(dir.path());
  auto cli_store = testing::SqliteBackend::Sessions(dir.path());
  SessionManager server(server_store.get(), {}, &clock);
  SessionManager cli(cli_store.get(), {}, &clock);
  ChangeFollower follower(server_store.get(),
                          ChangeSinks{.apply = [&](const Change& c) { server.Apply(c); }});
  ASSERT_TRUE(follower.Start().ok());
  auto s = server.Create("u1", SessionKind::kCookie, {});
  auto kept = server.Create("u2", SessionKind::kCookie, {});
  ASSERT_TRUE(server.Authenticate(s->secret, false));  // now cached in the server
  ASSERT_TRUE(server.Authenticate(kept->secret, false));
  ASSERT_TRUE(cli.RevokeAll("u1", ""));
  // Until the feed is read, the server's cache still has it: that is what the feed is for.
  EXPECT_TRUE(server.Authenticate(s->secret, false));
  ASSERT_TRUE(follower.PollOnce(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(server.Authenticate(s->secret, false).error().reason(), Reason::kUnknownSession);
  EXPECT_TRUE(server.Authenticate(kept->secret, false));
  EXPECT_EQ(server.external_generation(), 0u) << "per key, never by emptying the cache";
}

// While the feed is behind, the cache is not trusted: every check reads the store, so another
// process's revocation takes effect even before the feed brings it.
TEST(SessionManagerSqlite, AStaleFeedBypassesTheCache) {
  testing::TempDir dir;
  FakeClock clock(kT0);
  auto server_store = testing::SqliteBackend::Sessions(dir.path());
  auto cli_store = testing::SqliteBackend::Sessions(dir.path());
  SessionManager server(server_store.get(), {}, &clock);
  std::atomic<bool> fresh{true};
  server.set_feed([&] { return fresh.load(); });
  auto s = server.Create("u1", SessionKind::kCookie, {});
  ASSERT_TRUE(server.Authenticate(s->secret, false));
  ASSERT_TRUE(cli_store->RemoveByUser("u1", ""));
  EXPECT_TRUE(server.Authenticate(s->secret, false)) << "fresh: the cache answers";
  fresh = false;
  EXPECT_EQ(server.Authenticate(s->secret, false).error().reason(), Reason::kUnknownSession);
}

// Regression (found in review): touches are no feed entries, so a cached record's last_seen_at
// falls behind while another process serves the session. The cache alone must not end a session
// for idleness: the stored record decides.
TEST(SessionManagerSqlite, ACachedRecordThatLooksIdleIsCheckedAgainstTheStore) {
  testing::TempDir dir;
  FakeClock clock(kT0);
  auto a_store = testing::SqliteBackend::Sessions(dir.path());
  auto b_store = testing::SqliteBackend::Sessions(dir.path());
  const SessionOptions o{.idle_timeout_seconds = 100, .touch_interval_seconds = 10};
  SessionManager a(a_store.get(), o, &clock);
  SessionManager b(b_store.get(), o, &clock);
  auto s = a.Create("u1", SessionKind::kCookie, {});
  ASSERT_TRUE(a.Authenticate(s->secret, false));  // cached in A with last_seen kT0
  clock.Set(kT0 + 80);
  ASSERT_TRUE(b.Authenticate(s->secret, false));  // activity on B: stored last_seen kT0 + 80
  clock.Set(kT0 + 150);  // idle by A's cached copy, not by the store
  auto again = a.Authenticate(s->secret, false);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_GE(again->last_seen_at, kT0 + 80);
  EXPECT_TRUE(b_store->Get(s->record.id_hash).value().has_value()) << "nothing was removed";
  clock.Set(kT0 + 400);  // now idle in the store too
  EXPECT_EQ(a.Authenticate(s->secret, false).error().reason(), Reason::kSessionExpired);
}

// A gap in the feed drops everything cached.
TEST(SessionManagerSqlite, DropCacheForgetsEverySession) {
  testing::TempDir dir;
  FakeClock clock(kT0);
  auto server_store = testing::SqliteBackend::Sessions(dir.path());
  auto cli_store = testing::SqliteBackend::Sessions(dir.path());
  SessionManager server(server_store.get(), {}, &clock);
  auto s = server.Create("u1", SessionKind::kCookie, {});
  ASSERT_TRUE(server.Authenticate(s->secret, false));
  ASSERT_TRUE(cli_store->RemoveByUser("u1", ""));
  server.DropCache();
  EXPECT_EQ(server.external_generation(), 1u);
  EXPECT_EQ(server.Authenticate(s->secret, false).error().reason(), Reason::kUnknownSession);
}

// A store that cannot answer must never yield an authenticated session.
class FailingStore final : public SessionStore {
 public:
  Status Fail() const { return Status(Code::kUnavailable, Reason::kStore, "down"); }
  Status Create(const Session&, const LimitPolicy&, int64_t, std::vector<Session>*) override {
    return Fail();
  }
  Result<std::optional<Session>> Get(std::string_view) override { return Fail(); }
  Result<std::vector<Session>> ListByUser(std::string_view) override { return Fail(); }
  Result<std::vector<Session>> ListAll(size_t) override { return Fail(); }
  Result<std::optional<Session>> RemoveByHandle(std::string_view) override { return Fail(); }
  Status Touch(std::string_view, int64_t) override { return Fail(); }
  Result<std::optional<Session>> Remove(std::string_view) override { return Fail(); }
  Result<std::vector<Session>> RemoveByUser(std::string_view, std::string_view) override {
    return Fail();
  }
  Result<size_t> RemoveExpired(int64_t, int64_t) override { return Fail(); }
  Result<size_t> CountAlive(int64_t) override { return Fail(); }
  Result<FeedPosition> FeedHead() override { return Fail(); }
  Result<ChangeBatch> ReadChanges(const FeedPosition&, size_t, std::chrono::milliseconds) override {
    return Fail();
  }
  Status PublishChange(const Change&) override { return Fail(); }
  Status CreateTokenSession(const Session&, const FirstRefreshToken&, const LimitPolicy&, int64_t,
                            std::vector<Session>*) override {
    return Fail();
  }
  Result<RefreshResult> RotateRefresh(const RefreshRotation&) override { return Fail(); }
  Result<std::optional<Session>> RemoveByRefresh(std::string_view) override { return Fail(); }
  Result<std::optional<Session>> RemoveByRefreshAncestor(std::string_view, int64_t) override {
    return Fail();
  }
  Result<std::optional<std::pair<RefreshRecord, Session>>> FindRefresh(
      std::string_view) override {
    return Fail();
  }
  Status AddRevocation(const Revocation&) override { return Fail(); }
  Status ExtendTokensUntil(std::string_view, int64_t) override { return Fail(); }
  Result<std::vector<Revocation>> ListRevocations(int64_t) override { return Fail(); }
};

TEST(SessionManagerFailClosed, StoreDownIsUnavailableNeverAuthenticated) {
  FailingStore store;
  FakeClock clock(kT0);
  SessionManager m(&store, {}, &clock);
  EXPECT_EQ(m.Create("u1", SessionKind::kCookie, {}).error().code(), Code::kUnavailable);
  const std::string secret = jose::Base64UrlEncode(std::string(32, 's'));
  EXPECT_EQ(m.Authenticate(secret, false).error().code(), Code::kUnavailable);
  EXPECT_EQ(m.List("u1").error().code(), Code::kUnavailable);
  EXPECT_EQ(m.Revoke(secret).error().code(), Code::kUnavailable);
  EXPECT_EQ(m.CreateTokenSession("u1", {}, std::string(43, 'h'), 3600, kT0 + 900).error().code(),
            Code::kUnavailable);
}

}  // namespace
}  // namespace tessera::session
