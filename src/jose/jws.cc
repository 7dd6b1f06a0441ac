#include "tessera/jose/jws.h"

#include <nlohmann/json.hpp>

#include "jose/compact.h"
#include "tessera/jose/base64url.h"

namespace tessera::jose {

Status VerifyJws(std::string_view token, const Jwks& keys, AlgSet allowed, const JwsLimits& limits,
                 JwsHeader* header, std::string* payload) {
  internal::Segments seg;
  TESSERA_RETURN_IF_ERROR(internal::Split(token, limits, &seg));
  internal::HeaderView h;
  TESSERA_RETURN_IF_ERROR(internal::ParseHeader(seg.header, limits, &h));
  TESSERA_RETURN_IF_ERROR(internal::VerifySignature(keys, allowed, h, seg));
  auto decoded = Base64UrlDecode(seg.payload);
  if (!decoded) return std::move(decoded).error();
  header->alg = h.alg;
  header->kid.assign(h.kid);
  header->typ.assign(h.typ);
  *payload = std::move(decoded).value();
  return Status::Ok();
}

Result<std::string> SignJws(const Jwk& key, Alg alg, std::string_view payload,
                            std::string_view typ) {
  if (!key.SignAlgs().Contains(alg)) {
    return InvalidArgument(key.is_private() ? Reason::kAlgKeyMismatch : Reason::kKeyNotPrivate,
                           "this key cannot sign with " + std::string(AlgName(alg)));
  }
  nlohmann::ordered_json h;
  h["alg"] = std::string(AlgName(alg));
  if (!typ.empty()) h["typ"] = std::string(typ);
  if (!key.kid().empty()) h["kid"] = key.kid();
  std::string token = Base64UrlEncode(h.dump());
  token += '.';
  token += Base64UrlEncode(payload);
  std::string sig;
  TESSERA_RETURN_IF_ERROR(key.Sign(alg, token, &sig));
  token += '.';
  token += Base64UrlEncode(sig);
  return token;
}

}  // namespace tessera::jose
