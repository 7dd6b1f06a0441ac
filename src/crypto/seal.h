// Sealing a value under a key derived from a secret the caller holds: HKDF-SHA256 (RFC 5869) of
// the secret with a context label, then AES-256-GCM with a random 96-bit nonce. Whoever knows the
// secret can open the box; a copy of the box alone (say, in a database that stores only a hash of
// the secret) yields nothing. Used for refresh-token successors (token/token_service.cc).
#pragma once

#include <string>
#include <string_view>

#include "tessera/result.h"

namespace tessera::crypto {

// nonce || ciphertext || tag. `context` separates uses of one secret (HKDF "info").
Result<std::string> SealWithSecret(std::string_view secret, std::string_view context,
                                   std::string_view plaintext);

// The plaintext, or kUnauthenticated when the box was not sealed with this secret and context
// (or was altered).
Result<std::string> OpenWithSecret(std::string_view secret, std::string_view context,
                                   std::string_view sealed);

}  // namespace tessera::crypto
