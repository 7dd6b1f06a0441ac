// A small PostgreSQL client over libpq's asynchronous API: connections whose every step is
// bounded by a deadline, prepared statements, a bounded pool. What the PostgreSQL store needs and
// nothing else.
//
// Blocking: every call that talks to the server blocks the calling thread until the server
// answers or the deadline passes (then the connection is dropped: the server ends the statement
// when it notices, and statement_timeout bounds it there too). Never call them on an I/O thread.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "tessera/result.h"
#include "tessera/store/postgres.h"

namespace tessera::store::pg {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// A statement prepared once per connection, under `name`, the first time it is run there.
struct Statement {
  const char* name;
  const char* sql;
};

// The rows of one statement, as text (libpq's text format).
class Rows {
 public:
  explicit Rows(PGresult* r) : r_(r, PQclear) {}
  int size() const { return PQntuples(r_.get()); }
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view Text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col),
            static_cast<size_t>(PQgetlength(r_.get(), row, col))};
  }
  // Rows an INSERT, UPDATE or DELETE touched.
  long Affected() const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_;
};

// A NULL parameter is nullopt.
using Param = std::optional<std::string_view>;

class Connection {
 public:
  // Connects within `deadline`, then sets the session's statement_timeout.
  // Errors: kUnavailable/kStore with libpq's reason (never the password).
  static Result<std::unique_ptr<Connection>> Open(const std::string& url,
                                                  std::chrono::milliseconds statement_timeout,
                                                  Deadline deadline);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `st` with text parameters. A unique-constraint violation is kAlreadyExists/kStore;
  // transport failures, timeouts and the server's "try again" classes (connection exceptions,
  // shutdown, too many connections, serialization failures, deadlocks) are kUnavailable/kStore and
  // break the connection; other SQL errors are kInternal/kStore.
  Result<Rows> Run(const Statement& st, const std::vector<Param>& params, Deadline deadline);
  // Runs one or more statements without parameters (simple protocol); the last result is
  // returned.
  Result<Rows> Script(std::string_view sql, Deadline deadline);

  // False once a transport error or a timeout has left the connection unusable.
  bool usable() const;
  // True outside any transaction, with no statement under way.
  bool idle() const;
  // True when the server closed, or is closing, an idle connection (a restart, an idle timeout,
  // pg_terminate_backend): checked without waiting before a pooled connection is reused.
  bool ClosedWhileIdle();

 private:
  explicit Connection(PGconn* c) : c_(c) {}
  // Waits until the socket is readable (and writable, with `write`); false at the deadline.
  bool Wait(bool write, Deadline deadline);
  Status Flush(Deadline deadline);
  Result<Rows> Collect(Deadline deadline);
  Status Broken(std::string what);

  PGconn* c_;
  bool broken_ = false;
  std::unordered_set<std::string> prepared_;
};

// At most `options.pool_size` connections; Lease returns one to the pool when it goes (or drops
// it when it broke).
class Pool {
 public:
  Pool(std::string url, PostgresOptions options) : url_(std::move(url)), options_(options) {}
  ~Pool();

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> c) : pool_(pool), c_(std::move(c)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (c_) pool_->Return(std::move(c_));
    }
    Connection* operator->() const { return c_.get(); }
    Connection& operator*() const { return *c_; }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> c_;
  };

  // A connection: an idle one, a new one while fewer than pool_size exist, else the first one
  // returned before `deadline` (kUnavailable/kStoreBusy after it).
  Result<Lease> Acquire(Deadline deadline);

  // One statement on a pooled connection: the statement within statement_timeout, and the whole
  // call (waiting for a connection, opening one, the statement) within connect_timeout +
  // statement_timeout. A pooled connection the server closed while it was idle is replaced
  // before use.
  Result<Rows> Run(const Statement& st, const std::vector<Param>& params);

  const PostgresOptions& options() const { return options_; }
  const std::string& url() const { return url_; }

 private:
  void Return(std::unique_ptr<Connection> c);

  const std::string url_;
  const PostgresOptions options_;
  std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;  // idle and leased
};

// Decodes a one-dimensional text[] value in PostgreSQL's text output ({a,"b c",NULL}).
// Errors (nested arrays, NULL elements, bad quoting): kInternal/kStore.
Result<std::vector<std::string>> DecodeTextArray(std::string_view text);
// The text[] input literal of `items`, every element quoted.
std::string EncodeTextArray(const std::vector<std::string>& items);

}  // namespace tessera::store::pg
