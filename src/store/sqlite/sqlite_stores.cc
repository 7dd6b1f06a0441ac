// SQLite SessionStore and UserStore over one connection each.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <sstream>
#include <thread>

#include "store/sqlite/database.h"
#include "tessera/store/sqlite.h"

namespace tessera::store {
namespace {

using session::RefreshOutcome;
using session::RefreshRecord;
using session::RefreshResult;
using session::RefreshRotation;
using session::Revocation;
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
  s.tokens_until = q.Int(10);
  s.mfa = q.Int(11) != 0;
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
#define SESSION_COLUMNS                                                                           \
  "id_hash, handle, user_id, csrf_hash, kind, created_at, last_seen_at, expires_at, user_agent, " \
  "ip, tokens_until, mfa"
#define SESSION_SELECT "SELECT " SESSION_COLUMNS " FROM sessions "

// Runs a DELETE ... RETURNING that matches at most one row.
Result<std::optional<Session>> TakeOne(Statement* q) {
  TESSERA_ASSIGN_OR_RETURN(std::vector<Session> gone, ReadSessions(q));
  if (gone.empty()) return std::optional<Session>();
  return std::optional<Session>(std::move(gone.front()));
}

bool IsConstraint(Database& db) {
  return (sqlite3_extended_errcode(db.raw()) & 0xff) == SQLITE_CONSTRAINT;
}

// Every removal of a session row, whichever statement does it, also removes its refresh family
// and records its revocation: the sessions_end trigger (database.cc, migration 3) does both inside
// the deleting statement.
class SqliteSessionStore final : public session::SessionStore {
 public:
  explicit SqliteSessionStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  Status Create(const Session& s, const session::LimitPolicy& limit, int64_t now,
                std::vector<Session>* evicted) override {
    std::lock_guard lock(db_->mu());
    return CreateLocked(s, /*first=*/{}, limit, now, evicted);
  }

  Status CreateTokenSession(const Session& s, const session::FirstRefreshToken& first,
                            const session::LimitPolicy& limit, int64_t now,
                            std::vector<Session>* evicted) override {
    TESSERA_RETURN_IF_ERROR(CheckTokenSession(s, first));
    std::lock_guard lock(db_->mu());
    return CreateLocked(s, first, limit, now, evicted);
  }

