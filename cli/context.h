// What the subcommands that work on a data directory share: --config/--data, loading the
// configuration, and opening the stores the server uses, so the CLI and a running server work on
// the same data at once.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "core/log.h"
#include "runtime.h"
#include "store/open.h"
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

// The stores and paths a configuration names (src/store/open.h), shared with the server.
using store::AuditPath;
using store::DatabasePath;
using store::EnsureDataDir;
using store::OpenSessionStore;
using store::OpenThrottleStore;
using store::OpenUserStore;

// The audit trail for an administrative command. When it cannot be opened the command still runs
// (an emergency revocation must not wait on a full disk), with a warning on stderr.
std::unique_ptr<log::AuditLog> OpenCliAudit(const Config& config);

// Formats Unix seconds as UTC "2026-11-27T03:04:05Z".
std::string FormatTime(int64_t unix_seconds);

// The signing keyset's settings (server/runtime.h), shared by `tessera serve` and `tessera keys`.
using server::KeysetOptionsFor;

}  // namespace tessera::cli
