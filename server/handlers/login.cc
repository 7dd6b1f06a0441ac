// POST /v1/login (session and token mode) and its second step POST /v1/login/mfa, POST /v1/users
// (self-registration) and POST /v1/me/password (a signed-in user's own password). Each that
// hashes a password runs its work on the password pool and answers from there; the second step
// hashes none and runs on the store pool.
#include <nlohmann/json.hpp>

#include "../request_identity.h"
#include "../responses.h"
#include "core/json.h"
#include "crypto/hmac.h"
#include "crypto/password.h"
#include "handlers.h"
#include "tessera/user/user.h"

namespace tessera::server::handlers {
namespace {

using nlohmann::json;

// How an audit event names the account a sign-in attempt was for. A name that is no account is
// often a password typed into the wrong field, so it is recorded only as a keyed hash: equal
// attempts still correlate, and the log does not hold what was typed.
void NameAccount(const Context& c, json& event, std::string_view attempted, bool exists) {
  if (exists) {
    event["username"] = attempted;
    return;
  }
  uint8_t mac[32];
  c.audit_names->Compute(attempted, mac);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : std::string_view(reinterpret_cast<const char*>(mac), 16)) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  event["username_hmac"] = hex;
}

// What a sign-in answers once every factor it needs has passed: a cookie session (replacing the
// one the client came with, if any) or a token pair. `device.mfa` says whether a second factor
// passed. A client without a device cookie for `account` gets one with a cookie session.
HttpResponse CompleteSignIn(Context& c, const user::User& u, const session::DeviceInfo& device,
                            const json& who, bool token_mode, const std::string& previous,
                            bool known_device, const std::string& account) {
  if (token_mode) return TokenLogin(c, u, device, who);
  // A new secret on every login; the session the client came with (if any) ends.
  if (!previous.empty()) (void)c.d.session_manager->Revoke(previous);
  auto created = c.d.session_manager->Create(u.id, session::SessionKind::kCookie, device);
  if (!created) return LoginRefused(c, created.error(), who);
  LoginSucceeded(c, u, who, created->record, created->evicted, "session");
  const int64_t expires = c.d.session_manager->ExpiresAt(created->record);
  HttpResponse r = Json(200, {{"user", UserJson(u)},
                              {"session", {{"id", created->record.handle}, {"expires_at", expires}}},
                              {"csrf_token", created->csrf_token}});
  r.Set("Set-Cookie",
        c.SessionCookie(created->secret, c.d.session_manager->options().absolute_timeout_seconds));
  r.Set("X-Auth-Expires-At", std::to_string(expires));
  if (!known_device) r.Set("Set-Cookie", c.device_cookies.Issue(account));
  return r;
}

// The Cookie headers of `request`, kept for work that outlives it.
HttpRequest CookiesOf(const HttpRequest& request) {
  HttpRequest cookies;
  for (std::string_view h : request.Headers("Cookie")) cookies.headers.emplace_back("Cookie", h);
  return cookies;
}

HttpResponse InvalidTicket(std::string_view why) {
  return Error(401, "invalid_ticket", std::string(why) + ": sign in again");
}

}  // namespace

