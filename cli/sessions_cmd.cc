// tessera sessions list [--user USERNAME] | revoke SESSION_ID | revoke-all USERNAME.
// SESSION_ID is the public handle that listings show, never a cookie value.
#include <cstdio>
#include <iostream>
#include <map>

#include "commands.h"
#include "context.h"
#include "io.h"
#include "tessera/clock.h"
#include "tessera/session/session_manager.h"
#include "tessera/user/user.h"

namespace tessera::cli {
namespace {

using nlohmann::json;

struct SessionsArgs {
  DataOptions data;
  std::string username;
  std::string handle;
};

struct Opened {
  Config config;
  std::unique_ptr<user::UserStore> users;
  std::unique_ptr<session::SessionStore> sessions;
};

Result<Opened> Open(const DataOptions& data) {
  Opened o;
  TESSERA_ASSIGN_OR_RETURN(o.config, LoadCliConfig(data));
  if (o.config.session.store == "memory") {
    return InvalidArgument(Reason::kBadConfig, "session.store = \"memory\": sessions live in the "
                                          "server's memory, out of this command's reach");
  }
  TESSERA_ASSIGN_OR_RETURN(o.users, OpenUserStore(o.config));
  TESSERA_ASSIGN_OR_RETURN(o.sessions, OpenSessionStore(o.config));
  return o;
}

Result<std::string> UserId(user::UserStore& users, const std::string& username) {
  TESSERA_ASSIGN_OR_RETURN(std::string name, user::CanonicalUsername(username));
  TESSERA_ASSIGN_OR_RETURN(std::optional<user::User> u, users.FindByName(name));
  if (!u) return Status(Code::kNotFound, Reason::kUnknownUser, "no user " + name);
  return u->id;
}

int ExitFor(const Status& s) { return s.code() == Code::kInvalidArgument ? kExitUsage : kExitDenied; }

int List(const SessionsArgs& a) {
  auto o = Open(a.data);
  if (!o) return Fail(ExitFor(o.error()), o.error().message());
  Result<std::vector<session::Session>> list = Status(Code::kInternal, Reason::kNone, "");
  if (a.username.empty()) {
    list = o->sessions->ListAll(100000);
  } else {
    auto id = UserId(*o->users, a.username);
    if (!id) return Fail(ExitFor(id.error()), id.error().message());
    list = o->sessions->ListByUser(*id);
  }
  if (!list) return Fail(kExitDenied, list.error().message());
  auto users = o->users->List();
  if (!users) return Fail(kExitDenied, users.error().message());
  std::map<std::string, std::string> names;
  for (const auto& u : *users) names[u.id] = u.username;
  const int64_t now = SystemClock::Instance().NowSeconds();
  const int64_t idle = o->config.session.idle_timeout.count();
  std::printf("%-22s %-16s %-6s %-20s %-20s %-20s %-15s %s\n", "SESSION_ID", "USER", "KIND",
              "CREATED", "LAST_SEEN", "EXPIRES", "IP", "USER_AGENT");
  for (const auto& s : *list) {
    const int64_t expires = std::min(s.expires_at, s.last_seen_at + idle);
    if (expires <= now) continue;  // expired, waiting to be purged
    std::printf("%-22s %-16s %-6s %-20s %-20s %-20s %-15s %s\n", s.handle.c_str(),
                names.count(s.user_id) ? names[s.user_id].c_str() : "?",
                s.kind == session::SessionKind::kCookie ? "cookie" : "token",
                FormatTime(s.created_at).c_str(), FormatTime(s.last_seen_at).c_str(),
                FormatTime(expires).c_str(), s.ip.c_str(), s.user_agent.c_str());
  }
  return kExitOk;
}

int Revoke(const SessionsArgs& a) {
  auto o = Open(a.data);
  if (!o) return Fail(ExitFor(o.error()), o.error().message());
  auto gone = o->sessions->RemoveByHandle(a.handle);
  if (!gone) return Fail(kExitDenied, gone.error().message());
  if (!gone->has_value()) return Fail(kExitDenied, "no session " + a.handle);
  OpenCliAudit(o->config)->Record("session.revoked", {{"sub", (*gone)->user_id},
                                                      {"session", a.handle},
                                                      {"by", "cli"}});
  std::cout << "revoked session " << a.handle << '\n';
  return kExitOk;
}

int RevokeAll(const SessionsArgs& a) {
  auto o = Open(a.data);
  if (!o) return Fail(ExitFor(o.error()), o.error().message());
  auto id = UserId(*o->users, a.username);
  if (!id) return Fail(ExitFor(id.error()), id.error().message());
  auto gone = o->sessions->RemoveByUser(*id, "");
  if (!gone) return Fail(kExitDenied, gone.error().message());
  json handles = json::array();
  for (const auto& s : *gone) handles.push_back(s.handle);
  OpenCliAudit(o->config)->Record("admin.sessions_revoked",
                                  {{"username", *user::CanonicalUsername(a.username)},
                                   {"sub", *id},
                                   {"by", "cli"},
                                   {"revoked", gone->size()},
                                   {"sessions", std::move(handles)}});
  std::cout << "revoked " << gone->size() << " session(s)\n";
  return kExitOk;
}

}  // namespace

void RegisterSessions(CLI::App& app, Action* run) {
  CLI::App* cmd = app.add_subcommand("sessions", "List and revoke sessions");
  cmd->require_subcommand(1);

  auto list = std::make_shared<SessionsArgs>();
  CLI::App* list_cmd = cmd->add_subcommand("list", "List live sessions");
  AddDataOptions(list_cmd, &list->data);
  list_cmd->add_option("--user", list->username, "Only this user's sessions");
  list_cmd->callback([run, list] { *run = [list] { return List(*list); }; });

  auto revoke = std::make_shared<SessionsArgs>();
  CLI::App* revoke_cmd = cmd->add_subcommand("revoke", "End one session");
  AddDataOptions(revoke_cmd, &revoke->data);
  AddIdArgument(revoke_cmd, &revoke->handle, "session_id", "SESSION_ID from `sessions list`");
  revoke_cmd->callback([run, revoke] { *run = [revoke] { return Revoke(*revoke); }; });

  auto all = std::make_shared<SessionsArgs>();
  CLI::App* all_cmd = cmd->add_subcommand("revoke-all", "End every session of a user");
  AddDataOptions(all_cmd, &all->data);
  all_cmd->add_option("username", all->username, "User name")->required();
  all_cmd->callback([run, all] { *run = [all] { return RevokeAll(*all); }; });
}

}  // namespace tessera::cli
