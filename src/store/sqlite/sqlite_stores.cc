// SQLite SessionStore and UserStore over one connection each.
#include <algorithm>
#include <cstdint>
#include <sstream>

#include "store/sqlite/database.h"
#include "tessera/store/sqlite.h"

namespace tessera::store {
namespace {

using session::Session;
using sqlite::Database;
using sqlite::Statement;


Session ReadSession(const Statement& q) {
  Session s;
  s.id_hash = q.Blob(0);
  s.handle = q.Text(1);
  s.user_id = q.Text(2);
  s.csrf_hash = q.Blob(3);
  s.kind = static_cast<session::SessionKind>(q.Int(4));
  s.created_at = q.Int(5);
  s.last_seen_at = q.Int(6);
  s.expires_at = q.Int(7);
  s.user_agent = q.Text(8);
  s.ip = q.Text(9);
  return s;
}

// Reads every row of `q` as a session.
Result<std::vector<Session>> ReadSessions(Statement* q) {
  std::vector<Session> out;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    out.push_back(ReadSession(*q));
  }
  return out;
}

// Column order matches ReadSession.
#define SESSION_COLUMNS \
  "id_hash, handle, user_id, csrf_hash, kind, created_at, last_seen_at, expires_at, user_agent, ip"
#define SESSION_SELECT "SELECT " SESSION_COLUMNS " FROM sessions "

// Runs a DELETE ... RETURNING that matches at most one row.
Result<std::optional<Session>> TakeOne(Statement* q) {
  TESSERA_ASSIGN_OR_RETURN(std::vector<Session> gone, ReadSessions(q));
  if (gone.empty()) return std::optional<Session>();
  return std::optional<Session>(std::move(gone.front()));
}

class SqliteSessionStore final : public session::SessionStore {
 public:
  explicit SqliteSessionStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  Status Create(const Session& s, const session::LimitPolicy& limit, int64_t now,
                std::vector<Session>* evicted) override {
    std::lock_guard lock(db_->mu());
    return sqlite::InTransaction(*db_, [&]() -> Status {
      if (limit.max_per_user > 0) {
        TESSERA_ASSIGN_OR_RETURN(
            Statement * q, db_->Prepare(SESSION_SELECT
                                        "WHERE user_id = ?1 AND expires_at > ?2 "
                                        "ORDER BY created_at, rowid"));
        q->Bind(1, s.user_id).Bind(2, now);
        TESSERA_ASSIGN_OR_RETURN(std::vector<Session> alive, ReadSessions(q));
        if (alive.size() >= limit.max_per_user) {
          if (limit.on_limit == session::OnLimit::kReject) {
            return ResourceExhausted(Reason::kSessionLimit, "session limit reached");
          }
          const size_t excess = alive.size() - limit.max_per_user + 1;
          for (size_t i = 0; i < excess; ++i) {
            TESSERA_ASSIGN_OR_RETURN(Statement * d,
                                     db_->Prepare("DELETE FROM sessions WHERE id_hash = ?1"));
            TESSERA_RETURN_IF_ERROR(d->BindBlob(1, alive[i].id_hash).Run());
            if (evicted) evicted->push_back(alive[i]);
          }
        }
      }
      TESSERA_ASSIGN_OR_RETURN(
          Statement * ins,
          db_->Prepare("INSERT INTO sessions (" SESSION_COLUMNS ") "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
      ins->BindBlob(1, s.id_hash).Bind(2, s.handle).Bind(3, s.user_id).BindBlob(4, s.csrf_hash);
      ins->Bind(5, static_cast<int64_t>(s.kind)).Bind(6, s.created_at).Bind(7, s.last_seen_at);
      ins->Bind(8, s.expires_at).Bind(9, s.user_agent).Bind(10, s.ip);
      Status st = ins->Run();
      if (!st.ok() && (sqlite3_extended_errcode(db_->raw()) & 0xff) == SQLITE_CONSTRAINT) {
        return Status(Code::kAlreadyExists, Reason::kNone, "session exists");
      }
      return st;
    });
  }

  Result<std::optional<Session>> Get(std::string_view id_hash) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare(SESSION_SELECT "WHERE id_hash = ?1"));
    q->BindBlob(1, id_hash);
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    std::optional<Session> out;
    if (row) out = ReadSession(*q);
    q->Reset();
    return out;
  }

