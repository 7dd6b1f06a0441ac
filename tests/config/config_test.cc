#include "tessera/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <set>
#include <string>

#include "config/keys.h"

namespace tessera {
namespace {

using config_internal::AllKeys;
using config_internal::DottedName;
using config_internal::EnvName;
using config_internal::Key;
using std::chrono::seconds;
using Env = ConfigSources::Environment;

// A TOML file in the test's temporary directory, removed when the object goes.
class TempToml {
 public:
  explicit TempToml(std::string_view text) {
    path_ = ::testing::TempDir() + "tessera_config_XXXXXX.toml";
    int fd = mkstemps(path_.data(), 5);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
  }
  ~TempToml() { std::remove(path_.c_str()); }
  TempToml(const TempToml&) = delete;
  TempToml& operator=(const TempToml&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Result<Config> FromEnv(Env env) { return LoadConfig({.env = std::move(env)}); }

// Loads `toml` (and `env`), returning the result and the file's path for message checks.
struct Loaded {
  std::string path;
  Result<Config> result;
};
Loaded FromToml(std::string_view toml, Env env = {}) {
  TempToml file(toml);
  return {file.path(), LoadConfig({.file = file.path(), .env = std::move(env)})};
}

std::string Message(const Result<Config>& r) { return r ? "(loaded)" : r.error().message(); }

const Key& KeyNamed(std::string_view dotted) {
  for (const Key& key : AllKeys()) {
    if (DottedName(key) == dotted) return key;
  }
  ADD_FAILURE() << "no key " << dotted;
  return AllKeys().front();
}

// "[session]\nidle_timeout = <literal>\n"
std::string TomlFor(const Key& key, std::string_view literal) {
  return "[" + std::string(key.section) + "]\n" + std::string(key.name) + " = " +
         std::string(literal) + "\n";
}

// ---- defaults -----------------------------------------------------------------------------------

TEST(LoadConfig, DefaultsAreDesignMd) {
  Result<Config> r = LoadConfig({});
  ASSERT_TRUE(r) << Message(r);
  const Config& c = *r;
  EXPECT_EQ(c.server.listen, (HostPort{"127.0.0.1", 8080}));
  EXPECT_EQ(c.server.data, "./tessera-data");
  EXPECT_EQ(c.server.tls_cert, "");
  EXPECT_EQ(c.server.tls_key, "");
  EXPECT_TRUE(c.server.trusted_proxies.empty());
  EXPECT_TRUE(c.server.allowed_origins.empty());
  EXPECT_EQ(c.session.idle_timeout, std::chrono::hours(24));
  EXPECT_EQ(c.session.absolute_timeout, std::chrono::days(14));
  EXPECT_EQ(c.session.max_per_user, 0u);
  EXPECT_EQ(c.session.on_limit, SessionLimitAction::kEvictOldest);
  EXPECT_EQ(c.session.store, "sqlite");
  EXPECT_EQ(c.cookie.name, "__Host-tessera_session");
  EXPECT_TRUE(c.cookie.secure);
  EXPECT_EQ(c.cookie.same_site, SameSite::kLax);
  EXPECT_EQ(c.token.issuer, "http://127.0.0.1:8080");
  EXPECT_EQ(c.token.audience, "tessera");
  EXPECT_EQ(c.token.alg, "ES256");
  EXPECT_EQ(c.token.access_ttl, std::chrono::minutes(15));
  EXPECT_EQ(c.token.refresh_ttl, std::chrono::days(30));
  EXPECT_EQ(c.token.refresh_reuse_grace, seconds(10));
  EXPECT_EQ(c.users.store, "sqlite");
  EXPECT_FALSE(c.users.registration);
  EXPECT_EQ(c.password.argon2_memory_kib, 19456u);
  EXPECT_EQ(c.password.argon2_iterations, 2u);
  EXPECT_EQ(c.password.workers, 0u);
  EXPECT_EQ(c.server.store_workers, 16u);
  EXPECT_EQ(c.server.io_threads, 0u);
  EXPECT_EQ(c.throttle.login_per_user, (Rate{5, std::chrono::minutes(1)}));
  EXPECT_EQ(c.throttle.login_per_ip, (Rate{20, std::chrono::minutes(1)}));
  EXPECT_EQ(c.audit.path, "");
  EXPECT_EQ(c.config_path, "");
  EXPECT_EQ(c, Config{});
}

TEST(LoadConfig, EmptyFileGivesDefaultsAndRecordsItsPath) {
  Loaded l = FromToml("# nothing here\n");
  ASSERT_TRUE(l.result) << Message(l.result);
  EXPECT_EQ(l.result->config_path, l.path);
  Config expected;
  expected.config_path = l.path;
  EXPECT_EQ(*l.result, expected);
}

TEST(LoadConfig, DefaultsPassTheirOwnValidation) {
  // Every default, written out explicitly in the file, loads back unchanged.
  std::string toml;
  Config defaults;
  std::string section;
  for (const Key& key : AllKeys()) {
    if (key.section != section) {
      section = std::string(key.section);
      toml += "[" + section + "]\n";
    }
    toml += std::string(key.name) + " = " + key.print(defaults) + "\n";
  }
  Loaded l = FromToml(toml);
  ASSERT_TRUE(l.result) << Message(l.result) << "\n" << toml;
  defaults.config_path = l.path;
  EXPECT_EQ(*l.result, defaults);
}

// ---- every key through every source ------------------------------------------------------------

struct KeyCase {
  const char* key;
  const char* toml;  // TOML literal
  const char* env;   // the same value as an environment string
  std::function<bool(const Config&)> check;
  Env context;  // other keys the value needs to pass the cross-key checks
};

const std::vector<KeyCase>& KeyCases() {
  static const auto* cases = new std::vector<KeyCase>{
      {"server.listen", "\"[::1]:9000\"", "[::1]:9000",
       [](const Config& c) { return c.server.listen == HostPort{"::1", 9000}; }},
      {"server.data", "\"/var/lib/tessera\"", "/var/lib/tessera",
       [](const Config& c) { return c.server.data == "/var/lib/tessera"; }},
      {"server.tls_cert", "\"/etc/tessera/cert.pem\"", "/etc/tessera/cert.pem",
       [](const Config& c) { return c.server.tls_cert == "/etc/tessera/cert.pem"; },
       {{"TESSERA_SERVER_TLS_KEY", "/etc/tessera/key.pem"}}},
      {"server.tls_key", "\"/etc/tessera/key.pem\"", "/etc/tessera/key.pem",
       [](const Config& c) { return c.server.tls_key == "/etc/tessera/key.pem"; },
       {{"TESSERA_SERVER_TLS_CERT", "/etc/tessera/cert.pem"}}},
      {"server.trusted_proxies", "[\"10.0.0.0/8\", \"fd00::1\"]", " 10.0.0.0/8 , fd00::1",
       [](const Config& c) {
         return c.server.trusted_proxies == std::vector<std::string>{"10.0.0.0/8", "fd00::1"};
       }},
      {"server.allowed_origins", "[\"https://app.example\", \"http://localhost:3000\"]",
       "https://app.example,http://localhost:3000",
       [](const Config& c) {
         return c.server.allowed_origins ==
                std::vector<std::string>{"https://app.example", "http://localhost:3000"};
       }},
      {"server.access_log", "\"/var/log/tessera/access.log\"", "/var/log/tessera/access.log",
       [](const Config& c) { return c.server.access_log == "/var/log/tessera/access.log"; }},
      {"server.store_workers", "32", "32",
       [](const Config& c) { return c.server.store_workers == 32; }},
      {"server.io_threads", "1", "1", [](const Config& c) { return c.server.io_threads == 1; }},
      {"session.idle_timeout", "\"30m\"", "30m",
       [](const Config& c) { return c.session.idle_timeout == std::chrono::minutes(30); }},
      {"session.absolute_timeout", "\"400d\"", "400d",
       [](const Config& c) { return c.session.absolute_timeout == std::chrono::days(400); }},
      {"session.max_per_user", "5", "5",
       [](const Config& c) { return c.session.max_per_user == 5; }},
      {"session.on_limit", "\"reject\"", "reject",
       [](const Config& c) { return c.session.on_limit == SessionLimitAction::kReject; }},
      {"session.store", "\"redis://127.0.0.1:6379/0\"", "redis://127.0.0.1:6379/0",
       [](const Config& c) { return c.session.store == "redis://127.0.0.1:6379/0"; }},
      {"cookie.name", "\"__Host-sid\"", "__Host-sid",
       [](const Config& c) { return c.cookie.name == "__Host-sid"; }},
      {"cookie.secure", "false", "false", [](const Config& c) { return !c.cookie.secure; },
       {{"TESSERA_COOKIE_NAME", "tessera_dev"}}},
      {"cookie.same_site", "\"Strict\"", "Strict",
       [](const Config& c) { return c.cookie.same_site == SameSite::kStrict; }},
      {"token.issuer", "\"https://id.example\"", "https://id.example",
       [](const Config& c) { return c.token.issuer == "https://id.example"; }},
      {"token.audience", "\"api\"", "api",
       [](const Config& c) { return c.token.audience == "api"; }},
      {"token.alg", "\"EdDSA\"", "EdDSA", [](const Config& c) { return c.token.alg == "EdDSA"; }},
      {"token.alg", "\"HS256\"", "HS256", [](const Config& c) { return c.token.alg == "HS256"; }},
      {"token.access_ttl", "\"5m\"", "5m",
       [](const Config& c) { return c.token.access_ttl == std::chrono::minutes(5); }},
      {"token.refresh_ttl", "\"90d\"", "90d",
       [](const Config& c) { return c.token.refresh_ttl == std::chrono::days(90); }},
      {"token.refresh_reuse_grace", "\"0s\"", "0s",
       [](const Config& c) { return c.token.refresh_reuse_grace == seconds(0); }},
      {"token.clients", "[\"orders:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"]", "orders:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
       [](const Config& c) {
         return c.token.clients == std::vector<std::string>{"orders:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"};
       }},
      {"token.verify_cache", "0", "0", [](const Config& c) { return c.token.verify_cache == 0; }},
      {"token.keyset_secret_file", "\"/etc/tessera/keyset.secret\"", "/etc/tessera/keyset.secret",
       [](const Config& c) { return c.token.keyset_secret_file == "/etc/tessera/keyset.secret"; }},
      {"users.store", "\"postgresql://tessera@db.example/tessera\"",
       "postgresql://tessera@db.example/tessera",
       [](const Config& c) { return c.users.store == "postgresql://tessera@db.example/tessera"; }},
      {"users.registration", "true", "true",
       [](const Config& c) { return c.users.registration; }},
      {"users.pool_size", "32", "32", [](const Config& c) { return c.users.pool_size == 32; }},
      {"users.connect_timeout_ms", "250", "250",
       [](const Config& c) { return c.users.connect_timeout_ms == 250; }},
      {"users.statement_timeout_ms", "5000", "5000",
       [](const Config& c) { return c.users.statement_timeout_ms == 5000; }},
      {"password.argon2_memory_kib", "47104", "47104",
       [](const Config& c) { return c.password.argon2_memory_kib == 47104; }},
      {"password.argon2_iterations", "5", "5",
       [](const Config& c) { return c.password.argon2_iterations == 5; }},
      {"password.workers", "4", "4", [](const Config& c) { return c.password.workers == 4; }},
      {"throttle.login_per_user", "\"10/15m\"", "10/15m",
       [](const Config& c) {
         return c.throttle.login_per_user == Rate{10, std::chrono::minutes(15)};
       }},
      {"throttle.login_per_ip", "\"100/h\"", "100/h",
       [](const Config& c) { return c.throttle.login_per_ip == Rate{100, std::chrono::hours(1)}; }},
      {"throttle.ipv6_prefix", "56", "56",
       [](const Config& c) { return c.throttle.ipv6_prefix == 56; }},
      {"audit.path", "\"-\"", "-", [](const Config& c) { return c.audit.path == "-"; }},
      {"metrics.listen", "\"127.0.0.1:9090\"", "127.0.0.1:9090",
       [](const Config& c) {
         return c.metrics.listen && c.metrics.listen->host == "127.0.0.1" &&
                c.metrics.listen->port == 9090;
       }},
      {"metrics.token_sha256",
       "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"",
       "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
       [](const Config& c) {
         return c.metrics.token_sha256 ==
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
       }},
  };
  return *cases;
}

TEST(LoadConfig, EveryKeyHasACase) {
  std::set<std::string> keys, cased;
  for (const Key& key : AllKeys()) keys.insert(DottedName(key));
  for (const KeyCase& c : KeyCases()) cased.insert(c.key);
  EXPECT_EQ(keys, cased);
  EXPECT_EQ(keys.size(), 40u);
}

TEST(LoadConfig, EveryKeyFromToml) {
  for (const KeyCase& c : KeyCases()) {
    const Key& key = KeyNamed(c.key);
    Loaded l = FromToml(TomlFor(key, c.toml), c.context);
    ASSERT_TRUE(l.result) << c.key << ": " << Message(l.result);
    EXPECT_TRUE(c.check(*l.result)) << c.key;
    EXPECT_FALSE(c.check(Config{})) << c.key << ": the case must differ from the default";
  }
}

TEST(LoadConfig, EveryKeyFromEnvironment) {
  for (const KeyCase& c : KeyCases()) {
    const Key& key = KeyNamed(c.key);
    Env env = c.context;
    env[EnvName(key)] = c.env;
    Result<Config> r = FromEnv(env);
    ASSERT_TRUE(r) << c.key << ": " << Message(r);
    EXPECT_TRUE(c.check(*r)) << c.key;
  }
}

TEST(LoadConfig, EnvironmentBeatsFileForEveryKey) {
  Config defaults;
  for (const KeyCase& c : KeyCases()) {
    const Key& key = KeyNamed(c.key);
    Env env = c.context;
    env[EnvName(key)] = c.env;
    // The file holds the default; the environment's value must win.
    Loaded l = FromToml(TomlFor(key, key.print(defaults)), env);
    ASSERT_TRUE(l.result) << c.key << ": " << Message(l.result);
    EXPECT_TRUE(c.check(*l.result)) << c.key;
  }
}

TEST(LoadConfig, FlagsBeatEnvironmentBeatsFile) {
  std::string toml = "[server]\nlisten = \"127.0.0.1:1001\"\ndata = \"/from/file\"\n";
  Env env = {{"TESSERA_SERVER_LISTEN", "127.0.0.1:1002"}, {"TESSERA_SERVER_DATA", "/from/env"}};
  TempToml file(toml);

  Result<Config> r = LoadConfig({.file = file.path()});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(r->server.listen.port, 1001);
  EXPECT_EQ(r->server.data, "/from/file");

  r = LoadConfig({.file = file.path(), .env = env});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(r->server.listen.port, 1002);
  EXPECT_EQ(r->server.data, "/from/env");

  r = LoadConfig(
      {.file = file.path(), .env = env, .listen = "127.0.0.1:1003", .data = "/from/flag"});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(r->server.listen.port, 1003);
  EXPECT_EQ(r->server.data, "/from/flag");

  // A flag alone, and one flag without the other.
  r = LoadConfig({.listen = "[::1]:0"});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(r->server.listen, (HostPort{"::1", 0}));
  r = LoadConfig({.file = file.path(), .env = env, .data = "/from/flag"});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(r->server.listen.port, 1002);
  EXPECT_EQ(r->server.data, "/from/flag");
}

TEST(LoadConfig, LayersMergeKeyByKey) {
  // The file sets two keys of a section, the environment overrides one: the other stays.
  Loaded l = FromToml("[session]\nidle_timeout = \"1h\"\nmax_per_user = 3\n",
                      {{"TESSERA_SESSION_MAX_PER_USER", "7"}});
  ASSERT_TRUE(l.result) << Message(l.result);
  EXPECT_EQ(l.result->session.idle_timeout, std::chrono::hours(1));
  EXPECT_EQ(l.result->session.max_per_user, 7u);
  EXPECT_EQ(l.result->session.absolute_timeout, std::chrono::days(14));
}

TEST(LoadConfig, BadFlagNamesTheFlag) {
  Result<Config> r = LoadConfig({.listen = "localhost"});
  ASSERT_FALSE(r);
  EXPECT_NE(Message(r).find("server.listen: \"localhost\" has no port"), std::string::npos)
      << Message(r);
  EXPECT_NE(Message(r).find("[--listen]"), std::string::npos) << Message(r);
  r = LoadConfig({.data = ""});
  ASSERT_FALSE(r);
  EXPECT_NE(Message(r).find("server.data: must not be empty [--data]"), std::string::npos)
      << Message(r);
}

TEST(LoadConfig, TomlAcceptsInlineTablesAndDottedKeys) {
  Loaded l = FromToml(
      "server = { listen = \"127.0.0.1:1\" }\nsession.idle_timeout = \"1h\"\n"
      "[token]\nalg = 'PS256'\n");
  ASSERT_TRUE(l.result) << Message(l.result);
  EXPECT_EQ(l.result->server.listen.port, 1);
  EXPECT_EQ(l.result->session.idle_timeout, std::chrono::hours(1));
  EXPECT_EQ(l.result->token.alg, "PS256");
}

TEST(LoadConfig, EnvironmentListsAndBooleans) {
  Result<Config> r = FromEnv({{"TESSERA_SERVER_TRUSTED_PROXIES", ""},
                              {"TESSERA_SERVER_ALLOWED_ORIGINS", "https://a.example"},
                              {"TESSERA_USERS_REGISTRATION", "1"}});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_TRUE(r->server.trusted_proxies.empty());
  EXPECT_EQ(r->server.allowed_origins, std::vector<std::string>{"https://a.example"});
  EXPECT_TRUE(r->users.registration);
  r = FromEnv({{"TESSERA_USERS_REGISTRATION", "0"}});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_FALSE(r->users.registration);
}

TEST(LoadConfig, OtherTesseraVariablesAreIgnored) {
  // Variables outside the TESSERA_<SECTION>_ namespaces belong to other tools (tests use
  // TESSERA_BIN and TESSERA_TESTDATA).
  Result<Config> r = FromEnv({{"TESSERA_BIN", "/x"},
                              {"TESSERA_TESTDATA", "/y"},
                              {"TESSERA_SERVERS", "z"},
                              {"PATH", "/bin"}});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(*r, Config{});
}

// ---- invalid values ----------------------------------------------------------------------------

struct BadCase {
  const char* key;
  const char* toml;    // nullptr: not tried through TOML
  const char* env;     // nullptr: not tried through the environment
  const char* expect;  // a piece of the message
};

const std::vector<BadCase>& BadCases() {
  static const auto* cases = new std::vector<BadCase>{
      {"server.listen", "\"8080\"", "8080", "\"8080\" has no port"},
      {"server.listen", "\"::1:8080\"", "::1:8080", "brackets"},
      {"server.listen", "\"127.0.0.1:70000\"", "127.0.0.1:70000", "0 to 65535"},
      {"server.listen", "\":8080\"", ":8080", "has no host"},
      {"server.listen", "8080", nullptr, "expected a string, got an integer"},
      {"server.data", "\"\"", "", "must not be empty"},
      {"server.tls_cert", "1", nullptr, "expected a string, got an integer"},
      {"server.access_log", "\"\"", "", "must not be empty"},
      {"server.store_workers", "0", "0", "out of range (1 to 1024)"},
      {"server.io_threads", "1025", "1025", "out of range (0 to 1024)"},
      {"server.tls_key", "false", nullptr, "expected a string, got a boolean"},
      {"server.trusted_proxies", "[\"10.0.0.0/33\"]", "10.0.0.0/33", "prefix length"},
      {"server.trusted_proxies", "[\"proxy.internal\"]", "proxy.internal", "not an IP address"},
      {"server.trusted_proxies", "\"10.0.0.1\"", nullptr, "expected an array of strings, got a"},
      {"server.trusted_proxies", "[1]", nullptr, "element 0 is an integer, expected a string"},
      {"server.allowed_origins", "[\"*\"]", "*", "\"*\" is not allowed"},
      {"server.allowed_origins", "[\"https://app.example/\"]", "https://app.example/", "no path"},
      {"server.allowed_origins", nullptr, "https://a.example,,https://b.example", "empty item"},
      {"session.idle_timeout", "\"5x\"", "5x",
       "\"5x\" is not a duration (use 90s, 30m, 12h, 14d)"},
      {"session.idle_timeout", "\"0s\"", "0s", "too short (at least 1s)"},
      {"session.idle_timeout", "\"90\"", "90", "has no unit"},
      {"session.idle_timeout", "90", nullptr, "expected a duration string such as \"30m\""},
      {"session.idle_timeout", "\"-5m\"", "-5m", "negative"},
      {"session.idle_timeout", "\"\"", "", "\"\" is not a duration"},
      {"session.absolute_timeout", "\"401d\"", "401d", "at most 400d, the cookie lifetime cap"},
      {"session.absolute_timeout", "\"99999999999999999999d\"", "99999999999999999999d",
       "too long"},
      {"session.max_per_user", "-1", "-1", "-1 is out of range (0 to 1000000)"},
      {"session.max_per_user", "\"5\"", nullptr, "expected an integer, got a string"},
      {"session.max_per_user", "1.5", "1.5", ""},
      {"session.max_per_user", nullptr, "five", "\"five\" is not an integer"},
      {"session.on_limit", "\"oldest\"", "oldest", "is not one of \"evict_oldest\", \"reject\""},
      {"session.store", "\"mysql://db\"", "mysql://db", "is not a session store"},
      {"session.store", "\"redis://\"", "redis://", "has no host"},
      {"cookie.name", "\"a b\"", "a b", "is not a cookie name"},
      {"cookie.name", "\"\"", "", "must not be empty"},
      {"cookie.secure", "\"true\"", nullptr, "expected true or false, got a string"},
      {"cookie.secure", nullptr, "yes", "\"yes\" is not a boolean"},
      {"cookie.same_site", "\"lax\"", "lax", "is not one of \"Strict\", \"Lax\", \"None\""},
      {"token.issuer", "\"ftp://id.example\"", "ftp://id.example", "is not an http(s) URL"},
      {"token.issuer", "\"https://id.example?x=1\"", "https://id.example?x=1", "no query"},
      {"token.audience", "\"\"", "", "must not be empty"},
      {"token.alg", "\"none\"", "none", "none is refused"},
      {"token.alg", "\"es256\"", "es256", "is not a signing algorithm"},
      {"token.access_ttl", "\"2d\"", "2d", "too long (at most 1d"},
      {"token.access_ttl", "\"0s\"", "0s", "too short"},
      {"token.refresh_ttl", "\"0s\"", "0s", "too short"},
      {"token.refresh_reuse_grace", "\"10m\"", "10m", "too long (at most 5m"},
      {"token.clients", "[\"orders\"]", "orders", "a client is"},
      {"token.clients", "[\"orders:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"]", "orders:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", "lowercase hex SHA-256"},
      {"token.clients", "[\"a b:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"]", "a b:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "a client is"},
      {"token.verify_cache", "-1", "-1", "out of range"},
      {"token.keyset_secret_file", "1", nullptr, "expected a string, got an integer"},
      {"users.store", "\"redis://x\"", "redis://x", "is not a user store"},
      {"users.store", "\"postgresql://db /x\"", "postgresql://db /x", "spaces"},
      {"users.registration", "1", "2", ""},
      {"users.pool_size", "0", "0", "0 is out of range (1 to 1000)"},
      {"users.connect_timeout_ms", "5", "5", "out of range (10 to 60000)"},
      {"users.statement_timeout_ms", "\"1s\"", nullptr, "expected an integer"},
      {"password.argon2_memory_kib", "0", "0", "0 is out of range"},
      {"password.argon2_memory_kib", "4294967296", "4294967296", "out of range"},
      {"password.argon2_iterations", "0", "0", "0 is out of range (1 to 1000)"},
      {"password.workers", "5000", "5000", "out of range (0 to 1024)"},
      {"password.workers", "9223372036854775808", "99999999999999999999", ""},
      {"throttle.login_per_user", "\"0/min\"", "0/min", "the count must be positive"},
      {"throttle.login_per_ip", "\"5/week\"", "5/week", "is not a rate"},
      {"throttle.login_per_ip", "5", nullptr, "expected a rate string such as \"5/min\""},
      {"throttle.ipv6_prefix", "16", "16", "out of range (32 to 128)"},
      {"audit.path", "true", nullptr, "expected a string, got a boolean"},
      {"metrics.listen", "\"nowhere\"", "nowhere", ""},
      {"metrics.token_sha256", "\"my-scrape-token\"", "my-scrape-token",
       "the token itself is not written here"},
  };
  return *cases;
}

TEST(LoadConfig, EveryKeyHasABadCase) {
  std::set<std::string> keys, cased;
  for (const Key& key : AllKeys()) keys.insert(DottedName(key));
  for (const BadCase& c : BadCases()) cased.insert(c.key);
  EXPECT_EQ(keys, cased);
}

TEST(LoadConfig, BadTomlValueNamesKeyAndLine) {
  for (const BadCase& c : BadCases()) {
    if (c.toml == nullptr) continue;
    const Key& key = KeyNamed(c.key);
    std::string toml = "# comment\n" + TomlFor(key, c.toml);
    TempToml file(toml);
    Result<Config> r = LoadConfig({.file = file.path()});
    // A TOML syntax error (e.g. an integer too large for TOML) names the line, not the key.
    if (!r && Message(r).starts_with("TOML syntax error")) {
      EXPECT_NE(Message(r).find("[" + file.path() + ":3:"), std::string::npos) << Message(r);
      continue;
    }
    ASSERT_FALSE(r) << c.key << " = " << c.toml;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_TRUE(Message(r).starts_with(std::string(c.key) + ": ")) << Message(r);
    EXPECT_NE(Message(r).find(c.expect), std::string::npos) << Message(r);
    std::string where = "[" + file.path() + ":3:" + std::to_string(key.name.size() + 4) + "]";
    EXPECT_NE(Message(r).find(where), std::string::npos) << Message(r) << " lacks " << where;
  }
}

TEST(LoadConfig, BadEnvironmentValueNamesKeyAndVariable) {
  for (const BadCase& c : BadCases()) {
    if (c.env == nullptr) continue;
    const Key& key = KeyNamed(c.key);
    Result<Config> r = FromEnv({{EnvName(key), c.env}});
    ASSERT_FALSE(r) << c.key << " = " << c.env;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_TRUE(Message(r).starts_with(std::string(c.key) + ": ")) << Message(r);
    EXPECT_NE(Message(r).find(c.expect), std::string::npos) << Message(r);
    EXPECT_NE(Message(r).find("[env " + EnvName(key) + "]"), std::string::npos) << Message(r);
  }
}

TEST(LoadConfig, ExactMessageForABadDuration) {
  Loaded l = FromToml("[session]\nidle_timeout = \"5x\"\n");
  ASSERT_FALSE(l.result);
  EXPECT_EQ(Message(l.result), "session.idle_timeout: \"5x\" is not a duration (use 90s, 30m, 12h, "
                               "14d) [" + l.path + ":2:16]");
  EXPECT_EQ(l.result.error().reason(), Reason::kBadConfig);
  EXPECT_EQ(l.result.error().ToString().substr(0, 28), "invalid_argument/bad_config:");
}

TEST(LoadConfig, AllProblemsAreReportedInFileOrder) {
  Loaded l = FromToml(
      "[token]\nalg = \"none\"\n[session]\nidle_timeout = \"5x\"\nfoo = 1\n",
      {{"TESSERA_COOKIE_SAME_SITE", "lax"}});
  ASSERT_FALSE(l.result);
  std::string m = Message(l.result);
  size_t alg = m.find("token.alg:");
  size_t idle = m.find("session.idle_timeout:");
  size_t foo = m.find("session.foo: unknown key");
  size_t same_site = m.find("cookie.same_site:");
  ASSERT_NE(alg, std::string::npos) << m;
  ASSERT_NE(idle, std::string::npos) << m;
  ASSERT_NE(foo, std::string::npos) << m;
  ASSERT_NE(same_site, std::string::npos) << m;
  EXPECT_LT(alg, idle);
  EXPECT_LT(idle, foo);
  EXPECT_LT(foo, same_site);  // the file before the environment
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 3) << m;
}

TEST(LoadConfig, BadFileValueFailsEvenWhenTheEnvironmentOverridesIt) {
  Loaded l = FromToml("[session]\nidle_timeout = \"5x\"\n",
                      {{"TESSERA_SESSION_IDLE_TIMEOUT", "1h"}});
  ASSERT_FALSE(l.result);
  EXPECT_NE(Message(l.result).find("session.idle_timeout"), std::string::npos);
}

TEST(LoadConfig, NulInsideAStringIsRefused) {
  Loaded l = FromToml("[server]\ndata = \"a\\u0000b\"\n");
  ASSERT_FALSE(l.result);
  EXPECT_NE(Message(l.result).find("server.data: contains a NUL character"), std::string::npos)
      << Message(l.result);
}

// ---- unknown keys and sections, file errors ----------------------------------------------------

TEST(LoadConfig, UnknownSectionIsRefusedWithASuggestion) {
  Loaded l = FromToml("[server]\n\n[sesion]\nidle_timeout = \"1h\"\n");
  ASSERT_FALSE(l.result);
  EXPECT_EQ(Message(l.result),
            "sesion: unknown section (did you mean session?) [" + l.path + ":3:2]");
}

TEST(LoadConfig, UnknownKeyIsRefusedWithASuggestion) {
  Loaded l = FromToml("[session]\nidel_timeout = \"1h\"\n");
  ASSERT_FALSE(l.result);
  EXPECT_EQ(Message(l.result), "session.idel_timeout: unknown key (did you mean idle_timeout?) [" +
                                   l.path + ":2:1]");
  l = FromToml("[session]\nzzz = 1\n");
  ASSERT_FALSE(l.result);
  EXPECT_EQ(Message(l.result), "session.zzz: unknown key [" + l.path + ":2:1]");
}

TEST(LoadConfig, TopLevelKeyPointsToItsSection) {
  Loaded l = FromToml("listen = \"127.0.0.1:1\"\n");
  ASSERT_FALSE(l.result);
  EXPECT_EQ(Message(l.result),
            "listen: unknown top-level key (did you mean listen under [server]?) [" + l.path +
                ":1:1]");
}

TEST(LoadConfig, SubtablesAndArraysOfTablesAreRefused) {
  Loaded l = FromToml("[session.redis]\nurl = \"redis://x\"\n");
  ASSERT_FALSE(l.result);
  EXPECT_NE(Message(l.result).find("session.redis: unknown key"), std::string::npos)
      << Message(l.result);
  l = FromToml("[[server]]\nlisten = \"127.0.0.1:1\"\n");
  ASSERT_FALSE(l.result);
  EXPECT_NE(Message(l.result).find("server: must be a table"), std::string::npos)
      << Message(l.result);
}

TEST(LoadConfig, UnknownVariableInAKnownSectionIsRefused) {
  Result<Config> r = FromEnv({{"TESSERA_SESSION_IDEL_TIMEOUT", "1h"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(Message(r),
            "TESSERA_SESSION_IDEL_TIMEOUT: unknown variable (did you mean "
            "TESSERA_SESSION_IDLE_TIMEOUT?) [env TESSERA_SESSION_IDEL_TIMEOUT]");
  r = FromEnv({{"TESSERA_AUDIT_", "x"}});
  ASSERT_FALSE(r);
}

TEST(LoadConfig, TomlSyntaxErrorNamesTheLine) {
  Loaded l = FromToml("[server]\nlisten = \"127.0.0.1:1\"\n[session\n");
  ASSERT_FALSE(l.result);
  EXPECT_TRUE(Message(l.result).starts_with("TOML syntax error: ")) << Message(l.result);
  EXPECT_NE(Message(l.result).find("[" + l.path + ":3:"), std::string::npos) << Message(l.result);
}

TEST(LoadConfig, DuplicateKeyIsASyntaxError) {
  Loaded l = FromToml("[session]\nstore = \"memory\"\nstore = \"sqlite\"\n");
  ASSERT_FALSE(l.result);
  EXPECT_NE(Message(l.result).find("[" + l.path + ":3:"), std::string::npos) << Message(l.result);
}

TEST(LoadConfig, MissingFileIsAnIoError) {
  std::string path = ::testing::TempDir() + "tessera_config_does_not_exist.toml";
  Result<Config> r = LoadConfig({.file = path});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason(), Reason::kIo);
  EXPECT_NE(Message(r).find(path), std::string::npos);
  EXPECT_NE(Message(r).find("No such file"), std::string::npos) << Message(r);
}

TEST(LoadConfig, OversizedFileIsRefused) {
  Loaded l = FromToml("# " + std::string(1 << 20, 'x') + "\n");
  ASSERT_FALSE(l.result);
  EXPECT_NE(Message(l.result).find("larger than 1 MiB"), std::string::npos);
}

TEST(LoadConfig, InvalidUtf8IsRefused) {
  Loaded l = FromToml("[token]\naudience = \"\xff\"\n");
  ASSERT_FALSE(l.result);
  EXPECT_TRUE(Message(l.result).starts_with("TOML syntax error")) << Message(l.result);
}

// ---- checks across keys ------------------------------------------------------------------------

TEST(CrossChecks, IdleTimeoutAtMostAbsoluteTimeout) {
  Result<Config> r = FromEnv({{"TESSERA_SESSION_IDLE_TIMEOUT", "15d"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(Message(r),
            "session.idle_timeout: 15d [env TESSERA_SESSION_IDLE_TIMEOUT] exceeds "
            "session.absolute_timeout 14d [default]; a session cannot stay idle longer than it "
            "may live");
  r = FromEnv({{"TESSERA_SESSION_IDLE_TIMEOUT", "14d"}});
  EXPECT_TRUE(r) << Message(r);
  r = FromEnv({{"TESSERA_SESSION_ABSOLUTE_TIMEOUT", "23h"}});
  ASSERT_FALSE(r);
  EXPECT_NE(Message(r).find("[env TESSERA_SESSION_ABSOLUTE_TIMEOUT]"), std::string::npos);
}

TEST(CrossChecks, AbsoluteTimeoutAtMost400Days) {
  EXPECT_TRUE(FromEnv({{"TESSERA_SESSION_ABSOLUTE_TIMEOUT", "400d"}}));
  EXPECT_TRUE(FromEnv({{"TESSERA_SESSION_ABSOLUTE_TIMEOUT", "34560000s"}}));
  EXPECT_FALSE(FromEnv({{"TESSERA_SESSION_ABSOLUTE_TIMEOUT", "34560001s"}}));
}

TEST(CrossChecks, SecureCookieNeedsHostPrefix) {
  Result<Config> r = FromEnv({{"TESSERA_COOKIE_NAME", "sid"}});
  ASSERT_FALSE(r);
  EXPECT_TRUE(Message(r).starts_with("cookie.name: \"sid\" [env TESSERA_COOKIE_NAME] must start "
                                     "with \"__Host-\" when cookie.secure = true [default]"))
      << Message(r);
  EXPECT_FALSE(FromEnv({{"TESSERA_COOKIE_NAME", "__Secure-sid"}}));
  EXPECT_FALSE(FromEnv({{"TESSERA_COOKIE_NAME", "__host-sid"}}));  // exact spelling for Secure
  EXPECT_TRUE(FromEnv({{"TESSERA_COOKIE_NAME", "__Host-x"}}));
}

TEST(CrossChecks, InsecureCookieMustNotClaimAPrefix) {
  Result<Config> r = FromEnv({{"TESSERA_COOKIE_SECURE", "false"}});
  ASSERT_FALSE(r);
  EXPECT_NE(Message(r).find("cookie.name: \"__Host-tessera_session\" [default] needs "
                            "cookie.secure = true, but it is false [env TESSERA_COOKIE_SECURE]"),
            std::string::npos)
      << Message(r);
  EXPECT_NE(Message(r).find("e.g. \"tessera_session\""), std::string::npos);
  for (const char* name : {"__host-x", "__SECURE-x", "__Secure-x"}) {
    EXPECT_FALSE(FromEnv({{"TESSERA_COOKIE_SECURE", "false"}, {"TESSERA_COOKIE_NAME", name}}))
        << name;
  }
  EXPECT_TRUE(FromEnv({{"TESSERA_COOKIE_SECURE", "false"}, {"TESSERA_COOKIE_NAME", "dev"}}));
}

TEST(CrossChecks, SameSiteNoneNeedsSecure) {
  EXPECT_TRUE(FromEnv({{"TESSERA_COOKIE_SAME_SITE", "None"}}));
  Result<Config> r = FromEnv({{"TESSERA_COOKIE_SAME_SITE", "None"},
                              {"TESSERA_COOKIE_SECURE", "false"},
                              {"TESSERA_COOKIE_NAME", "dev"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(Message(r),
            "cookie.same_site: \"None\" [env TESSERA_COOKIE_SAME_SITE] requires cookie.secure = "
            "true [env TESSERA_COOKIE_SECURE] (browsers reject SameSite=None cookies without "
            "Secure)");
}

TEST(CrossChecks, TlsCertAndKeyTogether) {
  Result<Config> r = FromEnv({{"TESSERA_SERVER_TLS_CERT", "c.pem"}});
  ASSERT_FALSE(r);
  EXPECT_TRUE(Message(r).starts_with("server.tls_key: must be set together with server.tls_cert "
                                     "[env TESSERA_SERVER_TLS_CERT]"))
      << Message(r);
  r = FromEnv({{"TESSERA_SERVER_TLS_KEY", "k.pem"}});
  ASSERT_FALSE(r);
  EXPECT_TRUE(Message(r).starts_with("server.tls_cert: must be set together with server.tls_key"))
      << Message(r);
  EXPECT_TRUE(FromEnv({{"TESSERA_SERVER_TLS_CERT", "c.pem"}, {"TESSERA_SERVER_TLS_KEY", "k.pem"}}));
}

Result<Config> WithArgon2(uint32_t m, uint32_t t) {
  return FromEnv({{"TESSERA_PASSWORD_ARGON2_MEMORY_KIB", std::to_string(m)},
                  {"TESSERA_PASSWORD_ARGON2_ITERATIONS", std::to_string(t)}});
}

TEST(CrossChecks, Argon2AcceptsEveryOwaspRowAndNothingBelow) {
  for (const Argon2Cost& row : kArgon2Floor) {
    EXPECT_TRUE(WithArgon2(row.memory_kib, row.iterations))
        << row.memory_kib << "/" << row.iterations;
    EXPECT_TRUE(WithArgon2(row.memory_kib + 1, row.iterations));
    EXPECT_TRUE(WithArgon2(row.memory_kib, row.iterations + 1));
    EXPECT_FALSE(WithArgon2(row.memory_kib - 1, row.iterations))
        << row.memory_kib - 1 << "/" << row.iterations;
  }
  // Below a row's memory, more iterations help only down to the next row.
  EXPECT_FALSE(WithArgon2(19456, 1));
  EXPECT_FALSE(WithArgon2(12288, 2));
  EXPECT_FALSE(WithArgon2(47103, 1));
  EXPECT_TRUE(WithArgon2(7168, 1000));
  EXPECT_FALSE(WithArgon2(7167, 1000));
  EXPECT_TRUE(WithArgon2(4 * 1024 * 1024, 1));
  // A product rule (m * t >= 7168 * 5) would accept this; OWASP's table does not.
  EXPECT_FALSE(WithArgon2(35840, 1));
}

TEST(CrossChecks, Argon2MessageGivesTheMemoryNeeded) {
  Result<Config> r = WithArgon2(19455, 2);
  ASSERT_FALSE(r);
  EXPECT_TRUE(Message(r).starts_with(
      "password.argon2_memory_kib: 19455 [env TESSERA_PASSWORD_ARGON2_MEMORY_KIB] with "
      "password.argon2_iterations = 2 [env TESSERA_PASSWORD_ARGON2_ITERATIONS] is below the "
      "OWASP minimum for Argon2id: with 2 iteration(s) use at least 19456 KiB"))
      << Message(r);
  r = FromEnv({{"TESSERA_PASSWORD_ARGON2_ITERATIONS", "1"}});
  ASSERT_FALSE(r);
  EXPECT_NE(Message(r).find("19456 [default]"), std::string::npos) << Message(r);
  EXPECT_NE(Message(r).find("use at least 47104 KiB"), std::string::npos) << Message(r);
}

// ---- derived issuer ----------------------------------------------------------------------------

TEST(LoadConfig, IssuerFollowsListenUnlessSet) {
  Result<Config> r = LoadConfig({.listen = "127.0.0.1:9000"});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(r->token.issuer, "http://127.0.0.1:9000");
  r = LoadConfig({.listen = "[::1]:9000"});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(r->token.issuer, "http://[::1]:9000");
  r = LoadConfig(
      {.env = {{"TESSERA_SERVER_TLS_CERT", "c.pem"}, {"TESSERA_SERVER_TLS_KEY", "k.pem"}},
       .listen = "auth.example:8443"});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(r->token.issuer, "https://auth.example:8443");
  r = LoadConfig({.env = {{"TESSERA_TOKEN_ISSUER", "https://id.example"}},
                  .listen = "127.0.0.1:9000"});
  ASSERT_TRUE(r) << Message(r);
  EXPECT_EQ(r->token.issuer, "https://id.example");
}

// ---- secrets -----------------------------------------------------------------------------------

TEST(Secrets, StorePasswordsNeverAppearInErrors) {
  for (const auto& [var, value] : std::vector<std::pair<std::string, std::string>>{
           {"TESSERA_SESSION_STORE", "redis//:hunter2@cache"},
           {"TESSERA_SESSION_STORE", "redis://:hunter2@"},
           {"TESSERA_SESSION_STORE", "redis://:hunter2@cache /0"},
           {"TESSERA_SESSION_STORE", "mysql://u:hunter2@db"},
           {"TESSERA_USERS_STORE", "mysql://u:hunter2@db"},
           {"TESSERA_USERS_STORE", "postgresql://u:hunter2@db /x"},
           {"TESSERA_USERS_STORE", "postgresql://db /x?password=hunter2"}}) {
    Result<Config> r = FromEnv({{var, value}});
    ASSERT_FALSE(r) << value;
    EXPECT_EQ(Message(r).find("hunter2"), std::string::npos) << Message(r);
  }
}

TEST(Secrets, DescribeConfigRedactsStorePasswords) {
  Result<Config> r = FromEnv({{"TESSERA_SESSION_STORE", "rediss://:hunter2@cache:6380/0"},
                              {"TESSERA_USERS_STORE", "postgresql://tessera:hunter2@db/tessera"}});
  ASSERT_TRUE(r) << Message(r);
  std::string out = DescribeConfig(*r);
  EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
  EXPECT_NE(out.find("store = \"rediss://:REDACTED@cache:6380/0\""), std::string::npos) << out;
  EXPECT_NE(out.find("store = \"postgresql://tessera:REDACTED@db/tessera\""), std::string::npos)
      << out;
}

// ---- DescribeConfig ----------------------------------------------------------------------------

TEST(DescribeConfig, ListsEveryKeyUnderItsSection) {
  std::string out = DescribeConfig(Config{});
  for (const Key& key : AllKeys()) {
    size_t section = out.find("\n[" + std::string(key.section) + "]\n");
    ASSERT_NE(section, std::string::npos) << key.section;
    size_t line = out.find("\n" + std::string(key.name) + " = ", section);
    EXPECT_NE(line, std::string::npos) << DottedName(key);
  }
  EXPECT_NE(out.find("listen = \"127.0.0.1:8080\"\n"), std::string::npos) << out;
  EXPECT_NE(out.find("idle_timeout = \"1d\"\n"), std::string::npos) << out;
  EXPECT_NE(out.find("login_per_user = \"5/min\"\n"), std::string::npos) << out;
  EXPECT_NE(out.find("(no config file)"), std::string::npos) << out;
}

TEST(DescribeConfig, OutputLoadsBackToTheSameConfig) {
  Result<Config> r = FromEnv({
      {"TESSERA_SERVER_LISTEN", "[::]:0"},
      {"TESSERA_SERVER_DATA", "/var/lib/\"quoted\" \\ dir"},
      {"TESSERA_SERVER_TLS_CERT", "c.pem"},
      {"TESSERA_SERVER_TLS_KEY", "k.pem"},
      {"TESSERA_SERVER_TRUSTED_PROXIES", "10.0.0.0/8,::1"},
      {"TESSERA_SERVER_ALLOWED_ORIGINS", "https://a.example"},
      {"TESSERA_SESSION_IDLE_TIMEOUT", "90m"},
      {"TESSERA_SESSION_ABSOLUTE_TIMEOUT", "86401s"},
      {"TESSERA_SESSION_MAX_PER_USER", "3"},
      {"TESSERA_SESSION_ON_LIMIT", "reject"},
      {"TESSERA_SESSION_STORE", "memory"},
      {"TESSERA_COOKIE_NAME", "dev"},
      {"TESSERA_COOKIE_SECURE", "false"},
      {"TESSERA_COOKIE_SAME_SITE", "Strict"},
      {"TESSERA_TOKEN_AUDIENCE", "api"},
      {"TESSERA_TOKEN_ALG", "RS256"},
      {"TESSERA_TOKEN_ACCESS_TTL", "1d"},
      {"TESSERA_TOKEN_REFRESH_TTL", "36500d"},
      {"TESSERA_TOKEN_REFRESH_REUSE_GRACE", "0s"},
      {"TESSERA_USERS_STORE", "postgres://db/tessera"},
      {"TESSERA_USERS_REGISTRATION", "true"},
      {"TESSERA_PASSWORD_ARGON2_MEMORY_KIB", "9216"},
      {"TESSERA_PASSWORD_ARGON2_ITERATIONS", "4"},
      {"TESSERA_PASSWORD_WORKERS", "8"},
      {"TESSERA_THROTTLE_LOGIN_PER_USER", "7/45s"},
      {"TESSERA_THROTTLE_LOGIN_PER_IP", "1000/d"},
      {"TESSERA_AUDIT_PATH", "-"},
  });
  ASSERT_TRUE(r) << Message(r);
  for (const Config& config : {Config{}, *r}) {
    std::string described = DescribeConfig(config);
    Loaded l = FromToml(described);
    ASSERT_TRUE(l.result) << Message(l.result) << "\n" << described;
    Config expected = config;
    expected.config_path = l.path;
    EXPECT_EQ(*l.result, expected) << described;
  }
}

TEST(DescribeConfig, NamesTheFile) {
  Loaded l = FromToml("");
  ASSERT_TRUE(l.result);
  EXPECT_NE(DescribeConfig(*l.result).find("(config file \"" + l.path + "\")"), std::string::npos);
}

// ---- the process environment -------------------------------------------------------------------

TEST(ProcessEnvironment, KeepsOnlyTesseraVariables) {
  ASSERT_EQ(setenv("TESSERA_CONFIG_TEST_PROBE", "a=b", 1), 0);
  Env env = ProcessEnvironment();
  unsetenv("TESSERA_CONFIG_TEST_PROBE");
  EXPECT_EQ(env["TESSERA_CONFIG_TEST_PROBE"], "a=b");
  for (const auto& [name, value] : env) EXPECT_TRUE(name.starts_with("TESSERA_")) << name;
  EXPECT_EQ(env.count("PATH"), 0u);
}

}  // namespace
}  // namespace tessera
