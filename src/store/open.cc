#include "store/open.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "config/values.h"
#include "tessera/store/memory.h"
#include "tessera/store/postgres.h"
#include "tessera/store/redis.h"
#include "tessera/store/sqlite.h"
#include "token/private_file.h"

namespace tessera::store {

Status EnsureDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return Status(Code::kUnavailable, Reason::kIo, "cannot create " + dir + ": " + ec.message());
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

std::string DatabasePath(const Config& config) { return config.server.data + "/tessera.db"; }

namespace {

// A store URL may carry a password: errors name it redacted, like `tessera config` prints it.
Status NotSupported(std::string_view key, const std::string& value, std::string_view supported) {
  return InvalidArgument(Reason::kBadConfig,
                         std::string(key) + " = \"" + config_internal::RedactUrl(value) +
                             "\" is not supported yet (" + std::string(supported) + ")");
}

}  // namespace

Result<std::unique_ptr<user::UserStore>> OpenUserStore(const Config& config) {
  if (IsPostgresUrl(config.users.store)) {
    return OpenPostgresUserStore(
        config.users.store,
        PostgresOptions{
            .pool_size = config.users.pool_size,
            .connect_timeout = std::chrono::milliseconds(config.users.connect_timeout_ms),
            .statement_timeout = std::chrono::milliseconds(config.users.statement_timeout_ms)});
  }
  if (config.users.store != "sqlite") {
    return NotSupported("users.store", config.users.store, "\"sqlite\" or a postgresql:// URL");
  }
  TESSERA_RETURN_IF_ERROR(EnsureDataDir(config.server.data));
  return OpenSqliteUserStore(DatabasePath(config));
}

bool IsPostgresUrl(std::string_view store) {
  return store.starts_with("postgresql://") || store.starts_with("postgres://");
}

bool IsRedisUrl(std::string_view store) {
  return store.starts_with("redis://") || store.starts_with("rediss://") ||
         store.starts_with("redis+sentinel://") || store.starts_with("rediss+sentinel://") ||
         store.starts_with("redis+cluster://") || store.starts_with("rediss+cluster://");
}

Result<std::unique_ptr<session::SessionStore>> OpenSessionStore(const Config& config) {
  if (config.session.store == "memory") return NewMemorySessionStore();
  if (IsRedisUrl(config.session.store)) return OpenRedisSessionStore(config.session.store);
  if (config.session.store != "sqlite") {
    return NotSupported("session.store", config.session.store,
                        "\"sqlite\", \"memory\" or a redis:// URL");
  }
  TESSERA_RETURN_IF_ERROR(EnsureDataDir(config.server.data));
  return OpenSqliteSessionStore(DatabasePath(config));
}

Result<std::unique_ptr<user::ThrottleStore>> OpenThrottleStore(const Config& config) {
  if (config.session.store == "memory") return NewMemoryThrottleStore();
  // With sessions in Redis, so are the counters: every instance counts the same failures. There
  // is no fallback to a file of this host's: a Redis that cannot be reached fails the start.
  if (IsRedisUrl(config.session.store)) return OpenRedisThrottleStore(config.session.store);
  TESSERA_RETURN_IF_ERROR(EnsureDataDir(config.server.data));
  // A file of their own: every failed sign-in writes a counter, and an attacker's wrong passwords
  // should not take the sessions' database write lock from logins and logouts. (Before the
  // change feed, such a commit also emptied every process's session cache.)
  return OpenSqliteThrottleStore(config.server.data + "/throttle.db");
}

Result<std::string> ReadKeysetSecret(const Config& config) {
  const std::string& file = config.token.keyset_secret_file;
  if (file.empty()) return std::string();
  // Read like a private key: refused when others may read it.
  TESSERA_ASSIGN_OR_RETURN(std::optional<token::PrivateFile> secret,
                           token::ReadPrivateFile(file, 4096));
  if (!secret) {
    return InvalidArgument(Reason::kBadConfig, "token.keyset_secret_file: no file " + file);
  }
  if (secret->bytes.size() < 32) {
    return InvalidArgument(Reason::kBadConfig,
                           "token.keyset_secret_file: " + file + " holds fewer than 32 bytes");
  }
  return std::move(secret->bytes);
}

Result<std::unique_ptr<token::KeysetStorage>> OpenKeysetStorage(const Config& config) {
  if (config.token.keyset_secret_file.empty()) {
    TESSERA_RETURN_IF_ERROR(EnsureDataDir(config.server.data));
    return token::FileKeysetStorage(config.server.data);
  }
  if (!IsRedisUrl(config.session.store)) {
    return InvalidArgument(Reason::kBadConfig,
                           "token.keyset_secret_file keeps the signing keys in Redis; it needs a "
                           "redis:// session.store");
  }
  TESSERA_ASSIGN_OR_RETURN(std::string secret, ReadKeysetSecret(config));
  return OpenRedisKeysetStorage(config.session.store, std::move(secret));
}

}  // namespace tessera::store
