#include "tessera/token/verifier.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace tessera::token {
namespace {

// Like the server's own limit on an Authorization header (docs/security.md JV-08): a token this large
// is not tessera's, and refusing it early bounds the work an attacker can ask for.
constexpr size_t kMaxBearerBytes = 8 * 1024;

Status BadConfig(std::string message) {
  return InvalidArgument(Reason::kBadConfig, "verifier: " + std::move(message));
}

// token68 (RFC 9110 section 11.2) without its trailing "="s.
bool IsToken68Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

}  // namespace

Result<std::unique_ptr<Verifier>> Verifier::Create(VerifierOptions o) {
  if (o.issuer.empty()) return BadConfig("an issuer is required");
  // An empty audience would match no token: a service that accepts nobody, by accident.
  if (o.audience.empty()) return BadConfig("an audience is required");
  if (o.leeway_seconds < 0 || o.leeway_seconds > 60) {
    return BadConfig("leeway must be within 0 and 60 seconds");
  }
  // One place names the issuer and the URL: two that could disagree would hide a mistake.
  if (!o.fetch.issuer.empty() || !o.fetch.jwks_url.empty()) {
    return BadConfig("set issuer and jwks_url in VerifierOptions, not in its fetch options");
  }
  const bool subscribing = !o.subscribe.client_id.empty();
  if (subscribing && o.revocations) {
    return BadConfig("give a revocation list or a subscription, not both");
  }
  if (!subscribing && (!o.subscribe.url.empty() || !o.subscribe.client_secret.empty())) {
    return BadConfig("a revocation subscription needs a client id");
  }
  if (!o.subscribe.issuer.empty()) {
    return BadConfig("set issuer in VerifierOptions, not in its subscribe options");
  }
  o.fetch.issuer = o.issuer;
  o.fetch.jwks_url = o.jwks_url;
  const Clock* clock = o.clock ? o.clock : &SystemClock::Instance();
  if (subscribing) {
    o.subscribe.issuer = o.issuer;
    if (o.subscribe.ca_file.empty()) o.subscribe.ca_file = o.fetch.ca_file;
    o.subscribe.allow_plain_http = o.subscribe.allow_plain_http || o.fetch.allow_plain_http;
    // Entries must outlive every token the verifier could still accept.
    o.subscribe.leeway_seconds = std::max(o.subscribe.leeway_seconds, o.leeway_seconds);
  }
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<RemoteJwks> keys,
                           RemoteJwks::Create(std::move(o.fetch), clock->NowSeconds()));
  std::unique_ptr<RevocationSubscription> subscription;
  if (subscribing) {
    TESSERA_ASSIGN_OR_RETURN(subscription,
                             RevocationSubscription::Create(std::move(o.subscribe), clock));
  }
  const RevocationList* revocations = subscription ? subscription.get() : o.revocations;
  AccessVerifierOptions access{.issuer = std::move(o.issuer),
                               .audience = std::move(o.audience),
                               .algs = o.algs,
                               .leeway_seconds = o.leeway_seconds,
                               .cache_capacity = o.cache_capacity};
  return std::unique_ptr<Verifier>(
      new Verifier(std::move(keys), std::move(subscription), revocations, std::move(access), clock));
}

Verifier::Verifier(std::unique_ptr<RemoteJwks> keys,
                   std::unique_ptr<RevocationSubscription> subscription,
                   const RevocationList* revocations, AccessVerifierOptions options,
                   const Clock* clock)
    : keys_(std::move(keys)),
      subscription_(std::move(subscription)),
      verifier_(keys_.get(), revocations, std::move(options)),
      clock_(clock) {}

Status Verifier::Verify(std::string_view token, AccessToken* out) const {
  return verifier_.Verify(token, clock_->NowSeconds(), out);
}

Status Verifier::Verify(std::string_view token, int64_t now, AccessToken* out) const {
  return verifier_.Verify(token, now, out);
}

Result<std::string_view> BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  auto malformed = [] {
    return Unauthenticated(Reason::kMalformedToken,
                           "the Authorization header is not \"Bearer <token>\"");
  };
  // The scheme is case-insensitive (RFC 9110 section 11.1); exactly one space follows, so that
  // "Bearer  x" or "Bearer\tx" cannot be read differently here and by a proxy in front.
  if (authorization.size() <= kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), authorization.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
      })) {
    return malformed();
  }
  std::string_view token = authorization.substr(kScheme.size());
  if (token.size() > kMaxBearerBytes) {
    return Unauthenticated(Reason::kTooLarge, "the bearer token is too large");
  }
  size_t i = 0;
  while (i < token.size() && IsToken68Char(token[i])) ++i;
  if (i == 0) return malformed();
  while (i < token.size() && token[i] == '=') ++i;
  if (i != token.size()) return malformed();
  return token;
}

}  // namespace tessera::token
