// Password hashing and the new-password policy (docs/security.md PW-01..PW-05, BF-05).
//
// Every hash tessera writes is Argon2id (RFC 9106) as a PHC string
//   $argon2id$v=19$m=<KiB>,t=<passes>,p=1$<16-byte salt, B64>$<32-byte hash, B64>
// Verification also accepts what an operator may import from elsewhere, so that those accounts can
// log in once and be upgraded (PW-02): Argon2i, Argon2d, Argon2 v1.0 (v=16), and bcrypt
// ($2a$, $2b$, $2y$). Anything that is not Argon2id at the current parameters reports
// `needs_rehash`; the caller then stores Hash(password) in place of the old hash.
//
// Passwords are byte strings, hashed and compared exactly as received: no Unicode normalisation,
// no trimming, no case folding, no truncation (PW-03, PW-04). A client that sends "é" precomposed
// at registration and decomposed at login is refused; that is the documented behaviour. The one
// inherited exception is bcrypt: the algorithm reads only the first 72 bytes, so an imported bcrypt
// hash accepts any password that shares those 72 bytes until the first successful login replaces
// it with Argon2id, after which every byte counts. (libxcrypt refuses passphrases over 512 bytes;
// such a password never verifies against a bcrypt hash.)
//
// Libraries: libsodium computes Argon2id (and verifies Argon2id/Argon2i v=19) with its
// CPU-dispatched implementation; libargon2 (the reference implementation, Debian libargon2)
// verifies the variants libsodium does not know, Argon2d and v=16; libxcrypt's crypt_rn verifies
// bcrypt.
//
// Thread safety: a PasswordHasher is immutable after Create; all methods may run concurrently.
// Each call costs about 20 ms of CPU at the defaults and memory_kib of RAM: run them on a bounded
// worker pool (core/worker_pool.h), never on an I/O thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/result.h"
#include "tessera/status.h"

namespace tessera::crypto {

// Longest password accepted anywhere (hashing, verifying, new-password policy), in bytes. Checked
// before any other work, so an oversized login costs microseconds (PW-03: long-password DoS).
inline constexpr size_t kMaxPasswordBytes = 1024;
// Shortest new password, in Unicode code points (ASVS 5.0 6.2.1).
inline constexpr size_t kMinPasswordCodePoints = 8;

// The service name a password must not contain (PasswordContext::service).
inline constexpr std::string_view kServiceName = "tessera";

// Words from the context of the account that a new password must not contain (NIST SP 800-63B
// rev. 4 §3.1.1.2: "context-specific words, such as the name of the service, the username"). The
// views must outlive the call.
struct PasswordContext {
  // The account's username (canonical or as typed); empty when there is none yet to compare with.
  std::string_view username;
  // The name of the service as users know it.
  std::string_view service = kServiceName;
};

// The policy for a password a user is setting (registration, change, admin reset), in this order:
//   1. at most kMaxPasswordBytes bytes; valid UTF-8 without NUL; at least kMinPasswordCodePoints
//      code points;
//   2. not a repetition or sequence: one character or a group of fewer than 8 characters repeated
//      ("aaaaaaaaaaaa", "abcabcabcabc", "abcdabcdab"); at most two runs of consecutive letters or
//      digits (up or down, in steps of one or two, wrapping: "abcdefghijkl", "123456789012",
//      "987654321", "acegikmo"), of adjacent keys on a QWERTY, QWERTZ or AZERTY keyboard, along
//      a row or a column ("qwertyuiop", "asdfghjkl;", "1qaz2wsx", "zaq12wsx"), of the numeric
//      keypad, or of one character repeated ("1234abcd", "aaaaaaa1"); or a longer group repeated
//      whole that is itself one of these or on the list ("passwordpassword");
//   3. not containing the username, forwards or backwards, when it has 3 or more characters (also
//      the part of an e-mail-style username before "@"), nor the service name; compared with
//      ASCII letters folded to lower case;
//   4. not on the list of common and breached passwords (crypto/password_list.h: 100,000 entries,
//      exact match after folding ASCII letters to lower case, so "PassWord1" is "password1").
// No composition rules (ASVS 5.0 6.2.5). Not applied on login, where a legacy password that
// predates the policy must still verify.
//
// Errors (messages never contain the password):
//   kResourceExhausted/kTooLarge   more than kMaxPasswordBytes bytes (checked first)
//   kInvalidArgument/kBadPassword  invalid UTF-8, a NUL byte, or fewer than 8 code points; or,
//                                  with these messages:
//     "the password is a repetition or sequence"
//     "the password must not contain the username"
//     "the password must not contain the service name"
//     "this password is in a list of common or breached passwords"
Status CheckNewPassword(std::string_view password, const PasswordContext& context);

// The same with no username and the service name "tessera", for callers that have no account
// name at hand.
Status CheckNewPassword(std::string_view password);

// Checks, without hashing, that `stored` is a hash PasswordHasher::Verify can read: a PHC Argon2
// string (argon2id, argon2i or argon2d; v=19, v=16 or no version) or a bcrypt hash ($2a$, $2b$,
// $2y$), within Verify's bounds and through the same parser, so a hash accepted here is never
// "unreadable" at login. Stricter than Verify in one respect: a bcrypt salt or checksum whose
// last character carries non-zero padding bits is refused, because crypt() re-encodes them and
// such a hash could never match any password. For importing accounts (`tessera user import`).
// Errors: kInvalidArgument/kBadPassword, the message naming the defect, never the hash.
Status CheckStoredHash(std::string_view stored);

// Argon2id cost. Parallelism is always 1 (OWASP; one worker thread per hash).
struct PasswordHashOptions {
  // Memory per hash in KiB. OWASP's default point is 19 MiB.
  uint32_t memory_kib = 19456;
  // Passes over that memory.
  uint32_t iterations = 2;
};

struct VerifyOutcome {
  // The password matches the stored hash.
  bool ok = false;
  // The stored hash is not Argon2id v=19 at the hasher's (m, t, p=1) with a 16-byte-or-longer salt
  // and a 32-byte output: after a successful login, replace it with Hash(password) (PW-02).
  // Computed from the stored hash alone, whether or not `ok`.
  bool needs_rehash = false;
};

class PasswordHasher {
 public:
  using Options = PasswordHashOptions;

