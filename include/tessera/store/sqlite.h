// SQLite stores, the embedded default: one database file in WAL mode, shared safely by the
// server and `tessera` CLI processes on the same data directory. The schema is versioned and
// migrated forward when opened.
#pragma once

#include <memory>
#include <string>

#include "tessera/result.h"
#include "tessera/session/session_store.h"
#include "tessera/user/throttle.h"
#include "tessera/user/user_store.h"

namespace tessera::store {

struct SqliteOptions {
  // How long a write waits for another process's lock before giving up with kUnavailable /
  // kStoreBusy (which the server answers as 503, never 500 and never a false success).
  int busy_timeout_ms = 2000;
};

// The stores share nothing but the file; each keeps its own connection.
Result<std::unique_ptr<session::SessionStore>> OpenSqliteSessionStore(const std::string& path,
                                                                      SqliteOptions options = {});
Result<std::unique_ptr<user::UserStore>> OpenSqliteUserStore(const std::string& path,
                                                             SqliteOptions options = {});
Result<std::unique_ptr<user::ThrottleStore>> OpenSqliteThrottleStore(const std::string& path,
                                                                     SqliteOptions options = {});

}  // namespace tessera::store
