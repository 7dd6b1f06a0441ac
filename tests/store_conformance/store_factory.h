// The backends the conformance suites run against: memory and SQLite (a fresh file per test).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "tessera/store/memory.h"
#include "tessera/store/postgres.h"
#include "tessera/store/redis.h"
#include "tessera/store/sqlite.h"
#include "testing/postgres_server.h"
#include "testing/redis_server.h"

namespace tessera::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tessera-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct MemoryBackend {
  // Whether two stores opened on one directory share their data (as two processes do).
  static constexpr bool kShared = false;
  static std::unique_ptr<session::SessionStore> Sessions(const std::string&) {
    return store::NewMemorySessionStore();
  }
  static std::unique_ptr<user::UserStore> Users(const std::string&) {
    return store::NewMemoryUserStore();
  }
  static std::unique_ptr<user::ThrottleStore> Throttle(const std::string&) {
    return store::NewMemoryThrottleStore();
  }
};

struct SqliteBackend {
  static constexpr bool kShared = true;
  static std::unique_ptr<session::SessionStore> Sessions(const std::string& dir) {
    auto s = store::OpenSqliteSessionStore(dir + "/tessera.db");
    EXPECT_TRUE(s) << s.error().ToString();
    return std::move(s).value();
  }
  static std::unique_ptr<user::UserStore> Users(const std::string& dir) {
    auto s = store::OpenSqliteUserStore(dir + "/tessera.db");
    EXPECT_TRUE(s) << s.error().ToString();
    return std::move(s).value();
  }
  static std::unique_ptr<user::ThrottleStore> Throttle(const std::string& dir) {
    auto s = store::OpenSqliteThrottleStore(dir + "/tessera.db");
    EXPECT_TRUE(s) << s.error().ToString();
    return std::move(s).value();
  }
};

// Sessions and throttle counters in a real redis-server (one per test binary); accounts in SQLite,
// as a Redis deployment keeps them. Each test directory gets its own key prefix, so stores opened
// on one directory share their data, as two instances on one Redis do, and tests do not.
struct RedisBackend {
  static constexpr bool kShared = true;
  static std::string Prefix(const std::string& dir) {
    return "test:" + std::filesystem::path(dir).filename().string() + ":";
  }
  static std::unique_ptr<session::SessionStore> Sessions(const std::string& dir) {
    auto s = store::OpenRedisSessionStore(RedisServer::Shared().url(), {.prefix = Prefix(dir)});
    EXPECT_TRUE(s) << s.error().ToString();
    return std::move(s).value();
  }
  static std::unique_ptr<user::UserStore> Users(const std::string& dir) {
    return SqliteBackend::Users(dir);
  }
  static std::unique_ptr<user::ThrottleStore> Throttle(const std::string& dir) {
    auto s = store::OpenRedisThrottleStore(RedisServer::Shared().url(), {.prefix = Prefix(dir)});
    EXPECT_TRUE(s) << s.error().ToString();
    return std::move(s).value();
  }
};

// The same on a real three-primary Redis Cluster (one per test binary): the key layout of groups
// under hash tags, the directory and the outboxes' relay (docs/design.md, "Redis Cluster").
struct RedisClusterBackend {
  static constexpr bool kShared = true;
  static std::string Prefix(const std::string& dir) { return RedisBackend::Prefix(dir); }
  static std::unique_ptr<session::SessionStore> Sessions(const std::string& dir) {
    auto s = store::OpenRedisSessionStore(RedisCluster::Shared().url(), {.prefix = Prefix(dir)});
    EXPECT_TRUE(s) << s.error().ToString();
    return std::move(s).value();
  }
  static std::unique_ptr<user::UserStore> Users(const std::string& dir) {
    return SqliteBackend::Users(dir);
  }
  static std::unique_ptr<user::ThrottleStore> Throttle(const std::string& dir) {
    auto s = store::OpenRedisThrottleStore(RedisCluster::Shared().url(), {.prefix = Prefix(dir)});
    EXPECT_TRUE(s) << s.error().ToString();
    return std::move(s).value();
  }
};

// Accounts in a real PostgreSQL (one server per test binary): each test directory gets a
// database of its own, so stores opened on one directory share their data, as instances on one
// database do, and tests do not.
struct PostgresBackend {
  static constexpr bool kShared = true;
  static std::string Url(const std::string& dir) {
    static std::mutex mu;
    static std::map<std::string, std::string> urls;
    std::lock_guard lock(mu);
    auto [it, fresh] = urls.try_emplace(dir);
    if (fresh) it->second = PostgresServer::Shared().NewDatabase();
    return it->second;
  }
  // Timeouts generous for a loaded test machine: these tests are about behaviour, and
  // postgres_store_test.cc tests the timeouts themselves. Null (and a failure) when the store
  // cannot be opened; the fixture stops there.
  static std::unique_ptr<user::UserStore> Users(const std::string& dir) {
    auto s = store::OpenPostgresUserStore(
        Url(dir), store::PostgresOptions{.connect_timeout = std::chrono::seconds(10),
                                         .statement_timeout = std::chrono::seconds(10)});
    if (!s) {
      ADD_FAILURE() << s.error().ToString();
      return nullptr;
    }
    return std::move(*s);
  }
};

// Every backend of sessions and throttles; accounts have memory, SQLite and PostgreSQL.
using Backends = ::testing::Types<MemoryBackend, SqliteBackend, RedisBackend, RedisClusterBackend>;
using UserBackends = ::testing::Types<MemoryBackend, SqliteBackend, PostgresBackend>;

}  // namespace tessera::testing
