#include "store/sqlite/database.h"

#include <sys/stat.h>

namespace tessera::store::sqlite {
namespace {

// Schema versions, applied in order; PRAGMA user_version records how many have run. Append only:
// a released migration never changes.
constexpr const char* kMigrations[] = {
    // 1: accounts and sessions.
    R"sql(
    CREATE TABLE users (
      id            TEXT PRIMARY KEY,
      username      TEXT NOT NULL UNIQUE,
      password_hash TEXT NOT NULL,
      roles         TEXT NOT NULL,   -- space-separated role names ([a-z0-9_.:-]+)
      created_at    INTEGER NOT NULL
    );
    CREATE TABLE sessions (
      id_hash      BLOB PRIMARY KEY,  -- SHA-256 of the secret; the secret is never stored
      handle       TEXT NOT NULL UNIQUE,
      user_id      TEXT NOT NULL,
      csrf_hash    BLOB NOT NULL,
      kind         INTEGER NOT NULL,
      created_at   INTEGER NOT NULL,
      last_seen_at INTEGER NOT NULL,
      expires_at   INTEGER NOT NULL,
      user_agent   TEXT NOT NULL,
      ip           TEXT NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions(user_id, created_at);
    )sql",
    // 2: sign-in throttling counters, shared by every process on the database.
    R"sql(
    CREATE TABLE throttle (
      key           TEXT PRIMARY KEY,  -- "user:<name>" or "ip:<address>"
      window_start  INTEGER NOT NULL,
      failures      INTEGER NOT NULL,
      blocked_until INTEGER NOT NULL,
      strikes       INTEGER NOT NULL
    );
    )sql",
    // 3: token sessions (refresh-token families) and the revocation list of the bridge.
    R"sql(
    -- The latest exp of the session's access tokens; 0: none issued.
    ALTER TABLE sessions ADD COLUMN tokens_until INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE refresh_tokens (
      hash             BLOB PRIMARY KEY,  -- SHA-256 of the token; the token is never stored
      session_id_hash  BLOB NOT NULL REFERENCES sessions(id_hash) ON DELETE CASCADE,
      issued_at        INTEGER NOT NULL,
      rotated_at       INTEGER NOT NULL,  -- 0 while live
      successor_hash   BLOB NOT NULL,     -- empty while live
      sealed_successor BLOB NOT NULL      -- sealed by the caller under a key only the token gives
    );
    CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id_hash);
    -- Handles of removed sessions whose access tokens (sid = handle) may still be presented.
    CREATE TABLE revocations (
      handle TEXT PRIMARY KEY,
      until  INTEGER NOT NULL
    );
    CREATE INDEX revocations_by_until ON revocations(until);
    -- However a session row goes (any store method, the CLI, another process, a hand-run DELETE),
    -- its refresh family goes in the same statement and its handle stays revoked while its access
    -- tokens live: no code path can forget either.
    CREATE TRIGGER sessions_end AFTER DELETE ON sessions BEGIN
      DELETE FROM refresh_tokens WHERE session_id_hash = OLD.id_hash;
      INSERT INTO revocations (handle, until) SELECT OLD.handle, OLD.tokens_until
        WHERE OLD.tokens_until > 0
        ON CONFLICT (handle) DO UPDATE SET until = max(until, excluded.until);
    END;
    )sql",
    // 4: bounded refresh families (session_store.h, "A bounded family") and rotation times in
    // milliseconds (the grace window is measured in them). Rows from version 3 keep working:
    // their rotation times are converted, and they name no family (family = x''), so they are
    // never pruned and end with their session.
    R"sql(
    ALTER TABLE refresh_tokens RENAME COLUMN rotated_at TO rotated_at_ms;  -- 0 while live
    UPDATE refresh_tokens SET rotated_at_ms = rotated_at_ms * 1000 WHERE rotated_at_ms > 0;
    -- The key of the family the token names (SHA-256 of its family id); x'': none.
    ALTER TABLE refresh_tokens ADD COLUMN family BLOB NOT NULL DEFAULT x'';
    -- Its place in the family: 0 for the first token, each successor one more.
    ALTER TABLE refresh_tokens ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family) WHERE length(family) > 0;
    )sql",
    // 5: accounts an administrator has disabled (user.h).
    R"sql(
    ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
    )sql",
    // 6: the change feed (tessera/session/change_feed.h). AUTOINCREMENT: numbers are never
    // reused, and a rolled-back insert takes none, so a reader sees them without holes. The feed's
    // id changes only with the database (a restored copy keeps it, and its lower numbers show as
    // a gap).
    R"sql(
    CREATE TABLE changes (
      seq     INTEGER PRIMARY KEY AUTOINCREMENT,
      kind    INTEGER NOT NULL,            -- session::ChangeKind
      id_hash BLOB NOT NULL DEFAULT x'',
      handle  TEXT NOT NULL DEFAULT '',
      user_id TEXT NOT NULL DEFAULT '',
      until   INTEGER NOT NULL DEFAULT 0,
      at      INTEGER NOT NULL             -- when written (Unix seconds), for trimming
    );
    CREATE TABLE feed (id TEXT NOT NULL);
    INSERT INTO feed (id) VALUES (lower(hex(randomblob(16))));
    DROP TRIGGER sessions_end;
    -- As in version 3, and every end is announced in the same statement (first, so that the
    -- revocation it records is not announced a second time, below).
    CREATE TRIGGER sessions_end AFTER DELETE ON sessions BEGIN
      INSERT INTO changes (kind, id_hash, handle, user_id, until, at)
        VALUES (1, OLD.id_hash, OLD.handle, OLD.user_id, OLD.tokens_until,
                CAST(strftime('%s', 'now') AS INTEGER));
      DELETE FROM refresh_tokens WHERE session_id_hash = OLD.id_hash;
      INSERT INTO revocations (handle, until) SELECT OLD.handle, OLD.tokens_until
        WHERE OLD.tokens_until > 0
        ON CONFLICT (handle) DO UPDATE SET until = max(until, excluded.until);
    END;
    -- A revocation recorded on its own (AddRevocation, a hand-run INSERT, a process from before
    -- the feed) is announced too; one that only repeats the session end just announced is not.
    CREATE TRIGGER revocations_added AFTER INSERT ON revocations
      WHEN NOT EXISTS (SELECT 1 FROM changes WHERE seq = (SELECT max(seq) FROM changes)
                       AND kind = 1 AND handle = NEW.handle AND until >= NEW.until) BEGIN
      INSERT INTO changes (kind, handle, until, at)
        VALUES (2, NEW.handle, NEW.until, CAST(strftime('%s', 'now') AS INTEGER));
    END;
    CREATE TRIGGER revocations_raised AFTER UPDATE OF until ON revocations
      WHEN NEW.until > OLD.until
       AND NOT EXISTS (SELECT 1 FROM changes WHERE seq = (SELECT max(seq) FROM changes)
                       AND kind = 1 AND handle = NEW.handle AND until >= NEW.until) BEGIN
      INSERT INTO changes (kind, handle, until, at)
        VALUES (2, NEW.handle, NEW.until, CAST(strftime('%s', 'now') AS INTEGER));
    END;
    -- Every change of an account too (AccountService also announces it, for user stores that
    -- are not this database; a second entry costs a cache miss).
    CREATE TRIGGER users_changed AFTER UPDATE ON users BEGIN
      INSERT INTO changes (kind, user_id, at) VALUES (3, OLD.id, CAST(strftime('%s', 'now') AS INTEGER));
    END;
    CREATE TRIGGER users_removed AFTER DELETE ON users BEGIN
      INSERT INTO changes (kind, user_id, at) VALUES (3, OLD.id, CAST(strftime('%s', 'now') AS INTEGER));
    END;
    )sql",
    // 7: second factors (tessera/user/user.h, Totp) and whether a session's sign-in passed one.
    R"sql(
    CREATE TABLE totp (
      user_id           TEXT PRIMARY KEY,  -- users.id
      sealed_secret     TEXT NOT NULL,     -- base64url of the sealed secret, never the secret
      confirmed         INTEGER NOT NULL,
      last_step         INTEGER NOT NULL,
      recovery          TEXT NOT NULL,     -- unused recovery-code hashes, space-separated
      created_at        INTEGER NOT NULL,
      ticket_hash       TEXT NOT NULL DEFAULT '',
      ticket_expires_at INTEGER NOT NULL DEFAULT 0
    );
    -- However an account goes, its second factor goes with it.
    CREATE TRIGGER users_totp_removed AFTER DELETE ON users BEGIN
      DELETE FROM totp WHERE user_id = OLD.id;
    END;
    ALTER TABLE sessions ADD COLUMN mfa INTEGER NOT NULL DEFAULT 0;
    )sql",
};

}  // namespace

