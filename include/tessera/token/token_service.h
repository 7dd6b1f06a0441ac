// TokenService: token mode's issuing side (docs/design.md "The bridge", "Race-safe refresh rotation").
// A token login is a session of kind kToken in the same registry as cookie sessions; its access
// tokens are JWTs signed by the keyset with `sid` = the session's handle, and its refresh tokens
// are opaque strings of which the store keeps only SHA-256 (docs/security.md RT-01): 256 fresh
// random bits each, behind the family's secret 128-bit id and the token's generation, so that the
// store recognises reuse of any ancestor while keeping two records per family
// (session_store.h, "A bounded family").
//
// Refresh rotation runs in one store transaction (SessionStore::RotateRefresh). The successor is
// sealed (AES-256-GCM, key from HKDF of the presented token) into the presented token's record,
// so a replay inside the grace window gets the very same successor back, while a copy of the
// store, holding only hashes, yields none. Any other reuse is theft: the store ends the session
// and its family, and this service puts the sid into the revocation list at once.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/clock.h"
#include "tessera/result.h"
#include "tessera/session/session_manager.h"
#include "tessera/session/session_store.h"
#include "tessera/token/access_token.h"
#include "tessera/token/keyset.h"
#include "tessera/token/revocation.h"

namespace tessera::token {

struct TokenServiceOptions {
  std::string issuer;    // "iss" (config token.issuer)
  std::string audience;  // "aud" (config token.audience)
  int64_t access_ttl_seconds = 15 * 60;
  int64_t refresh_ttl_seconds = 30 * 86400;  // a family's absolute lifetime, from login
  // A replay of a just-rotated refresh token less than this long after its rotation gets the
  // same successor (config token.refresh_reuse_grace); 0: none.
  int64_t refresh_reuse_grace_ms = 10'000;
};

// Who the tokens are for: the claims that come from the account.
struct Subject {
  std::string id;
  std::string username;
  std::vector<std::string> roles;
};

struct IssuedTokens {
  int64_t issued_at = 0;  // "iat"; expires_in and refresh_expires_in count from here
  std::string access_token;
  int64_t access_expires_at = 0;
  std::string refresh_token;
  // When the refresh token dies unused: the session's end by its idle timeout or its absolute
  // lifetime (token.refresh_ttl), whichever comes first. A refresh moves it forward.
  int64_t refresh_expires_at = 0;
  session::Session session;
  std::vector<session::Session> evicted;  // ended by the per-user limit (login only)
};

// What presenting a refresh token did.
struct RefreshAnswer {
  session::RefreshOutcome outcome = session::RefreshOutcome::kUnknown;
  // kRotated, kGraceReplay: the session (its user, its sid); kReuseDetected: the session that
  // theft detection ended.
  session::Session session;
  std::string refresh_token;       // kRotated, kGraceReplay: the successor to hand out
  int64_t issued_at = 0;           // the time of the rotation: the access token's "iat"
  int64_t access_expires_at = 0;   // the exp to give the access token (tokens_until covers it)
  int64_t refresh_expires_at = 0;  // as IssuedTokens::refresh_expires_at
};

// Where a verifier in the server finds the keyset's keys: the published set, reloaded from the
// file when a token names a kid it lacks (at most once a second).
class KeysetKeySource final : public KeySource {
 public:
  explicit KeysetKeySource(Keyset* keyset) : keyset_(keyset) {}
  std::shared_ptr<const jose::Jwks> Keys(int64_t now) override;
  bool RefreshForUnknownKid(std::string_view kid, int64_t now) override;

 private:
  Keyset* keyset_;
  std::mutex mu_;
  int64_t last_reload_ = 0;  // GUARDED_BY(mu_)
};

class TokenService {
 public:
  // REQUIRES: every pointer outlives the service.
  TokenService(Keyset* keyset, session::SessionManager* sessions, session::SessionStore* store,
               RevocationList* revocations, TokenServiceOptions options, const Clock* clock);

  // A token login: a new token session and its first pair.
  Result<IssuedTokens> Login(const Subject& subject, const session::DeviceInfo& device);

  // Presents a refresh token. kInvalidArgument for a string that cannot be a refresh token (no
  // store lookup); otherwise the outcome, with the session ended and its sid revoked on
  // kReuseDetected. kUnavailable when the store cannot answer.
  Result<RefreshAnswer> Refresh(std::string_view refresh_token);

  // Signs an access token for `session` issued at `iat` that expires at `exp`. REQUIRES: the
  // session's tokens_until is at least `exp` (Login and Refresh see to it).
  Result<std::string> SignAccessToken(const Subject& subject, const session::Session& session,
                                      int64_t iat, int64_t exp) const;

  // RFC 7009 for a refresh token: ends its session (and family) and revokes the sid. nullopt when
  // no such token exists.
  Result<std::optional<session::Session>> RevokeRefreshToken(std::string_view refresh_token);

  // RFC 7009 for an access token: that token alone is refused from now on, here at once and,
  // through the store, by every process that syncs from it.
  Status RevokeAccessToken(const AccessToken& token);

  // The live refresh token and its session, for introspection; nullopt when the token is unknown,
  // already rotated, or its session is over.
  Result<std::optional<std::pair<session::RefreshRecord, session::Session>>> FindLiveRefresh(
      std::string_view refresh_token);

  const TokenServiceOptions& options() const { return options_; }
  RevocationList& revocations() const { return *revocations_; }

  // True when `s` could be a refresh token (72 base64url characters, or 43 for a token issued
  // before refresh families): anything else is refused without touching the store.
  static bool WellFormedRefreshToken(std::string_view s);

 private:
  Keyset* keyset_;
  session::SessionManager* sessions_;
  session::SessionStore* store_;
  RevocationList* revocations_;
  const TokenServiceOptions options_;
  const Clock* clock_;
};

}  // namespace tessera::token
