// Token mode's endpoints (DESIGN.md HTTP contract): the token login answer, POST /v1/token
// (RFC 6749 section 6, with rotation and reuse detection), the published key set and discovery
// document, RFC 7662 introspection and RFC 7009 revocation.
#include <nlohmann/json.hpp>

#include "app.h"
#include "core/json.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "forms.h"
#include "responses.h"

namespace tessera::server {
namespace {

using nlohmann::json;

// RFC 6749 section 5.1: token answers are never stored, not even by HTTP/1.0 caches.
HttpResponse NoStore(HttpResponse r) {
  r.Set("Pragma", "no-cache");
  return r;
}

HttpResponse TokenPair(const std::string& access_token, int64_t access_expires_at,
                       const std::string& refresh_token, int64_t refresh_expires_at,
                       int64_t now) {
  return NoStore(Json(200, {{"access_token", access_token},
                            {"token_type", "Bearer"},
                            {"expires_in", std::max<int64_t>(0, access_expires_at - now)},
                            {"refresh_token", refresh_token},
                            {"refresh_expires_in", std::max<int64_t>(0, refresh_expires_at - now)}}));
}

HttpResponse InvalidGrant() {
  // One answer for unknown, expired, revoked and reused tokens: the client learns only that it
  // must sign in again.
  return NoStore(Error(400, "invalid_grant", "the refresh token is invalid, expired or revoked"));
}

// A value for the Cache-Control of documents every verifier fetches.
HttpResponse Cacheable(HttpResponse r, int max_age) {
  r.Set("Cache-Control", "public, max-age=" + std::to_string(max_age));
  return r;
}

}  // namespace

HttpResponse App::TokenLogin(const user::User& u, const session::DeviceInfo& device,
                             const json& who) {
  auto issued = d_.tokens->Login({u.id, u.username, u.roles}, device);
  if (!issued) return LoginRefused(issued.error(), who);
  LoginSucceeded(u, who, issued->session, issued->evicted, "token");
  return TokenPair(issued->access_token, issued->access_expires_at, issued->refresh_token,
                   issued->refresh_expires_at, issued->issued_at);
}

std::optional<HttpResponse> App::ReadTokenRequest(
    const HttpRequest& request, std::map<std::string, std::string, std::less<>>* params,
    bool allow_json) {
  const std::string_view type = request.Header("Content-Type");
  if (IsMediaType(type, "application/x-www-form-urlencoded")) {
    auto form = ParseForm(request.body);
    if (!form) {
      return Error(400, "invalid_request", "malformed form body (or a parameter given twice)");
    }
    *params = std::move(*form);
    return std::nullopt;
  }
  if (allow_json && IsJson(type)) {
    auto parsed = tessera::json::ParseStrict(request.body, {.max_bytes = 16 * 1024, .max_depth = 4});
    if (!parsed || !parsed->is_object()) {
      return Error(400, "invalid_request", "body must be a JSON object");
    }
    for (const auto& [name, value] : parsed->items()) {
      if (!value.is_string()) return Error(400, "invalid_request", name + " must be a string");
      (*params)[name] = value.get<std::string>();
    }
    return std::nullopt;
  }
  return Error(415, "invalid_request",
               allow_json ? "Content-Type must be application/x-www-form-urlencoded or "
                            "application/json"
                          : "Content-Type must be application/x-www-form-urlencoded");
}

HttpResponse App::TokenEndpoint(const HttpRequest& request) {
  auto refuse = [&](HttpResponse r) {
    metrics_.Refresh(RefreshMetric::kInvalid);
    return NoStore(std::move(r));
  };
  if (!d_.tokens) {
    return refuse(Error(400, "unsupported_grant_type", "token mode is not enabled on this server"));
  }
  std::map<std::string, std::string, std::less<>> params;
  if (auto bad = ReadTokenRequest(request, &params, /*allow_json=*/true)) return refuse(*bad);
  auto grant = params.find("grant_type");
  if (grant == params.end()) return refuse(Error(400, "invalid_request", "grant_type is missing"));
  if (grant->second != "refresh_token") {
    return refuse(Error(400, "unsupported_grant_type",
                        "only grant_type=refresh_token is served here; sign in at /v1/login"));
  }
  auto presented = params.find("refresh_token");
  if (presented == params.end() || presented->second.empty()) {
    return refuse(Error(400, "invalid_request", "refresh_token is missing"));
  }
  auto answer = d_.tokens->Refresh(presented->second);
  if (!answer) {
    // Not a refresh token, or (never by design) a seal that does not open: the grant is no good.
    if (answer.error().code() == Code::kInvalidArgument ||
        answer.error().code() == Code::kUnauthenticated) {
      metrics_.Refresh(RefreshMetric::kInvalid);
      return InvalidGrant();
    }
    return NoStore(FromStatus(answer.error()));
  }
  const session::Session& s = answer->session;
  switch (answer->outcome) {
    case session::RefreshOutcome::kUnknown:
      metrics_.Refresh(RefreshMetric::kInvalid);
      return InvalidGrant();
    case session::RefreshOutcome::kReuseDetected: {
      // RFC 9700 section 4.14.2 / SECURITY.md RT-03: a rotated token came back; either its
      // holder or a thief has the live one. The session and family are gone and the sid revoked.
      metrics_.Refresh(RefreshMetric::kReuseDetected);
      json e = RequestFields(request);
      e["sub"] = s.user_id;
      if (auto u = FindUser(s.user_id); u && u->has_value()) e["username"] = (*u)->username;
      e["session"] = s.handle;
      d_.audit->Record("refresh.reuse_detected", std::move(e));
      return InvalidGrant();
    }
    case session::RefreshOutcome::kRotated:
    case session::RefreshOutcome::kGraceReplay: break;
  }
  auto user = FindUser(s.user_id);
  if (!user) return NoStore(FromStatus(user.error()));
  if (!user->has_value()) {
    // The account is gone (removed by another process): so is the session.
    (void)d_.session_manager->RevokeHandle(s.handle);
    metrics_.Refresh(RefreshMetric::kInvalid);
    return InvalidGrant();
  }
  const user::User& u = **user;
  auto access = d_.tokens->SignAccessToken({u.id, u.username, u.roles}, s, answer->issued_at,
                                           answer->access_expires_at);
  if (!access) return NoStore(FromStatus(access.error()));
  metrics_.Refresh(answer->outcome == session::RefreshOutcome::kRotated
                       ? RefreshMetric::kRotated
                       : RefreshMetric::kGraceReplay);
  return TokenPair(*access, answer->access_expires_at, answer->refresh_token,
                   answer->refresh_expires_at, answer->issued_at);
}

HttpResponse App::JwksDocument() {
  if (!d_.keyset) return Error(404, "not_found", "token mode is not enabled on this server");
  auto published = d_.keyset->Published(SystemClock::Instance().NowSeconds());
  HttpResponse r;
  r.body = published->json;
  r.Set("Content-Type", "application/json");
  // A new key is published 300 s before it signs (RotateOptions::publish_lead_seconds), so a
  // verifier that caches this for at most a minute always knows a key before meeting its kid,
  // and an emergency revocation (keys revoke) reaches it within a minute.
  return Cacheable(std::move(r), 60);
}

HttpResponse App::DiscoveryDocument() {
  if (!d_.tokens) return Error(404, "not_found", "token mode is not enabled on this server");
  const std::string& issuer = d_.config->token.issuer;
  std::string base = issuer;
  while (!base.empty() && base.back() == '/') base.pop_back();
  // RFC 8414 / OpenID Connect Discovery 1.0: enough for standard libraries to find the keys and
  // endpoints. tessera signs access tokens only (no ID tokens, no authorization endpoint).
  json doc = {{"issuer", issuer},
              {"jwks_uri", base + "/.well-known/jwks.json"},
              {"token_endpoint", base + "/v1/token"},
              {"introspection_endpoint", base + "/v1/introspect"},
              {"revocation_endpoint", base + "/v1/revoke"},
              {"grant_types_supported", {"refresh_token"}},
              {"response_types_supported", json::array()},
              {"subject_types_supported", {"public"}},
              {"token_endpoint_auth_methods_supported", {"none"}},
              {"introspection_endpoint_auth_methods_supported", {"client_secret_basic"}},
              {"revocation_endpoint_auth_methods_supported", {"client_secret_basic"}},
              {"id_token_signing_alg_values_supported", {d_.config->token.alg}},
              {"claims_supported",
               {"iss", "sub", "aud", "exp", "iat", "jti", "sid", "roles", "preferred_username"}}};
  return Cacheable(Json(200, doc), 300);
}

std::optional<std::string> App::AuthenticateClient(const HttpRequest& request,
                                                   HttpResponse* error) {
  // Failed attempts count against the client IP's sign-in budget, so secrets cannot be guessed
  // online any faster than passwords.
  const std::string ip = ClientIp(request);
  auto wait = d_.throttle->CheckIp(ip);
  if (!wait) {
    *error = NoStore(FromStatus(wait.error()));
    return std::nullopt;
  }
  if (*wait > 0) {
    *error = NoStore(Error(429, "too_many_attempts",
                           "too many attempts; try again in " + std::to_string(*wait) + " s"));
    error->Set("Retry-After", std::to_string(*wait));
    return std::nullopt;
  }
  auto creds = ParseBasicAuthorization(request.Header("Authorization"));
  // Compared in constant time against the stored hash, or against a dummy for an unknown id, so
  // the time taken says nothing about which ids exist. The id and secret match form-decoded
  // (RFC 6749 section 2.3.1) or as sent (clients that do not encode them).
  static const std::string kDummy(32, '\0');
  std::string id;
  bool ok = false;
  if (creds) {
    for (const auto& [try_id, try_secret] :
         {std::pair(&creds->id, &creds->secret), std::pair(&creds->raw_id, &creds->raw_secret)}) {
      auto it = clients_.find(*try_id);
      const std::string& want = it == clients_.end() ? kDummy : it->second;
      if (crypto::ConstantTimeEquals(crypto::Sha256(*try_secret), want) && it != clients_.end()) {
        ok = true;
        id = it->first;
      }
    }
  }
  if (!ok) {
    if (Status counted = d_.throttle->RecordIpAttempt(ip); !counted.ok()) {
      *error = NoStore(FromStatus(counted));  // an attempt that cannot be counted is refused
      return std::nullopt;
    }
    // RFC 6749 section 5.2: invalid_client with 401 and the scheme the client should use.
    *error = NoStore(Error(401, "invalid_client", "client authentication failed"));
    error->Set("WWW-Authenticate", "Basic realm=\"tessera\"");
    return std::nullopt;
  }
  return id;
}

HttpResponse App::Introspect(const HttpRequest& request) {
  HttpResponse error;
  if (!AuthenticateClient(request, &error)) return error;
  if (!d_.tokens) return NoStore(Json(200, {{"active", false}}));
  std::map<std::string, std::string, std::less<>> params;
  if (auto bad = ReadTokenRequest(request, &params, /*allow_json=*/false)) return NoStore(*bad);
  auto token = params.find("token");
  if (token == params.end()) return NoStore(Error(400, "invalid_request", "token is missing"));
  // RFC 7662 section 2.2: anything not active now is exactly {"active": false}, with no hint of
  // why (unknown, expired, revoked, malformed).
  const HttpResponse inactive = NoStore(Json(200, {{"active", false}}));
  const std::string& t = token->second;
  if (token::TokenService::WellFormedRefreshToken(t)) {
    auto found = d_.tokens->FindLiveRefresh(t);
    if (!found) return NoStore(FromStatus(found.error()));
    if (!found->has_value()) return inactive;
    const auto& [record, s] = **found;
    auto user = FindUser(s.user_id);
    if (!user) return NoStore(FromStatus(user.error()));
    if (!user->has_value()) return inactive;
    // RFC 7662's token_type is an access-token type (RFC 6749 section 5.1), which a refresh
    // token has none of; token_use (as ORY Hydra names it) tells the two apart.
    return NoStore(Json(200, {{"active", true},
                              {"token_use", "refresh_token"},
                              {"sub", s.user_id},
                              {"username", (*user)->username},
                              {"sid", s.handle},
                              {"iat", record.issued_at},
                              {"exp", d_.session_manager->ExpiresAt(s)},
                              {"iss", d_.config->token.issuer}}));
  }
  token::AccessToken a;
  Status verified = d_.verifier->Verify(t, SystemClock::Instance().NowSeconds(), &a);
  if (verified.code() == Code::kUnavailable) return NoStore(FromStatus(verified));
  if (!verified.ok()) return inactive;
  return NoStore(Json(200, {{"active", true},
                            {"token_type", "Bearer"},
                            {"token_use", "access_token"},
                            {"sub", a.sub},
                            {"username", a.username},
                            {"roles", a.roles},
                            {"sid", a.sid},
                            {"jti", a.jti},
                            {"iat", a.iat},
                            {"exp", a.exp},
                            {"iss", d_.config->token.issuer},
                            {"aud", d_.config->token.audience}}));
}

HttpResponse App::RevokeToken(const HttpRequest& request) {
  HttpResponse error;
  auto client = AuthenticateClient(request, &error);
  if (!client) return error;
  std::map<std::string, std::string, std::less<>> params;
  if (auto bad = ReadTokenRequest(request, &params, /*allow_json=*/false)) return NoStore(*bad);
  auto token = params.find("token");
  if (token == params.end()) return NoStore(Error(400, "invalid_request", "token is missing"));
  // RFC 7009 section 2.2: 200 whether or not the token was valid, so the endpoint is no oracle.
  // token_type_hint is only a hint: the shape of the token says what it is.
  HttpResponse done;
  done.status = 200;
  if (!d_.tokens) return NoStore(std::move(done));
  const std::string& t = token->second;
  json e = RequestFields(request);
  e["client"] = *client;
  if (token::TokenService::WellFormedRefreshToken(t)) {
    auto gone = d_.tokens->RevokeRefreshToken(t);
    if (!gone) return NoStore(FromStatus(gone.error()));
    if (gone->has_value()) {
      e["kind"] = "refresh_token";
      e["sub"] = (*gone)->user_id;
      e["session"] = (*gone)->handle;
      d_.audit->Record("token.revoked", std::move(e));
    }
    return NoStore(std::move(done));
  }
  token::AccessToken a;
  Status verified = d_.verifier->Verify(t, SystemClock::Instance().NowSeconds(), &a);
  if (verified.ok()) {
    if (Status revoked = d_.tokens->RevokeAccessToken(a); !revoked.ok()) {
      // Refused here already; the store could not record it for other processes or a restart.
      return NoStore(FromStatus(revoked));
    }
    e["kind"] = "access_token";
    e["sub"] = a.sub;
    e["session"] = a.sid;
    e["jti"] = a.jti;
    d_.audit->Record("token.revoked", std::move(e));
  }
  return NoStore(std::move(done));
}

}  // namespace tessera::server
