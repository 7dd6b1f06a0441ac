// What the subcommands that work on a data directory share: --config/--data, loading the
// configuration, and opening the stores the server uses, so the CLI and a running server work on
// the same data at once.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "core/log.h"
#include "tessera/config.h"
#include "tessera/result.h"
#include "tessera/session/session_store.h"
#include "tessera/token/keyset.h"
#include "tessera/user/throttle.h"
#include "tessera/user/user_store.h"

namespace tessera::cli {

struct DataOptions {
  std::string config_file;
  std::string data_dir;
};

void AddDataOptions(CLI::App* app, DataOptions* options);

// Defaults < --config file < TESSERA_* environment < flags.
Result<Config> LoadCliConfig(const DataOptions& options);

// Creates the data directory (mode 0700) when it does not exist.
Status EnsureDataDir(const std::string& dir);

// The SQLite database in the data directory.
std::string DatabasePath(const Config& config);

Result<std::unique_ptr<user::UserStore>> OpenUserStore(const Config& config);
Result<std::unique_ptr<session::SessionStore>> OpenSessionStore(const Config& config);
// Sign-in counters live beside the sessions, so every instance that shares sessions shares them.
Result<std::unique_ptr<user::ThrottleStore>> OpenThrottleStore(const Config& config);

// Where audit events go: audit.path, or <data>/audit.log when it is empty ("-": stdout).
std::string AuditPath(const Config& config);

// The audit trail for an administrative command. When it cannot be opened the command still runs
// (an emergency revocation must not wait on a full disk), with a warning on stderr.
std::unique_ptr<log::AuditLog> OpenCliAudit(const Config& config);

// Formats Unix seconds as UTC "2026-11-27T03:04:05Z".
std::string FormatTime(int64_t unix_seconds);

// The signing keyset's settings from token.alg and token.access_ttl: one function for `tessera
// serve` and `tessera keys`, so that both derive the same key states from the same file.
token::KeysetOptions KeysetOptionsFor(const Config& config);

}  // namespace tessera::cli
