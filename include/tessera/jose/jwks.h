// JSON Web Key Sets (RFC 7517 section 5).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tessera/jose/jwk.h"
#include "tessera/result.h"

namespace tessera::jose {

// A key of a set that could not be used, and why.
struct SkippedKey {
  size_t index = 0;  // position in "keys"
  std::string kid;   // when it had a readable one
  Status status;
};

class Jwks {
 public:
  Jwks() = default;

  // Parses {"keys": [...]} (a single JWK object is accepted as a set of one). A key that cannot
  // be used for signatures is skipped and reported in skipped(), not fatal to the set (like
  // jwt_verify_lib). Fails for a set that mixes secret and public keys: a verifier given such a
  // set cannot tell an HMAC made with a public key from a real signature.
  static Result<Jwks> Parse(std::string_view json);

  // A set from keys already parsed; fails on a secret/public mix as Parse does.
  static Result<Jwks> FromKeys(std::vector<Jwk> keys);

  const std::vector<Jwk>& keys() const { return keys_; }
  // True when a key skipped as broken (not merely "not for signatures") carried this kid: what
  // the issuer meant by that kid is unknowable, so tokens naming it are not verified at all.
  bool IsKidAmbiguous(std::string_view kid) const;
  const std::vector<SkippedKey>& skipped() const { return skipped_; }
  bool empty() const { return keys_.empty(); }

  // {"keys":[...]}; the public form omits every private member (and every secret key).
  std::string ToJson(bool include_private) const;

 private:
  std::vector<Jwk> keys_;
  std::vector<SkippedKey> skipped_;
  std::vector<std::string> broken_kids_;
};

}  // namespace tessera::jose