  Result<std::vector<Session>> ListByUser(std::string_view user_id) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare(SESSION_SELECT "WHERE user_id = ?1 ORDER BY created_at, rowid"));
    q->Bind(1, user_id);
    return ReadSessions(q);
  }

  Result<std::vector<Session>> ListAll(size_t limit) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q,
                             db_->Prepare(SESSION_SELECT "ORDER BY created_at, rowid LIMIT ?1"));
    q->Bind(1, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
    return ReadSessions(q);
  }

  Result<std::optional<Session>> RemoveByHandle(std::string_view handle) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("DELETE FROM sessions WHERE handle = ?1 RETURNING " SESSION_COLUMNS));
    q->Bind(1, handle);
    return TakeOne(q);
  }

  Status Touch(std::string_view id_hash, int64_t last_seen_at) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("UPDATE sessions SET last_seen_at = ?2 WHERE id_hash = ?1"));
    return q->BindBlob(1, id_hash).Bind(2, last_seen_at).Run();
  }

  Result<std::optional<Session>> Remove(std::string_view id_hash) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("DELETE FROM sessions WHERE id_hash = ?1 RETURNING " SESSION_COLUMNS));
    q->BindBlob(1, id_hash);
    return TakeOne(q);
  }

  Result<std::vector<Session>> RemoveByUser(std::string_view user_id,
                                            std::string_view keep_id_hash) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("DELETE FROM sessions WHERE user_id = ?1 AND id_hash != ?2 "
                                    "RETURNING " SESSION_COLUMNS));
    q->Bind(1, user_id).BindBlob(2, keep_id_hash);
    return ReadSessions(q);
  }

  Result<size_t> RemoveExpired(int64_t now, int64_t idle_cutoff) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at < ?2"));
    TESSERA_RETURN_IF_ERROR(q->Bind(1, now).Bind(2, idle_cutoff).Run());
    return static_cast<size_t>(sqlite3_changes(db_->raw()));
  }

  Result<size_t> CountAlive(int64_t now) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q,
                             db_->Prepare("SELECT count(*) FROM sessions WHERE expires_at > ?1"));
    q->Bind(1, now);
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    const size_t n = row ? static_cast<size_t>(q->Int(0)) : 0;
    q->Reset();
    return n;
  }

  Result<uint64_t> ExternalVersion() override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare("PRAGMA data_version"));
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    const uint64_t v = row ? static_cast<uint64_t>(q->Int(0)) : 0;
    q->Reset();
    return v;
  }

 private:
  std::unique_ptr<Database> db_;
};

std::string JoinRoles(const std::vector<std::string>& roles) {
  std::string out;
  for (const auto& r : roles) {
    if (!out.empty()) out += ' ';
    out += r;
  }
  return out;
}

std::vector<std::string> SplitRoles(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string r; in >> r;) out.push_back(r);
  return out;
}

#define USER_SELECT "SELECT id, username, password_hash, roles, created_at FROM users "

user::User ReadUser(const Statement& q) {
  return user::User{.id = q.Text(0),
                    .username = q.Text(1),
                    .password_hash = q.Text(2),
                    .roles = SplitRoles(q.Text(3)),
                    .created_at = q.Int(4)};
}

class SqliteUserStore final : public user::UserStore {
 public:
  explicit SqliteUserStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  Status Add(const user::User& u) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("INSERT INTO users (id, username, password_hash, roles, "
                                    "created_at) VALUES (?1, ?2, ?3, ?4, ?5)"));
    q->Bind(1, u.id).Bind(2, u.username).Bind(3, u.password_hash).Bind(4, JoinRoles(u.roles));
    Status st = q->Bind(5, u.created_at).Run();
    if (!st.ok() && (sqlite3_extended_errcode(db_->raw()) & 0xff) == SQLITE_CONSTRAINT) {
      return Status(Code::kAlreadyExists, Reason::kUserExists, "user exists");
    }
    return st;
  }

  Result<std::optional<user::User>> FindByName(std::string_view name) override {
    return FindOne(USER_SELECT "WHERE username = ?1", name);
  }

  Result<std::optional<user::User>> FindById(std::string_view id) override {
    return FindOne(USER_SELECT "WHERE id = ?1", id);
  }

  Result<std::vector<user::User>> List() override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare(USER_SELECT "ORDER BY username"));
    std::vector<user::User> out;
    while (true) {
      TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      out.push_back(ReadUser(*q));
    }
    return out;
  }

  Status Remove(std::string_view name) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare("DELETE FROM users WHERE username = ?1"));
    TESSERA_RETURN_IF_ERROR(q->Bind(1, name).Run());
    if (sqlite3_changes(db_->raw()) == 0) {
      return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
    }
    return Status::Ok();
  }

  Status SetPasswordHash(std::string_view id, std::string_view hash) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q,
                             db_->Prepare("UPDATE users SET password_hash = ?2 WHERE id = ?1"));
    TESSERA_RETURN_IF_ERROR(q->Bind(1, id).Bind(2, hash).Run());
    if (sqlite3_changes(db_->raw()) == 0) {
      return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
    }
    return Status::Ok();
  }

  Status Ping() override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare("SELECT 1 FROM users LIMIT 1"));
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    (void)row;
    q->Reset();
    return Status::Ok();
  }

 private:
  Result<std::optional<user::User>> FindOne(const char* sql, std::string_view key) {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare(sql));
    q->Bind(1, key);
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    std::optional<user::User> out;
    if (row) out = ReadUser(*q);
    q->Reset();
    return out;
  }

  std::unique_ptr<Database> db_;
};

