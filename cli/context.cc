#include "context.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "tessera/store/memory.h"
#include "tessera/store/sqlite.h"

namespace tessera::cli {

void AddDataOptions(CLI::App* app, DataOptions* options) {
  app->add_option("--config", options->config_file, "TOML configuration file");
  app->add_option("--data", options->data_dir, "Data directory (default ./tessera-data)");
}

Result<Config> LoadCliConfig(const DataOptions& options) {
  ConfigSources sources;
  if (!options.config_file.empty()) sources.file = options.config_file;
  sources.env = ProcessEnvironment();
  if (!options.data_dir.empty()) sources.data = options.data_dir;
  return LoadConfig(sources);
}

Status EnsureDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(Code::kUnavailable, Reason::kIo, "cannot create " + dir + ": " + ec.message());
  // Keys, password hashes and the audit log live here: the owner's eyes only.
  if (chmod(dir.c_str(), 0700) != 0) {
    return Status(Code::kUnavailable, Reason::kIo,
                  "cannot restrict " + dir + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

std::string AuditPath(const Config& config) {
  return config.audit.path.empty() ? config.server.data + "/audit.log" : config.audit.path;
}

std::unique_ptr<log::AuditLog> OpenCliAudit(const Config& config) {
  auto audit = log::AuditLog::Open(AuditPath(config));
  if (audit) return std::move(*audit);
  std::cerr << "tessera: warning: audit.path: " << audit.error().message()
            << "; this action is not audited\n";
  return log::AuditLog::Discard();
}

std::string DatabasePath(const Config& config) { return config.server.data + "/tessera.db"; }

Result<std::unique_ptr<user::UserStore>> OpenUserStore(const Config& config) {
  if (config.users.store != "sqlite") {
    return InvalidArgument(Reason::kBadConfig, "users.store = \"" + config.users.store +
                                              "\" is not supported yet (only \"sqlite\")");
  }
  TESSERA_RETURN_IF_ERROR(EnsureDataDir(config.server.data));
  return store::OpenSqliteUserStore(DatabasePath(config));
}

Result<std::unique_ptr<session::SessionStore>> OpenSessionStore(const Config& config) {
  if (config.session.store == "memory") return store::NewMemorySessionStore();
  if (config.session.store != "sqlite") {
    return InvalidArgument(Reason::kBadConfig, "session.store = \"" + config.session.store +
                                              "\" is not supported yet (\"sqlite\" or \"memory\")");
  }
  TESSERA_RETURN_IF_ERROR(EnsureDataDir(config.server.data));
  return store::OpenSqliteSessionStore(DatabasePath(config));
}

Result<std::unique_ptr<user::ThrottleStore>> OpenThrottleStore(const Config& config) {
  if (config.session.store == "memory") return store::NewMemoryThrottleStore();
  TESSERA_RETURN_IF_ERROR(EnsureDataDir(config.server.data));
  return store::OpenSqliteThrottleStore(DatabasePath(config));
}

std::string FormatTime(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

token::KeysetOptions KeysetOptionsFor(const Config& config) {
  token::KeysetOptions options;
  // LoadConfig admits only algorithm names that parse.
  if (auto alg = jose::AlgFromName(config.token.alg)) options.alg = *alg;
  options.access_ttl_seconds = config.token.access_ttl.count();
  return options;
}

}  // namespace tessera::cli
