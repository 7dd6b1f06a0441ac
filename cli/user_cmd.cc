// tessera user add | list | remove | set-password | set-roles | disable | enable | reset-mfa |
// import | migrate,
// and tessera migrate: account administration on the configured stores, safe while the server
// runs (every change is announced on the session store's change feed; the servers drop their copy
// of the account at once).
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "commands.h"
#include "context.h"
#include "core/json.h"
#include "crypto/password.h"
#include "io.h"
#include "user/account_service.h"
#include "store/open.h"
#include "tessera/clock.h"
#include "tessera/store/postgres.h"
#include "tessera/store/sqlite.h"
#include "tessera/user/user.h"

namespace tessera::cli {
namespace {

struct UserArgs {
  DataOptions data;
  std::string username;
  std::vector<std::string> roles;
  bool no_roles = false;  // set-roles --none
  bool password_stdin = false;
};

// Reads one line from the terminal with echo off, so the password never shows on screen or in
// a terminal recording.
Result<std::string> PromptHidden(std::FILE* tty, const char* prompt) {
  std::fputs(prompt, tty);
  std::fflush(tty);
  termios old_mode{};
  const int fd = fileno(tty);
  const bool is_tty = tcgetattr(fd, &old_mode) == 0;
  if (is_tty) {
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string line;
  for (int c; (c = std::fgetc(tty)) != EOF && c != '\n';) line.push_back(static_cast<char>(c));
  if (is_tty) tcsetattr(fd, TCSAFLUSH, &old_mode);
  std::fputc('\n', tty);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<std::string> ReadNewPassword(bool from_stdin) {
  if (from_stdin) {
    std::string line;
    if (!std::getline(std::cin, line)) {
      return InvalidArgument(Reason::kBadPassword, "no password on standard input");
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  std::FILE* tty = std::fopen("/dev/tty", "r+");
  if (!tty) {
    return InvalidArgument(Reason::kBadPassword, "no terminal to ask for the password on; "
                                                 "pipe it in with --password-stdin");
  }
  auto first = PromptHidden(tty, "Password: ");
  auto second = PromptHidden(tty, "Repeat password: ");
  std::fclose(tty);
  if (!first || !second) return InvalidArgument(Reason::kBadPassword, "cannot read the password");
  if (*first != *second) return InvalidArgument(Reason::kBadPassword, "the passwords differ");
  return *first;
}

// What changing accounts from the CLI works with: the stores of the data directory and the same
// AccountService the server's handlers use. Ending sessions goes through a SessionManager over
// the store, which records their revocations for every process on it.
struct Accounts {
  Config config;
  std::unique_ptr<user::UserStore> users;
  std::unique_ptr<session::SessionStore> sessions;
  std::unique_ptr<crypto::PasswordHasher> hasher;
  std::unique_ptr<session::SessionManager> manager;
  std::unique_ptr<user::AccountService> service;
};

Result<Accounts> OpenAccounts(const DataOptions& data) {
  Accounts a;
  TESSERA_ASSIGN_OR_RETURN(a.config, LoadCliConfig(data));
  TESSERA_ASSIGN_OR_RETURN(a.users, OpenUserStore(a.config));
  TESSERA_ASSIGN_OR_RETURN(a.sessions, OpenSessionStore(a.config));
  TESSERA_ASSIGN_OR_RETURN(crypto::PasswordHasher hasher,
                           crypto::PasswordHasher::Create({a.config.password.argon2_memory_kib,
                                                           a.config.password.argon2_iterations}));
  a.hasher = std::make_unique<crypto::PasswordHasher>(std::move(hasher));
  a.manager = std::make_unique<session::SessionManager>(a.sessions.get(), session::SessionOptions{},
                                                        &SystemClock::Instance());
  a.service = std::make_unique<user::AccountService>(a.users.get(), a.manager.get(),
                                                     a.hasher.get(), &SystemClock::Instance());
  return a;
}

// Bad input (a malformed name, a password the policy refuses or one over 1024 bytes) is a usage
// error; a store that fails or an account that is missing or taken is a denial.
int ExitFor(const Status& s) {
  return s.code() == Code::kInvalidArgument || s.code() == Code::kResourceExhausted ? kExitUsage
                                                                                      : kExitDenied;
}

int Add(const UserArgs& a) {
  auto name = user::CanonicalUsername(a.username);
  if (!name) return Fail(kExitUsage, name.error().message());
  std::vector<std::string> roles;
  for (const auto& role : a.roles) {
    if (std::find(roles.begin(), roles.end(), role) == roles.end()) roles.push_back(role);
  }
  if (Status s = user::CheckRoles(roles); !s.ok()) return Fail(kExitUsage, s.message());
  auto accounts = OpenAccounts(a.data);
  if (!accounts) return Fail(ExitFor(accounts.error()), accounts.error().message());
  // Asked before the password is: no one types a password for a name that is taken.
  auto existing = accounts->users->FindByName(*name);
  if (!existing) return Fail(kExitDenied, existing.error().message());
  if (existing->has_value()) return Fail(kExitDenied, "user " + *name + " already exists");
  auto password = ReadNewPassword(a.password_stdin);
  if (!password) return Fail(kExitUsage, password.error().message());
  auto u = accounts->service->Create(*name, *password, std::move(roles));
  if (!u) return Fail(ExitFor(u.error()), u.error().message());
  OpenCliAudit(accounts->config)->Record("admin.user_created", {{"username", u->username},
                                                                {"sub", u->id},
                                                                {"roles", u->roles},
                                                                {"by", "cli"}});
  std::cout << "added user " << u->username << " (id " << u->id << ")\n";
  return kExitOk;
}

int List(const DataOptions& data) {
  auto config = LoadCliConfig(data);
  if (!config) return Fail(kExitUsage, config.error().message());
  auto users = OpenUserStore(*config);
  if (!users) return Fail(kExitUsage, users.error().message());
  auto all = (*users)->List();
  if (!all) return Fail(kExitDenied, all.error().message());
  std::printf("%-24s %-24s %-20s %-8s %s\n", "USERNAME", "ID", "CREATED", "STATE", "ROLES");
  for (const auto& u : *all) {
    std::string roles;
    for (const auto& r : u.roles) roles += (roles.empty() ? "" : ",") + r;
    std::printf("%-24s %-24s %-20s %-8s %s\n", u.username.c_str(), u.id.c_str(),
                FormatTime(u.created_at).c_str(), u.disabled ? "disabled" : "active",
                roles.c_str());
  }
  return kExitOk;
}

int Remove(const UserArgs& a) {
  auto name = user::CanonicalUsername(a.username);
  if (!name) return Fail(kExitUsage, name.error().message());
  auto accounts = OpenAccounts(a.data);
  if (!accounts) return Fail(ExitFor(accounts.error()), accounts.error().message());
  auto removed = accounts->service->Remove(*name);
  if (!removed) return Fail(ExitFor(removed.error()), removed.error().message());
  OpenCliAudit(accounts->config)->Record("admin.user_removed",
                                         {{"username", removed->user.username},
                                          {"sub", removed->user.id},
                                          {"sessions_ended", removed->ended.size()},
                                          {"by", "cli"}});
  std::cout << "removed user " << removed->user.username << " and ended "
            << removed->ended.size() << " session(s)\n";
  return kExitOk;
}

int SetPassword(const UserArgs& a) {
  auto name = user::CanonicalUsername(a.username);
  if (!name) return Fail(kExitUsage, name.error().message());
  auto accounts = OpenAccounts(a.data);
  if (!accounts) return Fail(ExitFor(accounts.error()), accounts.error().message());
  auto found = accounts->users->FindByName(*name);
  if (!found) return Fail(kExitDenied, found.error().message());
  if (!found->has_value()) return Fail(kExitDenied, "no user " + *name);
  auto password = ReadNewPassword(a.password_stdin);
  if (!password) return Fail(kExitUsage, password.error().message());
  // A password reset is a security event: whoever held the old password loses their sessions.
  auto ended = accounts->service->SetPassword(**found, *password);
  if (!ended) return Fail(ExitFor(ended.error()), ended.error().message());
  OpenCliAudit(accounts->config)->Record("admin.password_set", {{"username", (*found)->username},
                                                                {"sub", (*found)->id},
                                                                {"sessions_ended", ended->size()},
                                                                {"by", "cli"}});
  std::cout << "password changed for " << (*found)->username << "; ended " << ended->size()
            << " session(s)\n";
  return kExitOk;
}

std::string JoinRoles(const std::vector<std::string>& roles) {
  std::string out;
  for (const auto& r : roles) out += (out.empty() ? "" : ",") + r;
  return out.empty() ? "(none)" : out;
}

int SetRoles(const UserArgs& a) {
  auto name = user::CanonicalUsername(a.username);
  if (!name) return Fail(kExitUsage, name.error().message());
  // Clearing every role is said out loud, never the result of a forgotten option.
  if (a.roles.empty() != a.no_roles) return Fail(kExitUsage, "give --role (repeatable) or --none");
  for (const auto& role : a.roles) {
    if (Status s = user::CheckRoleName(role); !s.ok()) return Fail(kExitUsage, s.message());
  }
  auto accounts = OpenAccounts(a.data);
  if (!accounts) return Fail(ExitFor(accounts.error()), accounts.error().message());
  auto changed = accounts->service->SetRoles(*name, a.roles);
  if (!changed) return Fail(ExitFor(changed.error()), changed.error().message());
  OpenCliAudit(accounts->config)->Record("admin.roles_set", {{"username", changed->username},
                                                             {"sub", changed->id},
                                                             {"roles", changed->roles},
                                                             {"by", "cli"}});
  std::cout << "roles of " << changed->username << ": " << JoinRoles(changed->roles) << '\n';
  return kExitOk;
}

int SetDisabled(const UserArgs& a, bool disabled) {
  auto name = user::CanonicalUsername(a.username);
  if (!name) return Fail(kExitUsage, name.error().message());
  auto accounts = OpenAccounts(a.data);
  if (!accounts) return Fail(ExitFor(accounts.error()), accounts.error().message());
  auto changed = accounts->service->SetDisabled(*name, disabled);
  if (!changed) return Fail(ExitFor(changed.error()), changed.error().message());
  OpenCliAudit(accounts->config)
      ->Record(disabled ? "admin.user_disabled" : "admin.user_enabled",
               {{"username", changed->user.username},
                {"sub", changed->user.id},
                {"sessions_ended", changed->ended.size()},
                {"by", "cli"}});
  if (disabled) {
    std::cout << "disabled " << changed->user.username << " and ended " << changed->ended.size()
              << " session(s)\n";
  } else {
    std::cout << "enabled " << changed->user.username << '\n';
  }
  return kExitOk;
}

int ResetMfa(const UserArgs& a) {
  auto name = user::CanonicalUsername(a.username);
  if (!name) return Fail(kExitUsage, name.error().message());
  auto accounts = OpenAccounts(a.data);
  if (!accounts) return Fail(ExitFor(accounts.error()), accounts.error().message());
  auto reset = accounts->service->ResetMfa(*name);
  if (!reset) return Fail(ExitFor(reset.error()), reset.error().message());
  OpenCliAudit(accounts->config)
      ->Record("admin.mfa_reset", {{"username", reset->user.username},
                                   {"sub", reset->user.id},
                                   {"had_factor", reset->removed},
                                   {"sessions_ended", reset->ended.size()},
                                   {"by", "cli"}});
  std::cout << (reset->removed ? "removed the second factor of " : "no second factor on ")
            << reset->user.username << " and ended " << reset->ended.size() << " session(s)\n";
  return kExitOk;
}

// ---- import -------------------------------------------------------------------------------------

struct ImportArgs {
  DataOptions data;
  std::string file;  // "-": standard input
  bool skip_existing = false;
};

// Largest input: about 300 000 accounts. One line: far more than any hash and 64 roles need.
constexpr size_t kMaxImportBytes = size_t{64} << 20;
constexpr size_t kMaxImportLineBytes = size_t{16} << 10;

constexpr char kImportHelp[] = R"(FILE holds one JSON object per line (blank lines are skipped):
  {"username": "alice", "password_hash": "$argon2id$v=19$...", "roles": ["admin"]}
"roles" is optional; any other field is refused, so a misspelt "role" cannot import an account
without its roles. password_hash: an Argon2id, Argon2i or Argon2d PHC string, or a bcrypt hash
($2a$, $2b$, $2y$). Users whose hash is not Argon2id at the configured cost keep it until their
first successful login, which replaces it with Argon2id (bcrypt reads only the first 72 bytes of
a password until then).

All or nothing: every line is checked first (JSON, fields, username, hash format, roles,
duplicates within the file, accounts that already exist) and each bad line is reported as
"line N: reason" on stderr; then nothing is imported and the exit code is 1. If adding fails
midway (the store fails, or the server creates one of the names meanwhile), the accounts this run
added are removed again. Hashes are never printed. Exit codes: 0 imported, 1 bad lines or store
failure, 2 usage error (unreadable FILE, bad configuration).)";

// One account read from the input, with the line it came from.
struct ImportedUser {
  size_t line = 0;
  user::User user;
};

// Reads one non-blank line into a user (without id and created_at). Messages never contain the
// hash, nor any input beyond a field name.
Result<user::User> ParseImportLine(std::string_view text) {
  auto bad = [](std::string m) { return InvalidArgument(Reason::kBadJson, std::move(m)); };
  if (text.size() > kMaxImportLineBytes) return bad("line longer than 16 KiB");
  TESSERA_ASSIGN_OR_RETURN(
      nlohmann::json j,
      json::ParseStrict(text, {.max_bytes = kMaxImportLineBytes, .max_depth = 3}));
  if (!j.is_object()) return bad("expected a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key == "username" || key == "password_hash" || key == "roles") continue;
    // A field name, not a value: quoted and cut short, so it can neither break the report nor
    // carry much of anything else.
    std::string name =
        nlohmann::json(key.substr(0, 32))
            .dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
    return bad("unknown field " + name + " (only \"username\", \"password_hash\" and \"roles\")");
  }
  user::User u;
  const auto name = j.find("username");
  if (name == j.end() || !name->is_string()) return bad("\"username\" must be a string");
  TESSERA_ASSIGN_OR_RETURN(u.username,
                           user::CanonicalUsername(name->get_ref<const std::string&>()));
  const auto hash = j.find("password_hash");
  if (hash == j.end() || !hash->is_string()) return bad("\"password_hash\" must be a string");
  u.password_hash = hash->get<std::string>();
  TESSERA_RETURN_IF_ERROR(crypto::CheckStoredHash(u.password_hash));
  if (const auto roles = j.find("roles"); roles != j.end()) {
    if (!roles->is_array()) return bad("\"roles\" must be an array of strings");
    for (const auto& role : *roles) {
      if (!role.is_string()) return bad("\"roles\" must be an array of strings");
      const std::string& r = role.get_ref<const std::string&>();
      TESSERA_RETURN_IF_ERROR(user::CheckRoleName(r));
      if (std::find(u.roles.begin(), u.roles.end(), r) != u.roles.end()) {
        return bad("role " + r + " listed twice");
      }
      u.roles.push_back(r);
      TESSERA_RETURN_IF_ERROR(user::CheckRoles(u.roles));
    }
  }
  return u;
}

// Removes the accounts an import added before it failed, sessions first (as `user remove` does),
// so a login that slipped in meanwhile does not outlive its account. Returns the names it could
// not remove.
std::vector<std::string> UndoImport(const Config& config, user::UserStore* users,
                                    const std::vector<user::User>& added) {
  auto sessions = OpenSessionStore(config);
  std::vector<std::string> left;
  for (const auto& u : added) {
    bool ok = true;
    if (sessions) ok = (*sessions)->RemoveByUser(u.id, "").has_value();
    ok = users->Remove(u.username).ok() && ok;
    if (sessions) ok = (*sessions)->RemoveByUser(u.id, "").has_value() && ok;
    if (!ok) left.push_back(u.username);
  }
  return left;
}

int Import(const ImportArgs& a) {
  auto config = LoadCliConfig(a.data);
  if (!config) return Fail(kExitUsage, config.error().message());
  auto input = a.file == "-" ? ReadStdin(kMaxImportBytes) : ReadFile(a.file, kMaxImportBytes);
  if (!input) return Fail(kExitUsage, input.error().message());
  auto users = OpenUserStore(*config);
  if (!users) return Fail(kExitUsage, users.error().message());

  // Pass 1: check every line and report every problem; nothing is written yet.
  std::vector<ImportedUser> accepted;
  std::map<std::string, size_t> first_line;  // canonical name -> line it first appeared on
  size_t bad_lines = 0;
  size_t skipped = 0;
  auto report = [&bad_lines](size_t line, std::string_view reason) {
    std::cerr << "tessera: line " << line << ": " << reason << '\n';
    ++bad_lines;
  };
  std::string_view rest = *input;
  for (size_t number = 1; !rest.empty(); ++number) {
    const size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    Result<user::User> parsed = ParseImportLine(line);
    if (!parsed) {
      report(number, parsed.error().message());
      continue;
    }
    const std::string& name = parsed->username;
    if (auto [it, fresh] = first_line.emplace(name, number); !fresh) {
      report(number, "user " + name + " already appears on line " + std::to_string(it->second));
      continue;
    }
    auto existing = (*users)->FindByName(name);
    if (!existing) return Fail(kExitDenied, existing.error().message());
    if (existing->has_value()) {
      if (a.skip_existing) {
        ++skipped;
      } else {
        report(number, "user " + name + " already exists (--skip-existing leaves it unchanged)");
      }
      continue;
    }
    accepted.push_back({number, std::move(parsed).value()});
  }
  if (bad_lines > 0) {
    return Fail(kExitDenied, "nothing imported: " + std::to_string(bad_lines) + " bad line(s)");
  }

  // Pass 2: add them. The UserStore has no multi-account transaction, so a failure midway (the
  // store fails, or a name was taken since pass 1) removes what this run added.
  const int64_t now = SystemClock::Instance().NowSeconds();
  std::vector<user::User> added;
  added.reserve(accepted.size());
  for (auto& [line, u] : accepted) {
    u.id = user::NewUserId();
    u.created_at = now;
    if (Status s = (*users)->Add(u); !s.ok()) {
      const std::string why = s.code() == Code::kAlreadyExists
                                  ? "user " + u.username + " was created meanwhile"
                                  : s.message();
      std::cerr << "tessera: line " << line << ": " << why << '\n';
      const std::vector<std::string> left = UndoImport(*config, users->get(), added);
      if (left.empty()) return Fail(kExitDenied, "nothing imported");
      std::string names;
      for (const auto& n : left) names += (names.empty() ? "" : ", ") + n;
      return Fail(kExitDenied,
                  "import failed; these accounts were added and could not be "
                  "removed again: " +
                      names);
    }
    added.push_back(u);
  }
  auto audit = OpenCliAudit(*config);
  for (const user::User& u : added) {
    audit->Record("admin.user_imported",
                  {{"username", u.username}, {"sub", u.id}, {"roles", u.roles}, {"by", "cli"}});
  }
  std::cout << "imported " << added.size() << " users";
  if (a.skip_existing) std::cout << " (skipped " << skipped << " that already exist)";
  std::cout << '\n';
  return kExitOk;
}

// tessera user migrate --from sqlite:PATH: every account of another tessera's SQLite database,
// copied with its id (so tokens and sessions name the same subject), hash, roles, creation time
// and state into the configured user store (PostgreSQL, typically). All or nothing, as an import.
// Opening the source brings its schema up to this binary's version, as any tessera command
// would; nothing else in it changes.
struct CopyArgs {
  DataOptions data;
  std::string from;
  bool skip_existing = false;
};

int CopyAccounts(const CopyArgs& a) {
  auto config = LoadCliConfig(a.data);
  if (!config) return Fail(kExitUsage, config.error().message());
  if (!a.from.starts_with("sqlite:") || a.from.size() == 7) {
    return Fail(kExitUsage, "--from takes sqlite:PATH (a tessera.db)");
  }
  const std::string path = a.from.substr(7);
  if (!std::ifstream(path)) return Fail(kExitUsage, "cannot read " + path);
  auto source = store::OpenSqliteUserStore(path);
  if (!source) return Fail(kExitUsage, source.error().message());
  auto target = OpenUserStore(*config);
  if (!target) return Fail(ExitFor(target.error()), target.error().message());
  auto all = (*source)->List();
  if (!all) return Fail(kExitDenied, all.error().message());
  std::vector<user::User> copy;
  size_t skipped = 0;
  for (user::User& u : *all) {
    // What another tessera wrote passes today's rules, or nothing is copied.
    auto canonical = user::CanonicalUsername(u.username);
    if (!canonical || *canonical != u.username) {
      return Fail(kExitDenied, "nothing copied: the name of account " + u.id + " is not canonical");
    }
    if (Status st = user::CheckRoles(u.roles); !st.ok()) {
      return Fail(kExitDenied, "nothing copied: " + u.username + ": " + st.message());
    }
    if (Status st = crypto::CheckStoredHash(u.password_hash); !st.ok()) {
      return Fail(kExitDenied, "nothing copied: " + u.username + ": " + st.message());
    }
    auto existing = (*target)->FindByName(u.username);
    if (!existing) return Fail(kExitDenied, existing.error().message());
    auto same_id = (*target)->FindById(u.id);
    if (!same_id) return Fail(kExitDenied, same_id.error().message());
    if (existing->has_value() || same_id->has_value()) {
      if (!a.skip_existing) {
        return Fail(kExitDenied, "nothing copied: user " + u.username +
                                     " already exists there (--skip-existing leaves it unchanged)");
      }
      ++skipped;
      continue;
    }
    copy.push_back(std::move(u));
  }
  // Second factors go along as they are stored: the secret stays sealed, the recovery codes
  // hashed, both under the source's MFA key, which the instances on the target must then use
  // (README, "Two-step verification").
  std::vector<std::optional<user::Totp>> factors;
  size_t with_factor = 0;
  for (const user::User& u : copy) {
    auto t = (*source)->GetTotp(u.id);
    if (!t) return Fail(kExitDenied, "nothing copied: " + t.error().message());
    with_factor += t->has_value() && (*t)->confirmed;
    factors.push_back(t->has_value() && (*t)->confirmed ? std::move(*t) : std::nullopt);
  }
  std::vector<user::User> added;
  for (size_t i = 0; i < copy.size(); ++i) {
    const user::User& u = copy[i];
    Status st = (*target)->Add(u);
    if (st.ok() && factors[i]) {
      // Undone with its account (removing the account removes its factor) should this fail.
      added.push_back(u);
      factors[i]->ticket_hash.clear();
      factors[i]->ticket_expires_at = 0;
      st = (*target)->PutTotp(u.id, *factors[i]);
      if (st.ok()) continue;
    }
    if (!st.ok()) {
      std::cerr << "tessera: " << u.username << ": " << st.message() << '\n';
      const std::vector<std::string> left = UndoImport(*config, target->get(), added);
      if (left.empty()) return Fail(kExitDenied, "nothing copied");
      std::string names;
      for (const auto& n : left) names += (names.empty() ? "" : ", ") + n;
      return Fail(kExitDenied, "copy failed; these accounts were added and could not be removed "
                               "again: " + names);
    }
    added.push_back(u);
  }
  auto audit = OpenCliAudit(*config);
  for (const user::User& u : added) {
    audit->Record("admin.user_imported", {{"username", u.username},
                                          {"sub", u.id},
                                          {"roles", u.roles},
                                          {"from", "sqlite"},
                                          {"by", "cli"}});
  }
  std::cout << "copied " << added.size() << " users from " << path;
  if (a.skip_existing) std::cout << " (skipped " << skipped << " that already exist)";
  std::cout << '\n';
  if (with_factor > 0) {
    std::cout << "copied the second factor of " << with_factor
              << " of them: every instance on this store needs the MFA key of the source's data "
                 "directory (its mfa.key, or the same token.keyset_secret_file)\n";
  }
  return kExitOk;
}

// tessera migrate [--status]: brings the user store's schema to this binary's version (the
// server does so at startup too), or only says where it stands.
int Migrate(const DataOptions& data, bool status_only) {
  auto config = LoadCliConfig(data);
  if (!config) return Fail(kExitUsage, config.error().message());
  if (!store::IsPostgresUrl(config->users.store)) {
    std::cout << "users.store = " << config->users.store
              << ": the SQLite schema is migrated whenever the database is opened\n";
    return kExitOk;
  }
  const store::PostgresOptions options{
      .pool_size = 1,
      .connect_timeout = std::chrono::milliseconds(config->users.connect_timeout_ms),
      .statement_timeout = std::chrono::milliseconds(config->users.statement_timeout_ms)};
  if (!status_only) {
    auto opened = store::OpenPostgresUserStore(config->users.store, options);
    if (!opened) return Fail(kExitDenied, opened.error().message());
  }
  auto st = store::ReadPostgresSchemaStatus(config->users.store, options);
  if (!st) return Fail(kExitDenied, st.error().message());
  std::cout << "schema version " << st->current << ", this tessera's " << st->latest << ": ";
  if (st->current == st->latest) {
    std::cout << "up to date\n";
  } else if (st->current < st->latest) {
    std::cout << (st->latest - st->current)
              << " migration(s) pending (`tessera migrate` or the next start applies them)\n";
  } else {
    std::cout << "the database is newer; this tessera refuses it\n";
    return kExitDenied;
  }
  return kExitOk;
}

}  // namespace

void RegisterUser(CLI::App& app, Action* run) {
  auto migrate = std::make_shared<std::pair<DataOptions, bool>>();
  CLI::App* migrate_cmd = app.add_subcommand(
      "migrate", "Bring the PostgreSQL user store's schema up to date (or show where it stands)");
  AddDataOptions(migrate_cmd, &migrate->first);
  migrate_cmd->add_flag("--status", migrate->second, "Only show the schema version; change nothing");
  migrate_cmd->callback([run, migrate] {
    *run = [migrate] { return Migrate(migrate->first, migrate->second); };
  });

  CLI::App* cmd = app.add_subcommand("user", "Manage accounts");
  cmd->require_subcommand(1);

  auto add = std::make_shared<UserArgs>();
  CLI::App* add_cmd = cmd->add_subcommand("add", "Add an account");
  AddDataOptions(add_cmd, &add->data);
  add_cmd->add_option("username", add->username, "User name")->required();
  add_cmd->add_option("--role", add->roles, "Role (repeatable)");
  add_cmd->add_flag("--password-stdin", add->password_stdin,
                    "Read the password from standard input instead of prompting");
  add_cmd->callback([run, add] { *run = [add] { return Add(*add); }; });

  auto list = std::make_shared<DataOptions>();
  CLI::App* list_cmd = cmd->add_subcommand("list", "List accounts");
  AddDataOptions(list_cmd, list.get());
  list_cmd->callback([run, list] { *run = [list] { return List(*list); }; });

  auto remove = std::make_shared<UserArgs>();
  CLI::App* remove_cmd = cmd->add_subcommand("remove", "Remove an account and end its sessions");
  AddDataOptions(remove_cmd, &remove->data);
  remove_cmd->add_option("username", remove->username, "User name")->required();
  remove_cmd->callback([run, remove] { *run = [remove] { return Remove(*remove); }; });

  auto setpw = std::make_shared<UserArgs>();
  CLI::App* setpw_cmd =
      cmd->add_subcommand("set-password", "Set a new password and end the account's sessions");
  AddDataOptions(setpw_cmd, &setpw->data);
  setpw_cmd->add_option("username", setpw->username, "User name")->required();
  setpw_cmd->add_flag("--password-stdin", setpw->password_stdin,
                      "Read the password from standard input instead of prompting");
  setpw_cmd->callback([run, setpw] { *run = [setpw] { return SetPassword(*setpw); }; });

  auto roles = std::make_shared<UserArgs>();
  CLI::App* roles_cmd = cmd->add_subcommand(
      "set-roles", "Replace the account's roles (in force at its next request and next token)");
  AddDataOptions(roles_cmd, &roles->data);
  roles_cmd->add_option("username", roles->username, "User name")->required();
  roles_cmd->add_option("--role", roles->roles, "Role (repeatable)");
  roles_cmd->add_flag("--none", roles->no_roles, "Remove every role");
  roles_cmd->callback([run, roles] { *run = [roles] { return SetRoles(*roles); }; });

  for (const bool disabled : {true, false}) {
    auto args = std::make_shared<UserArgs>();
    CLI::App* c = cmd->add_subcommand(
        disabled ? "disable" : "enable",
        disabled ? "Disable the account (it cannot sign in) and end its sessions"
                 : "Enable a disabled account");
    AddDataOptions(c, &args->data);
    c->add_option("username", args->username, "User name")->required();
    c->callback([run, args, disabled] {
      *run = [args, disabled] { return SetDisabled(*args, disabled); };
    });
  }

  auto reset_mfa = std::make_shared<UserArgs>();
  CLI::App* reset_mfa_cmd = cmd->add_subcommand(
      "reset-mfa",
      "Remove the account's second factor (lost authenticator and recovery codes) and end its "
      "sessions");
  AddDataOptions(reset_mfa_cmd, &reset_mfa->data);
  reset_mfa_cmd->add_option("username", reset_mfa->username, "User name")->required();
  reset_mfa_cmd->callback([run, reset_mfa] { *run = [reset_mfa] { return ResetMfa(*reset_mfa); }; });

  auto import_args = std::make_shared<ImportArgs>();
  CLI::App* import_cmd = cmd->add_subcommand(
      "import", "Add accounts with existing password hashes from JSON lines, all or nothing");
  AddDataOptions(import_cmd, &import_args->data);
  import_cmd->add_option("file", import_args->file, "JSON-lines file, or - for standard input")
      ->required();
  import_cmd->add_flag("--skip-existing", import_args->skip_existing,
                       "Skip (leave unchanged) accounts that already exist instead of failing, "
                       "so an interrupted import can be run again");
  import_cmd->footer(kImportHelp);

  auto copy = std::make_shared<CopyArgs>();
  CLI::App* copy_cmd = cmd->add_subcommand(
      "migrate", "Copy every account of a tessera SQLite database into the configured user store "
                 "(ids, hashes, roles and states kept), all or nothing");
  AddDataOptions(copy_cmd, &copy->data);
  copy_cmd->add_option("--from", copy->from, "sqlite:PATH of the tessera.db to copy from")
      ->required();
  copy_cmd->add_flag("--skip-existing", copy->skip_existing,
                     "Skip (leave unchanged) accounts that already exist instead of failing");
  copy_cmd->callback([run, copy] { *run = [copy] { return CopyAccounts(*copy); }; });
  import_cmd->callback(
      [run, import_args] { *run = [import_args] { return Import(*import_args); }; });
}

}  // namespace tessera::cli