  // Upper bounds on what this hasher will configure or verify, so a corrupt or hostile stored hash
  // cannot make one login allocate gigabytes or run for hours.
  static constexpr uint32_t kMaxMemoryKib = 1u << 20;  // 1 GiB
  static constexpr uint32_t kMaxIterations = 64;
  static constexpr uint32_t kMaxParallelism = 16;  // Argon2 hashes imported from elsewhere
  static constexpr int kMaxBcryptCost = 16;

  // Validates `options` against the OWASP floor (docs/security.md PW-01): (m, t) must be at least as
  // strong in both as one of (47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5), and within
  // the bounds above; otherwise kInvalidArgument, so the server refuses to start. Computes one
  // Argon2id hash of a random password for DummyVerify, so it takes as long as Hash().
  static Result<PasswordHasher> Create(Options options = {});

  // An Argon2id PHC string of `password` with a fresh 16-byte salt from the OS CSPRNG.
  // Errors: kResourceExhausted/kTooLarge over kMaxPasswordBytes; kInternal/kCrypto when the
  // library fails (out of memory).
  Result<std::string> Hash(std::string_view password) const;

  // Checks `password` against `stored` (a PHC Argon2 string or a bcrypt hash), comparing in
  // constant time. A wrong password is a value with ok = false, not an error.
  // Errors: kResourceExhausted/kTooLarge when the password is over kMaxPasswordBytes (no hashing
  // is done); kInternal/kCrypto when `stored` is malformed, of an unsupported scheme, beyond the
  // bounds above, or the library fails. Never reports ok for an unreadable hash.
  Result<VerifyOutcome> Verify(std::string_view stored, std::string_view password) const;

  // For a login whose user does not exist: does the work of Verify() with a wrong password against
  // a hash at the current parameters and discards the result, so the response time does not
  // reveal whether the account exists (docs/security.md BF-05). Returns as fast as Verify() does for an
  // oversized password.
  void DummyVerify(std::string_view password) const;

  const Options& options() const { return options_; }

 private:
  PasswordHasher(Options options, std::string dummy_hash);

  Options options_;
  std::string dummy_hash_;  // Argon2id of a random password at options_
};

}  // namespace tessera::crypto