void Login(Context& c, const HttpRequest& request, Responder respond) {
  auto invalid = [&](HttpResponse r) {
    c.metrics.Login(LoginOutcome::kInvalid);  // refused before any password work
    respond(std::move(r));
  };
  if (auto refused = CheckUnauthenticatedPost(c, request)) return invalid(std::move(*refused));
  json b;
  if (auto bad = ParseCredentials(request, &b)) return invalid(std::move(*bad));
  std::string mode = "session";
  if (b.contains("mode")) {
    if (!b["mode"].is_string()) return invalid(Error(400, "invalid_request", "mode must be a string"));
    mode = b["mode"].get<std::string>();
  }
  if (mode != "session" && mode != "token") {
    return invalid(Error(400, "invalid_request", "mode must be \"session\" or \"token\""));
  }
  const bool token_mode = mode == "token";
  if (token_mode && !c.d.tokens) {
    return invalid(Error(400, "invalid_request", "token mode is not enabled on this server"));
  }
  session::DeviceInfo device{std::string(request.Header("User-Agent")),
                             c.identity.ClientIp(request)};
  const std::string previous(CookieValue(request, c.d.config->cookie.name));
  // The request does not outlive this call: the work keeps its Cookie headers, to check the
  // device cookie against the account once the name is in canonical form.
  HttpRequest cookies = CookiesOf(request);
  auto work = [&c, username = b["username"].get<std::string>(),
               password = b["password"].get<std::string>(), device = std::move(device), previous,
               cookies = std::move(cookies), token_mode, respond]() mutable {
    // Unknown user, malformed name and wrong password: the same work and the same answer.
    const HttpResponse denied = Error(401, "invalid_credentials", "wrong username or password");
    auto name = user::CanonicalUsername(username);
    // Throttling counts by name whether or not the account exists, so its answers tell nothing
    // about existence either.
    const std::string account = name ? *name : username.substr(0, 256);
    json who = {{"ip", device.ip}, {"user_agent", device.user_agent.substr(0, 256)}};
    auto unavailable = [&](const Status& s) {
      c.metrics.Login(LoginOutcome::kUnavailable);
      respond(FromStatus(s));
    };
    std::optional<user::User> found;
    if (name) {
      auto lookup = c.d.users->FindByName(*name);
      if (!lookup) return unavailable(lookup.error());
      found = std::move(*lookup);
    }
    NameAccount(c, who, account, found.has_value());
    // A client that signed in to this account before proves it with its device cookie and is
    // judged by its own budget, not the one strangers may have spent.
    const std::string known_device = c.device_cookies.DeviceFor(cookies, account);
    if (!known_device.empty()) who["device"] = "known";
    auto wait = c.d.throttle->Check(account, device.ip, known_device);
    if (!wait) return unavailable(wait.error());
    if (*wait > 0) {
      c.metrics.Login(LoginOutcome::kThrottled);
      json e = who;
      e["retry_after"] = *wait;
      c.d.audit->Record("login.throttled", std::move(e));
      return respond(TooManyAttempts(*wait));
    }
    auto reject = [&](std::string_view reason) {
      // A failure that cannot be counted must not become a free guess: fail closed.
      Status counted = c.d.throttle->RecordFailure(account, device.ip, known_device);
      if (!counted.ok()) return unavailable(counted);
      c.metrics.Login(LoginOutcome::kFailure);
      json e = who;
      e["reason"] = reason;
      c.d.audit->Record("login.failed", std::move(e));
      respond(denied);
    };
    if (!found) {
      c.d.hasher->DummyVerify(password);
      return reject("unknown_user");
    }
    auto outcome = c.d.hasher->Verify(found->password_hash, password);
    if (!outcome || !outcome->ok) return reject("wrong_password");
    // Judged only with the right password, so the reason tells nothing to whoever guesses; the
    // answer is the same as for a wrong one.
    if (found->disabled) return reject("disabled");
    if (outcome->needs_rehash) {
      // Upgrade an old or imported hash now that the password is known; a failure here only
      // postpones the upgrade to the next login.
      if (auto rehashed = c.d.hasher->Hash(password)) {
        if (c.d.users->SetPasswordHash(found->id, *rehashed).ok()) {
          c.d.audit->Record("password.rehashed",
                            {{"username", found->username}, {"sub", found->id}});
        }
      }
    }
    // An account with a second factor: the password alone opens nothing. The throttle's failure
    // count is not reset here (only a completed sign-in resets it), so a known password does not
    // buy fresh guesses at the code.
    auto second = c.d.mfa->Enabled(found->id);
    if (!second) return unavailable(second.error());
    if (*second) {
      auto ticket = c.d.mfa->IssueTicket(*found, token_mode ? "token" : "session");
      if (ticket) {
        c.metrics.Login(LoginOutcome::kMfaRequired);
        json e = who;
        e["mode"] = token_mode ? "token" : "session";
        c.d.audit->Record("login.mfa_required", std::move(e));
        return respond(NoStore(Json(401, {{"error", "mfa_required"},
                                          {"error_description", "a second factor is required"},
                                          {"mfa_ticket", *ticket},
                                          {"methods", {"totp", "recovery_code"}}})));
      }
      // Removed a moment ago (NotFound): the password is all the account asks for now.
      if (ticket.error().code() != Code::kNotFound) return unavailable(ticket.error());
    }
    (void)c.d.throttle->RecordSuccess(account, known_device);
    respond(CompleteSignIn(c, *found, device, who, token_mode, previous, !known_device.empty(),
                           account));
  };
  if (!c.d.password_pool->TrySubmit(work)) {
    c.metrics.Login(LoginOutcome::kBusy);
    respond(Busy());
  }
}

