#include "tessera/jose/jwt.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/json.h"
#include "jose/compact.h"
#include "tessera/jose/base64url.h"

namespace tessera::jose {
namespace {

// RFC 7515 section 4.1.9: "typ" is a media type, compared case-insensitively, and the
// "application/" prefix may be left out.
std::string_view StripApplication(std::string_view t) {
  constexpr std::string_view kPrefix = "application/";
  if (t.size() > kPrefix.size()) {
    bool match = true;
    for (size_t i = 0; i < kPrefix.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(t[i])) != kPrefix[i]) match = false;
    }
    if (match) return t.substr(kPrefix.size());
  }
  return t;
}

bool TypMatches(std::string_view got, std::string_view want) {
  got = StripApplication(got);
  want = StripApplication(want);
  return got.size() == want.size() &&
         std::equal(got.begin(), got.end(), want.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

Alg DefaultAlg(const Jwk& key) {
  if (key.alg()) return *key.alg();
  switch (key.curve()) {
    case Curve::kP256: return Alg::kES256;
    case Curve::kP384: return Alg::kES384;
    case Curve::kP521: return Alg::kES512;
    case Curve::kEd25519: return Alg::kEdDSA;
    case Curve::kNone: break;
  }
  return key.type() == KeyType::kOct ? Alg::kHS256 : Alg::kRS256;
}

}  // namespace

JwtVerifier::JwtVerifier(std::shared_ptr<const Jwks> keys, JwtVerifyOptions options)
    : keys_(std::move(keys)), options_(std::move(options)) {
  options_.leeway_seconds = std::clamp<int64_t>(options_.leeway_seconds, 0, 86400);
}

Status JwtVerifier::Verify(std::string_view token, int64_t now, Claims* claims) const {
  const JwsLimits& limits = options_.limits;
  internal::Segments seg;
  TESSERA_RETURN_IF_ERROR(internal::Split(token, limits, &seg));
  internal::HeaderView h;
  TESSERA_RETURN_IF_ERROR(internal::ParseHeader(seg.header, limits, &h));
  TESSERA_RETURN_IF_ERROR(internal::VerifySignature(*keys_, options_.algs, h, seg));
  if (!options_.typ.empty() && !TypMatches(h.typ, options_.typ)) {
    return Unauthenticated(Reason::kTypMismatch, "token type is not accepted here");
  }
  claims->alg = h.alg;
  claims->kid.assign(h.kid);
  claims->typ.assign(h.typ);
  internal::ClaimsSeen seen;
  TESSERA_RETURN_IF_ERROR(
      internal::ParseClaims(seg.payload, limits, options_.required_claims, claims, &seen));

  // Time. A token without exp would be valid forever.
  const int64_t leeway = options_.leeway_seconds;
  if (!seen.exp) return Unauthenticated(Reason::kMissingClaim, "token has no \"exp\"");
  // RFC 7519 section 4.1.4: valid only while now is before exp. Written as a subtraction of the
  // small leeway from now so that an exp near INT64_MAX cannot overflow.
  if (now - leeway >= claims->exp) return Unauthenticated(Reason::kExpired, "token expired");
  if (claims->nbf && now + leeway < *claims->nbf) {
    return Unauthenticated(Reason::kNotYetValid, "token not valid yet");
  }
  if (claims->iat && *claims->iat > now + leeway) {
    return Unauthenticated(Reason::kIssuedInFuture, "token issued in the future");
  }
  // Issuer.
  if (!options_.issuers.empty()) {
    if (!seen.iss || std::find(options_.issuers.begin(), options_.issuers.end(), claims->iss) ==
                         options_.issuers.end()) {
      return Unauthenticated(Reason::kIssuerMismatch, "issuer not accepted");
    }
  }
  // Audience: a token meant for someone else is refused even if we configured no audience.
  if (seen.aud || !options_.audiences.empty()) {
    bool match = false;
    for (const auto& a : claims->aud) {
      if (std::find(options_.audiences.begin(), options_.audiences.end(), a) !=
          options_.audiences.end()) {
        match = true;
        break;
      }
    }
    if (!match) return Unauthenticated(Reason::kAudienceMismatch, "audience not accepted");
  }
  const size_t n_required = std::min<size_t>(options_.required_claims.size(), 64);
  const uint64_t all = n_required == 64 ? ~uint64_t{0} : (uint64_t{1} << n_required) - 1;
  if ((seen.required & all) != all) {
    return Unauthenticated(Reason::kMissingClaim, "a required claim is missing");
  }
  return Status::Ok();
}

Result<Claims> JwtVerifier::Verify(std::string_view token, int64_t now) const {
  Claims claims;
  TESSERA_RETURN_IF_ERROR(Verify(token, now, &claims));
  return claims;
}

Result<JwtSigner> JwtSigner::Create(Jwk key, std::optional<Alg> alg, std::string_view typ) {
  const Alg a = alg.value_or(DefaultAlg(key));
  if (!key.is_private()) return InvalidArgument(Reason::kKeyNotPrivate, "signing needs a private key");
  if (!key.SignAlgs().Contains(a)) {
    return InvalidArgument(Reason::kAlgKeyMismatch,
                           "this key cannot sign with " + std::string(AlgName(a)));
  }
  nlohmann::ordered_json h;
  h["alg"] = std::string(AlgName(a));
  if (!typ.empty()) h["typ"] = std::string(typ);
  if (!key.kid().empty()) h["kid"] = key.kid();
  return JwtSigner(std::move(key), a, Base64UrlEncode(h.dump()));
}

Result<std::string> JwtSigner::Sign(std::string_view claims_json) const {
  TESSERA_ASSIGN_OR_RETURN(nlohmann::json parsed, json::ParseStrict(claims_json));
  if (!parsed.is_object()) return InvalidArgument(Reason::kBadJson, "claims must be a JSON object");
  std::string token;
  TESSERA_RETURN_IF_ERROR(SignTrusted(json::Minify(claims_json), &token));
  return token;
}

Status JwtSigner::SignTrusted(std::string_view claims_json, std::string* token) const {
  const size_t payload_len = Base64UrlEncodedSize(claims_json.size());
  token->clear();
  token->reserve(header_b64_.size() + 1 + payload_len + 1 + Base64UrlEncodedSize(1024));
  token->append(header_b64_);
  token->push_back('.');
  const size_t at = token->size();
  token->resize(at + payload_len);
  Base64UrlEncodeTo(claims_json, token->data() + at);
  std::string sig;
  TESSERA_RETURN_IF_ERROR(key_.Sign(alg_, *token, &sig));
  token->push_back('.');
  const size_t sig_at = token->size();
  token->resize(sig_at + Base64UrlEncodedSize(sig.size()));
  Base64UrlEncodeTo(sig, token->data() + sig_at);
  return Status::Ok();
}

Result<UnverifiedJwt> DecodeUnverified(std::string_view token, const JwsLimits& limits) {
  internal::Segments seg;
  TESSERA_RETURN_IF_ERROR(internal::Split(token, limits, &seg));
  UnverifiedJwt out;
  TESSERA_ASSIGN_OR_RETURN(out.header_json, Base64UrlDecode(seg.header));
  TESSERA_ASSIGN_OR_RETURN(out.payload_json, Base64UrlDecode(seg.payload));
  // The same nesting limits as verification, so that whatever verifies also decodes.
  TESSERA_RETURN_IF_ERROR(
      json::ParseStrict(out.header_json, {.max_depth = limits.max_header_depth}).status());
  TESSERA_RETURN_IF_ERROR(
      json::ParseStrict(out.payload_json, {.max_depth = limits.max_json_depth}).status());
  return out;
}

}  // namespace tessera::jose
