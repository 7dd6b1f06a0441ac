// JSON Web Keys (RFC 7517, 7518 section 6, RFC 8037) for signatures, parsed once into a
// ready-to-use form: an HMAC key with its key schedule done, an OpenSSL key, or an Ed25519 key.
//
// A Jwk is immutable and cheap to copy (the key material is shared). It enforces, at parse time,
// what makes a key unsafe to use: RSA below 2048 bits, e = 1, ROCA moduli, EC points off the
// curve, HMAC secrets shorter than the hash (RFC 7518 section 3.2), algorithms that do not fit
// the key type, and contradictory "use"/"key_ops".
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/jose/alg.h"
#include "tessera/result.h"

namespace tessera::jose {

enum class KeyType : uint8_t { kOct, kRsa, kEc, kOkp };
enum class Curve : uint8_t { kNone, kP256, kP384, kP521, kEd25519 };

std::string_view KeyTypeName(KeyType type);  // "oct", "RSA", "EC", "OKP"
std::string_view CurveName(Curve curve);     // "", "P-256", "P-384", "P-521", "Ed25519"

class Jwk {
 public:
  // Parses one JWK object (strict JSON). Unknown members are ignored (RFC 7517 section 4);
  // "jwk"-embedded certificates (x5c, x5u) are never used.
  static Result<Jwk> Parse(std::string_view json);

  // A fresh private key for `alg`: HMAC secrets as long as the hash, RSA 2048 bits, the alg's
  // curve for ECDSA, Ed25519 for EdDSA. With `kid` empty the kid is the RFC 7638 thumbprint.
  static Result<Jwk> Generate(Alg alg, std::string kid = {});

  KeyType type() const;
  Curve curve() const;
  // The key's "alg" member, if it has one.
  std::optional<Alg> alg() const;
  const std::string& kid() const;
  // Secret (oct) keys count as private: whoever holds them can sign.
  bool is_private() const;
  bool is_symmetric() const { return type() == KeyType::kOct; }

  // The algorithms this key verifies (signs) with: its "alg" when present, otherwise every
  // algorithm of its type and curve (RFC 8725 section 3.1: the key, not the token, decides),
  // narrowed by "use" and "key_ops". Empty when the key is not for signatures.
  AlgSet VerifyAlgs() const;
  AlgSet SignAlgs() const;

  // Length in bytes of this key's signatures with `alg` (RSA: the modulus size).
  size_t SignatureSize(Alg alg) const;

  // True only for a valid signature. REQUIRES: VerifyAlgs().Contains(alg).
  bool Verify(Alg alg, std::string_view signing_input, std::string_view signature) const;

  // REQUIRES: SignAlgs().Contains(alg).
  Status Sign(Alg alg, std::string_view signing_input, std::string* signature) const;

  // The key as a JWK object. The public form never contains a private member; the private form
  // of an oct key contains the secret.
  std::string ToJson(bool include_private) const;

  // RFC 7638 thumbprint: SHA-256 over the required members, base64url.
  std::string Thumbprint() const;

  // The same key without its private part. REQUIRES: !is_symmetric().
  Jwk PublicKey() const;

  // The key with another kid.
  Jwk WithKid(std::string kid) const;

  struct Material;  // defined in jwk.cc

 private:
  explicit Jwk(std::shared_ptr<const Material> m) : m_(std::move(m)) {}
  std::shared_ptr<const Material> m_;
};

}  // namespace tessera::jose
