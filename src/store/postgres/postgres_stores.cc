// The PostgreSQL UserStore and its schema migrations (include/tessera/store/postgres.h).
#include <array>
#include <charconv>
#include <string>

#include "store/postgres/client.h"
#include "tessera/store/postgres.h"

namespace tessera::store {
namespace {

using pg::Param;
using pg::Rows;
using pg::Statement;

// ---- schema -----------------------------------------------------------------------------------

// Migration N takes a database at version N-1 to N. Append only: a released migration never
// changes, since databases out there ran it. Names are prefixed so that tessera can share a
// database (and its backups) with other applications.
constexpr std::array<std::string_view, 2> kMigrations = {
    // 1: accounts. Names are canonical (case-folded, NFC) before they get here, so the byte-wise
    // unique constraint is the case-insensitive one; ORDER BY ... COLLATE "C" lists them in byte
    // order, whatever the database's collation.
    R"sql(
CREATE TABLE tessera_users (
  id            text PRIMARY KEY,
  username      text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  roles         text[] NOT NULL DEFAULT '{}',
  created_at    bigint NOT NULL,
  disabled      boolean NOT NULL DEFAULT false
);
)sql",
    // 2: second factors (tessera/user/user.h, Totp). They go with their account.
    R"sql(
CREATE TABLE tessera_totp (
  user_id           text PRIMARY KEY REFERENCES tessera_users (id) ON DELETE CASCADE,
  sealed_secret     text NOT NULL,
  confirmed         boolean NOT NULL,
  last_step         bigint NOT NULL,
  recovery          text[] NOT NULL DEFAULT '{}',
  created_at        bigint NOT NULL,
  ticket_hash       text NOT NULL DEFAULT '',
  ticket_expires_at bigint NOT NULL DEFAULT 0
);
)sql",
};
constexpr int kLatest = static_cast<int>(kMigrations.size());

// Any 64-bit number that other applications of the database are unlikely to pick: the first
// bytes of "tessera!" as an integer.
constexpr const char* kMigrationLock = "8391735714683953441";

constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS tessera_schema (version integer PRIMARY KEY, "
    "applied_at timestamptz NOT NULL DEFAULT now())";

Status SchemaError(std::string message) {
  return Status(Code::kInternal, Reason::kStore, "postgresql: " + std::move(message));
}

Result<int> ParseVersion(const Rows& rows) {
  if (rows.size() != 1) return SchemaError("no schema version row");
  if (rows.IsNull(0, 0)) return 0;
  const std::string_view text = rows.Text(0, 0);
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) {
    return SchemaError("bad schema version");
  }
  return v;
}

Result<int> CurrentVersion(pg::Connection& c, pg::Deadline deadline) {
  TESSERA_ASSIGN_OR_RETURN(Rows exists,
                           c.Script("SELECT to_regclass('tessera_schema') IS NOT NULL", deadline));
  if (exists.size() != 1 || exists.Text(0, 0) != "t") return 0;
  TESSERA_ASSIGN_OR_RETURN(Rows rows, c.Script("SELECT max(version) FROM tessera_schema", deadline));
  return ParseVersion(rows);
}

Status NewerThanBinary(int current) {
  return SchemaError("the database's tessera schema is at version " + std::to_string(current) +
                     ", newer than this tessera knows (" + std::to_string(kLatest) +
                     "): upgrade tessera, or point it at another database");
}

