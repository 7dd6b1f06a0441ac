// PostgreSQL account store: `users.store = "postgresql://..."`, for deployments that keep
// accounts in the database they already run and back up. libpq directly (Debian's libpq-dev):
// it is the C client every PostgreSQL tool uses, it reads the URL and the PG* environment
// variables (PGPASSFILE, PGSSLMODE, PGSSLROOTCERT...) exactly as psql does, and its asynchronous
// calls let every call here be bounded by a deadline of ours, which a blocking wrapper would not.
//
// Blocking: EVERY method blocks on the network: a round trip, up to statement_timeout, plus
// connect_timeout when a connection must be opened (and, for Add/Remove/Set*, the commit's WAL
// flush on the server). Call them only from worker threads, never from an I/O thread. Opening the
// store connects, checks the schema and migrates it (waiting, up to migrate_timeout, for another
// instance that is migrating the same database).
//
// Errors: a server that cannot be reached, does not answer within the timeouts, is shutting down
// or out of connections gives Code::kUnavailable/Reason::kStore (kStoreBusy when every connection
// of the pool is in use): callers fail closed. A duplicate name or id is
// kAlreadyExists/kUserExists, decided by the database's unique constraints, so of two instances
// adding one name at once exactly one succeeds. Messages never contain the URL's password.
//
// Schema (docs/design.md "PostgreSQL"): tables tessera_users and tessera_schema. Versioned
// migrations run at open inside one transaction under an advisory lock, so instances that start
// together migrate once; a database whose schema is newer than this binary knows is refused.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "tessera/result.h"
#include "tessera/user/user_store.h"

namespace tessera::store {

struct PostgresOptions {
  // Connections of the pool; a caller waits (up to statement_timeout) when all are in use.
  size_t pool_size = 8;
  // Bounds on each step, enforced by tessera itself (a stopped server never holds a caller
  // longer): opening a connection (TCP, TLS, authentication), and one statement's round trip.
  // The statement bound is also set on the server (statement_timeout), so a query the client gave
  // up on does not run on.
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds statement_timeout{1000};
  // How long opening the store waits for the schema lock another instance holds.
  std::chrono::milliseconds migrate_timeout{30000};
};

// `url`: postgresql://[user[:password]@][host][:port][/dbname][?param=value...] (postgres://
// too), any parameter libpq takes (sslmode, sslrootcert, connect_timeout...), and the PG*
// environment variables for what the URL leaves out.
// Errors: kUnavailable when the server cannot be reached or refuses the credentials;
// kInternal/kStore when the schema is newer than this binary or a migration fails.
Result<std::unique_ptr<user::UserStore>> OpenPostgresUserStore(std::string_view url,
                                                               PostgresOptions options = {});

// Where a database's schema stands, for `tessera migrate --status`; opening it changes nothing.
struct PostgresSchemaStatus {
  int current = 0;  // 0: no tessera schema yet
  int latest = 0;   // what this binary migrates to
};
Result<PostgresSchemaStatus> ReadPostgresSchemaStatus(std::string_view url,
                                                      PostgresOptions options = {});

}  // namespace tessera::store
