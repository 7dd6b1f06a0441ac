// The caller's own sessions: logout, who am I, the session list and ending sessions, and the
// forward-auth check that proxies ask on every request.
#include <nlohmann/json.hpp>

#include "../responses.h"
#include "core/blocking.h"
#include "handlers.h"

namespace tessera::server::handlers {

using nlohmann::json;

namespace {

json CallerEvent(const Context& c, const HttpRequest& r, const Caller& caller) {
  json e = c.RequestFields(r);
  e["username"] = caller.user.username;
  e["sub"] = caller.user.id;
  return e;
}

}  // namespace

HttpResponse Logout(Context& c, const HttpRequest& request) {
  const bool bearer = IsBearerAuthorization(request.Header("Authorization"));
  // Checked before anything else: even without a live session, a cross-site page must not be
  // able to make the browser drop its cookie (a forced sign-out). A bearer token is never sent by
  // a browser on its own, so a bearer logout needs no such check.
  if (!bearer && !c.identity.OriginAllowed(request)) {
    return Error(403, "csrf_failed", "cross-site request refused");
  }
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, /*state_changing=*/true, &error);
  if (bearer && !caller) return error;  // a bearer client learns its token was not accepted
  if (!caller && error.status != 401) return error;  // CSRF failure or store down
  if (caller) {
    // A bearer logout ends the token's session: its refresh family goes with it, and the sid
    // enters the revocation list (SessionManager's on_end, with the session's latest exp), so the
    // access token stops at once. The token in hand stops here first, whatever the store says.
    if (caller->bearer) {
      c.d.tokens->revocations().RevokeSession(caller->session.handle, caller->expires_at);
    }
    Status gone = caller->bearer
                      ? c.d.session_manager->RevokeHandle(caller->session.handle).status()
                      : c.d.session_manager->Revoke(caller->secret).status();
    if (!gone.ok()) return FromStatus(gone);
    json e = CallerEvent(c, request, *caller);
    e["session"] = caller->session.handle;
    e["auth"] = caller->bearer ? "bearer" : "session";
    c.d.audit->Record("logout", std::move(e));
  }
  if (bearer) return NoContent();
  // Logging out twice, or with a dead cookie, still ends with no cookie.
  HttpResponse r = NoContent();
  r.Set("Set-Cookie", c.SessionCookie("", 0));
  return r;
}

HttpResponse Me(Context& c, const HttpRequest& request) {
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, false, &error);
  if (!caller) return error;
  json j = UserJson(caller->user);
  j["sid"] = caller->session.handle;
  j["auth"] = caller->bearer ? "bearer" : "session";
  j["amr"] = caller->session.mfa ? json{"pwd", "otp"} : json{"pwd"};
  if (!caller->bearer) {
    // The page's script cannot read the HttpOnly cookie, so it learns the CSRF token here; a
    // cross-site page cannot read this answer (no CORS).
    j["csrf_token"] = session::SessionManager::CsrfTokenFor(caller->secret);
  }
  HttpResponse r = Json(200, j);
  r.Set("X-Auth-Expires-At", std::to_string(caller->expires_at));
  return r;
}

HttpResponse ListSessions(Context& c, const HttpRequest& request) {
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, false, &error);
  if (!caller) return error;
  auto list = c.d.session_manager->List(caller->user.id);
  if (!list) return FromStatus(list.error());
  HttpResponse r = Json(200, SessionListJson(*c.d.session_manager, *list, caller->session.handle));
  r.Set("X-Auth-Expires-At", std::to_string(caller->expires_at));
  return r;
}

HttpResponse RevokeSession(Context& c, const HttpRequest& request, std::string_view handle) {
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, true, &error);
  if (!caller) return error;
  auto gone = c.d.session_manager->RevokeByHandle(caller->user.id, handle);
  if (!gone) return FromStatus(gone.error());
  json e = CallerEvent(c, request, *caller);
  e["session"] = gone->handle;
  e["by"] = "user";
  c.d.audit->Record("session.revoked", std::move(e));
  HttpResponse r = NoContent();
  if (!caller->bearer && gone->handle == caller->session.handle) {
    r.Set("Set-Cookie", c.SessionCookie("", 0));
  }
  return r;
}