Status FromCode(int rc, std::string_view what) {
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return Status(Code::kUnavailable, Reason::kStoreBusy,
                  std::string(what) + ": database is locked");
  }
  return Status(Code::kUnavailable, Reason::kStore,
                std::string(what) + ": " + sqlite3_errstr(rc));
}

Statement& Statement::Bind(int i, std::string_view text) {
  sqlite3_bind_text(s_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindBlob(int i, std::string_view bytes) {
  // A null pointer would bind NULL rather than an empty blob (an empty std::string_view may
  // have one).
  static constexpr char kEmpty[] = "";
  sqlite3_bind_blob(s_, i, bytes.empty() ? kEmpty : bytes.data(), static_cast<int>(bytes.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}

Result<bool> Statement::Step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return FromCode(rc, "query");
}

Status Statement::Run() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  return FromCode(rc, "write");
}

std::string Statement::Text(int col) const {
  const auto* p = sqlite3_column_text(s_, col);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(s_, col)))
           : std::string();
}

std::string Statement::Blob(int col) const {
  const auto* p = sqlite3_column_blob(s_, col);
  return p ? std::string(static_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(s_, col)))
           : std::string();
}

void Statement::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, const SqliteOptions& o) {
  sqlite3* raw = nullptr;
  // The file holds password hashes: readable by its owner only, from its first byte.
  const mode_t old_mask = umask(077);
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  umask(old_mask);
  std::unique_ptr<Database> db(new Database(raw));
  if (rc != SQLITE_OK) return FromCode(rc, "open " + path);
  sqlite3_busy_timeout(raw, o.busy_timeout_ms);
  sqlite3_commit_hook(raw, &Database::OnCommit, db.get());
  std::lock_guard lock(db->mu_);
  // WAL lets readers (the server) and a writer (the CLI) work at once. synchronous=FULL because
  // the writes that matter most here are revocations, and losing one resurrects a session.
  TESSERA_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  TESSERA_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  // Per connection, and before any transaction: a refresh token can only belong to a session that
  // exists (no orphaned family).
  TESSERA_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON"));
  TESSERA_RETURN_IF_ERROR(db->Migrate());
  return db;
}

