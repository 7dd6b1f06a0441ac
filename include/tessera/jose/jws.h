// JWS compact serialization (RFC 7515) sign and verify.
//
// Verification runs in a fixed order: size limit, split, header decode and parse, "alg" (never
// "none"), the caller's allow-list, "crit", key selection by "kid", the key's own algorithm
// binding, signature length, signature. Header members "jwk", "jku", "x5u" and "x5c" are never
// used to find a key (RFC 8725 section 3.10 / 2.1): the verifier's key set is the only source.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "tessera/jose/alg.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/result.h"

namespace tessera::jose {

struct JwsLimits {
  // Whole token, in bytes. Larger input is refused before any decoding.
  size_t max_token_bytes = 16 * 1024;
  // Decoded protected header, in bytes.
  size_t max_header_bytes = 2048;
  // Nesting of the claims: the most levels of objects and arrays, the claims object itself being
  // level 1. Structured claims nest (RFC 9396 authorization_details), so the default is generous;
  // a deeper payload is refused with kTooDeep, never walked. Values above kMaxJsonDepthCeiling
  // count as that ceiling, which bounds every walk over the parsed tree.
  size_t max_json_depth = 64;
  // Nesting of the decoded protected header, counted the same way. JOSE headers are flat (an
  // embedded "jwk" is an object of arrays at most), so this stays small.
  size_t max_header_depth = 8;
};

// The deepest nesting any limit above can ask for.
inline constexpr size_t kMaxJsonDepthCeiling = 256;

struct JwsHeader {
  Alg alg = Alg::kHS256;
  std::string kid;  // empty when absent
  std::string typ;  // empty when absent
};

// Verifies a compact JWS against `keys`. `allowed` narrows the algorithms; when empty, each key's
// own binding decides. On success fills `header` and `payload` (the decoded payload bytes, which
// need not be JSON).
Status VerifyJws(std::string_view token, const Jwks& keys, AlgSet allowed, const JwsLimits& limits,
                 JwsHeader* header, std::string* payload);

// Signs `payload` (any bytes) as a compact JWS with the protected header
// {"alg":ALG[,"typ":TYP][,"kid":KID]}, KID being the key's kid.
Result<std::string> SignJws(const Jwk& key, Alg alg, std::string_view payload,
                            std::string_view typ = {});

}  // namespace tessera::jose
