#include "tessera/token/token_service.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "crypto/seal.h"
#include "tessera/jose/base64url.h"

namespace tessera::token {
namespace {

constexpr size_t kRefreshBytes = 32;  // 256 bits (DESIGN.md; RT-01 asks at least 128)
constexpr size_t kJtiBytes = 16;
// HKDF "info" of the successor's seal: this key opens nothing else made from the same token.
constexpr std::string_view kSealContext = "tessera refresh successor v1";

std::string RandomToken(size_t bytes) {
  return jose::Base64UrlEncode(crypto::RandomString(bytes));
}

}  // namespace

std::shared_ptr<const jose::Jwks> KeysetKeySource::Keys(int64_t now) {
  return keyset_->Published(now)->jwks;
}

bool KeysetKeySource::RefreshForUnknownKid(std::string_view kid, int64_t now) {
  (void)kid;  // any unfamiliar kid is a reason to look; which one does not matter
  {
    // At most one reload a second, however many tokens name made-up kids (KM-03).
    std::lock_guard lock(mu_);
    if (now <= last_reload_) return false;
    last_reload_ = now;
  }
  auto reloaded = keyset_->ReloadIfChanged();
  return reloaded && *reloaded;
}

TokenService::TokenService(Keyset* keyset, session::SessionManager* sessions,
                           session::SessionStore* store, RevocationList* revocations,
                           TokenServiceOptions options, const Clock* clock)
    : keyset_(keyset),
      sessions_(sessions),
      store_(store),
      revocations_(revocations),
      options_(std::move(options)),
      clock_(clock) {}

bool TokenService::WellFormedRefreshToken(std::string_view s) {
  return s.size() == jose::Base64UrlEncodedSize(kRefreshBytes) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
         });
}

Result<std::string> TokenService::SignAccessToken(const Subject& subject,
                                                  const session::Session& session, int64_t iat,
                                                  int64_t exp) const {
  const nlohmann::json claims = {{"iss", options_.issuer},
                                 {"sub", subject.id},
                                 {"aud", options_.audience},
                                 {"exp", exp},
                                 {"iat", iat},
                                 {"jti", RandomToken(kJtiBytes)},
                                 {"sid", session.handle},
                                 {"roles", subject.roles},
                                 {"preferred_username", subject.username}};
  std::string token;
  TESSERA_RETURN_IF_ERROR(keyset_->Current(iat)->signer.SignTrusted(claims.dump(), &token));
  return token;
}

Result<IssuedTokens> TokenService::Login(const Subject& subject,
                                         const session::DeviceInfo& device) {
  const int64_t now = clock_->NowSeconds();
  IssuedTokens out;
  out.issued_at = now;
  out.refresh_token = RandomToken(kRefreshBytes);
  const int64_t exp = now + options_.access_ttl_seconds;
  TESSERA_ASSIGN_OR_RETURN(
      session::NewSession created,
      sessions_->CreateTokenSession(subject.id, device, crypto::Sha256(out.refresh_token),
                                    options_.refresh_ttl_seconds, exp));
  out.session = std::move(created.record);
  out.evicted = std::move(created.evicted);
  out.refresh_expires_at = sessions_->ExpiresAt(out.session);
  // No access token outlives its session: the absolute deadline, or the idle one (bearer requests
  // are not activity, a refresh is).
  out.access_expires_at = std::min(exp, out.refresh_expires_at);
  TESSERA_ASSIGN_OR_RETURN(out.access_token,
                           SignAccessToken(subject, out.session, now, out.access_expires_at));
  return out;
}

Result<RefreshAnswer> TokenService::Refresh(std::string_view presented) {
  if (!WellFormedRefreshToken(presented)) {
    return InvalidArgument(Reason::kMalformedToken, "not a refresh token");
  }
  const int64_t now = clock_->NowSeconds();
  const std::string successor = RandomToken(kRefreshBytes);
  session::RefreshRotation r;
  r.presented_hash = crypto::Sha256(presented);
  r.successor_hash = crypto::Sha256(successor);
  TESSERA_ASSIGN_OR_RETURN(r.sealed_successor,
                           crypto::SealWithSecret(presented, kSealContext, successor));
  r.now = now;
  r.grace_seconds = options_.refresh_reuse_grace_seconds;
  // The store refuses last_seen_at < idle_cutoff; SessionManager::ExpiresAt ends a session at
  // last_seen_at + idle exactly, and so does this (+1), so a token introspected as dead at that
  // second does not refresh.
  r.idle_cutoff = now - sessions_->options().idle_timeout_seconds + 1;
  r.access_expires_at = now + options_.access_ttl_seconds;
  TESSERA_ASSIGN_OR_RETURN(session::RefreshResult result, store_->RotateRefresh(r));
  RefreshAnswer out;
  out.outcome = result.outcome;
  out.session = std::move(result.session);
  switch (result.outcome) {
    case session::RefreshOutcome::kRotated:
      out.refresh_token = successor;
      break;
    case session::RefreshOutcome::kGraceReplay: {
      // The successor handed out moments ago, opened with the token only its holder knows.
      TESSERA_ASSIGN_OR_RETURN(out.refresh_token,
                               crypto::OpenWithSecret(presented, kSealContext,
                                                      result.presented.sealed_successor));
      break;
    }
    case session::RefreshOutcome::kReuseDetected:
      // The store has ended the session and its family; its access tokens stop here and now.
      revocations_->RevokeSession(out.session.handle, out.session.tokens_until);
      return out;
    case session::RefreshOutcome::kUnknown: return out;
  }
  out.issued_at = now;
  out.refresh_expires_at = sessions_->ExpiresAt(out.session);
  out.access_expires_at = std::min(r.access_expires_at, out.refresh_expires_at);
  return out;
}

Result<std::optional<session::Session>> TokenService::RevokeRefreshToken(
    std::string_view refresh_token) {
  if (!WellFormedRefreshToken(refresh_token)) return std::optional<session::Session>();
  TESSERA_ASSIGN_OR_RETURN(std::optional<session::Session> gone,
                           store_->RemoveByRefresh(crypto::Sha256(refresh_token)));
  if (gone) revocations_->RevokeSession(gone->handle, gone->tokens_until);
  return gone;
}

Status TokenService::RevokeAccessToken(const AccessToken& token) {
  // Here first, so the token stops at once even when the store cannot record it; then the store,
  // for the other processes and for a restart.
  revocations_->RevokeTokenId(token.jti, token.exp);
  return store_->AddRevocation({.handle = TokenIdRevocationKey(token.jti), .until = token.exp});
}

Result<std::optional<std::pair<session::RefreshRecord, session::Session>>>
TokenService::FindLiveRefresh(std::string_view refresh_token) {
  using Found = std::optional<std::pair<session::RefreshRecord, session::Session>>;
  if (!WellFormedRefreshToken(refresh_token)) return Found();
  TESSERA_ASSIGN_OR_RETURN(Found found, store_->FindRefresh(crypto::Sha256(refresh_token)));
  const int64_t now = clock_->NowSeconds();
  if (!found || found->first.rotated_at != 0 || now >= sessions_->ExpiresAt(found->second)) {
    return Found();
  }
  return found;
}

}  // namespace tessera::token