  Result<std::optional<Session>> Get(std::string_view id_hash) override {
    std::lock_guard lock(db_->mu());
    return GetLocked(id_hash);
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

  Status TouchMany(const std::vector<std::pair<std::string, int64_t>>& touches) override {
    if (touches.empty()) return Status::Ok();
    std::lock_guard lock(db_->mu());
    return InTransaction(*db_, [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(
          Statement * q, db_->Prepare("UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) "
                                      "WHERE id_hash = ?1"));
      for (const auto& [id_hash, at] : touches) {
        q->Reset();
        TESSERA_RETURN_IF_ERROR(q->BindBlob(1, id_hash).Bind(2, at).Run());
      }
      return Status::Ok();
    });
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
    size_t removed = 0;
    Status st = sqlite::InTransaction(*db_, [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(
          Statement * q,
          db_->Prepare("DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at < ?2"));
      TESSERA_RETURN_IF_ERROR(q->Bind(1, now).Bind(2, idle_cutoff).Run());
      // Counts the sessions only: rows the trigger touched are not included.
      removed = static_cast<size_t>(sqlite3_changes(db_->raw()));
      // Tokens rotated before any grace window that could still run: a replay is theft, and a
      // token of a family is recognised as such without its record. Tokens without a family
      // keep their records (nothing else recognises them) but lose their seals, which can never
      // be opened for a replay again.
      const int64_t cutoff_ms = (now - session::kMaxRefreshGraceSeconds) * 1000;
      TESSERA_ASSIGN_OR_RETURN(
          Statement * g, db_->Prepare("DELETE FROM refresh_tokens WHERE rotated_at_ms > 0 "
                                      "AND rotated_at_ms < ?1 AND length(family) > 0"));
      TESSERA_RETURN_IF_ERROR(g->Bind(1, cutoff_ms).Run());
      TESSERA_ASSIGN_OR_RETURN(
          Statement * f, db_->Prepare("UPDATE refresh_tokens SET sealed_successor = x'' "
                                      "WHERE rotated_at_ms > 0 AND rotated_at_ms < ?1 "
                                      "AND length(sealed_successor) > 0"));
      TESSERA_RETURN_IF_ERROR(f->Bind(1, cutoff_ms).Run());
      TESSERA_ASSIGN_OR_RETURN(Statement * p,
                               db_->Prepare("DELETE FROM revocations WHERE until <= ?1"));
      TESSERA_RETURN_IF_ERROR(p->Bind(1, now - session::kRevocationRetentionSeconds).Run());
      // The feed keeps an hour before its newest entry (times from SQLite's clock, the one that
      // wrote them, not the caller's), and at most kMaxChanges entries: a reader further behind
      // reloads (a gap) rather than reading them all.
      TESSERA_ASSIGN_OR_RETURN(
          Statement * c,
          db_->Prepare("DELETE FROM changes WHERE at < (SELECT max(at) FROM changes) - ?1 OR "
                       "seq <= (SELECT seq FROM sqlite_sequence WHERE name = 'changes') - ?2"));
      return c->Bind(1, kChangeRetentionSeconds)
          .Bind(2, static_cast<int64_t>(kMaxChanges))
          .Run();
    });
    if (!st.ok()) return st;
    return removed;
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

  Result<RefreshResult> RotateRefresh(const RefreshRotation& r) override {
    if (r.presented_hash.empty() || r.successor_hash.empty() || r.now_ms <= 0 ||
        r.generation < 0) {
      return InvalidArgument(Reason::kNone, "a rotation needs both hashes and a time");
    }
    std::lock_guard lock(db_->mu());
    RefreshResult out;  // kUnknown
    const int64_t now = r.now_ms / 1000;
    // BEGIN IMMEDIATE: the read and the rotation hold the write lock together, so two processes
    // presenting one token cannot both see it live (two live successors).
    Status st = sqlite::InTransaction(*db_, [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(std::optional<RefreshRecord> presented,
                               GetRefreshLocked(r.presented_hash));
      if (!presented) {
        // Not stored: theft when it is a pruned ancestor of a live family, unknown otherwise.
        TESSERA_ASSIGN_OR_RETURN(std::optional<Session> session,
                                 FindAncestorFamilyLocked(r.family, r.generation));
        if (!session || session->expires_at <= now || session->last_seen_at < r.idle_cutoff) {
          return Status::Ok();
        }
        TESSERA_RETURN_IF_ERROR(DeleteSessionLocked(session->id_hash));
        out = {RefreshOutcome::kReuseDetected,
               RefreshRecord{.hash = r.presented_hash,
                             .session_id_hash = session->id_hash,
                             .family = r.family,
                             .generation = r.generation},
               std::move(*session)};
        return Status::Ok();
      }
      TESSERA_ASSIGN_OR_RETURN(std::optional<Session> session,
                               GetLocked(presented->session_id_hash));
      // The family lives only as long as its session, absolute and idle deadlines alike.
      if (!session || session->expires_at <= now || session->last_seen_at < r.idle_cutoff) {
        return Status::Ok();
      }
      if (presented->rotated_at_ms == 0) {
        TESSERA_RETURN_IF_ERROR(RotateLocked(*presented, *session, r));
        out = {RefreshOutcome::kRotated, std::move(*presented), std::move(*session)};
        return Status::Ok();
      }
      TESSERA_ASSIGN_OR_RETURN(std::optional<RefreshRecord> successor,
                               GetRefreshLocked(presented->successor_hash));
      const bool successor_live = successor && successor->rotated_at_ms == 0;
      // Two tabs refreshing at once: the slower one gets the successor the faster one created.
      if (r.grace_ms > 0 && r.now_ms - presented->rotated_at_ms < r.grace_ms && successor_live) {
        if (r.access_expires_at > session->tokens_until) {
          TESSERA_RETURN_IF_ERROR(RaiseTokensUntilLocked(session->id_hash, r.access_expires_at));
          session->tokens_until = r.access_expires_at;
        }
        out = {RefreshOutcome::kGraceReplay, std::move(*presented), std::move(*session)};
        return Status::Ok();
      }
      // Anything else is a token used twice: one of the two holders is a thief, and we cannot
      // tell which, so the whole family and its session end (RFC 9700 section 4.14.2). The
      // trigger removes the family and records the revocation in this same transaction.
      TESSERA_RETURN_IF_ERROR(DeleteSessionLocked(session->id_hash));
      out = {RefreshOutcome::kReuseDetected, std::move(*presented), std::move(*session)};
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<std::optional<Session>> RemoveByRefresh(std::string_view refresh_hash) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("DELETE FROM sessions WHERE id_hash = "
                                    "(SELECT session_id_hash FROM refresh_tokens WHERE hash = ?1) "
                                    "RETURNING " SESSION_COLUMNS));
    q->BindBlob(1, refresh_hash);
    return TakeOne(q);
  }

  Result<std::optional<Session>> RemoveByRefreshAncestor(std::string_view family,
                                                         int64_t generation) override {
    if (family.empty()) return InvalidArgument(Reason::kNone, "no refresh family");
    std::lock_guard lock(db_->mu());
    std::optional<Session> out;
    Status st = sqlite::InTransaction(*db_, [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(out, FindAncestorFamilyLocked(family, generation));
      if (out) TESSERA_RETURN_IF_ERROR(DeleteSessionLocked(out->id_hash));
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return out;
  }

  Status ExtendTokensUntil(std::string_view id_hash, int64_t exp) override {
    std::lock_guard lock(db_->mu());
    TESSERA_RETURN_IF_ERROR(RaiseTokensUntilLocked(id_hash, exp));
    // A session that is gone has no revocation entry to come: its tokens must not be issued.
    if (sqlite3_changes(db_->raw()) == 0) {
      return Status(Code::kNotFound, Reason::kUnknownSession, "no such session");
    }
    return Status::Ok();
  }

  Result<std::optional<std::pair<RefreshRecord, Session>>> FindRefresh(
      std::string_view refresh_hash) override {
    std::lock_guard lock(db_->mu());
    std::optional<std::pair<RefreshRecord, Session>> out;
    TESSERA_ASSIGN_OR_RETURN(std::optional<RefreshRecord> r, GetRefreshLocked(refresh_hash));
    if (!r) return out;
    TESSERA_ASSIGN_OR_RETURN(std::optional<Session> s, GetLocked(r->session_id_hash));
    if (s) out.emplace(std::move(*r), std::move(*s));
    return out;
  }

  Status AddRevocation(const Revocation& r) override {
    if (r.handle.empty()) {
      return Status(Code::kInvalidArgument, Reason::kNone, "a revocation needs a key");
    }
    std::lock_guard lock(db_->mu());
    return sqlite::InTransaction(*db_, [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(
          Statement * q,
          db_->Prepare("INSERT INTO revocations (handle, until) VALUES (?1, ?2) "
                       "ON CONFLICT (handle) DO UPDATE SET until = max(until, excluded.until)"));
      q->Bind(1, std::string_view(r.handle));
      q->Bind(2, r.until);
      // The revocations_added / revocations_raised triggers announce it (migration 6).
      return q->Run();
    });
  }

  Result<session::FeedPosition> FeedHead() override {
    std::lock_guard lock(db_->mu());
    return HeadLocked();
  }

  Result<session::ChangeBatch> ReadChanges(const session::FeedPosition& after, size_t max,
                                           std::chrono::milliseconds wait) override {
    if (max == 0) return InvalidArgument(Reason::kNone, "read at least one change");
    // SQLite cannot wake a reader when another process writes: poll the indexed table, briefly
    // holding the connection each time, until something is there or the wait is over. A write
    // of this process (a logout answered here) wakes the reader at once.
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      session::ChangeBatch out;
      const uint64_t commits = db_->commits();  // before the read: a commit after it wakes us
      {
        std::lock_guard lock(db_->mu());
        // One read transaction: the head and the entries from the same snapshot, so that a
        // write in between cannot look like a gap.
        TESSERA_RETURN_IF_ERROR(db_->Exec("BEGIN"));
        Status read = ReadChangesLocked(after, max, &out);
        db_->Rollback();  // read only: ends the snapshot
        TESSERA_RETURN_IF_ERROR(read);
      }
      const auto now = std::chrono::steady_clock::now();
      if (out.gap || !out.changes.empty() || now >= deadline) return out;
      db_->WaitForCommit(commits, kFeedPoll);
    }
  }

  Status PublishChange(const session::Change& c) override {
    TESSERA_RETURN_IF_ERROR(CheckPublished(c));
    std::lock_guard lock(db_->mu());
    return AppendChangeLocked(c);
  }

  Result<std::vector<Revocation>> ListRevocations(int64_t now) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("SELECT handle, until FROM revocations WHERE until > ?1"));
    q->Bind(1, now);
    std::vector<Revocation> out;
    while (true) {
      TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      out.push_back(Revocation{.handle = q->Text(0), .until = q->Int(1)});
    }
    return out;
  }

 private:
  static constexpr std::chrono::milliseconds kFeedPoll{10};
  static constexpr int64_t kChangeRetentionSeconds = 3600;
  static constexpr size_t kMaxChanges = 100000;

  // REQUIRES: mu() held.
  Result<session::FeedPosition> HeadLocked() {
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("SELECT (SELECT id FROM feed), coalesce((SELECT seq FROM sqlite_sequence "
                     "WHERE name = 'changes'), 0)"));
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    session::FeedPosition head;
    if (row) {
      head.feed = q->Text(0);
      head.seq = static_cast<uint64_t>(q->Int(1));
    }
    q->Reset();
    return head;
  }

  // REQUIRES: mu() held, inside a transaction.
  Status ReadChangesLocked(const session::FeedPosition& after, size_t max,
                           session::ChangeBatch* out) {
    TESSERA_ASSIGN_OR_RETURN(session::FeedPosition head, HeadLocked());
    out->next = head;
    if (after.feed != head.feed || after.seq > head.seq) {
      out->gap = true;
      return Status::Ok();
    }
    if (after.seq == head.seq) return Status::Ok();
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("SELECT seq, kind, id_hash, handle, user_id, until "
                                    "FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2"));
    q->Bind(1, static_cast<int64_t>(after.seq));
    q->Bind(2, static_cast<int64_t>(std::min<size_t>(max, INT64_MAX)));
    uint64_t expect = after.seq + 1;
    for (;;) {
      TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      const auto seq = static_cast<uint64_t>(q->Int(0));
      if (seq != expect) {  // trimmed past the cursor
        q->Reset();
        out->changes.clear();
        out->gap = true;
        return Status::Ok();
      }
      ++expect;
      out->changes.push_back(session::Change{.seq = seq,
                                             .kind = static_cast<session::ChangeKind>(q->Int(1)),
                                             .id_hash = q->Blob(2),
                                             .handle = q->Text(3),
                                             .user_id = q->Text(4),
                                             .until = q->Int(5)});
    }
    if (out->changes.empty()) {  // everything after the cursor was trimmed
      out->gap = true;
      return Status::Ok();
    }
    out->next = {head.feed, out->changes.back().seq};
    return Status::Ok();
  }

