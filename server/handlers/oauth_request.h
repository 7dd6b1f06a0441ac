// What the OAuth endpoints (/v1/token, /v1/introspect, /v1/revoke) share: reading their
// parameters, HTTP Basic client authentication, and the per-address budget that bounds online
// guessing of refresh tokens and client secrets.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "../context.h"
#include "../http.h"

namespace tessera::server::handlers {

using OAuthParams = std::map<std::string, std::string, std::less<>>;

// The form (or, with allow_json, JSON) parameters of the request, or the error to send.
std::optional<HttpResponse> ReadOAuthRequest(const HttpRequest& request, OAuthParams* params,
                                             bool allow_json);

// 429 when `ip` has spent `budget` (user::IpBudget: kClientAuth or kRefresh); 503 when the
// throttle store cannot answer; nullopt when the request may go on.
std::optional<HttpResponse> CheckOAuthBudget(Context& c, const std::string& ip,
                                             user::IpBudget budget);
// Counts one failed request (bad client credentials, unknown refresh token) against `ip`.
Status CountOAuthFailure(Context& c, const std::string& ip, user::IpBudget budget);

// Checks the HTTP Basic credentials of an introspection/revocation client (token.clients).
// Returns the client id, or sets *error (401 invalid_client, 429, 503).
std::optional<std::string> AuthenticateClient(Context& c, const HttpRequest& request,
                                              HttpResponse* error);

}  // namespace tessera::server::handlers
