// The one table that ties each JWS algorithm to its key type, curve, hash and signature scheme.
// Every algorithm/key decision reads it; a mismatch is a rejection, never a fall-through.
#pragma once

#include "crypto/hash.h"
#include "crypto/pkey.h"
#include "tessera/jose/alg.h"
#include "tessera/jose/jwk.h"

namespace tessera::jose::internal {

enum class Family : uint8_t { kHmac, kRsaPkcs1, kRsaPss, kEcdsa, kEdDSA };

struct AlgInfo {
  Alg alg;
  std::string_view name;
  KeyType key_type;
  Curve curve;  // kNone for HMAC and RSA
  crypto::Hash hash;
  Family family;
};

const AlgInfo& Info(Alg alg);

// The algorithms a key of this type and curve can serve at all.
AlgSet AlgsForKey(KeyType type, Curve curve);

}  // namespace tessera::jose::internal