  // REQUIRES: mu() held.
  Status AppendChangeLocked(const session::Change& c) {
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("INSERT INTO changes (kind, id_hash, handle, user_id, until, at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, CAST(strftime('%s', 'now') AS INTEGER))"));
    q->Bind(1, static_cast<int64_t>(c.kind))
        .BindBlob(2, c.id_hash)
        .Bind(3, std::string_view(c.handle))
        .Bind(4, std::string_view(c.user_id))
        .Bind(5, c.until);
    return q->Run();
  }

  // Create, and when `refresh_hash` is not empty the first token of the family, in one
  // transaction: a refusal stores nothing and evicts nobody. REQUIRES: db_->mu() held.
  Status CreateLocked(const Session& s, const session::FirstRefreshToken& first,
                      const session::LimitPolicy& limit, int64_t now,
                      std::vector<Session>* evicted) {
    std::vector<Session> gone;
    Status st = sqlite::InTransaction(*db_, [&]() -> Status {
      if (limit.max_per_user > 0) {
        TESSERA_ASSIGN_OR_RETURN(
            Statement * q, db_->Prepare(SESSION_SELECT "WHERE user_id = ?1 AND expires_at > ?2 "
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
            gone.push_back(std::move(alive[i]));
          }
        }
      }
      TESSERA_ASSIGN_OR_RETURN(
          Statement * ins, db_->Prepare("INSERT INTO sessions (" SESSION_COLUMNS ") "
                                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
      ins->BindBlob(1, s.id_hash).Bind(2, s.handle).Bind(3, s.user_id).BindBlob(4, s.csrf_hash);
      ins->Bind(5, static_cast<int64_t>(s.kind)).Bind(6, s.created_at).Bind(7, s.last_seen_at);
      ins->Bind(8, s.expires_at).Bind(9, s.user_agent).Bind(10, s.ip).Bind(11, s.tokens_until);
      ins->Bind(12, int64_t{s.mfa ? 1 : 0});
      Status inserted = ins->Run();
      if (!inserted.ok() && IsConstraint(*db_)) {
        return Status(Code::kAlreadyExists, Reason::kNone, "session exists");
      }
      TESSERA_RETURN_IF_ERROR(inserted);
      if (first.hash.empty()) return Status::Ok();
      TESSERA_RETURN_IF_ERROR(CheckNewFamilyLocked(first.family));
      return InsertRefreshLocked(first.hash, s.id_hash, s.created_at, first.family, 0);
    });
    // Only a committed eviction is reported.
    if (st.ok() && evicted) {
      for (Session& e : gone) evicted->push_back(std::move(e));
    }
    return st;
  }

  // REQUIRES: db_->mu() held.
  Result<std::optional<Session>> GetLocked(std::string_view id_hash) {
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare(SESSION_SELECT "WHERE id_hash = ?1"));
    q->BindBlob(1, id_hash);
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    std::optional<Session> out;
    if (row) out = ReadSession(*q);
    q->Reset();
    return out;
  }

  // REQUIRES: db_->mu() held.
  Result<std::optional<RefreshRecord>> GetRefreshLocked(std::string_view hash) {
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("SELECT hash, session_id_hash, issued_at, rotated_at_ms, successor_hash, "
                     "sealed_successor, family, generation FROM refresh_tokens WHERE hash = ?1"));
    q->BindBlob(1, hash);
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    std::optional<RefreshRecord> out;
    if (row) {
      out = RefreshRecord{.hash = q->Blob(0),
                          .session_id_hash = q->Blob(1),
                          .issued_at = q->Int(2),
                          .rotated_at_ms = q->Int(3),
                          .successor_hash = q->Blob(4),
                          .sealed_successor = q->Blob(5),
                          .family = q->Blob(6),
                          .generation = q->Int(7)};
    }
    q->Reset();
    return out;
  }

