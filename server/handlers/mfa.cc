// The caller's second factor (user/mfa_service.h): GET /v1/me/totp says whether it is on,
// POST /v1/me/totp starts an enrolment,
// POST /v1/me/totp/confirm turns it on with a first code and answers the recovery codes (with the
// password too when the session signed in more than ten minutes ago),
// DELETE /v1/me/totp removes it (the password again, as for a password change). Turning the
// factor on or off ends every other session of the account. Secrets, codes and recovery codes
// appear only in the answers that hand them out (never stored by caches: no-store), never in the
// audit trail or a log.
#include <nlohmann/json.hpp>

#include "../responses.h"
#include "core/json.h"
#include "crypto/password.h"
#include "handlers.h"

namespace tessera::server::handlers {
namespace {

using nlohmann::json;

// The JSON object of a request body, or the 400/415 to answer.
std::optional<HttpResponse> ParseBody(const HttpRequest& request, json* out) {
  if (!IsJson(request.Header("Content-Type"))) {
    return Error(415, "invalid_request", "Content-Type must be application/json");
  }
  auto parsed = tessera::json::ParseStrict(request.body, {.max_bytes = 16 * 1024, .max_depth = 2});
  if (!parsed || !parsed->is_object()) {
    return Error(400, "invalid_request", "body must be a JSON object");
  }
  *out = std::move(*parsed);
  return std::nullopt;
}

json Who(Context& c, const HttpRequest& request, const Caller& caller) {
  json who = c.RequestFields(request);
  who["username"] = caller.user.username;
  who["sub"] = caller.user.id;
  return who;
}

// How recently the caller's session signed in for a factor to be turned on without the password.
constexpr int64_t kRecentSignInSeconds = 600;

// The caller's own session record (a bearer caller's is looked up by its handle); nullopt when
// it is gone (an idle-expired record behind a token that still runs).
Result<std::optional<session::Session>> OwnSession(Context& c, const Caller& caller) {
  if (!caller.bearer) return std::optional<session::Session>(caller.session);
  TESSERA_ASSIGN_OR_RETURN(std::vector<session::Session> list,
                           c.d.session_manager->List(caller.user.id));
  for (session::Session& s : list) {
    if (s.handle == caller.session.handle) return std::optional<session::Session>(std::move(s));
  }
  return std::optional<session::Session>();
}

}  // namespace

HttpResponse TotpStatus(Context& c, const HttpRequest& request) {
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, /*state_changing=*/false, &error);
  if (!caller) return error;
  auto t = c.d.users->GetTotp(caller->user.id);
  if (!t) return FromStatus(t.error());
  const bool on = t->has_value() && (*t)->confirmed;
  return Json(200, {{"enabled", on},
                    {"recovery_codes_left", on ? (*t)->recovery_hashes.size() : 0}});
}

HttpResponse BeginTotp(Context& c, const HttpRequest& request) {
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, /*state_changing=*/true, &error);
  if (!caller) return error;
  auto enrolment = c.d.mfa->Begin(caller->user);
  if (!enrolment) {
    if (enrolment.error().code() == Code::kAlreadyExists) {
      return Error(409, "conflict", enrolment.error().message());
    }
    return FromStatus(enrolment.error());
  }
  c.d.audit->Record("mfa.enrolment_started", Who(c, request, *caller));
  return NoStore(Json(200, {{"secret", enrolment->secret},
                            {"otpauth_uri", enrolment->otpauth_uri},
                            {"qr_svg", enrolment->qr_svg}}));
}

