// What only the SQLite backend has: a file on disk shared between processes.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <latch>
#include <thread>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "store_conformance/store_factory.h"
#include "tessera/jose/base64url.h"

namespace tessera::store {
namespace {

using session::RefreshOutcome;
using session::RefreshResult;
using session::RefreshRotation;
using session::Revocation;
using session::Session;
using session::SessionKind;
using testing::TempDir;

// The first value of a one-row query on a separate connection (another process, or an operator
// with the sqlite3 shell).
int64_t QueryInt(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &q, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  EXPECT_EQ(sqlite3_step(q), SQLITE_ROW);
  const int64_t v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

void ExecOn(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

Session TokenSession(const std::string& id, int64_t created, int64_t expires) {
  return Session{.id_hash = crypto::Sha256("session " + id),
                 .handle = "h-" + id,
                 .user_id = "u1",
                 .kind = SessionKind::kToken,
                 .created_at = created,
                 .last_seen_at = created,
                 .expires_at = expires};
}

TEST(SqliteStore, FileIsPrivateAndInWalMode) {
  TempDir dir;
  auto users = OpenSqliteUserStore(dir.path() + "/t.db");
  ASSERT_TRUE(users);
  struct stat st {};
  ASSERT_EQ(stat((dir.path() + "/t.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() + "/t.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, nullptr);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)), "wal");
  sqlite3_finalize(q);
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, nullptr);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(q, 0), 7);
  sqlite3_finalize(q);
  sqlite3_close(db);
}

TEST(SqliteStore, DataSurvivesReopening) {
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  {
    auto users = OpenSqliteUserStore(path);
    ASSERT_TRUE((*users)->Add({.id = "1", .username = "alice", .password_hash = "h"}).ok());
  }
  auto users = OpenSqliteUserStore(path);
  EXPECT_TRUE((*users)->FindByName("alice")->has_value());
}

// Another process holding the write lock: the store waits its busy timeout, then says
// "unavailable" (the server's 503), never a false success.
TEST(SqliteStore, LockedDatabaseIsUnavailableNotAnError) {
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  auto sessions = OpenSqliteSessionStore(path, {.busy_timeout_ms = 50});
  ASSERT_TRUE(sessions);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  session::Session s{.id_hash = std::string(32, 'a'), .handle = "h", .user_id = "u",
                     .csrf_hash = "", .created_at = 1, .last_seen_at = 1, .expires_at = 100};
  Status st = (*sessions)->Create(s, {}, 1, nullptr);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_EQ(st.reason(), Reason::kStoreBusy);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_TRUE((*sessions)->Create(s, {}, 1, nullptr).ok());
}

// A SQLite store holding one session (of a token login, tokens out until 90), the feed's head
// after it was created, and a second, raw connection to the file (another process).
class SqliteFeed : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = OpenSqliteSessionStore(path_);
    ASSERT_TRUE(opened) << opened.error().ToString();
    store_ = std::move(*opened);
    ASSERT_TRUE(store_->Create(s_, {}, 1, nullptr).ok());
    head_ = store_->FeedHead().value();
    ASSERT_EQ(sqlite3_open(path_.c_str(), &other_), SQLITE_OK);
  }
  void TearDown() override { sqlite3_close(other_); }

  TempDir dir_;
  const std::string path_ = dir_.path() + "/t.db";
  std::unique_ptr<session::SessionStore> store_;
  const session::Session s_{.id_hash = std::string(32, 'a'), .handle = "h", .user_id = "u",
                            .created_at = 1, .last_seen_at = 1, .expires_at = 100,
                            .tokens_until = 90};
  session::FeedPosition head_;
  sqlite3* other_ = nullptr;
};

// The trigger announces every end, even one no store method made (a hand-run DELETE).
TEST_F(SqliteFeed, AHandRunDeleteIsAnnouncedToo) {
  ASSERT_EQ(sqlite3_exec(other_, "DELETE FROM sessions", nullptr, nullptr, nullptr), SQLITE_OK);
  auto batch = store_->ReadChanges(head_, 10, std::chrono::milliseconds(0));
  ASSERT_TRUE(batch) << batch.error().ToString();
  ASSERT_EQ(batch->changes.size(), 1u);
  EXPECT_EQ(batch->changes[0].id_hash, s_.id_hash);
  EXPECT_EQ(batch->changes[0].handle, "h");
  EXPECT_EQ(batch->changes[0].until, 90);
}

