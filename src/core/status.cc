#include "tessera/status.h"

#include <string>

namespace tessera {

std::string_view ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kNone: return "none";
    case Reason::kBadBase64: return "bad_base64";
    case Reason::kBadJson: return "bad_json";
    case Reason::kDuplicateMember: return "duplicate_member";
    case Reason::kTooLarge: return "too_large";
    case Reason::kTooDeep: return "too_deep";
    case Reason::kMalformedToken: return "malformed_token";
    case Reason::kBadHeader: return "bad_header";
    case Reason::kAlgNone: return "alg_none";
    case Reason::kAlgUnsupported: return "alg_unsupported";
    case Reason::kAlgNotAllowed: return "alg_not_allowed";
    case Reason::kAlgKeyMismatch: return "alg_key_mismatch";
    case Reason::kCritUnsupported: return "crit_unsupported";
    case Reason::kNoKey: return "no_key";
    case Reason::kAmbiguousKey: return "ambiguous_key";
    case Reason::kBadSignature: return "bad_signature";
    case Reason::kBadSignatureLength: return "bad_signature_length";
    case Reason::kKeyInvalid: return "key_invalid";
    case Reason::kKeyTooWeak: return "key_too_weak";
    case Reason::kKeyUseMismatch: return "key_use_mismatch";
    case Reason::kKeyNotPrivate: return "key_not_private";
    case Reason::kBadClaimType: return "bad_claim_type";
    case Reason::kMissingClaim: return "missing_claim";
    case Reason::kExpired: return "expired";
    case Reason::kNotYetValid: return "not_yet_valid";
    case Reason::kIssuedInFuture: return "issued_in_future";
    case Reason::kIssuerMismatch: return "issuer_mismatch";
    case Reason::kAudienceMismatch: return "audience_mismatch";
    case Reason::kTypMismatch: return "typ_mismatch";
    case Reason::kBadUsername: return "bad_username";
    case Reason::kBadPassword: return "bad_password";
    case Reason::kUserExists: return "user_exists";
    case Reason::kUnknownUser: return "unknown_user";
    case Reason::kUnknownSession: return "unknown_session";
    case Reason::kSessionExpired: return "session_expired";
    case Reason::kSessionLimit: return "session_limit";
    case Reason::kBadConfig: return "bad_config";
    case Reason::kIo: return "io";
    case Reason::kCrypto: return "crypto";
    case Reason::kStore: return "store";
    case Reason::kStoreBusy: return "store_busy";
    case Reason::kOverloaded: return "overloaded";
    case Reason::kWouldBlock: return "would_block";
    case Reason::kRevocationStale: return "revocation_stale";
  }
  return "unknown";
}

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kResourceExhausted: return "resource_exhausted";
    case Code::kUnavailable: return "unavailable";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(CodeName(code_));
  out += '/';
  out += ReasonName(reason_);
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace tessera
