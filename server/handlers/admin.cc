// The administrators' endpoints (role admin): create, list, change (roles, disabled), reset the
// password or the second factor of and delete accounts; list and end a user's sessions.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "../responses.h"
#include "core/json.h"
#include "crypto/password.h"
#include "handlers.h"
#include "tessera/user/user.h"

namespace tessera::server::handlers {
namespace {

using nlohmann::json;

// Percent-decodes a path segment (RFC 3986 section 2.1); nullopt on a malformed escape or an
// encoded '/' or NUL, which no username contains.
std::optional<std::string> DecodeSegment(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '/' || c == '\0') return std::nullopt;
    out.push_back(c);
    i += 2;
  }
  return out;
}

// The "roles" member of an admin request: an array of valid role names, duplicates dropped, order
// kept. A 400 when it is anything else.
std::optional<HttpResponse> ParseRoles(const json& value, std::vector<std::string>* roles) {
  if (!value.is_array()) return Error(400, "invalid_request", "roles must be an array of strings");
  for (const json& r : value) {
    if (!r.is_string()) return Error(400, "invalid_request", "roles must be an array of strings");
    const std::string role = r.get<std::string>();
    if (Status ok = user::CheckRoleName(role); !ok.ok()) {
      return Error(400, "invalid_request", ok.message());
    }
    if (std::find(roles->begin(), roles->end(), role) == roles->end()) roles->push_back(role);
  }
  if (Status ok = user::CheckRoles(*roles); !ok.ok()) {
    return Error(400, "invalid_request", ok.message());
  }
  return std::nullopt;
}

// The account a path segment names; a 400 for a malformed segment, 404 when there is none.
std::optional<HttpResponse> FindTarget(Context& c, std::string_view encoded, user::User* out) {
  auto raw = DecodeSegment(encoded);
  if (!raw) return Error(400, "invalid_request", "malformed username in the path");
  auto name = user::CanonicalUsername(*raw);
  if (!name) return Error(404, "not_found", "no such user");
  auto target = c.d.users->FindByName(*name);
  if (!target) return FromStatus(target.error());
  if (!target->has_value()) return Error(404, "not_found", "no such user");
  *out = std::move(**target);
  return std::nullopt;
}

json AdminUserJson(const user::User& u) {
  json j = UserJson(u);
  j["disabled"] = u.disabled;
  return j;
}

}  // namespace

void AdminCreateUser(Context& c, const HttpRequest& request, Responder respond) {
  if (!IsJson(request.Header("Content-Type"))) {
    return respond(Error(415, "invalid_request", "Content-Type must be application/json"));
  }
  HttpResponse error;
  auto admin = c.auth.AuthenticateAdmin(request, /*state_changing=*/true, &error);
  if (!admin) return respond(std::move(error));
  json b;
  if (auto bad = ParseCredentials(request, &b)) return respond(std::move(*bad));
  auto name = user::CanonicalUsername(b["username"].get<std::string>());
  if (!name) return respond(Error(400, "invalid_request", name.error().message()));
  std::vector<std::string> roles;
  if (b.contains("roles")) {
    if (auto bad = ParseRoles(b["roles"], &roles)) return respond(std::move(*bad));
  }
  std::string password = b["password"].get<std::string>();
  if (Status policy = crypto::CheckNewPassword(password, {.username = *name}); !policy.ok()) {
    return respond(Error(400, "invalid_request", policy.message()));
  }
  json who = c.RequestFields(request);
  who["by"] = admin->user.username;
  auto work = [&c, name = *name, roles = std::move(roles), password = std::move(password),
               who = std::move(who), respond]() mutable {
    user::User u;
    if (auto refused = CreateAccount(c, name, password, std::move(roles), &u)) {
      return respond(std::move(*refused));
    }
    json e = who;
    e["username"] = u.username;
    e["sub"] = u.id;
    e["roles"] = u.roles;
    c.d.audit->Record("admin.user_created", std::move(e));
    respond(Json(201, {{"user", UserJson(u)}}));
  };
  if (!c.d.password_pool->TrySubmit(work)) respond(Busy());
}