// Brings the schema to kLatest in one transaction. The advisory lock makes instances that start
// together take turns: the first migrates, the others find the work done.
Status Migrate(pg::Connection& c, const PostgresOptions& options) {
  // The server's lock wait ends first, with its own error, rather than the client's deadline.
  const pg::Deadline deadline =
      pg::Clock::now() + options.migrate_timeout + options.statement_timeout;
  const std::string wait_ms = std::to_string(options.migrate_timeout.count());
  // The connection's lock_timeout is the statement bound; waiting for another instance's
  // migration may take longer.
  auto fail = [&](Status s) {
    (void)c.Script("ROLLBACK", deadline);  // a broken connection is dropped instead
    return s;
  };
  auto begun = c.Script("BEGIN; SET LOCAL lock_timeout = " + wait_ms +
                            "; SET LOCAL statement_timeout = " + wait_ms +
                            "; SELECT pg_advisory_xact_lock(" + kMigrationLock + ")",
                        deadline);
  if (!begun) return fail(begun.error());
  auto current = CurrentVersion(c, deadline);
  if (!current) return fail(current.error());
  if (*current > kLatest) return fail(NewerThanBinary(*current));
  if (*current == kLatest) {
    // Nothing to do, and nothing created: a role without CREATE on the schema can run tessera on
    // a database that was migrated by another.
    auto done = c.Script("COMMIT", deadline);
    return done ? Status::Ok() : done.error();
  }
  if (*current == 0) {
    auto step = c.Script(kCreateVersionTable, deadline);
    if (!step) return fail(step.error());
  }
  for (int v = *current + 1; v <= kLatest; ++v) {
    auto applied = c.Script(kMigrations[static_cast<size_t>(v - 1)], deadline);
    if (!applied) {
      return fail(SchemaError("migration " + std::to_string(v) +
                              " failed: " + applied.error().message()));
    }
    auto recorded =
        c.Script("INSERT INTO tessera_schema (version) VALUES (" + std::to_string(v) + ")",
                 deadline);
    if (!recorded) return fail(recorded.error());
  }
  auto committed = c.Script("COMMIT", deadline);
  return committed ? Status::Ok() : committed.error();
}

// ---- accounts ---------------------------------------------------------------------------------

#define USER_COLUMNS "id, username, password_hash, roles, created_at, disabled"

const Statement kAdd{"tessera_user_add",
                     "INSERT INTO tessera_users (" USER_COLUMNS
                     ") VALUES ($1, $2, $3, $4::text[], $5::bigint, $6::boolean)"};
const Statement kFindByName{"tessera_user_by_name",
                            "SELECT " USER_COLUMNS " FROM tessera_users WHERE username = $1"};
const Statement kFindById{"tessera_user_by_id",
                          "SELECT " USER_COLUMNS " FROM tessera_users WHERE id = $1"};
const Statement kList{"tessera_user_list", "SELECT " USER_COLUMNS
                                           " FROM tessera_users ORDER BY username COLLATE \"C\""};
const Statement kRemove{"tessera_user_remove", "DELETE FROM tessera_users WHERE username = $1"};
const Statement kSetHash{"tessera_user_set_hash",
                         "UPDATE tessera_users SET password_hash = $2 WHERE id = $1"};
const Statement kSetRoles{"tessera_user_set_roles",
                          "UPDATE tessera_users SET roles = $2::text[] WHERE id = $1"};
const Statement kSetDisabled{"tessera_user_set_disabled",
                             "UPDATE tessera_users SET disabled = $2::boolean WHERE id = $1"};
const Statement kPing{"tessera_ping", "SELECT 1"};

#define TOTP_COLUMNS \
  "sealed_secret, confirmed, last_step, recovery, created_at, ticket_hash, ticket_expires_at"
const Statement kGetTotp{"tessera_totp_get",
                         "SELECT " TOTP_COLUMNS " FROM tessera_totp WHERE user_id = $1"};
// The foreign key refuses a factor for no account (SQLSTATE 23503: kNotFound).
const Statement kPutTotp{
    "tessera_totp_put",
    "INSERT INTO tessera_totp (user_id, " TOTP_COLUMNS
    ") VALUES ($1, $2, $3::boolean, $4::bigint, $5::text[], $6::bigint, $7, $8::bigint) "
    "ON CONFLICT (user_id) DO UPDATE SET sealed_secret = EXCLUDED.sealed_secret, "
    "confirmed = EXCLUDED.confirmed, last_step = EXCLUDED.last_step, "
    "recovery = EXCLUDED.recovery, created_at = EXCLUDED.created_at, "
    "ticket_hash = EXCLUDED.ticket_hash, ticket_expires_at = EXCLUDED.ticket_expires_at"};
