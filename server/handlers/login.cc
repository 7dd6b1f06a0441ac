// POST /v1/login (session and token mode), POST /v1/users (self-registration) and
// POST /v1/me/password (a signed-in user's own password). Each hashes a password, so each runs
// its work on the password pool and answers from there.
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
  HttpRequest cookies;
  for (std::string_view h : request.Headers("Cookie")) cookies.headers.emplace_back("Cookie", h);
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
    (void)c.d.throttle->RecordSuccess(account, known_device);
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
    if (token_mode) return respond(TokenLogin(c, *found, device, who));
    // A new secret on every login; the session the client came with (if any) ends.
    if (!previous.empty()) (void)c.d.session_manager->Revoke(previous);
    auto created = c.d.session_manager->Create(found->id, session::SessionKind::kCookie, device);
    if (!created) return respond(LoginRefused(c, created.error(), who));
    LoginSucceeded(c, *found, who, created->record, created->evicted, "session");
    const int64_t expires = c.d.session_manager->ExpiresAt(created->record);
    HttpResponse r = Json(200, {{"user", UserJson(*found)},
                                {"session", {{"id", created->record.handle}, {"expires_at", expires}}},
                                {"csrf_token", created->csrf_token}});
    r.Set("Set-Cookie",
          c.SessionCookie(created->secret, c.d.session_manager->options().absolute_timeout_seconds));
    r.Set("X-Auth-Expires-At", std::to_string(expires));
    if (known_device.empty()) r.Set("Set-Cookie", c.device_cookies.Issue(account));
    respond(std::move(r));
  };
  if (!c.d.password_pool->TrySubmit(work)) {
    c.metrics.Login(LoginOutcome::kBusy);
    respond(Busy());
  }
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
    const std::string& account = caller.user.username;
    // A stolen session must not become a password change: a wrong current password counts
    // against the account and the address as a failed sign-in does.
    auto wait = c.d.throttle->Check(account, ip, "");
    if (!wait) return respond(FromStatus(wait.error()));
    if (*wait > 0) {
      json e = who;
      e["retry_after"] = *wait;
      c.d.audit->Record("password.change_throttled", std::move(e));
      return respond(TooManyAttempts(*wait));
    }
    // The stored hash, not a cached copy: another instance may have changed it a moment ago.
    auto stored = c.d.users->FindById(caller.user.id);
    if (!stored) return respond(FromStatus(stored.error()));
    if (!stored->has_value()) return respond(Error(401, "invalid_token", "no such account"));
    const user::User& u = **stored;
    auto outcome = c.d.hasher->Verify(u.password_hash, current);
    if (!outcome || !outcome->ok) {
      if (Status counted = c.d.throttle->RecordFailure(account, ip, ""); !counted.ok()) {
        return respond(FromStatus(counted));
      }
      json e = who;
      e["reason"] = "wrong_password";
      c.d.audit->Record("password.change_failed", std::move(e));
      return respond(Error(401, "invalid_credentials", "the current password is wrong"));
    }
    (void)c.d.throttle->RecordSuccess(account, "");
    // Every other session ends, cookie and token alike; the caller's stays. A bearer caller names
    // its session by handle: its id hash comes from the listing (absent when its record has
    // idle-expired while the token runs, and then nothing is kept).
    std::string keep = caller.session.id_hash;
    if (caller.bearer) {
      keep.clear();
      auto list = c.d.session_manager->List(u.id);
      if (!list) return respond(FromStatus(list.error()));
      for (const session::Session& s : *list) {
        if (s.handle == caller.session.handle) keep = s.id_hash;
      }
      if (keep.empty()) keep.push_back('-');  // no session has this id hash: keep none
    }
    auto ended = c.d.accounts->SetPassword(u, fresh, keep);
    if (!ended) return respond(FromStatus(ended.error()));
    json e = who;
    e["sessions_ended"] = ended->size();
    c.d.audit->Record("password.changed", std::move(e));
    respond(NoContent());
  };
  if (!c.d.password_pool->TrySubmit(work)) respond(Busy());
}

}  // namespace tessera::server::handlers
