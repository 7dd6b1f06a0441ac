// The backends the conformance suites run against: memory and SQLite (a fresh file per test).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tessera/store/memory.h"
#include "tessera/store/sqlite.h"

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

using Backends = ::testing::Types<MemoryBackend, SqliteBackend>;

}  // namespace tessera::testing
