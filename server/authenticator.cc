#include "authenticator.h"

#include <algorithm>

#include "core/blocking.h"
#include "forms.h"
#include "responses.h"

namespace tessera::server {

bool Caller::HasRole(std::string_view role) const {
  return std::find(user.roles.begin(), user.roles.end(), role) != user.roles.end();
}

HttpResponse BearerError(std::string_view description, bool token_presented) {
  HttpResponse r = Error(401, "invalid_token", description);
  std::string challenge = "Bearer realm=\"tessera\"";
  if (token_presented) {
    challenge += ", error=\"invalid_token\", error_description=\"";
    challenge += description;
    challenge += '"';
  }
  r.Set("WWW-Authenticate", std::move(challenge));
  return r;
}

void Authenticator::ForgetUser(const std::string& id) {
  std::lock_guard lock(users_mu_);
  users_.erase(id);
  ++users_epoch_;
}

Result<std::optional<user::User>> Authenticator::FindUser(const std::string& id) {
  const uint64_t generation = d_.sessions->external_generation();
  uint64_t epoch;
  {
    std::lock_guard lock(users_mu_);
    if (users_generation_ != generation) {
      users_.clear();
      users_generation_ = generation;
    }
    if (auto it = users_.find(id); it != users_.end() && d_.sessions->cache_trusted() &&
                                   std::chrono::steady_clock::now() - it->second.read_at <
                                       kUserCacheTtl) {
      return std::optional<user::User>(it->second.user);
    }
    epoch = users_epoch_;
  }
  const auto read_at = std::chrono::steady_clock::now();
  if (!MayBlock()) return WouldBlock();
  TESSERA_ASSIGN_OR_RETURN(std::optional<user::User> found, d_.users->FindById(id));
  // A disabled account authenticates nothing: to every caller it is as good as gone.
  if (found && found->disabled) found.reset();
  if (found) {
    std::lock_guard lock(users_mu_);
    // An account forgotten while we read it may have changed after the read: serve this one
    // request with what was read, but do not keep it.
    if (users_generation_ == generation && users_epoch_ == epoch) {
      if (users_.size() >= 100000) users_.clear();
      users_[id] = CachedUser{*found, read_at};
    }
  }
  return found;
}

std::optional<Caller> Authenticator::AuthenticateBearer(std::string_view authorization,
                                                        HttpResponse* error) {
  auto token = ParseBearerAuthorization(authorization);
  if (!token) {
    *error = BearerError("malformed Authorization header", true);
    return std::nullopt;
  }
  if (!d_.verifier) {
    *error = BearerError("bearer tokens are not enabled on this server", true);
    return std::nullopt;
  }
  token::AccessToken t;
  Status verified = d_.verifier->Verify(*token, d_.clock->NowSeconds(), &t);
  if (!verified.ok()) {
    if (verified.code() == Code::kUnavailable || verified.code() == Code::kInternal) {
      *error = FromStatus(verified);
    } else {
      // A refresh token (no dots) presented as a bearer lands here too: it is no JWT.
      *error = BearerError(verified.reason() == Reason::kExpired         ? "token expired"
                           : verified.reason() == Reason::kUnknownSession ? "session ended"
                                                                          : "invalid token",
                           true);
    }
    return std::nullopt;
  }
  Caller caller;
  caller.bearer = true;
  caller.session.handle = std::move(t.sid);
  caller.session.user_id = t.sub;
  caller.session.kind = session::SessionKind::kToken;
  caller.session.mfa = std::find(t.amr.begin(), t.amr.end(), "otp") != t.amr.end();
  caller.user.id = std::move(t.sub);
  caller.user.username = std::move(t.username);
  caller.user.roles = std::move(t.roles);
  caller.expires_at = t.exp;
  return caller;
}

std::optional<Caller> Authenticator::Authenticate(const HttpRequest& request, bool state_changing,
                                                  HttpResponse* error) {
  // A request does not get to pick whichever of two identities suits it. Other schemes (an
  // app's own Basic auth behind the proxy) are not tessera's and are ignored. Bearer requests
  // need no CSRF defence: a browser never attaches the header on its own.
  const std::string_view authorization = request.Header("Authorization");
  if (IsBearerAuthorization(authorization)) return AuthenticateBearer(authorization, error);
  const std::string_view secret = CookieValue(request, d_.config->cookie.name);
  if (secret.empty()) {
    *error = BearerError("not signed in", false);
    return std::nullopt;
  }
  const bool passive = request.Header("Tessera-Passive") == "1";
  auto session = d_.sessions->Authenticate(secret, passive);
  if (!session) {
    // A cookie that names no live session: the client knows it sent one, so saying the session
    // ended (signed out elsewhere, revoked) tells it nothing new and lets a page explain.
    *error = session.error().reason() == Reason::kUnknownSession
                 ? Error(401, "invalid_token", "session ended")
                 : FromStatus(session.error());
    return std::nullopt;
  }
  auto user = FindUser(session->user_id);
  if (!user) {
    *error = FromStatus(user.error());
    return std::nullopt;
  }
  if (!user->has_value()) {  // the account is gone: so is the session
    (void)d_.sessions->Revoke(secret);
    *error = Error(401, "invalid_token", "not signed in");
    return std::nullopt;
  }
  if (state_changing) {
    // CSRF: a cross-site page can make the browser send the cookie, but it cannot read the
    // token from the login response, and it cannot forge the Origin header.
    if (!d_.identity->OriginAllowed(request)) {
      *error = Error(403, "csrf_failed", "cross-site request refused");
      return std::nullopt;
    }
    if (!session::SessionManager::CheckCsrf(*session, request.Header("X-CSRF-Token"))) {
      *error = Error(403, "csrf_failed", "missing or wrong X-CSRF-Token");
      return std::nullopt;
    }
  }
  Caller caller;
  caller.secret = std::string(secret);
  caller.expires_at = d_.sessions->ExpiresAt(*session);
  caller.session = std::move(*session);
  caller.user = std::move(**user);
  return caller;
}

std::optional<Caller> Authenticator::AuthenticateAdmin(const HttpRequest& request,
                                                       bool state_changing, HttpResponse* error) {
  auto caller = Authenticate(request, state_changing, error);
  if (!caller) return std::nullopt;
  if (!caller->HasRole("admin")) {
    *error = Error(403, "forbidden", "this needs the admin role");
    return std::nullopt;
  }
  return caller;
}

}  // namespace tessera::server
