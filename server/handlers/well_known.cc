// The documents every verifier fetches: the published key set (RFC 7517) and the discovery
// document (RFC 8414 / OpenID Connect Discovery 1.0).
#include <nlohmann/json.hpp>

#include "../responses.h"
#include "handlers.h"

namespace tessera::server::handlers {
namespace {

using nlohmann::json;

// A value for the Cache-Control of documents every verifier fetches.
HttpResponse Cacheable(HttpResponse r, int max_age) {
  r.Set("Cache-Control", "public, max-age=" + std::to_string(max_age));
  return r;
}

}  // namespace

HttpResponse Jwks(Context& c) {
  if (!c.d.keyset) return Error(404, "not_found", "token mode is not enabled on this server");
  auto published = c.d.keyset->Published(c.Now());
  HttpResponse r;
  r.body = published->json;
  r.Set("Content-Type", "application/json");
  // A new key is published 300 s before it signs (RotateOptions::publish_lead_seconds), so a
  // verifier that caches this for at most a minute always knows a key before meeting its kid,
  // and an emergency revocation (keys revoke) reaches it within a minute.
  return Cacheable(std::move(r), 60);
}

HttpResponse Discovery(Context& c) {
  if (!c.d.tokens) return Error(404, "not_found", "token mode is not enabled on this server");
  const std::string& issuer = c.d.config->token.issuer;
  std::string base = issuer;
  while (!base.empty() && base.back() == '/') base.pop_back();
  // RFC 8414 / OpenID Connect Discovery 1.0: enough for standard libraries to find the keys and
  // endpoints. tessera signs access tokens only (no ID tokens, no authorization endpoint).
  json doc = {{"issuer", issuer},
              {"jwks_uri", base + "/.well-known/jwks.json"},
              {"token_endpoint", base + "/v1/token"},
              {"introspection_endpoint", base + "/v1/introspect"},
              {"revocation_endpoint", base + "/v1/revoke"},
              // An extension (docs/design.md "Revocations for other services"): where a
              // service's verifier follows the revocations, with the introspection credentials.
              {"tessera_revocation_endpoint", base + "/v1/revocations"},
              {"grant_types_supported", {"refresh_token"}},
              {"response_types_supported", json::array()},
              {"subject_types_supported", {"public"}},
              {"token_endpoint_auth_methods_supported", {"none"}},
              {"introspection_endpoint_auth_methods_supported", {"client_secret_basic"}},
              {"revocation_endpoint_auth_methods_supported", {"client_secret_basic"}},
              {"id_token_signing_alg_values_supported", {c.d.config->token.alg}},
              {"claims_supported",
               {"iss", "sub", "aud", "exp", "iat", "jti", "sid", "roles", "preferred_username"}}};
  return Cacheable(Json(200, doc), 300);
}

}  // namespace tessera::server::handlers
