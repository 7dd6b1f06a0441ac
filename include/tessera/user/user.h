// Accounts.
#pragma once

#include <cstdint>
#include <optional>
#include <cstddef>
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

// An account's second factor: a TOTP authenticator (RFC 6238) and its recovery codes
// (user/mfa_service.h has the rules). Kept beside the account, never inside the User record that
// caches and listings pass around.
struct Totp {
  // The shared secret, sealed under the server's MFA key (crypto/seal.h); never the secret itself.
  std::string sealed_secret;
  // False while the enrolment waits for its first code; only a confirmed factor is asked for at
  // sign-in.
  bool confirmed = false;
  // The latest time step whose code was accepted: a code of it or an earlier step is a replay.
  int64_t last_step = 0;
  // The unused recovery codes, each as a hash (MfaService::HashRecoveryCode); a used one is gone.
  std::vector<std::string> recovery_hashes;
  int64_t created_at = 0;
  // The one open sign-in ticket of the account: a hash of its random part and when it expires.
  // Empty: none. A new sign-in replaces it; using it clears it.
  std::string ticket_hash;
  int64_t ticket_expires_at = 0;

  friend bool operator==(const Totp&, const Totp&) = default;
};

// The canonical form of a username: valid UTF-8, NFC-normalised and case-folded (Unicode default
// case folding), so "Alice", "ALICE" and "alice" are one account and so are the composed and
// decomposed spellings of "José". 1 to 64 bytes after folding; no control characters, no
// whitespace at either end. Errors have Reason::kBadUsername.
Result<std::string> CanonicalUsername(std::string_view raw);

// A role name: 1 to 64 characters of [a-z0-9_.:-]. Errors have Reason::kBadUsername.
Status CheckRoleName(std::string_view role);

// Roles one account may hold. Access tokens carry them: at most 32 of the longest names keep a
// token well under the 8 KiB that verifiers accept (docs/limits.md), so tessera never issues a
// token that it would then refuse.
inline constexpr size_t kMaxRoles = 32;

// `roles` (distinct) are not too many, and each passes CheckRoleName. Errors have
// Reason::kBadUsername.
Status CheckRoles(const std::vector<std::string>& roles);

// A fresh random user id (128 bits, base64url).
std::string NewUserId();

}  // namespace tessera::user
