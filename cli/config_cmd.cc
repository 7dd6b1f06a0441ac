// tessera config show [--config FILE] [--data DIR]: the effective configuration as TOML.
//
// tessera config check [--config FILE] [--data DIR]: for deploy pipelines, whether `tessera serve`
// would start with this configuration, without starting it and without changing anything.
//
//   exit 2  the configuration itself is wrong (syntax, an unknown key, a value out of range):
//           no environment can make it work; the message names the key;
//   exit 1  it is valid, but something it names is not usable from here now: a store that
//           cannot be reached, a PostgreSQL schema newer than this binary, a TLS certificate or
//           key that does not load, a keyset secret file that is refused, a directory the
//           server could not write;
//   exit 0  every check passed. Warnings (Redis persistence weaker than the revocation promise,
//           a schema that the start will migrate) are printed and do not fail the check.
//
// Nothing is created or written: SQLite files and the data directory are checked where they are
// (or where they would be created), PostgreSQL's schema is read, not migrated. Redis is
// connected to (and its persistence settings read). The listen addresses are not bound: during a
// rolling deploy the running instance holds them.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "config/values.h"
#include "context.h"
#include "io.h"
#include "store/open.h"
#include "tessera/store/postgres.h"
#include "tessera/store/redis.h"
#include "tls_context.h"

namespace tessera::cli {
namespace {

namespace fs = std::filesystem;

class Report {
 public:
  void Ok(const std::string& what, const std::string& detail) { Line("ok", what, detail); }
  void Warn(const std::string& what, const std::string& detail) { Line("warning", what, detail); }
  void Failed(const std::string& what, const std::string& detail) {
    ++failures_;
    Line("FAILED", what, detail);
  }
  int failures() const { return failures_; }

 private:
  static void Line(std::string_view tag, const std::string& what, const std::string& detail) {
    std::cout << tag << std::string(8 - tag.size(), ' ') << what << ": " << detail << "\n";
  }
  int failures_ = 0;
};

// The server writes `path` (a file, or with `directory` a directory it may create): when it
// exists it must be writable (and a directory if `directory`); when not, its nearest existing
// ancestor must be a directory the server can create it in.
Status CheckWritable(const fs::path& path, bool directory) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (fs::exists(st)) {
    if (directory && !fs::is_directory(st)) {
      return Status(Code::kUnavailable, Reason::kNone, path.string() + " is not a directory");
    }
    if (!directory && fs::is_directory(st)) {
      return Status(Code::kUnavailable, Reason::kNone, path.string() + " is a directory");
    }
    if (::access(path.c_str(), directory ? (W_OK | X_OK) : (R_OK | W_OK)) != 0) {
      return Status(Code::kUnavailable, Reason::kNone,
                    path.string() + " is not writable: " + std::strerror(errno));
    }
    return Status::Ok();
  }
  fs::path ancestor = fs::absolute(path, ec).parent_path();
  while (!ancestor.empty() && !fs::exists(ancestor, ec)) {
    if (ancestor == ancestor.root_path()) break;
    ancestor = ancestor.parent_path();
  }
  if (!fs::is_directory(ancestor, ec)) {
    return Status(Code::kUnavailable, Reason::kNone,
                  path.string() + " cannot be created: " + ancestor.string() +
                      " is not a directory");
  }
  if (::access(ancestor.c_str(), W_OK | X_OK) != 0) {
    return Status(Code::kUnavailable, Reason::kNone,
                  path.string() + " cannot be created: " + ancestor.string() +
                      " is not writable: " + std::strerror(errno));
  }
  return Status::Ok();
}

std::string Existing(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec) ? path : path + " (created at start)";
}

void CheckFile(Report& r, const std::string& what, const std::string& path, bool directory) {
  if (Status s = CheckWritable(path, directory); !s.ok()) return r.Failed(what, s.message());
  r.Ok(what, Existing(path));
}

void CheckUsers(Report& r, const Config& config) {
  if (!store::IsPostgresUrl(config.users.store)) {
    return CheckFile(r, "users (sqlite)", store::DatabasePath(config), false);
  }
  const std::string shown = config_internal::RedactUrl(config.users.store);
  auto status = store::ReadPostgresSchemaStatus(
      config.users.store,
      store::PostgresOptions{
          .pool_size = 1,
          .connect_timeout = std::chrono::milliseconds(config.users.connect_timeout_ms),
          .statement_timeout = std::chrono::milliseconds(config.users.statement_timeout_ms)});
  if (!status) return r.Failed("users " + shown, status.error().message());
  const std::string versions =
      "schema " + std::to_string(status->current) + ", this binary's " + std::to_string(status->latest);
  if (status->current > status->latest) {
    return r.Failed("users " + shown, versions + ": the database is newer than this binary");
  }
  if (status->current < status->latest) {
    return r.Warn("users " + shown, versions + ": the start migrates it (tessera migrate --status)");
  }
  r.Ok("users " + shown, "reachable, " + versions);
}