HttpResponse LoginMfa(Context& c, const HttpRequest& request) {
  auto invalid = [&](HttpResponse r) {
    c.metrics.Login(LoginOutcome::kInvalid);
    return r;
  };
  if (auto refused = CheckUnauthenticatedPost(c, request)) return invalid(std::move(*refused));
  auto parsed = tessera::json::ParseStrict(request.body, {.max_bytes = 16 * 1024, .max_depth = 2});
  if (!parsed || !parsed->is_object()) {
    return invalid(Error(400, "invalid_request", "body must be a JSON object"));
  }
  const json& b = *parsed;
  auto text = [&](const char* field) -> std::optional<std::string> {
    if (!b.contains(field) || !b[field].is_string()) return std::nullopt;
    return b[field].get<std::string>();
  };
  const auto ticket_text = text("mfa_ticket");
  const auto code = text("code");
  const auto recovery = text("recovery_code");
  if (!ticket_text || code.has_value() == recovery.has_value() ||
      (code ? *code : *recovery).size() > 64) {
    return invalid(Error(400, "invalid_request",
                         "mfa_ticket and either code or recovery_code (strings) are required"));
  }
  auto ticket = c.d.mfa->OpenTicket(*ticket_text);
  if (!ticket) {
    return invalid(InvalidTicket(ticket.error().reason() == Reason::kExpired
                                     ? "the sign-in ticket has expired"
                                     : "not a valid sign-in ticket"));
  }
  // The mode was chosen at the first step and is sealed in the ticket; a client that names the
  // other one here is refused rather than given what it did not ask for with the password.
  if (b.contains("mode") && (!b["mode"].is_string() || b["mode"] != ticket->mode)) {
    return invalid(InvalidTicket("this ticket is for a " + ticket->mode + " sign-in"));
  }
  const bool token_mode = ticket->mode == "token";
  if (token_mode && !c.d.tokens) return invalid(InvalidTicket("token mode is off"));
  session::DeviceInfo device{std::string(request.Header("User-Agent")),
                             c.identity.ClientIp(request)};
  json who = {{"ip", device.ip}, {"user_agent", device.user_agent.substr(0, 256)}};
  auto found = c.d.users->FindById(ticket->user_id);
  if (!found) {
    c.metrics.Login(LoginOutcome::kUnavailable);
    return FromStatus(found.error());
  }
  if (!found->has_value() || (*found)->disabled) {
    c.metrics.Login(LoginOutcome::kFailure);
    json e = who;
    e["sub"] = ticket->user_id;
    e["reason"] = found->has_value() ? "disabled" : "unknown_user";
    c.d.audit->Record("login.failed", std::move(e));
    return InvalidTicket("not a valid sign-in ticket");
  }
  const user::User& u = **found;
  const std::string& account = u.username;
  who["username"] = u.username;
  const std::string known_device = c.device_cookies.DeviceFor(request, account);
  if (!known_device.empty()) who["device"] = "known";
  // Codes are guessed like passwords: the same budgets, per account and per address.
  auto wait = c.d.throttle->Check(account, device.ip, known_device);
  if (!wait) {
    c.metrics.Login(LoginOutcome::kUnavailable);
    return FromStatus(wait.error());
  }
  if (*wait > 0) {
    c.metrics.Login(LoginOutcome::kThrottled);
    json e = who;
    e["retry_after"] = *wait;
    c.d.audit->Record("login.throttled", std::move(e));
    return TooManyAttempts(*wait);
  }
  auto outcome = c.d.mfa->Complete(*ticket, code ? *code : *recovery, recovery.has_value());
  if (!outcome) {
    c.metrics.Login(LoginOutcome::kUnavailable);
    return FromStatus(outcome.error());
  }
  using Outcome = user::MfaService::Outcome;
  if (*outcome == Outcome::kBadTicket) {
    // Used, replaced by a newer sign-in, expired: no guess was made, so none is counted.
    c.metrics.Login(LoginOutcome::kInvalid);
    return InvalidTicket("this sign-in ticket was used or replaced");
  }
  if (*outcome == Outcome::kWrongCode) {
    if (Status counted = c.d.throttle->RecordFailure(account, device.ip, known_device);
        !counted.ok()) {
      c.metrics.Login(LoginOutcome::kUnavailable);
      return FromStatus(counted);
    }
    c.metrics.Login(LoginOutcome::kFailure);
    json e = who;
    e["reason"] = recovery ? "wrong_recovery_code" : "wrong_code";
    c.d.audit->Record("login.failed", std::move(e));
    return Error(401, "invalid_credentials", "wrong code");
  }
  (void)c.d.throttle->RecordSuccess(account, known_device);
  if (recovery) {
    json e = who;
    e["sub"] = u.id;
    c.d.audit->Record("mfa.recovery_code_used", std::move(e));
  }
  who["mfa"] = recovery ? "recovery_code" : "totp";
  device.mfa = true;
  const std::string previous(CookieValue(request, c.d.config->cookie.name));
  return CompleteSignIn(c, u, device, who, token_mode, previous, !known_device.empty(), account);
}