HttpResponse AdminListUsers(Context& c, const HttpRequest& request) {
  HttpResponse error;
  auto admin = c.auth.AuthenticateAdmin(request, false, &error);
  if (!admin) return error;
  auto users = c.d.users->List();
  if (!users) return FromStatus(users.error());
  json out = json::array();
  for (const user::User& u : *users) {
    json j = AdminUserJson(u);
    j["created_at"] = u.created_at;
    out.push_back(std::move(j));
  }
  return Json(200, out);
}

HttpResponse AdminUserSessions(Context& c, const HttpRequest& request, std::string_view encoded,
                               bool revoke) {
  HttpResponse error;
  auto admin = c.auth.AuthenticateAdmin(request, /*state_changing=*/revoke, &error);
  if (!admin) return error;
  user::User u;
  if (auto missing = FindTarget(c, encoded, &u)) return std::move(*missing);
  if (!revoke) {
    auto list = c.d.session_manager->List(u.id);
    if (!list) return FromStatus(list.error());
    return Json(200, SessionListJson(*c.d.session_manager, *list, admin->session.handle));
  }
  // Every session of the user, the admin's own included when they revoke themselves.
  auto gone = c.d.session_manager->RevokeAll(u.id, /*keep_id_hash=*/"");
  if (!gone) return FromStatus(gone.error());
  json e = c.RequestFields(request);
  e["username"] = u.username;
  e["sub"] = u.id;
  e["by"] = admin->user.username;
  e["revoked"] = gone->size();
  json handles = json::array();
  for (const auto& s : *gone) handles.push_back(s.handle);
  e["sessions"] = std::move(handles);
  c.d.audit->Record("admin.sessions_revoked", std::move(e));
  HttpResponse r = Json(200, {{"revoked", gone->size()}});
  const bool self = !admin->bearer &&
                    std::any_of(gone->begin(), gone->end(), [&](const session::Session& s) {
                      return s.handle == admin->session.handle;
                    });
  if (self) r.Set("Set-Cookie", c.SessionCookie("", 0));
  return r;
}

HttpResponse AdminUpdateUser(Context& c, const HttpRequest& request, std::string_view encoded) {
  if (!IsJson(request.Header("Content-Type"))) {
    return Error(415, "invalid_request", "Content-Type must be application/json");
  }
  HttpResponse error;
  auto admin = c.auth.AuthenticateAdmin(request, /*state_changing=*/true, &error);
  if (!admin) return error;
  auto parsed = tessera::json::ParseStrict(request.body, {.max_bytes = 64 * 1024, .max_depth = 4});
  if (!parsed || !parsed->is_object()) {
    return Error(400, "invalid_request", "body must be a JSON object");
  }
  const json& b = *parsed;
  for (const auto& [key, value] : b.items()) {
    if (key != "roles" && key != "disabled") {
      return Error(400, "invalid_request", "unknown member " + key.substr(0, 64));
    }
  }
  if (b.empty()) return Error(400, "invalid_request", "give roles, disabled or both");
  std::optional<std::vector<std::string>> roles;
  if (b.contains("roles")) {
    roles.emplace();
    if (auto bad = ParseRoles(b["roles"], &*roles)) return std::move(*bad);
  }
  std::optional<bool> disabled;
  if (b.contains("disabled")) {
    if (!b["disabled"].is_boolean()) return Error(400, "invalid_request", "disabled must be a boolean");
    disabled = b["disabled"].get<bool>();
  }
  user::User u;
  if (auto missing = FindTarget(c, encoded, &u)) return std::move(*missing);
  // An administrator cannot lock themselves out: the last admin doing so would leave nobody able
  // to undo it but a shell on the server.
  if (u.id == admin->user.id) {
    if (roles && std::find(roles->begin(), roles->end(), "admin") == roles->end()) {
      return Error(409, "self_lockout", "you cannot remove your own admin role");
    }
    if (disabled.value_or(false)) {
      return Error(409, "self_lockout", "you cannot disable your own account");
    }
  }
  json e = c.RequestFields(request);
  e["username"] = u.username;
  e["sub"] = u.id;
  e["by"] = admin->user.username;
  if (roles) {
    auto changed = c.d.accounts->SetRoles(u.username, std::move(*roles));
    if (!changed) return FromStatus(changed.error());
    u = std::move(*changed);
    e["roles"] = u.roles;
  }
  if (disabled) {
    // Disabling ends every session of the account, with its access tokens, on every instance.
    auto changed = c.d.accounts->SetDisabled(u.username, *disabled);
    if (!changed) return FromStatus(changed.error());
    u = std::move(changed->user);
    e["disabled"] = u.disabled;
    e["sessions_ended"] = changed->ended.size();
  }
  c.d.audit->Record("admin.user_updated", std::move(e));
  return Json(200, {{"user", AdminUserJson(u)}});
}

