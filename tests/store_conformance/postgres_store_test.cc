// What the PostgreSQL account store adds to the conformance suite (user_store_test.cc runs that
// against it too): migrations, concurrent writers, timeouts and faults, and the text[] codec. All
// against a real PostgreSQL server started by the fixture.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "store/postgres/client.h"
#include "store_conformance/store_factory.h"
#include "tessera/store/postgres.h"
#include "testing/postgres_server.h"

namespace tessera::store {
namespace {

using std::chrono::milliseconds;
using testing::PostgresServer;

user::User Make(const std::string& name) {
  return user::User{.id = "id-" + name,
                    .username = name,
                    .password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                    .roles = {"admin"},
                    .created_at = 1700000000};
}

PostgresOptions Fast() {
  return PostgresOptions{.pool_size = 4,
                         .connect_timeout = milliseconds(500),
                         .statement_timeout = milliseconds(500)};
}

// Opens a store whose short timeouts are what a test measures. Opening it is not: on a loaded
// machine (CI runs the suites two at a time on two cores) a backend of a new database can take
// longer than 500 ms to start, so the open is tried again a few times.
Result<std::unique_ptr<user::UserStore>> OpenFast(const std::string& url,
                                                  PostgresOptions options = Fast()) {
  auto s = OpenPostgresUserStore(url, options);
  for (int attempt = 1; attempt < 5 && !s && s.error().code() == Code::kUnavailable; ++attempt) {
    s = OpenPostgresUserStore(url, options);
  }
  return s;
}

TEST(PostgresSchema, AFreshDatabaseIsMigratedOnceAndItsStatusRead) {
  const std::string url = PostgresServer::Shared().NewDatabase();
  auto before = ReadPostgresSchemaStatus(url);
  ASSERT_TRUE(before) << before.error().ToString();
  EXPECT_EQ(before->current, 0);
  EXPECT_GE(before->latest, 1);
  auto store = OpenPostgresUserStore(url);
  ASSERT_TRUE(store) << store.error().ToString();
  auto after = ReadPostgresSchemaStatus(url);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->current, after->latest);
  // Opening again changes nothing and keeps the data.
  ASSERT_TRUE((*store)->Add(Make("alice")).ok());
  auto again = OpenPostgresUserStore(url);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE((*again)->FindByName("alice")->has_value());
}

TEST(PostgresSchema, InstancesStartingTogetherMigrateOnce) {
  const std::string url = PostgresServer::Shared().NewDatabase();
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto s = OpenPostgresUserStore(url);
      EXPECT_TRUE(s) << s.error().ToString();
      if (s) ++opened;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened.load(), 6);
  auto status = ReadPostgresSchemaStatus(url);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->current, status->latest);
  // One row per version: nobody applied a migration twice.
  const std::string db = url.substr(url.rfind('/') + 1);
  PostgresServer::Shared().Exec(
      "DO $$ BEGIN IF (SELECT count(*) FROM tessera_schema) <> (SELECT count(DISTINCT version) "
      "FROM tessera_schema) THEN RAISE EXCEPTION 'duplicate'; END IF; END $$",
      db);
}

TEST(PostgresSchema, ADatabaseNewerThanTheBinaryIsRefused) {
  const std::string url = PostgresServer::Shared().NewDatabase();
  ASSERT_TRUE(OpenPostgresUserStore(url));
  const std::string db = url.substr(url.rfind('/') + 1);
  PostgresServer::Shared().Exec("INSERT INTO tessera_schema (version) VALUES (999)", db);
  auto s = OpenPostgresUserStore(url);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kInternal);
  EXPECT_NE(s.error().message().find("newer than this tessera"), std::string::npos)
      << s.error().message();
  EXPECT_EQ(ReadPostgresSchemaStatus(url)->current, 999);
}

TEST(PostgresStore, RolesSurviveTheArrayCodecWhateverTheyHold) {
  const std::string url = PostgresServer::Shared().NewDatabase();
  auto s = OpenPostgresUserStore(url);
  ASSERT_TRUE(s);
  // The store takes what it is given; names that PostgreSQL would quote or read as NULL come
  // back as they went in.
  user::User u = Make("alice");
  u.roles = {"null", "NULL", "a,b", "{x}", "q\"uote", "back\\slash", "sp ace", "é"};
  ASSERT_TRUE((*s)->Add(u).ok());
  EXPECT_EQ((*s)->FindById("id-alice")->value().roles, u.roles);
  ASSERT_TRUE((*s)->SetRoles("id-alice", {"", "ops"}).ok());
  EXPECT_EQ((*s)->FindByName("alice")->value().roles, (std::vector<std::string>{"", "ops"}));
}

