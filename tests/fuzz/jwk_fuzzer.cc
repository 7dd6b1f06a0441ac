// libFuzzer target: JWK and JWK Set parsing (RFC 7517), the path every key set fetched from a
// jwks_uri or read from a file goes through.
//
// Each input is parsed both as one JWK and as a JWK Set. For every key that parses, the fuzzer
// aborts when the library contradicts itself:
//  - the key's own JSON (public form; the private form for an oct key, whose secret is its only
//    form) does not parse back, or parses to another thumbprint, public form or algorithm set;
//  - PublicKey() of an asymmetric key differs from parsing its public JSON;
//  - a private key cannot sign with an algorithm it claims, or its signature does not verify
//    with the same key (a private part inconsistent with the public one got through);
//  - a set's own JSON does not parse back to the same number of keys.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tessera/jose/alg.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"

namespace tessera::jose {
namespace {

constexpr std::string_view kMessage = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmdXp6In0";

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "jwk_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

bool SameAlgs(AlgSet a, AlgSet b) {
  for (int i = 0; i < kAlgCount; ++i) {
    if (a.Contains(static_cast<Alg>(i)) != b.Contains(static_cast<Alg>(i))) return false;
  }
  return true;
}

void CheckKey(const Jwk& key) {
  const std::string public_json = key.ToJson(/*include_private=*/false);
  const std::string thumbprint = key.Thumbprint();

  auto again = Jwk::Parse(key.is_symmetric() ? key.ToJson(/*include_private=*/true) : public_json);
  if (!again) Fail("a key's own JSON does not parse");
  if (again->Thumbprint() != thumbprint) Fail("the thumbprint changes through ToJson and Parse");
  if (again->ToJson(false) != public_json) Fail("the public JSON changes through Parse");
  if (again->kid() != key.kid()) Fail("the kid changes through ToJson and Parse");
  if (!SameAlgs(again->VerifyAlgs(), key.VerifyAlgs())) Fail("the verify algorithms change");

  if (!key.is_symmetric()) {
    if (again->is_private()) Fail("a public form parses as a private key");
    const Jwk pub = key.PublicKey();
    if (pub.is_private() || !pub.SignAlgs().empty()) Fail("PublicKey() can still sign");
    if (pub.Thumbprint() != thumbprint) Fail("PublicKey() has another thumbprint");
    if (pub.ToJson(false) != public_json) Fail("PublicKey() has another public JSON");
  }

  if (!key.is_private()) return;
  // One algorithm is enough to tie the private part to the public one; RSA signing is slow, and
  // every algorithm of a key uses the same key material.
  for (int i = 0; i < kAlgCount; ++i) {
    const Alg alg = static_cast<Alg>(i);
    if (!key.SignAlgs().Contains(alg)) continue;
    std::string signature;
    if (!key.Sign(alg, kMessage, &signature).ok()) Fail("a key cannot sign with its own alg");
    if (signature.size() != key.SignatureSize(alg)) Fail("a signature has an unexpected size");
    const Jwk verifier = key.is_symmetric() ? key : key.PublicKey();
    if (verifier.VerifyAlgs().Contains(alg) && !verifier.Verify(alg, kMessage, signature)) {
      Fail("a key's signature does not verify with its public part");
    }
    break;
  }
}

void FuzzOne(std::string_view input) {
  if (auto key = Jwk::Parse(input)) CheckKey(*key);

  auto set = Jwks::Parse(input);
  if (!set) return;
  size_t public_keys = 0;
  for (const Jwk& key : set->keys()) {
    CheckKey(key);
    if (!key.is_symmetric()) ++public_keys;
  }
  auto public_set = Jwks::Parse(set->ToJson(/*include_private=*/false));
  if (!public_set || !public_set->skipped().empty() || public_set->keys().size() != public_keys) {
    Fail("a set's public JSON does not parse back to its public keys");
  }
  auto private_set = Jwks::Parse(set->ToJson(/*include_private=*/true));
  if (!private_set || !private_set->skipped().empty() ||
      private_set->keys().size() != set->keys().size()) {
    Fail("a set's private JSON does not parse back to its keys");
  }
}

}  // namespace
}  // namespace tessera::jose

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::jose::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
