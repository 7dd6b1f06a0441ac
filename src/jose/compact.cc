#include "jose/compact.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/json_dom.h"
#include "crypto/pkey.h"
#include "tessera/jose/base64url.h"

namespace tessera::jose::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// One parser and one padded buffer per thread and purpose; both keep their capacity, so a warm
// thread parses without allocating. The header and payload parsers are separate because the
// header's string views must survive the payload parse.
struct ThreadJson {
  simdjson::dom::parser parser;
  std::vector<uint8_t> buf;
  size_t depth = 0;  // the parser's simdjson max_depth
  size_t size = 0;   // decoded bytes in buf
};

thread_local ThreadJson header_json;
thread_local ThreadJson payload_json;

// The last header this thread parsed successfully. Tokens from one issuer share their header
// byte for byte (same alg, kid, typ), and parsing is a pure function of those bytes and the
// limits, so an exact match may reuse the result; no check is skipped, only repeated work.
struct HeaderMemo {
  bool valid = false;
  std::string b64;
  size_t max_header_bytes = 0;
  size_t max_header_depth = 0;
  Alg alg = Alg::kHS256;
  std::string kid;
  std::string typ;
};
thread_local HeaderMemo header_memo;

// Decodes `b64` and parses it with at most `max_levels` levels of nesting (the root object or
// array being level 1). simdjson refuses a document that reaches its max_depth, so it is given one
// more; the parse itself is iterative, and the ceiling bounds the recursive duplicate check below.
Status DecodeAndParse(ThreadJson& t, std::string_view b64, size_t max_decoded, size_t max_levels,
                      element* root) {
  const size_t max_depth = std::min(max_levels, kMaxJsonDepthCeiling) + 1;
  const auto n = Base64UrlDecodedSize(b64.size());
  if (!n) return InvalidArgument(Reason::kBadBase64, "invalid base64url length");
  if (*n > max_decoded) return InvalidArgument(Reason::kTooLarge, "segment too large");
  if (t.buf.size() < *n + json_dom::kPadding) t.buf.resize(*n + json_dom::kPadding);
  if (!Base64UrlDecodeTo(b64, t.buf.data())) {
    return InvalidArgument(Reason::kBadBase64, "invalid base64url");
  }
  t.size = *n;
  if (t.parser.capacity() < *n || t.depth != max_depth) {
    if (t.parser.allocate(std::max<size_t>(*n, 4096), max_depth) != simdjson::SUCCESS) {
      return ResourceExhausted(Reason::kTooLarge, "cannot allocate JSON parser");
    }
    t.depth = max_depth;
  }
  if (auto err = t.parser.parse(t.buf.data(), *n, false).get(*root); err != simdjson::SUCCESS) {
    return json_dom::FromError(err);
  }
  // The callers walk the root object themselves and check its names with MemberNames.
  return Status::Ok();
}

Status BadHeader(const char* m) { return InvalidArgument(Reason::kBadHeader, m); }
Status BadClaim(const char* m) { return InvalidArgument(Reason::kBadClaimType, m); }

// The registered names tessera reads are all three bytes long, so a member name is classified
// with one length check and one switch on its bytes packed into an integer.
constexpr uint32_t Name3(const char (&s)[4]) {
  return static_cast<uint8_t>(s[0]) | static_cast<uint8_t>(s[1]) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[2])) << 16;
}
uint32_t Name3(std::string_view key) {
  if (key.size() != 3) return 0;
  return static_cast<uint8_t>(key[0]) | static_cast<uint8_t>(key[1]) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(key[2])) << 16;
}

bool ReadString(element v, std::string_view* out) {
  if (v.type() != element_type::STRING) return false;
  *out = v.get_string().value_unsafe();
  return true;
}