  // The session whose live refresh token is of `family` and of a later generation than
  // `generation`, or nullopt. REQUIRES: db_->mu() held.
  Result<std::optional<Session>> FindAncestorFamilyLocked(std::string_view family,
                                                          int64_t generation) {
    std::optional<Session> out;
    if (family.empty()) return out;
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("SELECT session_id_hash FROM refresh_tokens WHERE family = ?1 "
                     "AND length(family) > 0 AND rotated_at_ms = 0 AND generation > ?2"));
    q->BindBlob(1, family).Bind(2, generation);
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    const std::string id_hash = row ? q->Blob(0) : std::string();
    q->Reset();
    if (!row) return out;
    return GetLocked(id_hash);
  }

  // kAlreadyExists when a stored token already names `family` (not empty).
  // REQUIRES: db_->mu() held.
  Status CheckNewFamilyLocked(std::string_view family) {
    if (family.empty()) return Status::Ok();
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("SELECT 1 FROM refresh_tokens WHERE family = ?1 "
                                    "AND length(family) > 0 LIMIT 1"));
    q->BindBlob(1, family);
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    q->Reset();
    if (row) return Status(Code::kAlreadyExists, Reason::kNone, "refresh family exists");
    return Status::Ok();
  }

  // Deletes the session row; the sessions_end trigger removes its family and records its
  // revocation in the same statement. REQUIRES: db_->mu() held.
  Status DeleteSessionLocked(std::string_view id_hash) {
    TESSERA_ASSIGN_OR_RETURN(Statement * d,
                             db_->Prepare("DELETE FROM sessions WHERE id_hash = ?1"));
    return d->BindBlob(1, id_hash).Run();
  }

  // A live token of the session's family. kAlreadyExists when the hash is taken.
  // REQUIRES: db_->mu() held, inside a transaction.
  Status InsertRefreshLocked(std::string_view hash, std::string_view session_id_hash,
                             int64_t issued_at, std::string_view family, int64_t generation) {
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("INSERT INTO refresh_tokens (hash, session_id_hash, issued_at, "
                     "rotated_at_ms, successor_hash, sealed_successor, family, generation) "
                     "VALUES (?1, ?2, ?3, 0, x'', x'', ?4, ?5)"));
    q->BindBlob(1, hash).BindBlob(2, session_id_hash).Bind(3, issued_at);
    Status st = q->BindBlob(4, family).Bind(5, generation).Run();
    if (!st.ok() && IsConstraint(*db_)) {
      return Status(Code::kAlreadyExists, Reason::kNone, "refresh token exists");
    }
    return st;
  }

  // The kRotated writes; updates `presented` and `session` to what is now stored.
  // REQUIRES: db_->mu() held, inside a transaction; presented is live.
  Status RotateLocked(RefreshRecord& presented, Session& session, const RefreshRotation& r) {
    const int64_t now = r.now_ms / 1000;
    // A token from before families starts one (r.family) with its successor.
    const bool had_family = !presented.family.empty();
    const std::string& family = had_family ? presented.family : r.family;
    const int64_t generation = (had_family ? presented.generation : r.generation) + 1;
    if (!had_family) TESSERA_RETURN_IF_ERROR(CheckNewFamilyLocked(family));
    TESSERA_RETURN_IF_ERROR(
        InsertRefreshLocked(r.successor_hash, session.id_hash, now, family, generation));
    TESSERA_ASSIGN_OR_RETURN(
        Statement * u,
        db_->Prepare("UPDATE refresh_tokens SET rotated_at_ms = ?2, successor_hash = ?3, "
                     "sealed_successor = ?4 WHERE hash = ?1"));
    u->BindBlob(1, presented.hash).Bind(2, r.now_ms).BindBlob(3, r.successor_hash);
    TESSERA_RETURN_IF_ERROR(u->BindBlob(4, r.sealed_successor).Run());
    // The presented token's ancestors can no longer be replayed for a successor (the ones they
    // sealed are spent). Records of a family go: the family still recognises them as theft
    // (session_store.h, "A bounded family"), so it keeps two records however long it lives.
    if (had_family) {
      TESSERA_ASSIGN_OR_RETURN(
          Statement * p, db_->Prepare("DELETE FROM refresh_tokens WHERE session_id_hash = ?1 "
                                      "AND length(family) > 0 AND generation < ?2"));
      TESSERA_RETURN_IF_ERROR(p->BindBlob(1, session.id_hash).Bind(2, presented.generation).Run());
    }
    // A token without a family keeps its record, but its seal goes: otherwise a copy of the
    // store and any old token would open the chain of seals up to the live token.
    TESSERA_ASSIGN_OR_RETURN(
        Statement * f, db_->Prepare("UPDATE refresh_tokens SET sealed_successor = x'' "
                                    "WHERE successor_hash = ?1"));
    TESSERA_RETURN_IF_ERROR(f->BindBlob(1, presented.hash).Run());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * t, db_->Prepare("UPDATE sessions SET last_seen_at = max(last_seen_at, ?2), "
                                    "tokens_until = max(tokens_until, ?3) WHERE id_hash = ?1"));
    t->BindBlob(1, session.id_hash).Bind(2, now).Bind(3, r.access_expires_at);
    TESSERA_RETURN_IF_ERROR(t->Run());
    presented.rotated_at_ms = r.now_ms;
    presented.successor_hash = r.successor_hash;
    presented.sealed_successor = r.sealed_successor;
    session.last_seen_at = std::max(session.last_seen_at, now);
    session.tokens_until = std::max(session.tokens_until, r.access_expires_at);
    return Status::Ok();
  }

  // REQUIRES: db_->mu() held.
  Status RaiseTokensUntilLocked(std::string_view id_hash, int64_t exp) {
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare(
            "UPDATE sessions SET tokens_until = max(tokens_until, ?2) WHERE id_hash = ?1"));
    return q->BindBlob(1, id_hash).Bind(2, exp).Run();
  }

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

