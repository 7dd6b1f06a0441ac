// Accounts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/result.h"

namespace tessera::user {

struct User {
  std::string id;        // the stable subject ("sub"): random, never reused, never the name
  std::string username;  // canonical form (CanonicalUsername)
  std::string password_hash;  // PHC string; never logged, never returned by an API
  std::vector<std::string> roles;
  int64_t created_at = 0;
  // A disabled account keeps its name, id and password but cannot sign in, and none of its
  // sessions authenticates.
  bool disabled = false;
};

// The canonical form of a username: valid UTF-8, NFC-normalised and case-folded (Unicode default
// case folding), so "Alice", "ALICE" and "alice" are one account and so are the composed and
// decomposed spellings of "José". 1 to 64 bytes after folding; no control characters, no
// whitespace at either end. Errors have Reason::kBadUsername.
Result<std::string> CanonicalUsername(std::string_view raw);

// A role name: 1 to 64 characters of [a-z0-9_.:-]. Errors have Reason::kBadUsername.
Status CheckRoleName(std::string_view role);

// A fresh random user id (128 bits, base64url).
std::string NewUserId();

}  // namespace tessera::user
