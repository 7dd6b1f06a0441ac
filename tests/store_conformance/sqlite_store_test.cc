// What only the SQLite backend has: a file on disk shared between processes.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "store_conformance/store_factory.h"

namespace tessera::store {
namespace {

using testing::TempDir;

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
  EXPECT_EQ(sqlite3_column_int(q, 0), 2);
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

TEST(SqliteStore, ExternalVersionMovesOnlyForOtherWriters) {
  TempDir dir;
  auto a = OpenSqliteSessionStore(dir.path() + "/t.db");
  auto b = OpenSqliteSessionStore(dir.path() + "/t.db");
  const uint64_t v0 = (*a)->ExternalVersion().value();
  session::Session s{.id_hash = std::string(32, 'a'), .handle = "h", .user_id = "u",
                     .created_at = 1, .last_seen_at = 1, .expires_at = 100};
  ASSERT_TRUE((*a)->Create(s, {}, 1, nullptr).ok());
  EXPECT_EQ((*a)->ExternalVersion().value(), v0);
  ASSERT_TRUE((*b)->Touch(s.id_hash, 5).ok());
  EXPECT_NE((*a)->ExternalVersion().value(), v0);
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

}  // namespace
}  // namespace tessera::store