// RFC 7519 section 2 NumericDate: a JSON number of seconds, possibly non-integer; fractions are
// dropped and out-of-range values clamp, so "far future" stays far future without overflow.
bool ReadNumericDate(element v, int64_t* out) {
  switch (v.type()) {
    case element_type::INT64: *out = v.get_int64().value_unsafe(); return true;
    case element_type::UINT64: *out = std::numeric_limits<int64_t>::max(); return true;
    case element_type::DOUBLE: {
      const double d = v.get_double().value_unsafe();
      if (!std::isfinite(d)) return false;
      const double f = std::floor(d);
      if (f >= 9.2e18) *out = std::numeric_limits<int64_t>::max();
      else if (f <= -9.2e18) *out = std::numeric_limits<int64_t>::min();
      else *out = static_cast<int64_t>(f);
      return true;
    }
    default: return false;
  }
}

}  // namespace

Status Split(std::string_view token, const JwsLimits& limits, Segments* out) {
  if (token.size() > limits.max_token_bytes) {
    return InvalidArgument(Reason::kTooLarge, "token larger than the limit");
  }
  const size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) return InvalidArgument(Reason::kMalformedToken, "not a JWS");
  const size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) {
    return InvalidArgument(Reason::kMalformedToken, "a JWS has three segments");
  }
  if (token.find('.', d2 + 1) != std::string_view::npos) {
    return InvalidArgument(Reason::kMalformedToken, "a JWS has three segments (JWE is not accepted)");
  }
  out->header = token.substr(0, d1);
  out->payload = token.substr(d1 + 1, d2 - d1 - 1);
  out->signature = token.substr(d2 + 1);
  out->signing_input = token.substr(0, d2);
  if (out->header.empty()) return InvalidArgument(Reason::kMalformedToken, "empty header");
  if (out->signature.empty()) return InvalidArgument(Reason::kMalformedToken, "empty signature");
  return Status::Ok();
}

Status ParseHeader(std::string_view header_b64, const JwsLimits& limits, HeaderView* out) {
  HeaderMemo& memo = header_memo;
  if (memo.valid && memo.b64 == header_b64 && memo.max_header_bytes == limits.max_header_bytes &&
      memo.max_header_depth == limits.max_header_depth) {
    out->alg = memo.alg;
    out->kid = memo.kid;
    out->typ = memo.typ;
    return Status::Ok();
  }
  memo.valid = false;
  element root;
  TESSERA_RETURN_IF_ERROR(DecodeAndParse(header_json, header_b64, limits.max_header_bytes,
                                         limits.max_header_depth, &root));
  if (root.type() != element_type::OBJECT) return BadHeader("header is not a JSON object");
  bool have_alg = false;
  out->kid = {};
  out->typ = {};
  json_dom::MemberNames names;
  const simdjson::dom::object obj = root.get_object().value_unsafe();
  for (auto field : obj) {
    const std::string_view key = field.key;
    if (!names.Add(key)) return json_dom::DuplicateMember();
    TESSERA_RETURN_IF_ERROR(json_dom::CheckNestedNoDuplicates(field.value));
    switch (Name3(key)) {
      case Name3("alg"): {
        std::string_view alg;
        if (!ReadString(field.value, &alg)) return BadHeader("\"alg\" must be a string");
        // "none" in any spelling: an unsigned token is never accepted (RFC 8725 section 3.1).
        if (IsNoneAlg(alg)) {
          return Unauthenticated(Reason::kAlgNone, "alg \"none\" is never accepted");
        }
        const auto parsed = AlgFromName(alg);
        if (!parsed) return Unauthenticated(Reason::kAlgUnsupported, "unsupported alg");
        out->alg = *parsed;
        have_alg = true;
        break;
      }
      case Name3("kid"):
        if (!ReadString(field.value, &out->kid)) return BadHeader("\"kid\" must be a string");
        break;
      case Name3("typ"):
        if (!ReadString(field.value, &out->typ)) return BadHeader("\"typ\" must be a string");
        break;
      case Name3("b64"):
        // RFC 7797 unencoded payloads change what is signed; refuse rather than misread.
        if (field.value.type() != element_type::BOOL || !field.value.get_bool().value_unsafe()) {
          return Unauthenticated(Reason::kCritUnsupported, "unencoded payloads are not supported");
        }
        break;
      default:
        if (key == "crit") {
          // RFC 7515 section 4.1.11: extensions listed in "crit" must be understood, and tessera
          // implements none, so any "crit" is a token we cannot process correctly.
          return Unauthenticated(Reason::kCritUnsupported,
                                 "\"crit\" names an unsupported extension");
        }
    }
    // "jwk", "jku", "x5u", "x5c" and every other member are ignored: keys come only from the
    // verifier's own set, never from the token (RFC 8725 section 3.10).
  }
  if (!names.Finish()) return json_dom::DuplicateMember();
  if (!have_alg) return BadHeader("header lacks \"alg\"");
  memo.b64.assign(header_b64);
  memo.max_header_bytes = limits.max_header_bytes;
  memo.max_header_depth = limits.max_header_depth;
  memo.alg = out->alg;
  memo.kid.assign(out->kid);
  memo.typ.assign(out->typ);
  memo.valid = true;
  out->kid = memo.kid;
  out->typ = memo.typ;
  return Status::Ok();
}