class SqliteThrottleStore final : public user::ThrottleStore {
 public:
  explicit SqliteThrottleStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  Result<user::ThrottleRecord> Update(
      std::string_view key, const std::function<void(user::ThrottleRecord&)>& update) override {
    std::lock_guard lock(db_->mu());
    user::ThrottleRecord r;
    Status s = sqlite::InTransaction(*db_, [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(r, ReadLocked(key));
      update(r);
      TESSERA_ASSIGN_OR_RETURN(
          Statement * q,
          db_->Prepare("INSERT OR REPLACE INTO throttle (key, window_start, failures, "
                       "blocked_until, strikes) VALUES (?1, ?2, ?3, ?4, ?5)"));
      q->Bind(1, key).Bind(2, r.window_start).Bind(3, static_cast<int64_t>(r.failures));
      return q->Bind(4, r.blocked_until).Bind(5, static_cast<int64_t>(r.strikes)).Run();
    });
    if (!s.ok()) return s;
    return r;
  }

  Result<user::ThrottleRecord> Get(std::string_view key) override {
    std::lock_guard lock(db_->mu());
    return ReadLocked(key);
  }

  Status Remove(std::string_view key) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare("DELETE FROM throttle WHERE key = ?1"));
    return q->Bind(1, key).Run();
  }

  Result<size_t> RemoveStale(int64_t before) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("DELETE FROM throttle WHERE window_start < ?1 AND blocked_until < ?1"));
    TESSERA_RETURN_IF_ERROR(q->Bind(1, before).Run());
    return static_cast<size_t>(sqlite3_changes(db_->raw()));
  }

 private:
  // REQUIRES: db_->mu() held.
  Result<user::ThrottleRecord> ReadLocked(std::string_view key) {
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("SELECT window_start, failures, blocked_until, strikes "
                                    "FROM throttle WHERE key = ?1"));
    q->Bind(1, key);
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    user::ThrottleRecord r;
    if (row) {
      r.window_start = q->Int(0);
      r.failures = static_cast<uint32_t>(q->Int(1));
      r.blocked_until = q->Int(2);
      r.strikes = static_cast<uint32_t>(q->Int(3));
    }
    q->Reset();
    return r;
  }

  std::unique_ptr<Database> db_;
};

}  // namespace

Result<std::unique_ptr<user::ThrottleStore>> OpenSqliteThrottleStore(const std::string& path,
                                                                     SqliteOptions options) {
  TESSERA_ASSIGN_OR_RETURN(auto db, Database::Open(path, options));
  return std::unique_ptr<user::ThrottleStore>(new SqliteThrottleStore(std::move(db)));
}

Result<std::unique_ptr<session::SessionStore>> OpenSqliteSessionStore(const std::string& path,
                                                                      SqliteOptions options) {
  TESSERA_ASSIGN_OR_RETURN(auto db, Database::Open(path, options));
  return std::unique_ptr<session::SessionStore>(new SqliteSessionStore(std::move(db)));
}

Result<std::unique_ptr<user::UserStore>> OpenSqliteUserStore(const std::string& path,
                                                             SqliteOptions options) {
  TESSERA_ASSIGN_OR_RETURN(auto db, Database::Open(path, options));
  return std::unique_ptr<user::UserStore>(new SqliteUserStore(std::move(db)));
}

}  // namespace tessera::store
