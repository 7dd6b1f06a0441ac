// Opening the stores a configuration names, for `tessera serve` and the CLI commands alike, so
// a running server and the CLI work on the same data at once. Opening may block on disk I/O (and,
// for network stores, on connecting); call it at startup, never on an I/O thread.
#pragma once

#include <memory>
#include <string>

#include "tessera/config.h"
#include "tessera/result.h"
#include "tessera/session/session_store.h"
#include "tessera/token/keyset.h"
#include "tessera/user/throttle.h"
#include "tessera/user/user_store.h"

namespace tessera::store {

// Creates the data directory (mode 0700) when it does not exist.
Status EnsureDataDir(const std::string& dir);

// The SQLite database in the data directory.
std::string DatabasePath(const Config& config);

// Where audit events go: audit.path, or <data>/audit.log when it is empty ("-": stdout).
std::string AuditPath(const Config& config);

// kInvalidArgument/kBadConfig for a store the configuration names but this build cannot open
// (the URL in the message has its password redacted); kUnavailable when the store fails.
Result<std::unique_ptr<user::UserStore>> OpenUserStore(const Config& config);
Result<std::unique_ptr<session::SessionStore>> OpenSessionStore(const Config& config);
// Sign-in counters live beside the sessions, so every instance that shares sessions shares them
// (Redis for a redis:// session store; <data>/throttle.db for SQLite).
Result<std::unique_ptr<user::ThrottleStore>> OpenThrottleStore(const Config& config);

// Where the signing keyset is kept: in Redis, sealed with token.keyset_secret_file, when that is
// set (it needs a redis:// session.store: kInvalidArgument otherwise); else the file in the data
// directory (created if missing). A secret file readable by others, or shorter than 32 bytes, is
// refused.
Result<std::unique_ptr<token::KeysetStorage>> OpenKeysetStorage(const Config& config);

// The secret of token.keyset_secret_file (at least 32 bytes, mode 0600), read; empty when the
// setting is empty. The secret every instance of a deployment shares, from which keys for other
// uses are derived (the second factor's, runtime.cc).
Result<std::string> ReadKeysetSecret(const Config& config);

// True for the user stores that are PostgreSQL URLs (postgresql://, postgres://).
bool IsPostgresUrl(std::string_view store);

// True for the session stores that are Redis URLs (redis://, rediss://).
bool IsRedisUrl(std::string_view store);

}  // namespace tessera::store
