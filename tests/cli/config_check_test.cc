// `tessera config check` through the real binary, against a real Redis and a real PostgreSQL:
// exit 2 for a wrong configuration, 1 for one whose stores or files are not usable, 0 when the
// server would start; nothing created or migrated, no password in the output.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_harness.h"
#include "testing/postgres_server.h"
#include "testing/redis_server.h"

namespace tessera {
namespace {

using testing::PostgresServer;
using testing::RedisServer;

// A port nothing listens on (bound, read, released).
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class ConfigCheck : public Cli {
 protected:
  std::string Data() const { return (dir_ / "data").string(); }

  Outcome Check(const std::string& toml) {
    const std::string file = Write("tessera.toml", toml);
    Outcome r = Tessera({"config", "check", "--config", file, "--data", Data()});
    seen_ += r.out + r.err;
    return r;
  }

  // The report's line for `what` ("ok      data directory: ..."), or "" when there is none.
  static std::string LineFor(const std::string& out, const std::string& what) {
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.find(" " + what) != std::string::npos) return line;
    }
    return "";
  }

  std::string seen_;
};

TEST_F(ConfigCheck, TheDefaultsPassAndNothingIsCreated) {
  Outcome r = Check("");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(LineFor(r.out, "data directory:"),
            "ok      data directory: " + Data() + " (created at start)");
  EXPECT_EQ(LineFor(r.out, "users (sqlite):").rfind("ok ", 0), 0u) << r.out;
  EXPECT_EQ(LineFor(r.out, "sessions (sqlite):").rfind("ok ", 0), 0u) << r.out;
  EXPECT_EQ(LineFor(r.out, "tls:"), "ok      tls: off (plain HTTP, behind a TLS proxy)");
  EXPECT_FALSE(fs::exists(Data())) << "a check must not create the data directory";
}

TEST_F(ConfigCheck, AWrongConfigurationExitsTwoNamingTheKey) {
  Outcome unknown = Check("[server]\nlissten = \"127.0.0.1:8080\"\n");
  EXPECT_EQ(unknown.code, 2) << unknown.out << unknown.err;
  EXPECT_NE(unknown.err.find("lissten"), std::string::npos) << unknown.err;

  Outcome range = Check("[session]\nidle_timeout = \"-5m\"\n");
  EXPECT_EQ(range.code, 2) << range.out << range.err;
  EXPECT_NE(range.err.find("idle_timeout"), std::string::npos) << range.err;

  Outcome syntax = Check("[server\n");
  EXPECT_EQ(syntax.code, 2) << syntax.out << syntax.err;
  EXPECT_EQ(syntax.out, "") << "no report for a file that does not parse";
}

TEST_F(ConfigCheck, ADataDirectoryThatCannotBeCreatedFails) {
  const std::string file = Write("not-a-directory", "x");
  Outcome r = Tessera({"config", "check", "--data", file + "/data"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(LineFor(r.out, "data directory:").rfind("FAILED  data directory: ", 0), 0u) << r.out;
  EXPECT_NE(r.err.find("failed"), std::string::npos) << r.err;
}

TEST_F(ConfigCheck, MissingTlsFilesFail) {
  Outcome r = Check("[server]\ntls_cert = \"" + (dir_ / "none.crt").string() +
                    "\"\ntls_key = \"" + (dir_ / "none.key").string() + "\"\n");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_EQ(LineFor(r.out, "tls:").rfind("FAILED  tls: ", 0), 0u) << r.out;
}

TEST_F(ConfigCheck, RedisReachableOrNotAndNoPasswordShown) {
  RedisServer& redis = RedisServer::Shared();
  Outcome up = Check("[session]\nstore = \"" + redis.url() + "\"\n");
  EXPECT_EQ(up.code, 0) << up.out << up.err;
  const std::string line = LineFor(up.out, "sessions redis://127.0.0.1:");
  // The test server keeps no append-only file: reachable, with the persistence warning.
  EXPECT_EQ(line.rfind("warning sessions " + redis.url() + ": reachable; ", 0), 0u) << up.out;

  const std::string down_url =
      "redis://:hunter2-not-shown@127.0.0.1:" + std::to_string(ClosedPort());
  Outcome down = Check("[session]\nstore = \"" + down_url + "\"\n");
  EXPECT_EQ(down.code, 1) << down.out << down.err;
  EXPECT_EQ(LineFor(down.out, "sessions redis://").rfind("FAILED  sessions redis://", 0), 0u)
      << down.out;
  EXPECT_EQ(seen_.find("hunter2-not-shown"), std::string::npos) << seen_;
}

TEST_F(ConfigCheck, AKeysetSecretFileOthersCanReadIsRefused) {
  RedisServer& redis = RedisServer::Shared();
  const std::string secret = Write("keyset.secret", std::string(48, 'k'));
  ASSERT_EQ(::chmod(secret.c_str(), 0644), 0);
  const std::string toml = "[session]\nstore = \"" + redis.url() +
                           "\"\n[token]\nkeyset_secret_file = \"" + secret + "\"\n";
  Outcome open = Check(toml);
  EXPECT_EQ(open.code, 1) << open.out << open.err;
  EXPECT_EQ(LineFor(open.out, "token.keyset_secret_file:").rfind("FAILED  ", 0), 0u) << open.out;

  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  Outcome ok = Check(toml);
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_EQ(LineFor(ok.out, "token.keyset_secret_file:").rfind("ok      ", 0), 0u) << ok.out;

  // Without a Redis session store the setting cannot work at all, as `serve` would say: exit 2.
  Outcome alone = Check("[token]\nkeyset_secret_file = \"" + secret + "\"\n");
  EXPECT_EQ(alone.code, 2) << alone.out << alone.err;
  EXPECT_NE(alone.err.find("keyset_secret_file"), std::string::npos) << alone.err;
}

TEST_F(ConfigCheck, PostgresIsReadNotMigrated) {
  PostgresServer& pg = PostgresServer::Shared();
  const std::string url = pg.NewDatabase();
  const std::string db = url.substr(url.rfind('/') + 1);
  Outcome fresh = Check("[users]\nstore = \"" + url + "\"\n");
  EXPECT_EQ(fresh.code, 0) << fresh.out << fresh.err;
  const std::string line = LineFor(fresh.out, "users postgresql://");
  EXPECT_NE(line.find("schema 0, this binary's "), std::string::npos) << fresh.out;
  EXPECT_EQ(line.rfind("warning ", 0), 0u) << fresh.out;
  EXPECT_EQ(pg.Query("SELECT to_regclass('tessera_schema') IS NULL", db), "t")
      << "a check must not migrate";
  EXPECT_EQ(seen_.find(PostgresServer::kPassword), std::string::npos) << seen_;

  const std::string down = "postgresql://tessera:" + std::string(PostgresServer::kPassword) +
                           "@127.0.0.1:" + std::to_string(ClosedPort()) + "/x";
  Outcome unreachable = Check("[users]\nstore = \"" + down + "\"\n");
  EXPECT_EQ(unreachable.code, 1) << unreachable.out << unreachable.err;
  EXPECT_EQ(LineFor(unreachable.out, "users postgresql://").rfind("FAILED  ", 0), 0u)
      << unreachable.out;
  EXPECT_EQ(seen_.find(PostgresServer::kPassword), std::string::npos) << seen_;
}

}  // namespace
}  // namespace tessera
