// Verifying tessera's access tokens, the same way in the server and in any C++ service that links
// libtessera: a signature check with keys from a KeySource (the server's keyset, or a JWKS fetched
// from a tessera URL), claim checks pinned to one issuer and audience with `typ` at+jwt (RFC 9068,
// RFC 8725 section 3.11), then the revocation list (sid and jti) held in memory.
//
// A bounded cache of verified tokens, keyed by SHA-256 of the token, lets a repeated token skip
// the signature; it never skips the time checks or the revocation list, never outlives a token's
// `exp`, and an entry verified under one key set is not used once the set changes (a revoked key
// stops its tokens at once). The cache is positive only: a token that failed is verified again
// next time, and a revocation is looked up by sid and jti, never by the token's bytes (ECDSA
// signatures are malleable, docs/security.md JV-09).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tessera/jose/alg.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jwt.h"
#include "tessera/result.h"
#include "tessera/token/revocation.h"

namespace tessera::token {

// The claims of a verified tessera access token.
struct AccessToken {
  std::string sub;       // the user id
  std::string sid;       // the session (its public handle)
  std::string jti;       // this token
  std::string username;  // "preferred_username"
  std::vector<std::string> roles;
  // How the session's sign-in went (RFC 8176: "pwd", "otp"); empty when the token says nothing.
  std::vector<std::string> amr;
  std::string kid;  // the key that signed it
  int64_t iat = 0;
  int64_t exp = 0;
};

// Where a verifier gets its keys.
class KeySource {
 public:
  virtual ~KeySource() = default;
  // The public keys (or, for HMAC, secret keys) to verify with at `now`. Never null. Returns the
  // same pointer while the set is unchanged: cache entries are tagged with it. Thread-safe.
  virtual std::shared_ptr<const jose::Jwks> Keys(int64_t now) = 0;
  // A token named `kid`, which Keys() lacks: reload or refetch when the implementation's rate
  // limit allows. Returns true when the keys changed (the caller then tries once more).
  // Thread-safe.
  virtual bool RefreshForUnknownKid(std::string_view kid, int64_t now) = 0;
};

struct AccessVerifierOptions {
  std::string issuer;    // "iss" must equal this
  std::string audience;  // "aud" must name this
  // Accepted algorithms; empty: each key's own "alg" decides (tessera's keys always carry one).
  jose::AlgSet algs;
  // Clock skew allowed on exp, nbf and iat (docs/security.md JV-05: at most 60 s).
  int64_t leeway_seconds = 60;
  // Verified tokens remembered; 0 turns the cache off.
  size_t cache_capacity = 65536;
  // Tokens issued (iat) before this are refused. A server whose sessions live in memory sets its
  // start time: every session, and every revocation, died with the previous process.
  int64_t not_before = 0;
};

class AccessVerifier {
 public:
  // REQUIRES: `keys` outlives the verifier; `revocations` too when not null (null: no
  // revocation check, for services that have no revocation feed yet).
  AccessVerifier(KeySource* keys, const RevocationList* revocations, AccessVerifierOptions options);
  ~AccessVerifier();

  // Verifies `token` at `now` and fills *out. kUnauthenticated for a token that is not acceptable
  // (bad signature, expired, wrong issuer/audience/typ, revoked: Reason::kUnknownSession), with a
  // reason and a message that is safe to send to the client; kUnavailable when the revocation
  // list cannot vouch for itself (RevocationList::Check). Thread-safe.
  Status Verify(std::string_view token, int64_t now, AccessToken* out) const;

  const AccessVerifierOptions& options() const { return options_; }

  // Cache statistics, for metrics and tests.
  uint64_t cache_hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t cache_misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    AccessToken token;
    int64_t nbf = 0;
    // The set it was verified under; held so that its address cannot be reused by a new set.
    std::shared_ptr<const jose::Jwks> keys;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Entry> map;  // GUARDED_BY(mu); by SHA-256 of the token
  };
  static constexpr size_t kShards = 16;

  // The JwtVerifier for `keys`, rebuilt when the set changes.
  std::shared_ptr<const jose::JwtVerifier> VerifierFor(std::shared_ptr<const jose::Jwks> keys) const;
  Status CheckTimesAndRevocation(const AccessToken& t, int64_t nbf, int64_t now) const;

  KeySource* keys_;
  const RevocationList* revocations_;
  const AccessVerifierOptions options_;
  const size_t per_shard_capacity_;
  mutable std::array<Shard, kShards> shards_;
  mutable std::mutex verifier_mu_;
  mutable std::shared_ptr<const jose::JwtVerifier> verifier_;  // GUARDED_BY(verifier_mu_)
  mutable std::shared_ptr<const jose::Jwks> verifier_keys_;    // GUARDED_BY(verifier_mu_)
  mutable std::atomic<uint64_t> hits_{0}, misses_{0};
};

// The claims of an access token from a verified JWT: sid, jti and iat required, roles an array of
// strings, preferred_username a string. kUnauthenticated/kBadClaimType or kMissingClaim otherwise.
Result<AccessToken> AccessTokenFromClaims(const jose::Claims& claims);

}  // namespace tessera::token