Status VerifySignature(const Jwks& keys, AlgSet allowed, const HeaderView& header,
                       const Segments& segments) {
  const Alg alg = header.alg;
  if (!allowed.empty() && !allowed.Contains(alg)) {
    return Unauthenticated(Reason::kAlgNotAllowed, "alg not in the allowed list");
  }
  // Candidates: keys whose kid equals the token's; failing that, keys without a kid. A key with
  // a different kid is never tried.
  const Jwk* by_kid[8];
  size_t n_kid = 0;
  bool kid_matched = false;
  const auto& all = keys.keys();
  auto consider = [&](const Jwk& k) -> Status {
    if (!k.VerifyAlgs().Contains(alg)) return Status::Ok();
    if (n_kid == std::size(by_kid)) {
      return Unauthenticated(Reason::kAmbiguousKey, "too many candidate keys");
    }
    by_kid[n_kid++] = &k;
    return Status::Ok();
  };
  if (!header.kid.empty()) {
    for (const Jwk& k : all) {
      if (k.kid() == header.kid) {
        kid_matched = true;
        TESSERA_RETURN_IF_ERROR(consider(k));
      }
    }
    // Two keys behind one kid (or one beside a broken key with that kid): which one the issuer
    // meant is unknowable, so neither is trusted.
    if (n_kid > 1 || (n_kid == 1 && keys.IsKidAmbiguous(header.kid))) {
      return Unauthenticated(Reason::kAmbiguousKey, "several keys share the kid");
    }
  }
  if (!kid_matched) {
    for (const Jwk& k : all) {
      if (header.kid.empty() || k.kid().empty()) TESSERA_RETURN_IF_ERROR(consider(k));
    }
  }
  if (n_kid == 0) {
    if (kid_matched) return Unauthenticated(Reason::kAlgKeyMismatch, "the key is not for this alg");
    return Unauthenticated(Reason::kNoKey, "no key for this token");
  }
  // The signature, decoded once into a buffer large enough for the largest RSA modulus.
  uint8_t sig[crypto::kMaxRsaBits / 8];
  const auto sig_len = Base64UrlDecodedSize(segments.signature.size());
  if (!sig_len || *sig_len > sizeof sig) {
    return Unauthenticated(Reason::kBadSignatureLength, "signature has the wrong length");
  }
  if (!Base64UrlDecodeTo(segments.signature, sig)) {
    return InvalidArgument(Reason::kBadBase64, "signature is not base64url");
  }
  const std::string_view sig_view(reinterpret_cast<const char*>(sig), *sig_len);
  bool any_length_ok = false;
  for (size_t i = 0; i < n_kid; ++i) {
    if (by_kid[i]->SignatureSize(alg) != *sig_len) continue;
    any_length_ok = true;
    if (by_kid[i]->Verify(alg, segments.signing_input, sig_view)) return Status::Ok();
  }
  if (!any_length_ok) {
    return Unauthenticated(Reason::kBadSignatureLength, "signature has the wrong length");
  }
  return Unauthenticated(Reason::kBadSignature, "signature does not verify");
}

