// The signing keyset file, <data>/signing-keys.json:
//
//   {"version": 1,
//    "keys": [{"jwk": {private JWK}, "created_at": 1764213845, "activates_at": 1764213845,
//              "retired_at": 1764214145}, ...]}
//
// Keys in the order they were added, which is also the order in which they start signing; times
// in Unix seconds. Parsed strictly: any deviation is a corrupt file, reported and never repaired
// by generating keys over it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tessera/result.h"
#include "tessera/token/keyset.h"

namespace tessera::token {

// The largest file accepted; a keyset holds a handful of keys (an RSA 4096 JWK is about 3 KiB).
constexpr size_t kMaxKeysetFileBytes = 1 << 20;

// REQUIRES: `records` meet the invariants ParseKeyset checks.
std::string SerializeKeyset(const std::vector<KeyRecord>& records);

// kInvalidArgument for anything but a well-formed keyset: strict JSON without unknown members;
// version 1; at least one key; each a private, asymmetric signing JWK with "use":"sig", an "alg"
// and its RFC 7638 thumbprint as kid; no kid twice; created_at <= activates_at <= retired_at
// (unless 0); activation times in file order; retired_at set on every key but the last, which
// has none. Messages name the key by position, never its material.
Result<std::vector<KeyRecord>> ParseKeyset(std::string_view text);

}  // namespace tessera::token