int Database::OnCommit(void* self) {
  auto* db = static_cast<Database*>(self);
  {
    std::lock_guard lock(db->commit_mu_);
    ++db->commits_;
  }
  db->commit_cv_.notify_all();
  return 0;  // go on with the commit
}

uint64_t Database::commits() const {
  std::lock_guard lock(commit_mu_);
  return commits_;
}

void Database::WaitForCommit(uint64_t seen, std::chrono::milliseconds at_most) {
  std::unique_lock lock(commit_mu_);
  commit_cv_.wait_for(lock, at_most, [&] { return commits_ != seen; });
}

Database::~Database() {
  statements_.clear();
  sqlite3_close_v2(db_);
}

Result<Statement*> Database::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) return FromCode(rc, "prepare");
    it = statements_.emplace(sql, std::make_unique<Statement>(s)).first;
  }
  it->second->Reset();
  return it->second.get();
}

Status Database::Exec(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : FromCode(rc, "exec");
}

Status Database::Migrate() {
  // Two processes may open a new database at once; the immediate transaction serialises them and
  // the version is re-read inside it.
  return InTransaction(*this, [&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(Statement * q, Prepare("PRAGMA user_version"));
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    const int64_t version = row ? q->Int(0) : 0;
    q->Reset();
    constexpr int64_t kLatest = static_cast<int64_t>(std::size(kMigrations));
    if (version > kLatest) {
      return Status(Code::kUnavailable, Reason::kStore,
                    "database schema is newer than this tessera; upgrade tessera");
    }
    for (int64_t v = version; v < kLatest; ++v) {
      TESSERA_RETURN_IF_ERROR(Exec(kMigrations[v]));
    }
    if (version != kLatest) {
      const std::string set = "PRAGMA user_version = " + std::to_string(kLatest);
      TESSERA_RETURN_IF_ERROR(Exec(set.c_str()));
    }
    return Status::Ok();
  });
}

}  // namespace tessera::store::sqlite