HttpResponse RevokeOtherSessions(Context& c, const HttpRequest& request) {
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, true, &error);
  if (!caller) return error;
  std::vector<session::Session> gone;
  if (!caller->bearer) {
    auto ended = c.d.session_manager->RevokeAll(caller->user.id, caller->session.id_hash);
    if (!ended) return FromStatus(ended.error());
    gone = std::move(*ended);
  } else {
    // The token names its session by handle; the store keeps sessions by id hash. When the
    // listing has the caller's session, one atomic store call ends the rest. When it does not
    // (its record is idle-expired while the token still runs), an empty "keep" would end the
    // caller's too, so the others are ended one by one, by handle, never the caller's.
    auto list = c.d.session_manager->List(caller->user.id);
    if (!list) return FromStatus(list.error());
    auto own = std::find_if(list->begin(), list->end(), [&](const session::Session& s) {
      return s.handle == caller->session.handle;
    });
    if (own != list->end()) {
      auto ended = c.d.session_manager->RevokeAll(caller->user.id, own->id_hash);
      if (!ended) return FromStatus(ended.error());
      gone = std::move(*ended);
    } else {
      for (const session::Session& s : *list) {
        auto ended = c.d.session_manager->RevokeByHandle(caller->user.id, s.handle);
        if (ended) {
          gone.push_back(std::move(*ended));
        } else if (ended.error().code() != Code::kNotFound) {
          return FromStatus(ended.error());
        }
      }
    }
  }
  for (const session::Session& s : gone) {
    json e = CallerEvent(c, request, *caller);
    e["session"] = s.handle;
    e["by"] = "user";
    c.d.audit->Record("session.revoked", std::move(e));
  }
  return Json(200, {{"revoked", gone.size()}});
}

namespace {

// What `GET /v1/auth?require=...` asks of the session beyond being valid. Only "mfa" exists; any
// other value of `require` is refused (400) rather than ignored, so a typo in a proxy's
// configuration shows at once instead of letting through what it meant to stop. Other parameters
// are not this endpoint's and are ignored, as before `require` existed.
struct Requirements {
  bool mfa = false;
};
std::optional<Requirements> ParseRequirements(std::string_view target) {
  Requirements out;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    if (item == "require=mfa") {
      out.mfa = true;
    } else if (item.starts_with("require=") || item == "require") {
      return std::nullopt;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

// The forward-auth answer for `request` under `requirements` (nullopt: they could not be read,
// and the answer is 400 with `refusal`).
HttpResponse CheckForwardAuth(Context& c, const HttpRequest& request,
                              const std::optional<Requirements>& requirements,
                              std::string_view refusal) {
  if (!requirements) {
    c.metrics.AuthCheck(AuthOutcome::kDenied);
    return Error(400, "invalid_request", refusal);
  }
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, false, &error);
  if (!caller) {
    // Abandoned on the I/O thread for a store read: counted when it runs again on the pool.
    if (!StoppedToBlock()) {
      c.metrics.AuthCheck(error.status == 503 ? AuthOutcome::kUnavailable : AuthOutcome::kDenied);
    }
    return error;
  }
  if (requirements->mfa && !caller->session.mfa) {
    c.metrics.AuthCheck(AuthOutcome::kDenied);
    return Error(403, "mfa_required", "this needs a sign-in with a second factor");
  }
  c.metrics.AuthCheck(AuthOutcome::kAllowed);
  std::string roles;
  for (const auto& role : caller->user.roles) {
    if (!roles.empty()) roles += ',';
    roles += role;
  }
  HttpResponse r;
  r.status = 200;
  r.headers.reserve(12);  // these six and the common ones (App::AddCommonHeaders)
  r.Set("X-Auth-User", caller->user.username);
  r.Set("X-Auth-Subject", caller->user.id);
  r.Set("X-Auth-Roles", std::move(roles));
  r.Set("X-Auth-Session", caller->session.handle);
  r.Set("X-Auth-Expires-At", std::to_string(caller->expires_at));
  r.Set("X-Auth-AMR", caller->session.mfa ? "pwd,otp" : "pwd");
  return r;
}

// X-Tessera-Require, which the path form needs exactly once: "none" or "mfa". Absent, repeated or
// anything else cannot be read, so that a proxy pointed at the path form by mistake (say
// `/v1/auth/?require=mfa`, whose query this form never reads) is refused, never let through
// without the check it meant to ask for.
std::optional<Requirements> HeaderRequirements(const HttpRequest& request) {
  const std::vector<std::string_view> values = request.Headers("X-Tessera-Require");
  if (values.size() != 1) return std::nullopt;
  if (values[0] == "none") return Requirements{};
  if (values[0] == "mfa") return Requirements{.mfa = true};
  return std::nullopt;
}

}  // namespace

HttpResponse ForwardAuth(Context& c, const HttpRequest& request) {
  return CheckForwardAuth(c, request, ParseRequirements(request.target),
                          "the only requirement /v1/auth knows is require=mfa");
}

HttpResponse ForwardAuthPathForm(Context& c, const HttpRequest& request) {
  return CheckForwardAuth(c, request, HeaderRequirements(request),
                          "the path form of /v1/auth needs X-Tessera-Require: none or mfa, once");
}

}  // namespace tessera::server::handlers