// A waiting enrolment is replaced; a confirmed factor is not (no row is touched).
const Statement kStartTotp{
    "tessera_totp_start",
    "INSERT INTO tessera_totp (user_id, " TOTP_COLUMNS
    ") VALUES ($1, $2, false, $3::bigint, $4::text[], $5::bigint, '', 0) "
    "ON CONFLICT (user_id) DO UPDATE SET sealed_secret = EXCLUDED.sealed_secret, "
    "last_step = EXCLUDED.last_step, recovery = EXCLUDED.recovery, "
    "created_at = EXCLUDED.created_at, ticket_hash = '', ticket_expires_at = 0 "
    "WHERE NOT tessera_totp.confirmed"};
const Statement kConfirmTotp{
    "tessera_totp_confirm",
    "UPDATE tessera_totp SET confirmed = true, last_step = $3::bigint, recovery = $4::text[], "
    "created_at = $5::bigint, ticket_hash = '', ticket_expires_at = 0 "
    "WHERE user_id = $1 AND NOT confirmed AND sealed_secret = $2"};
const Statement kRemoveTotp{"tessera_totp_remove", "DELETE FROM tessera_totp WHERE user_id = $1"};
const Statement kSetTicket{"tessera_totp_ticket",
                           "UPDATE tessera_totp SET ticket_hash = $2, ticket_expires_at = $3::bigint "
                           "WHERE user_id = $1 AND confirmed"};
// One statement decides and writes, so two uses of one ticket or code cannot both succeed: the
// second waits for the first's row lock, then re-checks the row as it now is.
const Statement kUseTotpCode{
    "tessera_totp_use_code",
    "UPDATE tessera_totp SET last_step = $4::bigint, ticket_hash = '', ticket_expires_at = 0 "
    "WHERE user_id = $1 AND confirmed AND ticket_hash = $2 AND ticket_hash <> '' "
    "AND ticket_expires_at > $3::bigint AND last_step < $4::bigint"};
const Statement kUseRecoveryCode{
    "tessera_totp_use_recovery",
    "UPDATE tessera_totp SET recovery = array_remove(recovery, $4), ticket_hash = '', "
    "ticket_expires_at = 0 "
    "WHERE user_id = $1 AND confirmed AND ticket_hash = $2 AND ticket_hash <> '' "
    "AND ticket_expires_at > $3::bigint AND $4 = ANY (recovery)"};

Result<user::User> ReadUser(const Rows& rows, int row) {
  for (int col = 0; col < 6; ++col) {
    if (rows.IsNull(row, col)) return SchemaError("a NULL in tessera_users");
  }
  user::User u;
  u.id = rows.Text(row, 0);
  u.username = rows.Text(row, 1);
  u.password_hash = rows.Text(row, 2);
  TESSERA_ASSIGN_OR_RETURN(u.roles, pg::DecodeTextArray(rows.Text(row, 3)));
  const std::string_view created = rows.Text(row, 4);
  auto [end, ec] = std::from_chars(created.data(), created.data() + created.size(), u.created_at);
  if (ec != std::errc() || end != created.data() + created.size()) {
    return SchemaError("bad created_at in tessera_users");
  }
  const std::string_view disabled = rows.Text(row, 5);
  if (disabled != "t" && disabled != "f") return SchemaError("bad disabled in tessera_users");
  u.disabled = disabled == "t";
  return u;
}

Result<int64_t> ParseInt(std::string_view text, const char* column) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return SchemaError(std::string("bad ") + column + " in tessera_totp");
  }
  return v;
}

Status NoSuchUser() { return Status(Code::kNotFound, Reason::kUnknownUser, "no such user"); }