// The feed keeps an hour: a reader further behind is told it missed entries (a gap), and a
// follower reloads instead of going on as if nothing had happened.
TEST(SqliteStore, AReaderBehindTheTrimmedFeedIsToldOfTheGap) {
  TempDir dir;
  auto a = OpenSqliteSessionStore(dir.path() + "/t.db");
  ASSERT_TRUE(a);
  session::SessionStore& store = **a;
  int reloads = 0;
  std::vector<session::Change> applied;
  session::ChangeFollower follower(
      &store, session::ChangeSinks{.apply = [&](const session::Change& c) { applied.push_back(c); },
                                   .reload =
                                       [&] {
                                         ++reloads;
                                         return Status::Ok();
                                       }});
  ASSERT_TRUE(follower.Start().ok());
  const session::FeedPosition behind = store.FeedHead().value();
  ASSERT_TRUE(store.PublishChange({.kind = session::ChangeKind::kUserChanged, .user_id = "u"}).ok());
  // That entry was written two hours before the next one.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() + "/t.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE changes SET at = at - 7200", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  ASSERT_TRUE(store.PublishChange({.kind = session::ChangeKind::kUserChanged, .user_id = "v"}).ok());
  ASSERT_TRUE(store.RemoveExpired(time(nullptr), 0));  // trims what is an hour older than the newest
  auto batch = store.ReadChanges(behind, 10, std::chrono::milliseconds(0));
  ASSERT_TRUE(batch) << batch.error().ToString();
  EXPECT_TRUE(batch->gap);
  EXPECT_EQ(batch->next.seq, behind.seq + 2);
  // One behind the newest entry (which is kept) is no gap.
  auto newest = store.ReadChanges({behind.feed, behind.seq + 1}, 10, std::chrono::milliseconds(0));
  ASSERT_TRUE(newest);
  EXPECT_FALSE(newest->gap);
  ASSERT_EQ(newest->changes.size(), 1u);
  EXPECT_EQ(newest->changes[0].user_id, "v");
  ASSERT_TRUE(follower.PollOnce(std::chrono::milliseconds(0)).ok());
  EXPECT_EQ(reloads, 2);
  EXPECT_TRUE(applied.empty());
  EXPECT_EQ(follower.gaps(), 1u);
  EXPECT_TRUE(follower.Fresh());
  // From the head on, entries arrive again.
  ASSERT_TRUE(store.PublishChange({.kind = session::ChangeKind::kKeysetChanged}).ok());
  ASSERT_TRUE(follower.PollOnce(std::chrono::milliseconds(0)).ok());
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].kind, session::ChangeKind::kKeysetChanged);
}