#define USER_SELECT "SELECT id, username, password_hash, roles, created_at, disabled FROM users "

user::User ReadUser(const Statement& q) {
  return user::User{.id = q.Text(0),
                    .username = q.Text(1),
                    .password_hash = q.Text(2),
                    .roles = SplitRoles(q.Text(3)),
                    .created_at = q.Int(4),
                    .disabled = q.Int(5) != 0};
}

class SqliteUserStore final : public user::UserStore {
 public:
  explicit SqliteUserStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  Status Add(const user::User& u) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("INSERT INTO users (id, username, password_hash, roles, "
                                    "created_at, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    q->Bind(1, u.id).Bind(2, u.username).Bind(3, u.password_hash).Bind(4, JoinRoles(u.roles));
    Status st = q->Bind(5, u.created_at).Bind(6, int64_t{u.disabled ? 1 : 0}).Run();
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
    return Update("UPDATE users SET password_hash = ?2 WHERE id = ?1", id,
                  [&](Statement& q) { q.Bind(2, hash); });
  }

  Status SetRoles(std::string_view id, const std::vector<std::string>& roles) override {
    const std::string joined = JoinRoles(roles);
    return Update("UPDATE users SET roles = ?2 WHERE id = ?1", id,
                  [&](Statement& q) { q.Bind(2, joined); });
  }