class PostgresUserStore final : public user::UserStore {
 public:
  explicit PostgresUserStore(std::unique_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

  Status Add(const user::User& u) override {
    const std::string roles = pg::EncodeTextArray(u.roles);
    const std::string created = std::to_string(u.created_at);
    auto r = pool_->Run(kAdd, {u.id, u.username, u.password_hash, roles, created,
                               std::string_view(u.disabled ? "true" : "false")});
    if (!r && r.error().code() == Code::kAlreadyExists) {
      return Status(Code::kAlreadyExists, Reason::kUserExists, "user exists");
    }
    return r ? Status::Ok() : r.error();
  }

  Result<std::optional<user::User>> FindByName(std::string_view name) override {
    return FindOne(kFindByName, name);
  }
  Result<std::optional<user::User>> FindById(std::string_view id) override {
    return FindOne(kFindById, id);
  }

  Result<std::vector<user::User>> List() override {
    TESSERA_ASSIGN_OR_RETURN(Rows rows, pool_->Run(kList, {}));
    std::vector<user::User> out;
    out.reserve(static_cast<size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) {
      TESSERA_ASSIGN_OR_RETURN(user::User u, ReadUser(rows, i));
      out.push_back(std::move(u));
    }
    return out;
  }

  Status Remove(std::string_view name) override { return Update(kRemove, {name}); }

  Status SetPasswordHash(std::string_view id, std::string_view hash) override {
    return Update(kSetHash, {id, hash});
  }

  Status SetRoles(std::string_view id, const std::vector<std::string>& roles) override {
    const std::string encoded = pg::EncodeTextArray(roles);
    return Update(kSetRoles, {id, encoded});
  }

  Status SetDisabled(std::string_view id, bool disabled) override {
    return Update(kSetDisabled, {id, std::string_view(disabled ? "true" : "false")});
  }

  Result<std::optional<user::Totp>> GetTotp(std::string_view id) override {
    TESSERA_ASSIGN_OR_RETURN(Rows rows, pool_->Run(kGetTotp, {id}));
    if (rows.size() == 0) return std::optional<user::Totp>();
    for (int col = 0; col < 7; ++col) {
      if (rows.IsNull(0, col)) return SchemaError("a NULL in tessera_totp");
    }
    user::Totp t;
    t.sealed_secret = rows.Text(0, 0);
    const std::string_view confirmed = rows.Text(0, 1);
    if (confirmed != "t" && confirmed != "f") return SchemaError("bad confirmed in tessera_totp");
    t.confirmed = confirmed == "t";
    TESSERA_ASSIGN_OR_RETURN(t.last_step, ParseInt(rows.Text(0, 2), "last_step"));
    TESSERA_ASSIGN_OR_RETURN(t.recovery_hashes, pg::DecodeTextArray(rows.Text(0, 3)));
    TESSERA_ASSIGN_OR_RETURN(t.created_at, ParseInt(rows.Text(0, 4), "created_at"));
    t.ticket_hash = rows.Text(0, 5);
    TESSERA_ASSIGN_OR_RETURN(t.ticket_expires_at, ParseInt(rows.Text(0, 6), "ticket_expires_at"));
    return std::optional<user::Totp>(std::move(t));
  }

  Status PutTotp(std::string_view id, const user::Totp& t) override {
    const std::string recovery = pg::EncodeTextArray(t.recovery_hashes);
    const std::string last = std::to_string(t.last_step), created = std::to_string(t.created_at);
    const std::string expires = std::to_string(t.ticket_expires_at);
    auto r = pool_->Run(kPutTotp, {id, t.sealed_secret,
                                   std::string_view(t.confirmed ? "true" : "false"), last,
                                   recovery, created, t.ticket_hash, expires});
    if (!r && r.error().code() == Code::kNotFound) return NoSuchUser();
    return r ? Status::Ok() : r.error();
  }

  Result<bool> StartTotp(std::string_view id, const user::Totp& t) override {
    const std::string recovery = pg::EncodeTextArray(t.recovery_hashes);
    const std::string last = std::to_string(t.last_step), created = std::to_string(t.created_at);
    auto r = pool_->Run(kStartTotp, {id, t.sealed_secret, last, recovery, created});
    if (!r && r.error().code() == Code::kNotFound) return NoSuchUser();
    if (!r) return r.error();
    return r->Affected() > 0;
  }

  Result<bool> ConfirmTotp(std::string_view id, std::string_view sealed_secret, int64_t step,
                           const std::vector<std::string>& recovery_hashes,
                           int64_t now) override {
    const std::string recovery = pg::EncodeTextArray(recovery_hashes);
    const std::string last = std::to_string(step), at = std::to_string(now);
    TESSERA_ASSIGN_OR_RETURN(Rows rows,
                             pool_->Run(kConfirmTotp, {id, sealed_secret, last, recovery, at}));
    return rows.Affected() > 0;
  }

  Result<bool> RemoveTotp(std::string_view id) override {
    TESSERA_ASSIGN_OR_RETURN(Rows rows, pool_->Run(kRemoveTotp, {id}));
    return rows.Affected() > 0;
  }

  Result<bool> SetMfaTicket(std::string_view id, std::string_view ticket_hash,
                            int64_t expires_at) override {
    const std::string expires = std::to_string(expires_at);
    TESSERA_ASSIGN_OR_RETURN(Rows rows, pool_->Run(kSetTicket, {id, ticket_hash, expires}));
    return rows.Affected() > 0;
  }

  Result<bool> UseMfa(std::string_view id, const MfaUse& use) override {
    const std::string now = std::to_string(use.now);
    if (use.recovery_hash.empty()) {
      const std::string step = std::to_string(use.step);
      TESSERA_ASSIGN_OR_RETURN(Rows rows,
                               pool_->Run(kUseTotpCode, {id, use.ticket_hash, now, step}));
      return rows.Affected() > 0;
    }
    TESSERA_ASSIGN_OR_RETURN(
        Rows rows, pool_->Run(kUseRecoveryCode, {id, use.ticket_hash, now, use.recovery_hash}));
    return rows.Affected() > 0;
  }

  Status Ping() override {
    auto r = pool_->Run(kPing, {});
    return r ? Status::Ok() : r.error();
  }

 private:
  // A statement that must touch one row; kNotFound/kUnknownUser when it touched none.
  Status Update(const Statement& st, const std::vector<Param>& params) {
    TESSERA_ASSIGN_OR_RETURN(Rows rows, pool_->Run(st, params));
    return rows.Affected() == 0 ? NoSuchUser() : Status::Ok();
  }

  Result<std::optional<user::User>> FindOne(const Statement& st, std::string_view key) {
    TESSERA_ASSIGN_OR_RETURN(Rows rows, pool_->Run(st, {key}));
    if (rows.size() == 0) return std::optional<user::User>();
    TESSERA_ASSIGN_OR_RETURN(user::User u, ReadUser(rows, 0));
    return std::optional<user::User>(std::move(u));
  }

  std::unique_ptr<pg::Pool> pool_;
};

Status CheckOptions(const PostgresOptions& o) {
  if (o.pool_size == 0 || o.connect_timeout.count() <= 0 || o.statement_timeout.count() <= 0) {
    return InvalidArgument(Reason::kBadConfig,
                           "postgresql: pool size and timeouts must be positive");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<user::UserStore>> OpenPostgresUserStore(std::string_view url,
                                                               PostgresOptions options) {
  TESSERA_RETURN_IF_ERROR(CheckOptions(options));
  auto pool = std::make_unique<pg::Pool>(std::string(url), options);
  {
    TESSERA_ASSIGN_OR_RETURN(pg::Pool::Lease c,
                             pool->Acquire(pg::Clock::now() + options.connect_timeout));
    TESSERA_RETURN_IF_ERROR(Migrate(*c, options));
  }
  return std::unique_ptr<user::UserStore>(new PostgresUserStore(std::move(pool)));
}

Result<PostgresSchemaStatus> ReadPostgresSchemaStatus(std::string_view url,
                                                      PostgresOptions options) {
  TESSERA_RETURN_IF_ERROR(CheckOptions(options));
  TESSERA_ASSIGN_OR_RETURN(
      std::unique_ptr<pg::Connection> c,
      pg::Connection::Open(std::string(url), options.statement_timeout,
                           pg::Clock::now() + options.connect_timeout));
  TESSERA_ASSIGN_OR_RETURN(int current,
                           CurrentVersion(*c, pg::Clock::now() + options.statement_timeout));
  return PostgresSchemaStatus{.current = current, .latest = kLatest};
}

}  // namespace tessera::store
