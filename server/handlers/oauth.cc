// RFC 7662 introspection and RFC 7009 revocation, for the confidential clients of token.clients.
#include <nlohmann/json.hpp>

#include "../responses.h"
#include "handlers.h"
#include "oauth_request.h"

namespace tessera::server::handlers {

using nlohmann::json;

HttpResponse Introspect(Context& c, const HttpRequest& request) {
  HttpResponse error;
  if (!AuthenticateClient(c, request, &error)) return error;
  if (!c.d.tokens) return NoStore(Json(200, {{"active", false}}));
  OAuthParams params;
  if (auto bad = ReadOAuthRequest(request, &params, /*allow_json=*/false)) return NoStore(*bad);
  auto token = params.find("token");
  if (token == params.end()) return NoStore(Error(400, "invalid_request", "token is missing"));
  // RFC 7662 section 2.2: anything not active now is exactly {"active": false}, with no hint of
  // why (unknown, expired, revoked, malformed).
  const HttpResponse inactive = NoStore(Json(200, {{"active", false}}));
  const std::string& t = token->second;
  const int64_t now = c.Now();
  if (token::TokenService::WellFormedRefreshToken(t)) {
    auto found = c.d.tokens->FindLiveRefresh(t);
    if (!found) return NoStore(FromStatus(found.error()));
    if (!found->has_value()) return inactive;
    const auto& [record, s] = **found;
    auto user = c.auth.FindUser(s.user_id);
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
                              {"exp", c.d.session_manager->ExpiresAt(s)},
                              {"iss", c.d.config->token.issuer}}));
  }
  token::AccessToken a;
  Status verified = c.d.verifier->Verify(t, now, &a);
  if (verified.code() == Code::kUnavailable) return NoStore(FromStatus(verified));
  if (!verified.ok()) return inactive;
  // The verifier allows clock skew past exp, for services whose clocks differ from tessera's.
  // tessera judging a token it issued itself has no skew to allow: at exp it is inactive.
  if (now >= a.exp) return inactive;
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
                            {"iss", c.d.config->token.issuer},
                            {"aud", c.d.config->token.audience}}));
}

HttpResponse RevokeToken(Context& c, const HttpRequest& request) {
  HttpResponse error;
  auto client = AuthenticateClient(c, request, &error);
  if (!client) return error;
  OAuthParams params;
  if (auto bad = ReadOAuthRequest(request, &params, /*allow_json=*/false)) return NoStore(*bad);
  auto token = params.find("token");
  if (token == params.end()) return NoStore(Error(400, "invalid_request", "token is missing"));
  // RFC 7009 section 2.2: 200 whether or not the token was valid, so the endpoint is no oracle.
  // token_type_hint is only a hint: the shape of the token says what it is.
  HttpResponse done;
  done.status = 200;
  if (!c.d.tokens) return NoStore(std::move(done));
  const std::string& t = token->second;
  json e = c.RequestFields(request);
  e["client"] = *client;
  if (token::TokenService::WellFormedRefreshToken(t)) {
    auto gone = c.d.tokens->RevokeRefreshToken(t);
    if (!gone) return NoStore(FromStatus(gone.error()));
    if (gone->has_value()) {
      e["kind"] = "refresh_token";
      e["sub"] = (*gone)->user_id;
      e["session"] = (*gone)->handle;
      c.d.audit->Record("token.revoked", std::move(e));
    }
    return NoStore(std::move(done));
  }
  token::AccessToken a;
  Status verified = c.d.verifier->Verify(t, c.Now(), &a);
  if (verified.ok()) {
    if (Status revoked = c.d.tokens->RevokeAccessToken(a); !revoked.ok()) {
      // Refused here already; the store could not record it for other processes or a restart.
      return NoStore(FromStatus(revoked));
    }
    e["kind"] = "access_token";
    e["sub"] = a.sub;
    e["session"] = a.sid;
    e["jti"] = a.jti;
    c.d.audit->Record("token.revoked", std::move(e));
  }
  return NoStore(std::move(done));
}

}  // namespace tessera::server::handlers
