// The caller's second factor (user/mfa_service.h): POST /v1/me/totp starts an enrolment,
// POST /v1/me/totp/confirm turns it on with a first code and answers the recovery codes,
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

}  // namespace

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

HttpResponse ConfirmTotp(Context& c, const HttpRequest& request) {
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, /*state_changing=*/true, &error);
  if (!caller) return error;
  json b;
  if (auto bad = ParseBody(request, &b)) return std::move(*bad);
  if (!b.contains("code") || !b["code"].is_string() ||
      b["code"].get_ref<const std::string&>().size() > 16) {
    return Error(400, "invalid_request", "code (a string of digits) is required");
  }
  auto codes = c.d.mfa->Confirm(caller->user, b["code"].get<std::string>());
  if (!codes) {
    const Status& s = codes.error();
    if (s.code() == Code::kNotFound || s.code() == Code::kAlreadyExists) {
      return Error(409, "conflict", s.message());
    }
    if (s.code() == Code::kUnauthenticated) {
      json e = Who(c, request, *caller);
      e["reason"] = "wrong_code";
      c.d.audit->Record("mfa.confirm_failed", std::move(e));
      return Error(400, "invalid_code", "wrong code: check the authenticator's clock and retry");
    }
    return FromStatus(s);
  }
  // Whoever else holds a session of the account signed in without this factor: they end.
  auto keep = OwnSessionIdHash(c, *caller);
  if (!keep) return FromStatus(keep.error());
  auto ended = c.d.session_manager->RevokeAll(caller->user.id, *keep);
  if (!ended) return FromStatus(ended.error());
  json e = Who(c, request, *caller);
  e["sessions_ended"] = ended->size();
  c.d.audit->Record("mfa.enabled", std::move(e));
  return NoStore(Json(200, {{"recovery_codes", *codes}}));
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
    const std::string& account = caller.user.username;
    auto wait = c.d.throttle->Check(account, ip, "");
    if (!wait) return respond(FromStatus(wait.error()));
    if (*wait > 0) return respond(TooManyAttempts(*wait));
    auto stored = c.d.users->FindById(caller.user.id);
    if (!stored) return respond(FromStatus(stored.error()));
    if (!stored->has_value()) return respond(Error(401, "invalid_token", "no such account"));
    auto outcome = c.d.hasher->Verify((*stored)->password_hash, password);
    if (!outcome || !outcome->ok) {
      if (Status counted = c.d.throttle->RecordFailure(account, ip, ""); !counted.ok()) {
        return respond(FromStatus(counted));
      }
      json e = who;
      e["reason"] = "wrong_password";
      c.d.audit->Record("mfa.disable_failed", std::move(e));
      return respond(Error(401, "invalid_credentials", "the password is wrong"));
    }
    (void)c.d.throttle->RecordSuccess(account, "");
    auto removed = c.d.mfa->Remove(caller.user.id);
    if (!removed) return respond(FromStatus(removed.error()));
    if (!*removed) return respond(Error(404, "not_found", "two-step verification is not on"));
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