void Register(Context& c, const HttpRequest& request, Responder respond) {
  auto refuse = [&](HttpResponse r) {
    c.metrics.Registration(false);
    respond(std::move(r));
  };
  if (!c.d.config->users.registration) {
    return refuse(Error(403, "forbidden", "registration is disabled on this server"));
  }
  if (auto refused = CheckUnauthenticatedPost(c, request)) return refuse(std::move(*refused));
  json b;
  if (auto bad = ParseCredentials(request, &b)) return refuse(std::move(*bad));
  auto name = user::CanonicalUsername(b["username"].get<std::string>());
  if (!name) return refuse(Error(400, "invalid_request", name.error().message()));
  std::string password = b["password"].get<std::string>();
  if (Status policy = crypto::CheckNewPassword(password, {.username = *name}); !policy.ok()) {
    return refuse(Error(400, "invalid_request", policy.message()));
  }
  const json who = c.RequestFields(request);
  auto work = [&c, name = *name, password = std::move(password), who, respond]() mutable {
    // The per-IP sign-in budget also bounds registrations, so the endpoint cannot be used to
    // test which names exist faster than sign-in could, nor to create accounts in bulk.
    const std::string ip = who["ip"].get<std::string>();
    auto wait = c.d.throttle->CheckIp(ip);
    if (!wait) return respond(FromStatus(wait.error()));
    if (*wait > 0) {
      c.metrics.Registration(false);
      return respond(TooManyAttempts(*wait));
    }
    if (Status counted = c.d.throttle->RecordIpAttempt(ip); !counted.ok()) {
      return respond(FromStatus(counted));
    }
    user::User u;
    if (auto refused = CreateAccount(c, name, password, {}, &u)) {
      c.metrics.Registration(false);
      return respond(std::move(*refused));
    }
    c.metrics.Registration(true);
    json e = who;
    e["username"] = u.username;
    e["sub"] = u.id;
    c.d.audit->Record("user.registered", std::move(e));
    respond(Json(201, {{"user", UserJson(u)}}));
  };
  if (!c.d.password_pool->TrySubmit(work)) refuse(Busy());
}

void ChangePassword(Context& c, const HttpRequest& request, Responder respond) {
  if (!IsJson(request.Header("Content-Type"))) {
    return respond(Error(415, "invalid_request", "Content-Type must be application/json"));
  }
  HttpResponse error;
  auto caller = c.auth.Authenticate(request, /*state_changing=*/true, &error);
  if (!caller) return respond(std::move(error));
  auto parsed = tessera::json::ParseStrict(request.body, {.max_bytes = 64 * 1024, .max_depth = 4});
  if (!parsed || !parsed->is_object()) {
    return respond(Error(400, "invalid_request", "body must be a JSON object"));
  }
  const json& b = *parsed;
  for (const char* field : {"current_password", "new_password"}) {
    if (!b.contains(field) || !b[field].is_string() ||
        b[field].get_ref<const std::string&>().size() > crypto::kMaxPasswordBytes) {
      return respond(Error(400, "invalid_request",
                           "current_password and new_password (strings of at most 1024 bytes) "
                           "are required"));
    }
  }
  std::string current = b["current_password"].get<std::string>();
  std::string fresh = b["new_password"].get<std::string>();
  // The policy first: it needs no hashing, and the caller is known already.
  if (Status policy = crypto::CheckNewPassword(fresh, {.username = caller->user.username});
      !policy.ok()) {
    return respond(Error(400, "invalid_request", policy.message()));
  }
  json who = c.RequestFields(request);
  who["username"] = caller->user.username;
  who["sub"] = caller->user.id;
  const std::string ip = c.identity.ClientIp(request);
  auto work = [&c, caller = std::move(*caller), current = std::move(current),
               fresh = std::move(fresh), who = std::move(who), ip, respond]() mutable {
    // A stolen session must not become a password change: a wrong current password counts
    // against the account and the address as a failed sign-in does.
    user::User u;
    if (auto refused = Reauthenticate(c, caller, current, ip, who, "password.change", &u)) {
      return respond(std::move(*refused));
    }
    // Every other session ends, cookie and token alike; the caller's stays.
    auto keep = OwnSessionIdHash(c, caller);
    if (!keep) return respond(FromStatus(keep.error()));
    auto ended = c.d.accounts->SetPassword(u, fresh, *keep);
    if (!ended) return respond(FromStatus(ended.error()));
    json e = who;
    e["sessions_ended"] = ended->size();
    c.d.audit->Record("password.changed", std::move(e));
    respond(NoContent());
  };
  if (!c.d.password_pool->TrySubmit(work)) respond(Busy());
}

}  // namespace tessera::server::handlers