  Status SetDisabled(std::string_view id, bool disabled) override {
    return Update("UPDATE users SET disabled = ?2 WHERE id = ?1", id,
                  [&](Statement& q) { q.Bind(2, int64_t{disabled ? 1 : 0}); });
  }

  Result<std::optional<user::Totp>> GetTotp(std::string_view id) override {
    std::lock_guard lock(db_->mu());
    return ReadTotpLocked(id);
  }

  Status PutTotp(std::string_view id, const user::Totp& t) override {
    std::lock_guard lock(db_->mu());
    return sqlite::InTransaction(*db_, [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(Statement * exists,
                               db_->Prepare("SELECT 1 FROM users WHERE id = ?1"));
      TESSERA_ASSIGN_OR_RETURN(bool found, exists->Bind(1, id).Step());
      exists->Reset();
      if (!found) return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
      TESSERA_ASSIGN_OR_RETURN(
          Statement * q,
          db_->Prepare("INSERT OR REPLACE INTO totp (user_id, sealed_secret, confirmed, last_step, "
                       "recovery, created_at, ticket_hash, ticket_expires_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
      q->Bind(1, id).Bind(2, t.sealed_secret).Bind(3, int64_t{t.confirmed ? 1 : 0});
      q->Bind(4, t.last_step).Bind(5, JoinRoles(t.recovery_hashes)).Bind(6, t.created_at);
      return q->Bind(7, t.ticket_hash).Bind(8, t.ticket_expires_at).Run();
    });
  }

  Result<bool> StartTotp(std::string_view id, const user::Totp& t) override {
    std::lock_guard lock(db_->mu());
    bool started = false;
    Status s = sqlite::InTransaction(*db_, [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(Statement * exists,
                               db_->Prepare("SELECT 1 FROM users WHERE id = ?1"));
      TESSERA_ASSIGN_OR_RETURN(bool found, exists->Bind(1, id).Step());
      exists->Reset();
      if (!found) return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
      TESSERA_ASSIGN_OR_RETURN(std::optional<user::Totp> current, ReadTotpLocked(id));
      if (current && current->confirmed) return Status::Ok();
      TESSERA_ASSIGN_OR_RETURN(
          Statement * q,
          db_->Prepare("INSERT OR REPLACE INTO totp (user_id, sealed_secret, confirmed, last_step, "
                       "recovery, created_at, ticket_hash, ticket_expires_at) "
                       "VALUES (?1, ?2, 0, ?3, ?4, ?5, '', 0)"));
      q->Bind(1, id).Bind(2, t.sealed_secret).Bind(3, t.last_step);
      TESSERA_RETURN_IF_ERROR(q->Bind(4, JoinRoles(t.recovery_hashes)).Bind(5, t.created_at).Run());
      started = true;
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return started;
  }

  Result<bool> ConfirmTotp(std::string_view id, std::string_view sealed_secret, int64_t step,
                           const std::vector<std::string>& recovery_hashes,
                           int64_t now) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("UPDATE totp SET confirmed = 1, last_step = ?3, recovery = ?4, "
                     "created_at = ?5, ticket_hash = '', ticket_expires_at = 0 "
                     "WHERE user_id = ?1 AND confirmed = 0 AND sealed_secret = ?2"));
    q->Bind(1, id).Bind(2, sealed_secret).Bind(3, step).Bind(4, JoinRoles(recovery_hashes));
    TESSERA_RETURN_IF_ERROR(q->Bind(5, now).Run());
    return sqlite3_changes(db_->raw()) > 0;
  }

  Result<bool> RemoveTotp(std::string_view id) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare("DELETE FROM totp WHERE user_id = ?1"));
    TESSERA_RETURN_IF_ERROR(q->Bind(1, id).Run());
    return sqlite3_changes(db_->raw()) > 0;
  }

