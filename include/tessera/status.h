// Status: the outcome of a library call that can fail.
//
// A Status carries a general Code (what a caller branches on) and a detailed Reason (what logs and
// metrics record). Messages never contain secrets: callers may log them as they are.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace tessera {

// General outcome classes. Callers branch on these; they map one-to-one to HTTP classes later.
enum class Code {
  kOk = 0,
  kInvalidArgument,   // malformed input: bad base64, bad JSON, wrong shape
  kUnauthenticated,   // well-formed but not acceptable: bad signature, expired, wrong audience
  kPermissionDenied,  // authenticated but not allowed
  kNotFound,
  kAlreadyExists,
  kResourceExhausted,  // limits: too large, too deep, too many
  kUnavailable,        // a dependency (store, pool) cannot answer now: fail closed
  kInternal,
};

// Detailed reasons, one per distinct rejection. Stable names (ReasonName) are used in logs and
// metrics labels, so renaming one is a compatibility change.
enum class Reason {
  kNone = 0,
  // Encoding and parsing.
  kBadBase64,
  kBadJson,
  kDuplicateMember,
  kTooLarge,
  kTooDeep,
  kMalformedToken,  // wrong number of segments, empty segment
  kBadHeader,       // header not an object, or a member of the wrong type
  // Algorithms and keys.
  kAlgNone,
  kAlgUnsupported,
  kAlgNotAllowed,    // not in the caller's allow-list
  kAlgKeyMismatch,   // the key is not for this algorithm
  kCritUnsupported,  // a "crit" header parameter we do not understand
  kNoKey,            // no key in the set for this kid / algorithm
  kAmbiguousKey,     // two keys share the kid, or a set mixes secret and public keys
  kBadSignature,
  kBadSignatureLength,
  kKeyInvalid,      // a JWK that cannot be a key: wrong shape, point not on curve
  kKeyTooWeak,      // RSA < 2048 bits, HMAC key shorter than the hash, e = 1, ROCA
  kKeyUseMismatch,  // "use" / "key_ops" do not allow this operation
  kKeyNotPrivate,   // signing needs a private key
  // Claims.
  kBadClaimType,
  kMissingClaim,
  kExpired,
  kNotYetValid,
  kIssuedInFuture,
  kIssuerMismatch,
  kAudienceMismatch,
  kTypMismatch,
  // Accounts and sessions.
  kBadUsername,
  kBadPassword,      // fails the password policy (length, encoding)
  kUserExists,
  kUnknownUser,
  kUnknownSession,   // no such session (never existed, revoked, or purged)
  kSessionExpired,   // idle or absolute timeout passed
  kSessionLimit,     // the per-user limit rejects a new session
  // Environment.
  kBadConfig,   // a configuration value is invalid; the message names the key
  kIo,
  kCrypto,      // the crypto library failed in a way input cannot explain
  kStore,       // a store failed; fail closed
  kStoreBusy,   // a store is locked or overloaded; retry later
  kOverloaded,  // a bounded queue is full
  kWouldBlock,  // this thread may not wait for I/O (core/blocking.h); run it where it may
  kRevocationStale,  // the revocation list followed from tessera is not known current; fail closed
};

std::string_view ReasonName(Reason reason);
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, Reason reason, std::string message)
      : code_(code), reason_(reason), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  Reason reason() const { return reason_; }
  const std::string& message() const { return message_; }

  // "code/reason: message", for logs and CLI errors.
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.reason_ == b.reason_;
  }

 private:
  Code code_ = Code::kOk;
  Reason reason_ = Reason::kNone;
  std::string message_;
};

// Shorthands for the common failures.
inline Status InvalidArgument(Reason r, std::string m) {
  return Status(Code::kInvalidArgument, r, std::move(m));
}
inline Status Unauthenticated(Reason r, std::string m) {
  return Status(Code::kUnauthenticated, r, std::move(m));
}
inline Status ResourceExhausted(Reason r, std::string m) {
  return Status(Code::kResourceExhausted, r, std::move(m));
}
inline Status InternalError(Reason r, std::string m) {
  return Status(Code::kInternal, r, std::move(m));
}

}  // namespace tessera

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define TESSERA_RETURN_IF_ERROR(expr)           \
  do {                                          \
    ::tessera::Status tessera_status_ = (expr); \
    if (!tessera_status_.ok()) return tessera_status_; \
  } while (0)
