#include <nlohmann/json.hpp>

#include "../responses.h"
#include "core/json.h"
#include "handlers.h"

namespace tessera::server::handlers {

using nlohmann::json;

json UserJson(const user::User& u) {
  return {{"sub", u.id}, {"username", u.username}, {"roles", u.roles}};
}

json SessionListJson(const session::SessionManager& m, const std::vector<session::Session>& list,
                     std::string_view current_handle) {
  json out = json::array();
  for (const session::Session& s : list) {
    out.push_back({{"id", s.handle},
                   {"created_at", s.created_at},
                   {"last_seen_at", s.last_seen_at},
                   {"expires_at", m.ExpiresAt(s)},
                   {"user_agent", s.user_agent},
                   {"ip", s.ip},
                   {"kind", s.kind == session::SessionKind::kCookie ? "session" : "token"},
                   {"current", s.handle == current_handle}});
  }
  return out;
}

HttpResponse TooManyAttempts(int64_t wait_seconds) {
  HttpResponse r = Error(429, "too_many_attempts",
                         "too many attempts; try again in " + std::to_string(wait_seconds) + " s");
  r.Set("Retry-After", std::to_string(wait_seconds));
  return r;
}

HttpResponse Busy() {
  HttpResponse busy = Error(503, "unavailable", "too many sign-ins in progress; retry shortly");
  busy.Set("Retry-After", "1");
  return busy;
}

HttpResponse NoStore(HttpResponse r) {
  r.Set("Pragma", "no-cache");
  return r;
}

std::optional<HttpResponse> ParseCredentials(const HttpRequest& request, json* body) {
  auto parsed = tessera::json::ParseStrict(request.body, {.max_bytes = 64 * 1024, .max_depth = 16});
  if (!parsed || !parsed->is_object()) {
    return Error(400, "invalid_request", "body must be a JSON object");
  }
  const json& b = *parsed;
  if (!b.contains("username") || !b["username"].is_string() || !b.contains("password") ||
      !b["password"].is_string()) {
    return Error(400, "invalid_request", "username and password (strings) are required");
  }
  if (b["password"].get_ref<const std::string&>().size() > crypto::kMaxPasswordBytes) {
    return Error(400, "invalid_request", "password longer than 1024 bytes");
  }
  *body = std::move(*parsed);
  return std::nullopt;
}

std::optional<HttpResponse> CheckUnauthenticatedPost(const Context& c, const HttpRequest& r) {
  // A form post cannot send application/json without a CORS preflight (which tessera never
  // grants), so requiring it stops login CSRF from plain HTML forms; the Origin check stops
  // the rest (OWASP CSRF cheat sheet; docs/security.md CS-04, CS-05).
  if (!IsJson(r.Header("Content-Type"))) {
    return Error(415, "invalid_request", "Content-Type must be application/json");
  }
  if (!c.identity.OriginAllowed(r)) return Error(403, "csrf_failed", "cross-site request refused");
  return std::nullopt;
}

std::optional<HttpResponse> CreateAccount(Context& c, const std::string& name,
                                          const std::string& password,
                                          std::vector<std::string> roles, user::User* out) {
  auto created = c.d.accounts->Create(name, password, std::move(roles));
  if (!created) {
    if (created.error().code() == Code::kAlreadyExists) {
      return Error(409, "username_taken", "that username is taken");
    }
    if (created.error().code() == Code::kInvalidArgument) {
      return Error(400, "invalid_request", created.error().message());
    }
    return FromStatus(created.error());
  }
  *out = std::move(*created);
  return std::nullopt;
}

HttpResponse LoginRefused(Context& c, const Status& s, const json& who) {
  if (s.code() == Code::kUnavailable) {
    c.metrics.Login(LoginOutcome::kUnavailable);
    return FromStatus(s);
  }
  c.metrics.Login(LoginOutcome::kFailure);
  json e = who;
  e["reason"] = "session_limit";
  c.d.audit->Record("login.failed", std::move(e));
  return FromStatus(s);
}

void LoginSucceeded(Context& c, const user::User& u, const json& who, const session::Session& s,
                    const std::vector<session::Session>& evicted, std::string_view mode) {
  c.metrics.Login(LoginOutcome::kSuccess);
  c.metrics.SessionStarted();  // the evicted ones end through the manager's on_end
  for (const session::Session& gone : evicted) {
    c.d.audit->Record("session.revoked", {{"username", u.username},
                                          {"sub", u.id},
                                          {"session", gone.handle},
                                          {"by", "session_limit"}});
  }
  json e = who;
  e["username"] = u.username;
  e["sub"] = u.id;
  e["session"] = s.handle;
  e["mode"] = mode;
  c.d.audit->Record("login.succeeded", std::move(e));
}

std::optional<HttpResponse> Reauthenticate(Context& c, const Caller& caller,
                                           std::string_view password, const std::string& ip,
                                           const json& who, std::string_view event,
                                           user::User* account) {
  const std::string& name = caller.user.username;
  auto wait = c.d.throttle->Check(name, ip, "");
  if (!wait) return FromStatus(wait.error());
  if (*wait > 0) {
    json e = who;
    e["retry_after"] = *wait;
    c.d.audit->Record(std::string(event) + "_throttled", std::move(e));
    return TooManyAttempts(*wait);
  }
  // The stored hash, not a cached copy: another instance may have changed it a moment ago.
  auto stored = c.d.users->FindById(caller.user.id);
  if (!stored) return FromStatus(stored.error());
  if (!stored->has_value()) return Error(401, "invalid_token", "no such account");
  auto outcome = c.d.hasher->Verify((*stored)->password_hash, password);
  if (!outcome || !outcome->ok) {
    if (Status counted = c.d.throttle->RecordFailure(name, ip, ""); !counted.ok()) {
      return FromStatus(counted);
    }
    json e = who;
    e["reason"] = "wrong_password";
    c.d.audit->Record(std::string(event) + "_failed", std::move(e));
    return Error(401, "invalid_credentials", "the password is wrong");
  }
  (void)c.d.throttle->RecordSuccess(name, "");
  *account = std::move(**stored);
  return std::nullopt;
}

Result<std::string> OwnSessionIdHash(Context& c, const Caller& caller) {
  if (!caller.bearer) return caller.session.id_hash;
  // A bearer caller names its session by handle: its id hash comes from the listing (absent when
  // its record has idle-expired while the token runs, and then nothing is kept).
  TESSERA_ASSIGN_OR_RETURN(std::vector<session::Session> list,
                           c.d.session_manager->List(caller.user.id));
  for (const session::Session& s : list) {
    if (s.handle == caller.session.handle) return s.id_hash;
  }
  return std::string("-");  // no session has this id hash: keep none
}

}  // namespace tessera::server::handlers