TEST(PostgresStore, ListIsInByteOrderWhateverTheCollation) {
  const std::string url = PostgresServer::Shared().NewDatabase();
  auto s = OpenPostgresUserStore(url);
  ASSERT_TRUE(s);
  for (const char* n : {"zoe", "Zed", "émile", "adam", "_x"}) ASSERT_TRUE((*s)->Add(Make(n)).ok());
  auto all = (*s)->List();
  ASSERT_TRUE(all);
  std::vector<std::string> names;
  for (const auto& u : *all) names.push_back(u.username);
  EXPECT_EQ(names, (std::vector<std::string>{"Zed", "_x", "adam", "zoe", "émile"}));
}

TEST(PostgresStore, AWrongPasswordOrAnUnreachableServerIsUnavailableAndNamesNoPassword) {
  PostgresServer& pg = PostgresServer::Shared();
  const std::string wrong =
      "postgresql://tessera:not-the-password@127.0.0.1:" + std::to_string(pg.port()) + "/postgres";
  auto s = OpenPostgresUserStore(wrong, Fast());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kUnavailable);
  EXPECT_EQ(s.error().message().find("not-the-password"), std::string::npos);
  // Nothing listens on this port.
  const std::string nowhere = "postgresql://tessera:hunter2@127.0.0.1:1/postgres";
  const auto start = std::chrono::steady_clock::now();
  auto n = OpenPostgresUserStore(nowhere, Fast());
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), Code::kUnavailable);
  EXPECT_EQ(n.error().message().find("hunter2"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // libpq quotes a password it cannot decode; tessera's message does not.
  const std::string malformed =
      "postgresql://tessera:sw0rd%zzfish@127.0.0.1:" + std::to_string(pg.port()) + "/postgres";
  auto m = OpenPostgresUserStore(malformed, Fast());
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().message().find("sw0rd"), std::string::npos) << m.error().message();
  EXPECT_EQ(m.error().message().find("zzfish"), std::string::npos) << m.error().message();
  // So is a password given as a parameter.
  auto q = OpenPostgresUserStore("postgresql://tessera@127.0.0.1:" + std::to_string(pg.port()) +
                                     "/postgres?password=sw0rd%zzfish",
                                 Fast());
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().message().find("zzfish"), std::string::npos) << q.error().message();
  // An unencoded '@' or '/' in the password would make the rest of it a host or a port, which
  // libpq's errors quote: such a URL is refused before libpq sees it.
  for (const std::string& ambiguous :
       {"postgresql://tessera:p@ssw0rd-tail@127.0.0.1:" + std::to_string(pg.port()) + "/postgres",
        "postgresql://tessera:pa/ssw0rd-tail@127.0.0.1:" + std::to_string(pg.port()) +
            "/postgres"}) {
    auto a = OpenPostgresUserStore(ambiguous, Fast());
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code(), Code::kInvalidArgument);
    EXPECT_EQ(a.error().message().find("ssw0rd-tail"), std::string::npos) << a.error().message();
  }
}

// A server of its own: these tests stop and kill it. The fixture's store has generous timeouts,
// for the tests that are about what happens, not how fast; a test that measures opens its own.
class PostgresFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = server_.NewDatabase();
    auto s = OpenPostgresUserStore(url_, {.pool_size = 4,
                                          .connect_timeout = std::chrono::seconds(10),
                                          .statement_timeout = std::chrono::seconds(10)});
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->Add(Make("alice")).ok());
  }
  void TearDown() override { server_.ContinueAll(); }

  PostgresServer server_;
  std::string url_;
  std::unique_ptr<user::UserStore> store_;
};

TEST_F(PostgresFaults, AFrozenServerIsUnavailableWithinTheTimeoutsAndThenServesAgain) {
  auto fast = OpenFast(url_);
  ASSERT_TRUE(fast) << fast.error().ToString();
  user::UserStore* store = fast->get();
  server_.StopAll();
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto found = store->FindByName("alice");
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(found);  // never "no such user"
    EXPECT_EQ(found.error().code(), Code::kUnavailable) << found.error().ToString();
    // statement_timeout, or connect_timeout + statement_timeout for a new connection.
    EXPECT_LT(took, milliseconds(1500)) << i;
    EXPECT_EQ(store->Add(Make("bob")).code(), Code::kUnavailable);
  }
  EXPECT_EQ(store->Ping().code(), Code::kUnavailable);
  server_.ContinueAll();
  // Recovers by itself: the connections that timed out were dropped, new ones are made (each
  // attempt bounded by the 500 ms connect timeout, which a loaded machine may need several of).
  Status ping;
  for (int i = 0; i < 100 && !(ping = store->Ping()).ok(); ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(ping.ok()) << ping.ToString();
  EXPECT_TRUE(store->FindByName("alice")->has_value());
}