void ConfirmTotp(Context& c, const HttpRequest& request, Responder respond) {
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, /*state_changing=*/true, &error);
  if (!caller) return respond(std::move(error));
  json b;
  if (auto bad = ParseBody(request, &b)) return respond(std::move(*bad));
  if (!b.contains("code") || !b["code"].is_string()) {
    return respond(Error(400, "invalid_request", "code (a string of digits) is required"));
  }
  std::optional<std::string> password;
  if (b.contains("password")) {
    if (!b["password"].is_string() ||
        b["password"].get_ref<const std::string&>().size() > crypto::kMaxPasswordBytes) {
      return respond(Error(400, "invalid_request", "password must be a string"));
    }
    password = b["password"].get<std::string>();
  }
  json who = Who(c, request, *caller);
  const std::string ip = c.identity.ClientIp(request);
  // On the password pool: it may check the password (Argon2id), and it waits for the stores.
  auto work = [&c, caller = std::move(*caller), code = b["code"].get<std::string>(),
               password = std::move(password), who = std::move(who), ip, respond]() mutable {
    // Turning the factor on locks out whoever lacks it, so a session alone is not enough when it
    // is old: one signed in more than kRecentSignInSeconds ago (a stolen cookie, a computer left
    // unlocked) must give the password again (OWASP MFA cheat sheet: re-authenticate before
    // changing a factor).
    auto own = OwnSession(c, caller);
    if (!own) return respond(FromStatus(own.error()));
    const int64_t age = c.d.clock->NowSeconds() - (own->has_value() ? (*own)->created_at : 0);
    if (age > kRecentSignInSeconds || password) {
      if (!password) {
        return respond(Error(401, "reauthentication_required",
                             "this session signed in a while ago: send \"password\" too"));
      }
      user::User stored;
      if (auto refused = Reauthenticate(c, caller, *password, ip, who, "mfa.confirm", &stored)) {
        return respond(std::move(*refused));
      }
    }
    // Whoever else holds a session of the account signed in without this factor: they end once
    // the code is known to be right and before the factor is on (a failure there turns nothing
    // on; a wrong code ends nothing), and again after (a sign-in that raced).
    auto keep = OwnSessionIdHash(c, caller);
    if (!keep) return respond(FromStatus(keep.error()));
    size_t count = 0;
    auto codes = c.d.mfa->Confirm(caller.user, code, [&]() -> Status {
      auto ended = c.d.session_manager->RevokeAll(caller.user.id, *keep);
      if (!ended) return ended.error();
      count = ended->size();
      return Status::Ok();
    });
    if (!codes) {
      const Status& s = codes.error();
      if (s.code() == Code::kNotFound || s.code() == Code::kAlreadyExists) {
        return respond(Error(409, "conflict", s.message()));
      }
      if (s.code() == Code::kUnauthenticated) {
        json e = who;
        e["reason"] = "wrong_code";
        c.d.audit->Record("mfa.confirm_failed", std::move(e));
        return respond(
            Error(400, "invalid_code", "wrong code: check the authenticator's clock and retry"));
      }
      return respond(FromStatus(s));
    }
    // The factor is on: the codes are answered whatever follows (they exist nowhere else).
    if (auto raced = c.d.session_manager->RevokeAll(caller.user.id, *keep)) count += raced->size();
    json e = who;
    e["sessions_ended"] = count;
    c.d.audit->Record("mfa.enabled", std::move(e));
    respond(NoStore(Json(200, {{"recovery_codes", *codes}})));
  };
  if (!c.d.password_pool->TrySubmit(work)) respond(Busy());
}

void RemoveTotp(Context& c, const HttpRequest& request, Responder respond) {
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, /*state_changing=*/true, &error);
  if (!caller) return respond(std::move(error));
  json b;
  if (auto bad = ParseBody(request, &b)) return respond(std::move(*bad));
  if (!b.contains("password") || !b["password"].is_string() ||
      b["password"].get_ref<const std::string&>().size() > crypto::kMaxPasswordBytes) {
    return respond(Error(400, "invalid_request",
                         "password (a string of at most 1024 bytes) is required"));
  }
  json who = Who(c, request, *caller);
  const std::string ip = c.identity.ClientIp(request);
  auto work = [&c, caller = std::move(*caller), password = b["password"].get<std::string>(),
               who = std::move(who), ip, respond]() mutable {
    // As for a password change: a stolen session must not turn the factor off, and wrong
    // passwords count as failed sign-ins do.
    user::User stored;
    if (auto refused = Reauthenticate(c, caller, password, ip, who, "mfa.disable", &stored)) {
      return respond(std::move(*refused));
    }
    auto on = c.d.mfa->Enabled(caller.user.id);
    if (!on) return respond(FromStatus(on.error()));
    // Removed either way: an enrolment that waits is dropped too, but only a factor that was on
    // is "removed".
    auto removed = c.d.mfa->Remove(caller.user.id);
    if (!removed) return respond(FromStatus(removed.error()));
    if (!*on) return respond(Error(404, "not_found", "two-step verification is not on"));
    auto keep = OwnSessionIdHash(c, caller);
    if (!keep) return respond(FromStatus(keep.error()));
    auto ended = c.d.session_manager->RevokeAll(caller.user.id, *keep);
    if (!ended) return respond(FromStatus(ended.error()));
    json e = who;
    e["sessions_ended"] = ended->size();
    c.d.audit->Record("mfa.disabled", std::move(e));
    respond(NoContent());
  };
  if (!c.d.password_pool->TrySubmit(work)) respond(Busy());
}

}  // namespace tessera::server::handlers
