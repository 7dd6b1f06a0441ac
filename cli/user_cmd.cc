// tessera user add | list | remove | set-password: account administration on the data directory,
// safe while the server runs (SQLite WAL; the server notices changes on its next request).
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "context.h"
#include "crypto/password.h"
#include "io.h"
#include "tessera/clock.h"
#include "tessera/user/user.h"

namespace tessera::cli {
namespace {

struct UserArgs {
  DataOptions data;
  std::string username;
  std::vector<std::string> roles;
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

// A password that passes the policy, hashed at the configured cost.
Result<std::string> NewPasswordHash(const Config& config, bool from_stdin) {
  TESSERA_ASSIGN_OR_RETURN(std::string password, ReadNewPassword(from_stdin));
  TESSERA_RETURN_IF_ERROR(crypto::CheckNewPassword(password));
  TESSERA_ASSIGN_OR_RETURN(auto hasher,
                           crypto::PasswordHasher::Create({config.password.argon2_memory_kib,
                                                           config.password.argon2_iterations}));
  return hasher.Hash(password);
}

int Add(const UserArgs& a) {
  auto config = LoadCliConfig(a.data);
  if (!config) return Fail(kExitUsage, config.error().message());
  auto name = user::CanonicalUsername(a.username);
  if (!name) return Fail(kExitUsage, name.error().message());
  for (const auto& role : a.roles) {
    if (Status s = user::CheckRoleName(role); !s.ok()) return Fail(kExitUsage, s.message());
  }
  auto users = OpenUserStore(*config);
  if (!users) return Fail(kExitUsage, users.error().message());
  auto existing = (*users)->FindByName(*name);
  if (!existing) return Fail(kExitDenied, existing.error().message());
  if (existing->has_value()) return Fail(kExitDenied, "user " + *name + " already exists");
  auto hash = NewPasswordHash(*config, a.password_stdin);
  if (!hash) return Fail(kExitUsage, hash.error().message());
  user::User u{.id = user::NewUserId(),
               .username = *name,
               .password_hash = *hash,
               .roles = a.roles,
               .created_at = SystemClock::Instance().NowSeconds()};
  if (Status s = (*users)->Add(u); !s.ok()) return Fail(kExitDenied, s.message());
  std::cout << "added user " << u.username << " (id " << u.id << ")\n";
  return kExitOk;
}

int List(const DataOptions& data) {
  auto config = LoadCliConfig(data);
  if (!config) return Fail(kExitUsage, config.error().message());
  auto users = OpenUserStore(*config);
  if (!users) return Fail(kExitUsage, users.error().message());
  auto all = (*users)->List();
  if (!all) return Fail(kExitDenied, all.error().message());
  std::printf("%-24s %-24s %-20s %s\n", "USERNAME", "ID", "CREATED", "ROLES");
  for (const auto& u : *all) {
    std::string roles;
    for (const auto& r : u.roles) roles += (roles.empty() ? "" : ",") + r;
    std::printf("%-24s %-24s %-20s %s\n", u.username.c_str(), u.id.c_str(),
                FormatTime(u.created_at).c_str(), roles.c_str());
  }
  return kExitOk;
}

// Finds the user and opens the session store too: removing an account or changing its password
// ends its sessions.
struct Target {
  Config config;
  std::unique_ptr<user::UserStore> users;
  std::unique_ptr<session::SessionStore> sessions;
  user::User user;
};

Result<Target> FindTarget(const UserArgs& a) {
  Target t;
  TESSERA_ASSIGN_OR_RETURN(t.config, LoadCliConfig(a.data));
  TESSERA_ASSIGN_OR_RETURN(std::string name, user::CanonicalUsername(a.username));
  TESSERA_ASSIGN_OR_RETURN(t.users, OpenUserStore(t.config));
  TESSERA_ASSIGN_OR_RETURN(t.sessions, OpenSessionStore(t.config));
  TESSERA_ASSIGN_OR_RETURN(std::optional<user::User> found, t.users->FindByName(name));
  if (!found) return Status(Code::kNotFound, Reason::kUnknownUser, "no user " + name);
  t.user = std::move(*found);
  return t;
}

int ExitFor(const Status& s) {
  return s.code() == Code::kInvalidArgument ? kExitUsage : kExitDenied;
}

int Remove(const UserArgs& a) {
  auto t = FindTarget(a);
  if (!t) return Fail(ExitFor(t.error()), t.error().message());
  // Sessions first, so no session outlives its account; then again, for a login that raced.
  auto ended = t->sessions->RemoveByUser(t->user.id, "");
  if (!ended) return Fail(kExitDenied, ended.error().message());
  if (Status s = t->users->Remove(t->user.username); !s.ok()) return Fail(kExitDenied, s.message());
  auto raced = t->sessions->RemoveByUser(t->user.id, "");
  if (!raced) return Fail(kExitDenied, raced.error().message());
  std::cout << "removed user " << t->user.username << " and ended "
            << ended->size() + raced->size() << " session(s)\n";
  return kExitOk;
}

int SetPassword(const UserArgs& a) {
  auto t = FindTarget(a);
  if (!t) return Fail(ExitFor(t.error()), t.error().message());
  auto hash = NewPasswordHash(t->config, a.password_stdin);
  if (!hash) return Fail(kExitUsage, hash.error().message());
  if (Status s = t->users->SetPasswordHash(t->user.id, *hash); !s.ok()) {
    return Fail(kExitDenied, s.message());
  }
  // A password reset is a security event: whoever held the old password loses their sessions.
  auto ended = t->sessions->RemoveByUser(t->user.id, "");
  if (!ended) return Fail(kExitDenied, ended.error().message());
  std::cout << "password changed for " << t->user.username << "; ended " << ended->size()
            << " session(s)\n";
  return kExitOk;
}

}  // namespace

void RegisterUser(CLI::App& app, Action* run) {
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
}

}  // namespace tessera::cli