// A revocation recorded on its own is announced once; the one a session's end records is not
// announced a second time (its kSessionEnded entry says it); a revocation written with no store
// method (a process from before the feed, a hand-run INSERT) is announced by the trigger.
TEST_F(SqliteFeed, RevocationsAreAnnouncedOnceWhoeverWritesThem) {
  ASSERT_TRUE(store_->Remove(s_.id_hash));
  ASSERT_EQ(sqlite3_exec(other_, "INSERT INTO revocations (handle, until) VALUES ('jti:x', 50)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  ASSERT_TRUE(store_->AddRevocation({.handle = "jti:x", .until = 70}).ok());  // raises it
  ASSERT_TRUE(store_->AddRevocation({.handle = "jti:x", .until = 60}).ok());  // changes nothing
  auto batch = store_->ReadChanges(head_, 10, std::chrono::milliseconds(0));
  ASSERT_TRUE(batch) << batch.error().ToString();
  ASSERT_EQ(batch->changes.size(), 3u);
  EXPECT_EQ(batch->changes[0].kind, session::ChangeKind::kSessionEnded);
  EXPECT_EQ(batch->changes[0].until, 90);
  EXPECT_EQ(batch->changes[1].kind, session::ChangeKind::kTokenRevoked);
  EXPECT_EQ(batch->changes[1].until, 50);
  EXPECT_EQ(batch->changes[2].kind, session::ChangeKind::kTokenRevoked);
  EXPECT_EQ(batch->changes[2].until, 70);
}

TEST(SqliteStore, NewerSchemaIsRefused) {
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  ASSERT_TRUE(OpenSqliteUserStore(path));
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto again = OpenSqliteUserStore(path);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kUnavailable);
}

// The schema as tessera shipped it at version 2 (migrations 1 and 2), before token sessions.
constexpr const char* kSchemaV2 = R"sql(
  CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE,
                      password_hash TEXT NOT NULL, roles TEXT NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE sessions (id_hash BLOB PRIMARY KEY, handle TEXT NOT NULL UNIQUE,
                         user_id TEXT NOT NULL, csrf_hash BLOB NOT NULL, kind INTEGER NOT NULL,
                         created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL,
                         expires_at INTEGER NOT NULL, user_agent TEXT NOT NULL, ip TEXT NOT NULL);
  CREATE INDEX sessions_by_user ON sessions(user_id, created_at);
  CREATE TABLE throttle (key TEXT PRIMARY KEY, window_start INTEGER NOT NULL,
                         failures INTEGER NOT NULL, blocked_until INTEGER NOT NULL,
                         strikes INTEGER NOT NULL);
  INSERT INTO sessions VALUES (x'0101', 'h-old', 'u1', x'0202', 0, 100, 150, 1000, 'UA', '::1');
  INSERT INTO users VALUES ('u1', 'olduser', '$argon2id$old', 'admin ops', 90);
  PRAGMA user_version = 2;
)sql";

TEST(SqliteStore, VersionTwoDatabaseUpgradesInPlace) {
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  ExecOn(path, kSchemaV2);
  auto store = OpenSqliteSessionStore(path);
  ASSERT_TRUE(store) << store.error().ToString();
  EXPECT_EQ(QueryInt(path, "PRAGMA user_version"), 7);
  const std::string old_id("\x01\x01", 2);
  auto old = (*store)->Get(old_id);
  ASSERT_TRUE(old && old->has_value());
  EXPECT_EQ((*old)->handle, "h-old");
  EXPECT_EQ((*old)->last_seen_at, 150);
  EXPECT_EQ((*old)->tokens_until, 0);  // the new column's default
  // The old session takes part in the bridge, and token sessions work beside it.
  ASSERT_TRUE((*store)->ExtendTokensUntil(old_id, 900).ok());
  ASSERT_TRUE((*store)->Remove(old_id)->has_value());
  EXPECT_EQ((*store)->ListRevocations(500).value(), (std::vector<Revocation>{{"h-old", 900}}));
  ASSERT_TRUE(
      (*store)->CreateTokenSession(TokenSession("a", 100, 1000), "rt", {}, 100, nullptr).ok());
  auto rotated =
      (*store)->RotateRefresh({.presented_hash = "rt", .successor_hash = "rt2", .now_ms = 200'000});
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->outcome, RefreshOutcome::kRotated);
  // Accounts from before migration 5 are enabled and can be disabled.
  auto users = OpenSqliteUserStore(path);
  ASSERT_TRUE(users) << users.error().ToString();
  auto olduser = (*users)->FindById("u1");
  ASSERT_TRUE(olduser && olduser->has_value());
  EXPECT_EQ((*olduser)->roles, (std::vector<std::string>{"admin", "ops"}));
  EXPECT_FALSE((*olduser)->disabled);
  ASSERT_TRUE((*users)->SetDisabled("u1", true).ok());
  EXPECT_TRUE((*users)->FindByName("olduser")->value().disabled);
  // Reopening an upgraded database runs no migration twice.
  store->reset();
  EXPECT_TRUE(OpenSqliteSessionStore(path));
}

// Version 3 as tessera shipped it (on top of kSchemaV2): token sessions, with rotation times in
// whole seconds and no refresh families. Two token sessions: "a" with a rotated chain
// a0 -> a1 -> a2 (a1 rotated at 200 s, its seal still there, a2 live), and "b" with its first
// token b1 live.
constexpr const char* kSchemaV3 = R"sql(
  ALTER TABLE sessions ADD COLUMN tokens_until INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE refresh_tokens (
    hash             BLOB PRIMARY KEY,
    session_id_hash  BLOB NOT NULL REFERENCES sessions(id_hash) ON DELETE CASCADE,
    issued_at        INTEGER NOT NULL,
    rotated_at       INTEGER NOT NULL,
    successor_hash   BLOB NOT NULL,
    sealed_successor BLOB NOT NULL
  );
  CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id_hash);
  CREATE TABLE revocations (handle TEXT PRIMARY KEY, until INTEGER NOT NULL);
  CREATE INDEX revocations_by_until ON revocations(until);
  CREATE TRIGGER sessions_end AFTER DELETE ON sessions BEGIN
    DELETE FROM refresh_tokens WHERE session_id_hash = OLD.id_hash;
    INSERT INTO revocations (handle, until) SELECT OLD.handle, OLD.tokens_until
      WHERE OLD.tokens_until > 0
      ON CONFLICT (handle) DO UPDATE SET until = max(until, excluded.until);
  END;
  INSERT INTO sessions VALUES (x'0a', 'h-a', 'u1', x'', 1, 100, 200, 100000, 'UA', '::1', 1100);
  INSERT INTO sessions VALUES (x'0b', 'h-b', 'u1', x'', 1, 100, 100, 100000, 'UA', '::1', 0);
  INSERT INTO refresh_tokens VALUES (x'6130', x'0a', 100, 150, x'6131', x'');           -- a0
  INSERT INTO refresh_tokens VALUES (x'6131', x'0a', 150, 200, x'6132',                   -- a1
                                     CAST('sealed(a2)' AS BLOB));
  INSERT INTO refresh_tokens VALUES (x'6132', x'0a', 200, 0, x'', x'');                 -- a2
  INSERT INTO refresh_tokens VALUES (x'6231', x'0b', 100, 0, x'', x'');                 -- b1
  PRAGMA user_version = 3;
)sql";