void CheckSessions(Report& r, const Config& config) {
  const std::string& url = config.session.store;
  if (url == "memory") return r.Ok("sessions", "in memory (lost on restart, one instance only)");
  if (!store::IsRedisUrl(url)) {
    // The sessions and the sign-in counters (<data>/throttle.db) live in the data directory.
    CheckFile(r, "sessions (sqlite)", store::DatabasePath(config), false);
    return CheckFile(r, "sign-in counters (sqlite)", config.server.data + "/throttle.db", false);
  }
  const std::string shown = "sessions " + config_internal::RedactUrl(url);
  if (auto opened = store::OpenSessionStore(config); !opened) {
    return r.Failed(shown, opened.error().message());
  }
  auto weak = store::RedisDurabilityWarning(url);
  if (!weak) return r.Warn(shown, "reachable; its persistence settings: " + weak.error().message());
  if (!weak->empty()) return r.Warn(shown, "reachable; " + *weak);
  r.Ok(shown, "reachable, writes survive a crash");
}

void CheckKeys(Report& r, const Config& config) {
  if (config.token.keyset_secret_file.empty()) {
    return CheckFile(r, "signing keys", config.server.data + "/" + std::string(token::Keyset::kFileName), false);
  }
  auto secret = store::ReadKeysetSecret(config);
  if (!secret) return r.Failed("token.keyset_secret_file", secret.error().message());
  r.Ok("token.keyset_secret_file", config.token.keyset_secret_file + " (keys kept in Redis)");
}

void CheckTls(Report& r, const Config& config) {
  if (config.server.tls_cert.empty()) return r.Ok("tls", "off (plain HTTP, behind a TLS proxy)");
  auto context = server::MakeTlsServerContext(config.server.tls_cert, config.server.tls_key);
  if (!context) return r.Failed("tls", context.error().message());
  r.Ok("tls", config.server.tls_cert + " with " + config.server.tls_key);
}

void CheckLogFile(Report& r, const std::string& what, const std::string& path) {
  if (path == "-" || path == "off") return r.Ok(what, path == "-" ? "stdout" : "off");
  CheckFile(r, what, path, false);
}

int Check(const DataOptions& options) {
  auto config = LoadCliConfig(options);
  if (!config) return Fail(kExitUsage, config.error().message());
  // A pairing `serve` refuses at start (store/open.cc), so a wrong configuration: exit 2.
  if (!config->token.keyset_secret_file.empty() && !store::IsRedisUrl(config->session.store)) {
    return Fail(kExitUsage,
                "token.keyset_secret_file keeps the signing keys in Redis; it needs a redis:// "
                "session.store");
  }
  Report r;
  r.Ok("configuration",
       options.config_file.empty() ? "defaults and TESSERA_* variables" : options.config_file);
  CheckFile(r, "data directory", config->server.data, true);
  CheckTls(r, *config);
  CheckUsers(r, *config);
  CheckSessions(r, *config);
  CheckKeys(r, *config);
  CheckLogFile(r, "audit log", store::AuditPath(*config));
  CheckLogFile(r, "access log", config->server.access_log);
  std::cout.flush();
  if (r.failures() > 0) {
    return Fail(kExitDenied, std::to_string(r.failures()) + " check" +
                                 (r.failures() == 1 ? "" : "s") + " failed");
  }
  return kExitOk;
}

}  // namespace

void RegisterConfig(CLI::App& app, Action* run) {
  auto options = std::make_shared<DataOptions>();
  CLI::App* cmd = app.add_subcommand("config", "Check or show a configuration");
  cmd->require_subcommand(1);
  CLI::App* check = cmd->add_subcommand(
      "check",
      "Validate the configuration (exit 2 when it is wrong) and what it names: stores reachable, "
      "files and directories usable, TLS loadable (exit 1 when not); changes nothing");
  AddDataOptions(check, options.get());
  check->callback([run, options] { *run = [options] { return Check(*options); }; });
  CLI::App* show = cmd->add_subcommand(
      "show",
      "Print the effective configuration (defaults < file < TESSERA_* < flags) as TOML that "
      "loads back, passwords in store URLs redacted");
  AddDataOptions(show, options.get());
  show->callback([run, options] {
    *run = [options] {
      auto config = LoadCliConfig(*options);
      if (!config) return Fail(kExitUsage, config.error().message());
      std::cout << DescribeConfig(*config);
      return kExitOk;
    };
  });
}

}  // namespace tessera::cli
