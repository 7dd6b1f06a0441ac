#include "tessera/jose/jwk.h"

#include <nlohmann/json.hpp>

#include <array>

#include "core/json.h"
#include "crypto/hmac.h"
#include "crypto/pkey.h"
#include "crypto/random.h"
#include "jose/alg_table.h"
#include "tessera/jose/base64url.h"

namespace tessera::jose {

struct Jwk::Material {
  KeyType type = KeyType::kOct;
  Curve curve = Curve::kNone;
  std::optional<Alg> alg;
  std::string kid;
  std::optional<std::string> use;
  std::vector<std::string> key_ops;
  AlgSet verify_algs;
  AlgSet sign_algs;
  bool is_private = false;
  // oct: the secret and one prepared HMAC key per hash it may be used with.
  std::string secret;
  std::array<std::shared_ptr<const crypto::HmacKey>, 3> hmac;
  // RSA, EC, OKP.
  crypto::AsymmetricKey::Ptr asym;

  Material() = default;
  Material(const Material&) = default;
  ~Material() { crypto::SecureZero(secret.data(), secret.size()); }
};

namespace {

using Json = nlohmann::json;
using Material = Jwk::Material;

Status KeyInvalid(std::string m) { return InvalidArgument(Reason::kKeyInvalid, std::move(m)); }

int HashIndex(crypto::Hash h) { return static_cast<int>(h); }

crypto::KeyKind KindFor(KeyType type, Curve curve) {
  switch (curve) {
    case Curve::kP256: return crypto::KeyKind::kEcP256;
    case Curve::kP384: return crypto::KeyKind::kEcP384;
    case Curve::kP521: return crypto::KeyKind::kEcP521;
    case Curve::kEd25519: return crypto::KeyKind::kEd25519;
    case Curve::kNone: break;
  }
  (void)type;
  return crypto::KeyKind::kRsa;
}

// Reads an optional string member; a member of another type is an error.
Result<std::optional<std::string>> StringMember(const Json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return std::optional<std::string>();
  if (!it->is_string()) return KeyInvalid(std::string("JWK member \"") + name + "\" must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

// Reads a base64url member as bytes; empty when absent.
Result<std::string> BytesMember(const Json& j, const char* name, bool required) {
  TESSERA_ASSIGN_OR_RETURN(auto text, StringMember(j, name));
  if (!text) {
    if (required) return KeyInvalid(std::string("JWK lacks \"") + name + "\"");
    return std::string();
  }
  auto bytes = Base64UrlDecode(*text);
  if (!bytes) return KeyInvalid(std::string("JWK member \"") + name + "\" is not base64url");
  if (required && bytes->empty()) return KeyInvalid(std::string("JWK member \"") + name + "\" is empty");
  return std::move(bytes).value();
}

// Fills verify_algs/sign_algs and the HMAC keys from type, alg, use, key_ops and key size.
Status Bind(Material& m) {
  const AlgSet possible = internal::AlgsForKey(m.type, m.curve);
  AlgSet algs;
  if (m.alg) {
    // RFC 8725 section 3.1 / RFC 7517 section 4.4: a key names the one algorithm it is for.
    if (!possible.Contains(*m.alg)) {
      return InvalidArgument(Reason::kAlgKeyMismatch, "JWK \"alg\" does not fit its key type or curve");
    }
    algs.Add(*m.alg);
  } else {
    algs = possible;
  }
  if (m.type == KeyType::kOct) {
    // RFC 7518 section 3.2: an HMAC key must be at least as long as the hash output.
    AlgSet long_enough;
    for (Alg a : {Alg::kHS256, Alg::kHS384, Alg::kHS512}) {
      const auto& info = internal::Info(a);
      if (algs.Contains(a) && m.secret.size() >= crypto::DigestSize(info.hash)) {
        long_enough.Add(a);
        m.hmac[HashIndex(info.hash)] = std::make_shared<crypto::HmacKey>(info.hash, m.secret);
      }
    }
    if (long_enough.empty()) {
      return InvalidArgument(Reason::kKeyTooWeak, "HMAC key shorter than the hash output");
    }
    algs = long_enough;
  }
  // "use" other than "sig" (e.g. "enc") and "key_ops" without "verify"/"sign" take the key out of
  // signature service; both narrow when both are present.
  bool sig_use = !m.use || *m.use == "sig";
  bool can_verify = sig_use, can_sign = sig_use && m.is_private;
  if (!m.key_ops.empty()) {
    bool has_verify = false, has_sign = false;
    for (const auto& op : m.key_ops) {
      has_verify |= op == "verify";
      has_sign |= op == "sign";
    }
    can_verify &= has_verify;
    can_sign &= has_sign;
  }
  m.verify_algs = can_verify ? algs : AlgSet();
  m.sign_algs = can_sign ? algs : AlgSet();
  return Status::Ok();
}

Result<std::shared_ptr<Material>> ParseMaterial(const Json& j) {
  if (!j.is_object()) return KeyInvalid("JWK must be a JSON object");
  auto m = std::make_shared<Material>();
  TESSERA_ASSIGN_OR_RETURN(auto kty, StringMember(j, "kty"));
  if (!kty) return KeyInvalid("JWK lacks \"kty\"");
  TESSERA_ASSIGN_OR_RETURN(auto kid, StringMember(j, "kid"));
  if (kid) m->kid = *kid;
  TESSERA_ASSIGN_OR_RETURN(m->use, StringMember(j, "use"));
  if (auto it = j.find("key_ops"); it != j.end()) {
    if (!it->is_array() || it->empty()) return KeyInvalid("JWK \"key_ops\" must be a non-empty array");
    for (const auto& op : *it) {
      if (!op.is_string()) return KeyInvalid("JWK \"key_ops\" values must be strings");
      std::string s = op.get<std::string>();
      // RFC 7517 section 4.3: duplicate key operation values must not be present.
      for (const auto& seen : m->key_ops) {
        if (seen == s) return KeyInvalid("JWK \"key_ops\" repeats a value");
      }
      m->key_ops.push_back(std::move(s));
    }
  }
  TESSERA_ASSIGN_OR_RETURN(auto alg, StringMember(j, "alg"));
  if (alg) {
    m->alg = AlgFromName(*alg);
    // A key for an algorithm we do not implement (RSA-OAEP, A256GCM, a misspelt "ES521") is not
    // usable here; guessing what was meant would be trusting the key's author over the RFC.
    if (!m->alg) return InvalidArgument(Reason::kAlgUnsupported, "JWK \"alg\" is not a JWS algorithm");
  }

  if (*kty == "oct") {
    m->type = KeyType::kOct;
    TESSERA_ASSIGN_OR_RETURN(m->secret, BytesMember(j, "k", true));
    m->is_private = true;
  } else if (*kty == "RSA") {
    m->type = KeyType::kRsa;
    if (j.contains("oth")) return KeyInvalid("multi-prime RSA keys are not supported");
    crypto::RsaComponents c;
    TESSERA_ASSIGN_OR_RETURN(c.n, BytesMember(j, "n", true));
    TESSERA_ASSIGN_OR_RETURN(c.e, BytesMember(j, "e", true));
    TESSERA_ASSIGN_OR_RETURN(c.d, BytesMember(j, "d", false));
    TESSERA_ASSIGN_OR_RETURN(c.p, BytesMember(j, "p", false));
    TESSERA_ASSIGN_OR_RETURN(c.q, BytesMember(j, "q", false));
    TESSERA_ASSIGN_OR_RETURN(c.dp, BytesMember(j, "dp", false));
    TESSERA_ASSIGN_OR_RETURN(c.dq, BytesMember(j, "dq", false));
    TESSERA_ASSIGN_OR_RETURN(c.qi, BytesMember(j, "qi", false));
    TESSERA_ASSIGN_OR_RETURN(m->asym, crypto::AsymmetricKey::FromRsa(c));
    crypto::SecureZero(c.d.data(), c.d.size());
    m->is_private = !c.d.empty();
  } else if (*kty == "EC" || *kty == "OKP") {
    TESSERA_ASSIGN_OR_RETURN(auto crv, StringMember(j, "crv"));
    if (!crv) return KeyInvalid("JWK lacks \"crv\"");
    if (*kty == "EC") {
      m->type = KeyType::kEc;
      if (*crv == "P-256") m->curve = Curve::kP256;
      else if (*crv == "P-384") m->curve = Curve::kP384;
      else if (*crv == "P-521") m->curve = Curve::kP521;
      else return KeyInvalid("unsupported EC curve");
      crypto::EcComponents c;
      TESSERA_ASSIGN_OR_RETURN(c.x, BytesMember(j, "x", true));
      TESSERA_ASSIGN_OR_RETURN(c.y, BytesMember(j, "y", true));
      TESSERA_ASSIGN_OR_RETURN(c.d, BytesMember(j, "d", false));
      TESSERA_ASSIGN_OR_RETURN(m->asym, crypto::AsymmetricKey::FromEc(KindFor(m->type, m->curve), c));
      m->is_private = !c.d.empty();
      crypto::SecureZero(c.d.data(), c.d.size());
    } else {
      m->type = KeyType::kOkp;
      if (*crv != "Ed25519") return KeyInvalid("unsupported OKP curve (only Ed25519 signs)");
      m->curve = Curve::kEd25519;
      crypto::OkpComponents c;
      TESSERA_ASSIGN_OR_RETURN(c.x, BytesMember(j, "x", true));
      TESSERA_ASSIGN_OR_RETURN(c.d, BytesMember(j, "d", false));
      TESSERA_ASSIGN_OR_RETURN(m->asym, crypto::AsymmetricKey::FromEd25519(c));
      m->is_private = !c.d.empty();
      crypto::SecureZero(c.d.data(), c.d.size());
    }
  } else {
    return KeyInvalid("unsupported \"kty\"");
  }
  TESSERA_RETURN_IF_ERROR(Bind(*m));
  return m;
}

void PutB64(nlohmann::ordered_json& j, const char* name, const std::string& bytes) {
  if (!bytes.empty()) j[name] = Base64UrlEncode(bytes);
}

}  // namespace

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kOct: return "oct";
    case KeyType::kRsa: return "RSA";
    case KeyType::kEc: return "EC";
    case KeyType::kOkp: return "OKP";
  }
  return "";
}

std::string_view CurveName(Curve curve) {
  switch (curve) {
    case Curve::kNone: return "";
    case Curve::kP256: return "P-256";
    case Curve::kP384: return "P-384";
    case Curve::kP521: return "P-521";
    case Curve::kEd25519: return "Ed25519";
  }
  return "";
}

Result<Jwk> Jwk::Parse(std::string_view text) {
  TESSERA_ASSIGN_OR_RETURN(Json j, tessera::json::ParseStrict(text, {.max_bytes = 64 * 1024, .max_depth = 8}));
  TESSERA_ASSIGN_OR_RETURN(auto m, ParseMaterial(j));
  return Jwk(std::move(m));
}

Result<Jwk> Jwk::Generate(Alg alg, std::string kid) {
  const auto& info = internal::Info(alg);
  auto m = std::make_shared<Material>();
  m->type = info.key_type;
  m->curve = info.curve;
  m->alg = alg;
  m->use = "sig";
  m->is_private = true;
  if (info.key_type == KeyType::kOct) {
    m->secret = crypto::RandomString(crypto::DigestSize(info.hash));
  } else {
    TESSERA_ASSIGN_OR_RETURN(m->asym,
                             crypto::AsymmetricKey::Generate(KindFor(info.key_type, info.curve)));
  }
  TESSERA_RETURN_IF_ERROR(Bind(*m));
  Jwk key(m);
  m->kid = kid.empty() ? key.Thumbprint() : std::move(kid);
  return key;
}

KeyType Jwk::type() const { return m_->type; }
Curve Jwk::curve() const { return m_->curve; }
std::optional<Alg> Jwk::alg() const { return m_->alg; }
const std::string& Jwk::kid() const { return m_->kid; }
bool Jwk::is_private() const { return m_->is_private; }
AlgSet Jwk::VerifyAlgs() const { return m_->verify_algs; }
AlgSet Jwk::SignAlgs() const { return m_->sign_algs; }

size_t Jwk::SignatureSize(Alg alg) const {
  const auto& info = internal::Info(alg);
  return info.family == internal::Family::kHmac ? crypto::DigestSize(info.hash)
                                                : m_->asym->signature_size();
}

bool Jwk::Verify(Alg alg, std::string_view signing_input, std::string_view signature) const {
  if (!m_->verify_algs.Contains(alg)) return false;
  const auto& info = internal::Info(alg);
  switch (info.family) {
    case internal::Family::kHmac:
      return m_->hmac[HashIndex(info.hash)]->Verify(signing_input, signature);
    case internal::Family::kRsaPkcs1:
      return m_->asym->Verify(crypto::SigScheme::kRsaPkcs1, info.hash, signing_input, signature);
    case internal::Family::kRsaPss:
      return m_->asym->Verify(crypto::SigScheme::kRsaPss, info.hash, signing_input, signature);
    case internal::Family::kEcdsa:
      return m_->asym->Verify(crypto::SigScheme::kEcdsa, info.hash, signing_input, signature);
    case internal::Family::kEdDSA:
      return m_->asym->Verify(crypto::SigScheme::kEd25519, info.hash, signing_input, signature);
  }
  return false;
}

Status Jwk::Sign(Alg alg, std::string_view signing_input, std::string* signature) const {
  if (!m_->is_private) return InvalidArgument(Reason::kKeyNotPrivate, "signing needs a private key");
  if (!m_->sign_algs.Contains(alg)) {
    return InvalidArgument(Reason::kAlgKeyMismatch, "this key does not sign with " +
                                                        std::string(AlgName(alg)));
  }
  const auto& info = internal::Info(alg);
  switch (info.family) {
    case internal::Family::kHmac: {
      const auto& h = m_->hmac[HashIndex(info.hash)];
      signature->resize(h->tag_size());
      h->Compute(signing_input, reinterpret_cast<uint8_t*>(signature->data()));
      return Status::Ok();
    }
    case internal::Family::kRsaPkcs1:
      return m_->asym->Sign(crypto::SigScheme::kRsaPkcs1, info.hash, signing_input, signature);
    case internal::Family::kRsaPss:
      return m_->asym->Sign(crypto::SigScheme::kRsaPss, info.hash, signing_input, signature);
    case internal::Family::kEcdsa:
      return m_->asym->Sign(crypto::SigScheme::kEcdsa, info.hash, signing_input, signature);
    case internal::Family::kEdDSA:
      return m_->asym->Sign(crypto::SigScheme::kEd25519, info.hash, signing_input, signature);
  }
  return InternalError(Reason::kCrypto, "unknown algorithm family");
}

std::string Jwk::ToJson(bool include_private) const {
  nlohmann::ordered_json j;
  j["kty"] = std::string(KeyTypeName(m_->type));
  if (m_->curve != Curve::kNone) j["crv"] = std::string(CurveName(m_->curve));
  if (!m_->kid.empty()) j["kid"] = m_->kid;
  if (m_->use) j["use"] = *m_->use;
  if (!m_->key_ops.empty()) j["key_ops"] = m_->key_ops;
  if (m_->alg) j["alg"] = std::string(AlgName(*m_->alg));
  const bool priv = include_private && m_->is_private;
  switch (m_->type) {
    case KeyType::kOct:
      if (priv) j["k"] = Base64UrlEncode(m_->secret);
      break;
    case KeyType::kRsa: {
      crypto::RsaComponents c = m_->asym->rsa();
      PutB64(j, "n", c.n);
      PutB64(j, "e", c.e);
      if (priv) {
        PutB64(j, "d", c.d);
        PutB64(j, "p", c.p);
        PutB64(j, "q", c.q);
        PutB64(j, "dp", c.dp);
        PutB64(j, "dq", c.dq);
        PutB64(j, "qi", c.qi);
      }
      break;
    }
    case KeyType::kEc: {
      crypto::EcComponents c = m_->asym->ec();
      PutB64(j, "x", c.x);
      PutB64(j, "y", c.y);
      if (priv) PutB64(j, "d", c.d);
      break;
    }
    case KeyType::kOkp: {
      crypto::OkpComponents c = m_->asym->okp();
      PutB64(j, "x", c.x);
      if (priv) PutB64(j, "d", c.d);
      break;
    }
  }
  return j.dump();
}

std::string Jwk::Thumbprint() const {
  // RFC 7638 section 3.2: required members only, lexicographic order, no whitespace. base64url
  // values never need JSON escaping.
  std::string s;
  switch (m_->type) {
    case KeyType::kOct:
      s = "{\"k\":\"" + Base64UrlEncode(m_->secret) + "\",\"kty\":\"oct\"}";
      break;
    case KeyType::kRsa: {
      crypto::RsaComponents c = m_->asym->rsa();
      s = "{\"e\":\"" + Base64UrlEncode(c.e) + "\",\"kty\":\"RSA\",\"n\":\"" + Base64UrlEncode(c.n) +
          "\"}";
      break;
    }
    case KeyType::kEc: {
      crypto::EcComponents c = m_->asym->ec();
      s = "{\"crv\":\"" + std::string(CurveName(m_->curve)) + "\",\"kty\":\"EC\",\"x\":\"" +
          Base64UrlEncode(c.x) + "\",\"y\":\"" + Base64UrlEncode(c.y) + "\"}";
      break;
    }
    case KeyType::kOkp: {
      crypto::OkpComponents c = m_->asym->okp();
      s = "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"" + Base64UrlEncode(c.x) + "\"}";
      break;
    }
  }
  return Base64UrlEncode(crypto::Sha256(s));
}

Jwk Jwk::PublicKey() const {
  auto m = std::make_shared<Material>(*m_);
  if (m_->asym && m_->is_private) {
    Result<crypto::AsymmetricKey::Ptr> pub = Status(Code::kInternal, Reason::kCrypto, "");
    switch (m_->type) {
      case KeyType::kRsa: {
        crypto::RsaComponents c = m_->asym->rsa();
        pub = crypto::AsymmetricKey::FromRsa({.n = c.n, .e = c.e});
        break;
      }
      case KeyType::kEc: {
        crypto::EcComponents c = m_->asym->ec();
        pub = crypto::AsymmetricKey::FromEc(KindFor(m_->type, m_->curve), {.x = c.x, .y = c.y});
        break;
      }
      case KeyType::kOkp:
        pub = crypto::AsymmetricKey::FromEd25519({.x = m_->asym->okp().x});
        break;
      case KeyType::kOct: break;
    }
    // The components came from a key that already passed validation, so this cannot fail.
    if (pub) m->asym = *pub;
    m->is_private = false;
    m->sign_algs = AlgSet();
  }
  return Jwk(std::move(m));
}

Jwk Jwk::WithKid(std::string kid) const {
  auto m = std::make_shared<Material>(*m_);
  m->kid = std::move(kid);
  return Jwk(std::move(m));
}

}  // namespace tessera::jose