// Hardening (part 2), migration 4: rotation times become milliseconds and the tokens of a
// version 3 database, which name no family, keep working and stay recognisable.
TEST(SqliteStore, VersionThreeDatabaseUpgradesInPlace) {
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  ExecOn(path, kSchemaV2);
  ExecOn(path, kSchemaV3);
  auto store = OpenSqliteSessionStore(path);
  ASSERT_TRUE(store) << store.error().ToString();
  EXPECT_EQ(QueryInt(path, "PRAGMA user_version"), 7);
  // Seconds became milliseconds; live tokens stay 0.
  EXPECT_EQ(QueryInt(path, "SELECT rotated_at_ms FROM refresh_tokens WHERE hash = x'6130'"),
            150'000);
  EXPECT_EQ(QueryInt(path, "SELECT rotated_at_ms FROM refresh_tokens WHERE hash = x'6131'"),
            200'000);
  EXPECT_EQ(QueryInt(path, "SELECT rotated_at_ms FROM refresh_tokens WHERE hash = x'6132'"), 0);
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM refresh_tokens WHERE length(family) > 0"), 0);
  const std::string a("\x0a", 1), b("\x0b", 1);

  // a1 was rotated at 200 s: a replay 9.9 s later is inside a 10 s grace (in milliseconds now).
  auto replay = (*store)->RotateRefresh({.presented_hash = "a1",
                                         .successor_hash = "x",
                                         .now_ms = 209'900,
                                         .grace_ms = 10'000});
  ASSERT_TRUE(replay) << replay.error().ToString();
  EXPECT_EQ(replay->outcome, RefreshOutcome::kGraceReplay);
  EXPECT_EQ(replay->presented.sealed_successor, "sealed(a2)");
  EXPECT_EQ(replay->presented.rotated_at_ms, 200'000);

  // The live token of "a" rotates into a family; its successors are pruned, the old records stay.
  const std::string family = crypto::Sha256("family F");
  auto first = (*store)->RotateRefresh({.presented_hash = "a2",
                                        .successor_hash = "f1",
                                        .family = family,
                                        .generation = 0,
                                        .now_ms = 300'000});
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->outcome, RefreshOutcome::kRotated);
  for (const auto& [presented, successor] :
       std::vector<std::pair<std::string, std::string>>{{"f1", "f2"}, {"f2", "f3"}}) {
    auto r = (*store)->RotateRefresh({.presented_hash = presented,
                                      .successor_hash = successor,
                                      .family = family,
                                      .generation = presented == "f1" ? 1 : 2,
                                      .now_ms = 301'000});
    ASSERT_TRUE(r && r->outcome == RefreshOutcome::kRotated) << presented;
  }
  // a0, a1, a2 (no family: kept), f2 (rotated), f3 (live); f1 is gone.
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM refresh_tokens WHERE session_id_hash = x'0a'"), 5);
  EXPECT_FALSE((*store)->FindRefresh("f1")->has_value());
  EXPECT_EQ((*store)->FindRefresh("f3").value()->first.generation, 3);
  // An old token of the chain is still theft.
  auto stolen = (*store)->RotateRefresh({.presented_hash = "a0",
                                         .successor_hash = "y",
                                         .now_ms = 302'000,
                                         .grace_ms = 10'000});
  ASSERT_TRUE(stolen);
  EXPECT_EQ(stolen->outcome, RefreshOutcome::kReuseDetected);
  EXPECT_FALSE((*store)->Get(a)->has_value());
  EXPECT_EQ((*store)->ListRevocations(500).value(), (std::vector<Revocation>{{"h-a", 1100}}));

  // "b": its first token starts a family; a pruned member of that family is theft.
  const std::string g = crypto::Sha256("family G");
  ASSERT_EQ((*store)->RotateRefresh({.presented_hash = "b1", .successor_hash = "g1", .family = g,
                                     .now_ms = 300'000})->outcome,
            RefreshOutcome::kRotated);
  ASSERT_EQ((*store)->RotateRefresh({.presented_hash = "g1", .successor_hash = "g2", .family = g,
                                     .generation = 1, .now_ms = 301'000})->outcome,
            RefreshOutcome::kRotated);
  ASSERT_EQ((*store)->RotateRefresh({.presented_hash = "g2", .successor_hash = "g3", .family = g,
                                     .generation = 2, .now_ms = 302'000})->outcome,
            RefreshOutcome::kRotated);
  EXPECT_FALSE((*store)->FindRefresh("g1")->has_value());  // pruned
  auto pruned = (*store)->RotateRefresh({.presented_hash = "g1", .successor_hash = "z", .family = g,
                                         .generation = 1, .now_ms = 303'000});
  ASSERT_TRUE(pruned);
  EXPECT_EQ(pruned->outcome, RefreshOutcome::kReuseDetected);
  EXPECT_FALSE((*store)->Get(b)->has_value());
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM refresh_tokens"), 0);
  store->reset();
  EXPECT_TRUE(OpenSqliteSessionStore(path));  // no migration runs twice
}

// SC-09: a copy of the database yields no usable refresh token.
TEST(SqliteStore, FileHoldsNoRawRefreshToken) {
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  const std::string raw1 = crypto::RandomString(32), raw2 = crypto::RandomString(32);
  const std::string rt1 = jose::Base64UrlEncode(raw1), rt2 = jose::Base64UrlEncode(raw2);
  {
    auto store = OpenSqliteSessionStore(path);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)
                    ->CreateTokenSession(TokenSession("a", 100, 1000), crypto::Sha256(rt1), {}, 100,
                                         nullptr)
                    .ok());
    // The token layer seals rt2 under a key derived from rt1; any opaque bytes stand in here.
    auto r = (*store)->RotateRefresh({.presented_hash = crypto::Sha256(rt1),
                                      .successor_hash = crypto::Sha256(rt2),
                                      .sealed_successor = crypto::RandomString(60),
                                      .now_ms = 200'000});
    ASSERT_TRUE(r && r->outcome == RefreshOutcome::kRotated);
  }
  std::string bytes;
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream in(path + suffix, std::ios::binary);
    bytes.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The hashes are there (so this search does see the records) ...
  EXPECT_NE(bytes.find(crypto::Sha256(rt2)), std::string::npos);
  // ... the tokens are not, in text or in binary.
  for (const std::string& secret : {rt1, rt2, raw1, raw2}) {
    EXPECT_EQ(bytes.find(secret), std::string::npos);
  }
}

// However a session row goes, even by hand in the sqlite3 shell, its family goes with it and its
// handle is revoked (the trigger of migration 3).
TEST(SqliteStore, DeletingASessionRowAnyWayEndsItsFamily) {
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  auto store = OpenSqliteSessionStore(path);
  ASSERT_TRUE(store);
  const Session s = TokenSession("a", 100, 1000);
  ASSERT_TRUE((*store)->CreateTokenSession(s, "rt1", {}, 100, nullptr).ok());
  ASSERT_TRUE((*store)->RotateRefresh(
      {.presented_hash = "rt1", .successor_hash = "rt2", .now_ms = 200'000,
       .access_expires_at = 1100}));
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM refresh_tokens"), 2);
  ExecOn(path, "DELETE FROM sessions");
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM refresh_tokens"), 0);
  EXPECT_EQ((*store)->ListRevocations(200).value(), (std::vector<Revocation>{{"h-a", 1100}}));
  auto r = (*store)->RotateRefresh(
      {.presented_hash = "rt2", .successor_hash = "rt3", .now_ms = 201'000});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, RefreshOutcome::kUnknown);
}

// A refresh token cannot belong to a session that does not exist (PRAGMA foreign_keys).
TEST(SqliteStore, RefreshTokensNeedTheirSession) {
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  auto store = OpenSqliteSessionStore(path);
  ASSERT_TRUE(store);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr);
  EXPECT_EQ(sqlite3_exec(db,
                         "INSERT INTO refresh_tokens (hash, session_id_hash, issued_at, "
                         "rotated_at_ms, successor_hash, sealed_successor) "
                         "VALUES (x'01', x'02', 1, 0, x'', x'')",
                         nullptr, nullptr, nullptr),
            SQLITE_CONSTRAINT);
  sqlite3_close(db);
}

// RT-04 / F10 across processes: two connections (two server instances, or the server and the
// CLI) present one token at once. BEGIN IMMEDIATE lets exactly one of them rotate it.
TEST(SqliteStore, TwoConnectionsRotateOneTokenOnce) {
  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  auto a = OpenSqliteSessionStore(path, {.busy_timeout_ms = 10000});
  auto b = OpenSqliteSessionStore(path, {.busy_timeout_ms = 10000});
  ASSERT_TRUE(a && b);
  const Session s = TokenSession("a", 100, 1000);
  ASSERT_TRUE((*a)->CreateTokenSession(s, "rt", {}, 100, nullptr).ok());
  constexpr int kThreads = 8;
  std::vector<Result<RefreshResult>> results(kThreads, Status(Code::kInternal, Reason::kNone, ""));
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      session::SessionStore& store = i % 2 ? **a : **b;
      start.arrive_and_wait();
      results[i] = store.RotateRefresh({.presented_hash = "rt",
                                        .successor_hash = "rt-" + std::to_string(i),
                                        .sealed_successor = "sealed-" + std::to_string(i),
                                        .now_ms = 200'000,
                                        .grace_ms = 10'000});
    });
  }
  for (auto& t : threads) t.join();
  int rotated = 0;
  std::string successor;
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().ToString();
    if (r->outcome == RefreshOutcome::kRotated) {
      ++rotated;
      successor = r->presented.successor_hash;
    }
  }
  ASSERT_EQ(rotated, 1);
  for (const auto& r : results) {
    if (r->outcome == RefreshOutcome::kRotated) continue;
    EXPECT_EQ(r->outcome, RefreshOutcome::kGraceReplay);
    EXPECT_EQ(r->presented.successor_hash, successor);
  }
  // FB-06's invariant, read straight from the file: one live token in the family.
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM refresh_tokens WHERE rotated_at_ms = 0"), 1);
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM refresh_tokens"), 2);
}

}  // namespace
}  // namespace tessera::store