  Result<bool> SetMfaTicket(std::string_view id, std::string_view ticket_hash,
                            int64_t expires_at) override {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q, db_->Prepare("UPDATE totp SET ticket_hash = ?2, ticket_expires_at = ?3 "
                                    "WHERE user_id = ?1 AND confirmed = 1"));
    TESSERA_RETURN_IF_ERROR(q->Bind(1, id).Bind(2, ticket_hash).Bind(3, expires_at).Run());
    return sqlite3_changes(db_->raw()) > 0;
  }

  Result<bool> UseMfa(std::string_view id, const MfaUse& use) override {
    std::lock_guard lock(db_->mu());
    bool used = false;
    Status s = sqlite::InTransaction(*db_, [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(std::optional<user::Totp> t, ReadTotpLocked(id));
      if (!t || !t->confirmed || use.ticket_hash.empty() || t->ticket_hash != use.ticket_hash ||
          t->ticket_expires_at <= use.now) {
        return Status::Ok();
      }
      if (use.recovery_hash.empty()) {
        if (use.step <= t->last_step) return Status::Ok();
        t->last_step = use.step;
      } else {
        auto code =
            std::find(t->recovery_hashes.begin(), t->recovery_hashes.end(), use.recovery_hash);
        if (code == t->recovery_hashes.end()) return Status::Ok();
        t->recovery_hashes.erase(code);
      }
      TESSERA_ASSIGN_OR_RETURN(
          Statement * q,
          db_->Prepare("UPDATE totp SET last_step = ?2, recovery = ?3, ticket_hash = '', "
                       "ticket_expires_at = 0 WHERE user_id = ?1"));
      TESSERA_RETURN_IF_ERROR(
          q->Bind(1, id).Bind(2, t->last_step).Bind(3, JoinRoles(t->recovery_hashes)).Run());
      used = true;
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return used;
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
  // One UPDATE of the row with id ?1; kNotFound when there is none.
  template <typename BindRest>
  Status Update(const char* sql, std::string_view id, BindRest&& bind_rest) {
    std::lock_guard lock(db_->mu());
    TESSERA_ASSIGN_OR_RETURN(Statement * q, db_->Prepare(sql));
    q->Bind(1, id);
    bind_rest(*q);
    TESSERA_RETURN_IF_ERROR(q->Run());
    if (sqlite3_changes(db_->raw()) == 0) {
      return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
    }
    return Status::Ok();
  }

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

  // REQUIRES: db_->mu() held.
  Result<std::optional<user::Totp>> ReadTotpLocked(std::string_view id) {
    TESSERA_ASSIGN_OR_RETURN(
        Statement * q,
        db_->Prepare("SELECT sealed_secret, confirmed, last_step, recovery, created_at, "
                     "ticket_hash, ticket_expires_at FROM totp WHERE user_id = ?1"));
    q->Bind(1, id);
    TESSERA_ASSIGN_OR_RETURN(bool row, q->Step());
    std::optional<user::Totp> out;
    if (row) {
      out = user::Totp{.sealed_secret = q->Text(0),
                       .confirmed = q->Int(1) != 0,
                       .last_step = q->Int(2),
                       .recovery_hashes = SplitRoles(q->Text(3)),
                       .created_at = q->Int(4),
                       .ticket_hash = q->Text(5),
                       .ticket_expires_at = q->Int(6)};
    }
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