Status ParseClaims(std::string_view payload_b64, const JwsLimits& limits,
                   const std::vector<std::string>& required_claims, Claims* claims,
                   ClaimsSeen* seen) {
  element root;
  TESSERA_RETURN_IF_ERROR(DecodeAndParse(payload_json, payload_b64, limits.max_token_bytes,
                                         limits.max_json_depth, &root));
  if (root.type() != element_type::OBJECT) {
    return InvalidArgument(Reason::kBadJson, "claims are not a JSON object");
  }
  *seen = ClaimsSeen{};
  claims->iss.clear();
  claims->sub.clear();
  claims->jti.clear();
  claims->sid.clear();
  claims->aud.clear();
  claims->exp = 0;
  claims->nbf.reset();
  claims->iat.reset();
  std::string_view s;
  json_dom::MemberNames names;
  const simdjson::dom::object obj = root.get_object().value_unsafe();
  for (auto field : obj) {
    const std::string_view key = field.key;
    const element v = field.value;
    if (!names.Add(key)) return json_dom::DuplicateMember();
    // Recursive, but never deeper than the parse allowed (max_json_depth, at most the ceiling).
    TESSERA_RETURN_IF_ERROR(json_dom::CheckNestedNoDuplicates(v));
    for (size_t i = 0; i < required_claims.size() && i < 64; ++i) {
      if (json_dom::SameName(required_claims[i], key)) seen->required |= uint64_t{1} << i;
    }
    switch (Name3(key)) {
      case Name3("exp"):
        if (!ReadNumericDate(v, &claims->exp)) return BadClaim("\"exp\" must be a number");
        seen->exp = true;
        break;
      case Name3("nbf"):
      case Name3("iat"): {
        int64_t t;
        if (!ReadNumericDate(v, &t)) return BadClaim("\"nbf\" and \"iat\" must be numbers");
        (key[0] == 'n' ? claims->nbf : claims->iat) = t;
        break;
      }
      case Name3("iss"):
        if (!ReadString(v, &s)) return BadClaim("\"iss\" must be a string");
        claims->iss.assign(s);
        seen->iss = true;
        break;
      case Name3("sub"):
        if (!ReadString(v, &s)) return BadClaim("\"sub\" must be a string");
        claims->sub.assign(s);
        break;
      case Name3("jti"):
        if (!ReadString(v, &s)) return BadClaim("\"jti\" must be a string");
        claims->jti.assign(s);
        break;
      case Name3("sid"):
        if (!ReadString(v, &s)) return BadClaim("\"sid\" must be a string");
        claims->sid.assign(s);
        break;
      case Name3("aud"):
        seen->aud = true;
        if (ReadString(v, &s)) {
          claims->aud.emplace_back(s);
        } else if (v.type() == element_type::ARRAY) {
          const simdjson::dom::array arr = v.get_array().value_unsafe();
          for (element a : arr) {
            if (!ReadString(a, &s)) return BadClaim("\"aud\" must hold strings");
            claims->aud.emplace_back(s);
          }
        } else {
          return BadClaim("\"aud\" must be a string or an array of strings");
        }
        break;
      default:
        break;
    }
  }
  if (!names.Finish()) return json_dom::DuplicateMember();
  claims->payload.assign(reinterpret_cast<const char*>(payload_json.buf.data()), payload_json.size);
  return Status::Ok();
}

}  // namespace tessera::jose::internal
