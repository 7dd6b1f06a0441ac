// A thin RAII layer over one SQLite connection: prepared-statement cache, transactions, error
// mapping (locked -> kStoreBusy, anything else -> kStore, both kUnavailable: fail closed), and the
// versioned schema shared by the SQLite stores.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "tessera/result.h"
#include "tessera/store/sqlite.h"

namespace tessera::store::sqlite {

// Maps a SQLite result code to a Status. The message names the operation, never the data.
Status FromCode(int rc, std::string_view what);

// A prepared statement, reset and unbound each time it is handed out.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* s) : s_(s) {}
  ~Statement() { sqlite3_finalize(s_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int i, std::string_view text);
  Statement& BindBlob(int i, std::string_view bytes);
  Statement& Bind(int i, int64_t v);
  // True while a row is available; false at the end.
  Result<bool> Step();
  // Runs a statement that returns no rows.
  Status Run();
  std::string Text(int col) const;
  std::string Blob(int col) const;
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  void Reset();

 private:
  sqlite3_stmt* s_;
};

class Database {
 public:
  // Opens (creating when absent, mode 0600) and migrates the schema to the current version.
  static Result<std::unique_ptr<Database>> Open(const std::string& path, const SqliteOptions& o);
  ~Database();

  // The connection's lock: hold it for every use of the connection.
  std::mutex& mu() { return mu_; }

  // A cached, reset statement. REQUIRES: mu() held. `sql` must be a string literal (the cache is
  // keyed by its address).
  Result<Statement*> Prepare(const char* sql);
  Status Exec(const char* sql);

  // BEGIN IMMEDIATE takes the write lock at once, so a check-then-write inside it is atomic even
  // across processes. REQUIRES: mu() held.
  Status BeginImmediate() { return Exec("BEGIN IMMEDIATE"); }
  Status Commit() { return Exec("COMMIT"); }
  void Rollback() { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

  sqlite3* raw() { return db_; }

  // Commits made on this connection so far, and a wait for the next one, so that a reader of the
  // change feed in this process wakes the moment a write here commits (another process's writes
  // are only seen by polling). The count moves as a commit starts: a woken reader that then
  // takes mu() sees the commit done. Thread-safe; neither needs mu().
  uint64_t commits() const;
  // Returns when commits() != seen, or after `at_most`.
  void WaitForCommit(uint64_t seen, std::chrono::milliseconds at_most);

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  Status Migrate();
  static int OnCommit(void* self);

  std::mutex mu_;
  sqlite3* db_;
  mutable std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  uint64_t commits_ = 0;  // GUARDED_BY(commit_mu_)
  std::map<const char*, std::unique_ptr<Statement>> statements_;  // GUARDED_BY(mu_)
};

// Runs `fn` inside BEGIN IMMEDIATE ... COMMIT, rolling back when it fails. REQUIRES: mu() held.
template <typename Fn>
Status InTransaction(Database& db, Fn&& fn) {
  TESSERA_RETURN_IF_ERROR(db.BeginImmediate());
  Status s = fn();
  if (s.ok()) s = db.Commit();
  if (!s.ok()) db.Rollback();
  return s;
}

}  // namespace tessera::store::sqlite
