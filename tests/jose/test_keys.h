// Keys and token forging helpers for JOSE tests.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "tessera/jose/base64url.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"

namespace tessera::jose::testing {

inline constexpr Alg kAllAlgs[] = {Alg::kHS256, Alg::kHS384, Alg::kHS512, Alg::kRS256,
                                   Alg::kRS384, Alg::kRS512, Alg::kPS256, Alg::kPS384,
                                   Alg::kPS512, Alg::kES256, Alg::kES384, Alg::kES512,
                                   Alg::kEdDSA};

// One generated private key per algorithm, made once per test binary (RSA generation is slow).
inline const Jwk& PrivateKey(Alg alg) {
  static auto* keys = new std::map<Alg, Jwk>();
  auto it = keys->find(alg);
  if (it == keys->end()) {
    auto key = Jwk::Generate(alg, "kid-" + std::string(AlgName(alg)));
    if (!key) throw std::runtime_error(key.error().ToString());
    it = keys->emplace(alg, *key).first;
  }
  return it->second;
}

// The key a verifier holds: the public key, or the secret for HMAC.
inline Jwk VerifierKey(Alg alg) {
  const Jwk& k = PrivateKey(alg);
  return k.is_symmetric() ? k : k.PublicKey();
}

inline std::shared_ptr<const Jwks> SetOf(std::vector<Jwk> keys) {
  auto set = Jwks::FromKeys(std::move(keys));
  if (!set) throw std::runtime_error(set.error().ToString());
  return std::make_shared<const Jwks>(std::move(set).value());
}

inline std::string B64(std::string_view s) { return Base64UrlEncode(s); }

// A token with exactly these header and payload bytes, signed by `key` with `alg` (which need
// not match what the header says: that is the point of forging).
inline std::string Forge(const Jwk& key, Alg alg, std::string_view header_json,
                         std::string_view payload_json) {
  std::string input = B64(header_json) + "." + B64(payload_json);
  std::string sig;
  Status s = key.Sign(alg, input, &sig);
  if (!s.ok()) throw std::runtime_error(s.ToString());
  return input + "." + B64(sig);
}

}  // namespace tessera::jose::testing