void AdminResetPassword(Context& c, const HttpRequest& request, std::string_view encoded,
                        Responder respond) {
  if (!IsJson(request.Header("Content-Type"))) {
    return respond(Error(415, "invalid_request", "Content-Type must be application/json"));
  }
  HttpResponse error;
  auto admin = c.auth.AuthenticateAdmin(request, /*state_changing=*/true, &error);
  if (!admin) return respond(std::move(error));
  auto parsed = tessera::json::ParseStrict(request.body, {.max_bytes = 64 * 1024, .max_depth = 4});
  if (!parsed || !parsed->is_object() || parsed->size() != 1 || !parsed->contains("password") ||
      !(*parsed)["password"].is_string() ||
      (*parsed)["password"].get_ref<const std::string&>().size() > crypto::kMaxPasswordBytes) {
    return respond(Error(400, "invalid_request", "the body must be {\"password\": string}"));
  }
  user::User u;
  if (auto missing = FindTarget(c, encoded, &u)) return respond(std::move(*missing));
  std::string password = (*parsed)["password"].get<std::string>();
  if (Status policy = crypto::CheckNewPassword(password, {.username = u.username}); !policy.ok()) {
    return respond(Error(400, "invalid_request", policy.message()));
  }
  json e = c.RequestFields(request);
  e["username"] = u.username;
  e["sub"] = u.id;
  e["by"] = admin->user.username;
  const bool self = u.id == admin->user.id;
  auto work = [&c, u = std::move(u), password = std::move(password), e = std::move(e), self,
               respond]() mutable {
    // Whoever held the old password loses every session, the admin's own included when it is
    // their account.
    auto ended = c.d.accounts->SetPassword(u, password, "");
    if (!ended) return respond(FromStatus(ended.error()));
    e["sessions_ended"] = ended->size();
    c.d.audit->Record("admin.password_reset", std::move(e));
    HttpResponse r = NoContent();
    if (self) r.Set("Set-Cookie", c.SessionCookie("", 0));
    respond(std::move(r));
  };
  if (!c.d.password_pool->TrySubmit(work)) respond(Busy());
}

HttpResponse AdminDeleteUser(Context& c, const HttpRequest& request, std::string_view encoded) {
  HttpResponse error;
  auto admin = c.auth.AuthenticateAdmin(request, /*state_changing=*/true, &error);
  if (!admin) return error;
  user::User u;
  if (auto missing = FindTarget(c, encoded, &u)) return std::move(*missing);
  if (u.id == admin->user.id) {
    return Error(409, "self_lockout", "you cannot delete your own account");
  }
  // Every session of the account ends, before and after the removal (a sign-in that raced).
  auto removed = c.d.accounts->Remove(u.username);
  if (!removed) return FromStatus(removed.error());
  json e = c.RequestFields(request);
  e["username"] = u.username;
  e["sub"] = u.id;
  e["by"] = admin->user.username;
  e["sessions_ended"] = removed->ended.size();
  c.d.audit->Record("admin.user_deleted", std::move(e));
  return NoContent();
}

HttpResponse AdminResetMfa(Context& c, const HttpRequest& request, std::string_view encoded) {
  HttpResponse error;
  auto admin = c.auth.AuthenticateAdmin(request, /*state_changing=*/true, &error);
  if (!admin) return error;
  user::User u;
  if (auto missing = FindTarget(c, encoded, &u)) return std::move(*missing);
  auto reset = c.d.accounts->ResetMfa(u.username);
  if (!reset) return FromStatus(reset.error());
  json e = c.RequestFields(request);
  e["username"] = u.username;
  e["sub"] = u.id;
  e["by"] = admin->user.username;
  e["had_factor"] = reset->removed;
  e["sessions_ended"] = reset->ended.size();
  c.d.audit->Record("admin.mfa_reset", std::move(e));
  return NoContent();
}

}  // namespace tessera::server::handlers
