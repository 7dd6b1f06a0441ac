// Verifier: what a C++ service links to accept tessera's access tokens. One object: the keys
// fetched from tessera (RemoteJwks: discovery, cache, refresh, refetch on an unknown kid) and the
// checks tessera itself makes (AccessVerifier: signature, at+jwt, issuer, audience, times, and
// the revocation list when one is given).
//
//   auto verifier = tessera::token::Verifier::Create({.issuer = "https://auth.example.com"});
//   if (!verifier) { /* log verifier.error().ToString(); exit */ }
//   auto token = tessera::token::BearerToken(request["Authorization"]);
//   tessera::token::AccessToken who;
//   if (!token || !(*verifier)->Verify(*token, &who).ok()) { /* 401 */ }
//
// With VerifierOptions::subscribe, revocations are followed from tessera (GET /v1/revocations):
// Create loads the list and fails when it cannot, Verify refuses the tokens of ended sessions
// (kRevoked) and fails closed (kUnavailable, kRevocationStale: answer 503) while the list is not
// confirmed current, and revocation_subscription()->health() tells how it goes.
//
// Keys are fetched at Create (which fails when that fails) and afterwards on the key source's own
// thread, as remote_jwks.h describes. Verify never waits for the network, on any path: a token
// that names a key the cached set lacks (the first tokens after a rotation) is refused at once
// (kNoKey) and asks for a refetch in the background, so that the client's retry passes once it
// has landed. Such refetches are rate-limited per kid (unknown_kid_interval_seconds) and across
// kids (unknown_kid_min_gap_seconds), so that made-up kids neither flood the issuer nor keep a
// genuine new key out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tessera/clock.h"
#include "tessera/jose/alg.h"
#include "tessera/result.h"
#include "tessera/token/access_token.h"
#include "tessera/token/remote_jwks.h"
#include "tessera/token/revocation.h"
#include "tessera/token/revocation_subscription.h"

namespace tessera::token {

struct VerifierOptions {
  // Tokens must carry exactly this "iss"; it is also where the keys are discovered. Required.
  std::string issuer;
  // Tokens must name this in "aud" (tessera's token.audience). Required.
  std::string audience = "tessera";
  // Where the keys are; empty: <issuer>/.well-known/openid-configuration names it.
  std::string jwks_url;
  // Accepted algorithms; empty: each published key's own "alg" decides (tessera's keys all
  // carry one, so a key can never be used with another algorithm).
  jose::AlgSet algs;
  // Clock skew allowed on exp, nbf and iat; at most 60 s (docs/security.md JV-05).
  int64_t leeway_seconds = 60;
  // Verified tokens remembered (the signature is skipped for them, nothing else); 0: off.
  size_t cache_capacity = 65536;
  // Revoked sessions and token ids to refuse, from a list the caller keeps; null: none, or the
  // subscription below. Must outlive the Verifier.
  const RevocationList* revocations = nullptr;
  // Follows tessera's revocations (GET /v1/revocations, revocation_subscription.h), so that the
  // tokens of a session that ended are refused within milliseconds, with no call per request:
  // on when client_id is set (one of tessera's token.clients). Its url defaults to the one the
  // issuer's discovery document names; its issuer must be left empty (the one above is used),
  // and ca_file and allow_plain_http, when not set, are those of `fetch`. Verify then fails
  // closed (kUnavailable, Reason::kRevocationStale) while the list is not confirmed current.
  // Not with `revocations`.
  RevocationSubscriptionOptions subscribe;
  // How keys are fetched: TLS CA file, timeouts, size cap, refresh and rate limits. Its issuer
  // and jwks_url must be left empty: the two fields above are used.
  RemoteJwksOptions fetch;
  // The source of "now" for Create and the two-argument Verify; null: the system clock.
  const Clock* clock = nullptr;
};

class Verifier {
 public:
  // Checks the options, then fetches the keys (discovering their URL when needed). Fails when
  // the keys cannot be fetched: a service must not come up unable to accept anyone.
  static Result<std::unique_ptr<Verifier>> Create(VerifierOptions options);

  // Verifies `token` (the bare token, see BearerToken) at the clock's now / at `now`, and fills
  // *out. kUnauthenticated with a Reason when it is not acceptable; its message is safe to log
  // and to send, and never contains the token. Never blocks on the network. Thread-safe.
  Status Verify(std::string_view token, AccessToken* out) const;
  Status Verify(std::string_view token, int64_t now, AccessToken* out) const;

  // The key source, for health checks (last_status) and metrics (fetch_count).
  const RemoteJwks& keys() const { return *keys_; }
  RemoteJwks& keys() { return *keys_; }
  const AccessVerifier& access_verifier() const { return verifier_; }
  // The revocation subscription, for health checks; null without VerifierOptions::subscribe.
  const RevocationSubscription* revocation_subscription() const { return subscription_.get(); }

 private:
  Verifier(std::unique_ptr<RemoteJwks> keys, std::unique_ptr<RevocationSubscription> subscription,
           const RevocationList* revocations, AccessVerifierOptions options, const Clock* clock);

  std::unique_ptr<RemoteJwks> keys_;  // declared first: verifier_ points to it
  std::unique_ptr<RevocationSubscription> subscription_;  // likewise
  AccessVerifier verifier_;
  const Clock* clock_;
};

// The token of an Authorization header value in the Bearer scheme (RFC 6750 section 2.1):
// "Bearer" in any case, exactly one space, then a token68 (RFC 9110 section 11.2) of at most
// 8 KiB. kUnauthenticated with kMalformedToken otherwise. (A request without the header has no
// credentials at all, which RFC 6750 section 3.1 answers without an error code: check for that
// first.) The view points into `authorization`.
Result<std::string_view> BearerToken(std::string_view authorization);

}  // namespace tessera::token
