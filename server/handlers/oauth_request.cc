#include "oauth_request.h"

#include "../forms.h"
#include "../responses.h"
#include "core/json.h"
#include "handlers.h"

namespace tessera::server::handlers {

std::optional<HttpResponse> ReadOAuthRequest(const HttpRequest& request, OAuthParams* params,
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

std::optional<HttpResponse> CheckOAuthBudget(Context& c, const std::string& ip,
                                             user::IpBudget budget) {
  auto wait = c.d.throttle->CheckIp(ip, budget);
  if (!wait) return NoStore(FromStatus(wait.error()));
  if (*wait > 0) return NoStore(TooManyAttempts(*wait));
  return std::nullopt;
}

Status CountOAuthFailure(Context& c, const std::string& ip, user::IpBudget budget) {
  return c.d.throttle->RecordIpAttempt(ip, budget);
}

std::optional<std::string> AuthenticateClient(Context& c, const HttpRequest& request,
                                              HttpResponse* error) {
  // Failed attempts count against the client address, so secrets cannot be guessed online any
  // faster than passwords.
  const std::string ip = c.identity.ClientIp(request);
  if (auto blocked = CheckOAuthBudget(c, ip, user::IpBudget::kClientAuth)) {
    *error = std::move(*blocked);
    return std::nullopt;
  }
  auto creds = ParseBasicAuthorization(request.Header("Authorization"));
  // The id and secret match form-decoded (RFC 6749 section 2.3.1) or as sent (clients that do
  // not encode them); both forms are always compared.
  std::optional<std::string> id;
  if (creds) {
    auto decoded = c.clients.Check(creds->id, creds->secret);
    auto raw = c.clients.Check(creds->raw_id, creds->raw_secret);
    id = decoded ? decoded : raw;
  }
  if (!id) {
    if (Status counted = CountOAuthFailure(c, ip, user::IpBudget::kClientAuth); !counted.ok()) {
      *error = NoStore(FromStatus(counted));  // an attempt that cannot be counted is refused
      return std::nullopt;
    }
    // RFC 6749 section 5.2: invalid_client with 401 and the scheme the client should use.
    *error = NoStore(Error(401, "invalid_client", "client authentication failed"));
    error->Set("WWW-Authenticate", "Basic realm=\"tessera\"");
  }
  return id;
}

}  // namespace tessera::server::handlers
