// Token mode's issuing side: the answer to a token login, and POST /v1/token (RFC 6749 section 6,
// with rotation and reuse detection, RFC 9700 section 4.14.2).
#include <nlohmann/json.hpp>

#include "../forms.h"
#include "../responses.h"
#include "core/json.h"
#include "handlers.h"
#include "oauth_request.h"

namespace tessera::server::handlers {
namespace {

using nlohmann::json;

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

}  // namespace

HttpResponse TokenLogin(Context& c, const user::User& u, const session::DeviceInfo& device,
                        const json& who) {
  auto issued = c.d.tokens->Login({u.id, u.username, u.roles}, device);
  if (!issued) return LoginRefused(c, issued.error(), who);
  LoginSucceeded(c, u, who, issued->session, issued->evicted, "token");
  return TokenPair(issued->access_token, issued->access_expires_at, issued->refresh_token,
                   issued->refresh_expires_at, issued->issued_at);
}

HttpResponse TokenEndpoint(Context& c, const HttpRequest& request) {
  auto refuse = [&](HttpResponse r) {
    c.metrics.Refresh(RefreshMetric::kInvalid);
    return NoStore(std::move(r));
  };
  if (!c.d.tokens) {
    return refuse(Error(400, "unsupported_grant_type", "token mode is not enabled on this server"));
  }
  OAuthParams params;
  if (auto bad = ReadOAuthRequest(request, &params, /*allow_json=*/true)) return refuse(*bad);
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
  // Unknown refresh tokens count against the client address, and an address over its budget is
  // refused before the store is asked: garbage cannot buy store writes without limit.
  const std::string ip = c.identity.ClientIp(request);
  if (auto blocked = CheckOAuthBudget(c, ip, user::IpBudget::kRefresh)) {
    return refuse(std::move(*blocked));
  }
  auto invalid_grant = [&]() {
    c.metrics.Refresh(RefreshMetric::kInvalid);
    if (Status counted = CountOAuthFailure(c, ip, user::IpBudget::kRefresh); !counted.ok()) {
      return NoStore(FromStatus(counted));
    }
    return InvalidGrant();
  };
  auto answer = c.d.tokens->Refresh(presented->second);
  if (!answer) {
    // Not a refresh token, or (never by design) a seal that does not open: the grant is no good.
    if (answer.error().code() == Code::kInvalidArgument ||
        answer.error().code() == Code::kUnauthenticated) {
      return invalid_grant();
    }
    return NoStore(FromStatus(answer.error()));
  }
  const session::Session& s = answer->session;
  switch (answer->outcome) {
    case session::RefreshOutcome::kUnknown:
      return invalid_grant();
    case session::RefreshOutcome::kReuseDetected: {
      // RFC 9700 section 4.14.2 / docs/security.md RT-03: a rotated token came back; either its
      // holder or a thief has the live one. The session and family are gone and the sid revoked.
      c.metrics.Refresh(RefreshMetric::kReuseDetected);
      json e = c.RequestFields(request);
      e["sub"] = s.user_id;
      if (auto u = c.auth.FindUser(s.user_id); u && u->has_value()) e["username"] = (*u)->username;
      e["session"] = s.handle;
      c.d.audit->Record("refresh.reuse_detected", std::move(e));
      return InvalidGrant();
    }
    case session::RefreshOutcome::kRotated:
    case session::RefreshOutcome::kGraceReplay: break;
  }
  auto user = c.auth.FindUser(s.user_id);
  if (!user) return NoStore(FromStatus(user.error()));
  if (!user->has_value()) {
    // The account is gone (removed by another process): so is the session.
    (void)c.d.session_manager->RevokeHandle(s.handle);
    c.metrics.Refresh(RefreshMetric::kInvalid);
    return InvalidGrant();
  }
  const user::User& u = **user;
  auto access = c.d.tokens->SignAccessToken({u.id, u.username, u.roles}, s, answer->issued_at,
                                            answer->access_expires_at);
  if (!access) return NoStore(FromStatus(access.error()));
  c.metrics.Refresh(answer->outcome == session::RefreshOutcome::kRotated
                        ? RefreshMetric::kRotated
                        : RefreshMetric::kGraceReplay);
  return TokenPair(*access, answer->access_expires_at, answer->refresh_token,
                   answer->refresh_expires_at, answer->issued_at);
}

}  // namespace tessera::server::handlers