TEST_F(PostgresFaults, ARestartedServerIsUsedAgainWithoutAFailedRequest) {
  ASSERT_TRUE(store_->FindByName("alice")->has_value());  // the pool holds a connection
  server_.Kill();
  auto down = store_->FindByName("alice");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code(), Code::kUnavailable);
  server_.Start();
  // The pooled connection the restart closed is noticed before use: the first request after the
  // restart succeeds.
  auto found = store_->FindByName("alice");
  ASSERT_TRUE(found) << found.error().ToString();
  EXPECT_TRUE(found->has_value());
  ASSERT_TRUE(store_->FindById("id-alice")->has_value());
}

TEST_F(PostgresFaults, AConnectionTheServerTerminatedIsReplacedBeforeUse) {
  // The pool holds a connection; an operator (or an idle timeout) ends it on the server.
  ASSERT_TRUE(store_->FindByName("alice")->has_value());
  const std::string db = url_.substr(url_.rfind('/') + 1);
  server_.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db +
               "' AND pid <> pg_backend_pid()");
  // The end of the connection reaches the client's socket at once, but not before the query.
  std::this_thread::sleep_for(milliseconds(100));
  for (int i = 0; i < 3; ++i) {
    auto found = store_->FindByName("alice");
    ASSERT_TRUE(found) << i << ": " << found.error().ToString();
    EXPECT_TRUE(found->has_value());
  }
}

TEST_F(PostgresFaults, ABusyPoolMakesCallersWaitABoundedTimeThenSaysBusy) {
  // One connection; a table lock held from outside makes each UPDATE wait for its lock_timeout
  // (the statement timeout), so callers queue for the connection, and the last ones give up.
  PostgresOptions one = Fast();
  one.pool_size = 1;
  auto s = OpenFast(url_, one);
  ASSERT_TRUE(s);
  user::UserStore* store = s->get();
  const std::string db = url_.substr(url_.rfind('/') + 1);
  std::thread locker([&] {
    server_.Exec("BEGIN; LOCK TABLE tessera_users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(5); "
                 "COMMIT",
                 db);
  });
  // The callers start once the lock is held (on a loaded machine the locker's connection can
  // take a while), and it is held 5 s, well past what the eight of them may wait. Eight, so that
  // some are still queued for the one connection when their deadline passes, whatever the order.
  const std::string held =
      "SELECT count(*) FROM pg_locks WHERE relation = 'tessera_users'::regclass "
      "AND mode = 'AccessExclusiveLock' AND granted";
  for (int i = 0; i < 200 && server_.Query(held, db) != "1"; ++i) {
    std::this_thread::sleep_for(milliseconds(25));
  }
  EXPECT_EQ(server_.Query(held, db), "1") << "the locker never got its lock";
  std::vector<Status> results(8);
  std::vector<std::chrono::steady_clock::duration> took(8);
  std::vector<std::thread> callers;
  for (size_t i = 0; i < results.size(); ++i) {
    callers.emplace_back([&, i] {
      const auto start = std::chrono::steady_clock::now();
      results[i] = store->SetDisabled("id-alice", true);
      took[i] = std::chrono::steady_clock::now() - start;
    });
  }
  for (auto& t : callers) t.join();
  locker.join();
  int busy = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].code(), Code::kUnavailable) << results[i].ToString();
    busy += results[i].reason() == Reason::kStoreBusy;
    // Waiting for the connection (statement + connect timeout) and then the statement.
    EXPECT_LT(took[i], milliseconds(1800)) << i;
  }
  EXPECT_GE(busy, 1);
  // Once the lock is gone the pool serves again, and none of the refused writes happened.
  EXPECT_FALSE(store->FindByName("alice")->value().disabled);
  ASSERT_TRUE(store->SetDisabled("id-alice", true).ok());
}

TEST(PostgresTextArray, DecodesWhatPostgresPrintsAndRefusesTheRest) {
  using pg::DecodeTextArray;
  EXPECT_EQ(*DecodeTextArray("{}"), std::vector<std::string>{});
  EXPECT_EQ(*DecodeTextArray("{a,b}"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*DecodeTextArray(R"({"a,b","","q\"x","b\\s","NULL"})"),
            (std::vector<std::string>{"a,b", "", "q\"x", "b\\s", "NULL"}));
  for (const char* bad : {"", "{", "}", "a,b", "{a,}", "{,a}", "{NULL}", "{null}", "{{a}}",
                          "{\"a}", "{\"a\"b}", "{a b}", "{\"a\\\"}"}) {
    auto r = DecodeTextArray(bad);
    EXPECT_FALSE(r) << bad;
  }
  const std::vector<std::string> items = {"", "x", "a\"b\\c", "{}", ",", "NULL"};
  EXPECT_EQ(*DecodeTextArray(pg::EncodeTextArray(items)), items);
}

}  // namespace
}  // namespace tessera::store
