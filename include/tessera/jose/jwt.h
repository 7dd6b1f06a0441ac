// JWT (RFC 7519) verification and signing with claim validation by RFC 8725's rules.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/jose/alg.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jws.h"
#include "tessera/result.h"

namespace tessera::jose {

// The registered claims of a verified token, plus the whole payload for application claims.
// A Claims object may be reused across Verify calls; its strings keep their capacity, so a warm
// verifier does not allocate.
struct Claims {
  // Header.
  Alg alg = Alg::kHS256;
  std::string kid;
  std::string typ;
  // Payload.
  std::string iss;
  std::string sub;
  std::string jti;
  std::string sid;                // tessera's session id claim
  std::vector<std::string> aud;   // a string "aud" is returned as one element
  int64_t exp = 0;                // always present in a verified token
  std::optional<int64_t> nbf;
  std::optional<int64_t> iat;
  std::string payload;            // the decoded payload JSON, as signed
};

struct JwtVerifyOptions {
  // Accepted algorithms; empty: each key's own binding decides.
  AlgSet algs;
  // When non-empty, "iss" must be present and equal one of these.
  std::vector<std::string> issuers;
  // This verifier's identities. A token with "aud" must name one of them (RFC 7519 section
  // 4.1.3), so an empty list rejects every token that has an audience: never "allow all".
  // When non-empty, "aud" is required.
  std::vector<std::string> audiences;
  // When non-empty, the header "typ" must match, compared case-insensitively with an optional
  // "application/" prefix (RFC 7515 section 4.1.9), e.g. "at+jwt" (RFC 9068).
  std::string typ;
  // Allowed clock skew for exp, nbf and iat, in seconds.
  int64_t leeway_seconds = 0;
  // Claims that must be present, besides exp (which always must).
  std::vector<std::string> required_claims;
  JwsLimits limits;
};

class JwtVerifier {
 public:
  JwtVerifier(std::shared_ptr<const Jwks> keys, JwtVerifyOptions options);

  // Verifies `token` at time `now` (Unix seconds). On success fills `*claims`. Thread-safe.
  Status Verify(std::string_view token, int64_t now, Claims* claims) const;
  Result<Claims> Verify(std::string_view token, int64_t now) const;

  const JwtVerifyOptions& options() const { return options_; }
  const Jwks& keys() const { return *keys_; }

 private:
  std::shared_ptr<const Jwks> keys_;
  JwtVerifyOptions options_;
};

class JwtSigner {
 public:
  // `alg` defaults to the key's own "alg", else HS256 / RS256 / the curve's ES alg / EdDSA.
  // The header is {"alg","typ","kid"} with kid omitted when the key has none.
  static Result<JwtSigner> Create(Jwk key, std::optional<Alg> alg = std::nullopt,
                                  std::string_view typ = "JWT");

  // Validates `claims_json` (strict JSON, an object) and signs its minified form.
  Result<std::string> Sign(std::string_view claims_json) const;

  // Signs `claims_json` as given. REQUIRES: it is a JSON object built by trusted code.
  Status SignTrusted(std::string_view claims_json, std::string* token) const;

  Alg alg() const { return alg_; }
  const Jwk& key() const { return key_; }

 private:
  JwtSigner(Jwk key, Alg alg, std::string header_b64)
      : key_(std::move(key)), alg_(alg), header_b64_(std::move(header_b64)) {}
  Jwk key_;
  Alg alg_;
  std::string header_b64_;
};

// The header and payload JSON of a token, not verified. For display only (`tessera jwt decode`):
// anyone can read them, and nothing about them is trustworthy.
struct UnverifiedJwt {
  std::string header_json;
  std::string payload_json;
};
Result<UnverifiedJwt> DecodeUnverified(std::string_view token, const JwsLimits& limits = {});

}  // namespace tessera::jose
