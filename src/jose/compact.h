// The steps of compact JWS/JWT verification shared by jws.cc and jwt.cc. Internal.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tessera/jose/jws.h"
#include "tessera/jose/jwt.h"

namespace tessera::jose::internal {

struct Segments {
  std::string_view header;         // base64url
  std::string_view payload;        // base64url
  std::string_view signature;      // base64url
  std::string_view signing_input;  // header "." payload
};

// Checks the size limit and splits into exactly three segments (a JWE's five, or two, or four
// are refused). The header and signature segments must not be empty.
Status Split(std::string_view token, const JwsLimits& limits, Segments* out);

struct HeaderView {
  Alg alg = Alg::kHS256;
  std::string_view kid;  // views into per-thread memory, valid until the next ParseHeader
  std::string_view typ;
};

// Decodes and parses the protected header: strict base64url, strict JSON (no duplicate names),
// "alg" present and not "none", no "crit", no "b64" other than true.
Status ParseHeader(std::string_view header_b64, const JwsLimits& limits, HeaderView* out);

// The caller's allow-list, key selection by "kid", the key's algorithm binding, the signature
// length and the signature itself.
Status VerifySignature(const Jwks& keys, AlgSet allowed, const HeaderView& header,
                       const Segments& segments);

// Which registered claims a payload carried.
struct ClaimsSeen {
  bool exp = false;
  bool aud = false;
  bool iss = false;
  uint64_t required = 0;  // bit i set when required_claims[i] was present
};

// Decodes and parses the payload into `claims` (payload fields only; header fields untouched).
Status ParseClaims(std::string_view payload_b64, const JwsLimits& limits,
                   const std::vector<std::string>& required_claims, Claims* claims,
                   ClaimsSeen* seen);

}  // namespace tessera::jose::internal
