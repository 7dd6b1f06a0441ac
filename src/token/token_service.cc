#include "tessera/token/token_service.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "crypto/seal.h"
#include "tessera/jose/base64url.h"

namespace tessera::token {
namespace {

// A refresh token (session_store.h, "A bounded family"):
//   base64url(family id (16 bytes) || generation (6 bytes, big-endian) || random (32 bytes))
// 72 characters. The family id is 128 bits from the CSPRNG, the same in every token of the family
// and known to nobody else; the random part is 256 fresh bits (docs/design.md; RT-01 asks at least
// 128). Tokens from before families were the random part alone (43 characters); they are still
// accepted, and their successors start a family.
constexpr size_t kRefreshBytes = 32;
constexpr size_t kFamilyIdBytes = 16;
constexpr size_t kGenerationBytes = 6;
constexpr size_t kFamilyTokenBytes = kFamilyIdBytes + kGenerationBytes + kRefreshBytes;
constexpr int64_t kMaxGeneration = (int64_t{1} << (8 * kGenerationBytes)) - 1;
constexpr size_t kJtiBytes = 16;
// HKDF "info" of the successor's seal: this key opens nothing else made from the same token.
constexpr std::string_view kSealContext = "tessera refresh successor v1";
// Prefix of the family key: SHA-256 of it and the family id, never equal to a token's hash.
constexpr std::string_view kFamilyKeyContext = "tessera refresh family v1:";

std::string RandomToken(size_t bytes) {
  return jose::Base64UrlEncode(crypto::RandomString(bytes));
}

// What a refresh token names.
struct RefreshName {
  std::string family_id;   // empty: a token from before families
  int64_t generation = 0;  // 0 for those
};

// REQUIRES: TokenService::WellFormedRefreshToken(token).
RefreshName ParseRefreshToken(std::string_view token) {
  RefreshName out;
  if (token.size() != jose::Base64UrlEncodedSize(kFamilyTokenBytes)) return out;
  auto raw = jose::Base64UrlDecode(token);
  if (!raw || raw->size() != kFamilyTokenBytes) return out;
  out.family_id = raw->substr(0, kFamilyIdBytes);
  for (size_t i = 0; i < kGenerationBytes; ++i) {
    out.generation = (out.generation << 8) | static_cast<uint8_t>((*raw)[kFamilyIdBytes + i]);
  }
  return out;
}

// A fresh token of the family `family_id` at `generation`.
std::string MakeRefreshToken(std::string_view family_id, int64_t generation) {
  std::string raw(family_id);
  for (size_t i = kGenerationBytes; i-- > 0;) {
    raw.push_back(static_cast<char>((generation >> (8 * i)) & 0xff));
  }
  raw += crypto::RandomString(kRefreshBytes);
  std::string token = jose::Base64UrlEncode(raw);
  crypto::SecureZero(raw.data(), raw.size());
  return token;
}

std::string FamilyKey(std::string_view family_id) {
  std::string input(kFamilyKeyContext);
  input += family_id;
  return crypto::Sha256(input);
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
  return (s.size() == jose::Base64UrlEncodedSize(kFamilyTokenBytes) ||
          s.size() == jose::Base64UrlEncodedSize(kRefreshBytes)) &&
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
                                 {"preferred_username", subject.username},
                                 // RFC 8176 values: how the sign-in of the session went.
                                 {"amr", session.mfa ? nlohmann::json{"pwd", "otp"}
                                                     : nlohmann::json{"pwd"}}};
  std::string token;
  TESSERA_RETURN_IF_ERROR(keyset_->Current(iat)->signer.SignTrusted(claims.dump(), &token));
  return token;
}

Result<IssuedTokens> TokenService::Login(const Subject& subject,
                                         const session::DeviceInfo& device) {
  const int64_t now = clock_->NowSeconds();
  IssuedTokens out;
  out.issued_at = now;
  const std::string family_id = crypto::RandomString(kFamilyIdBytes);
  out.refresh_token = MakeRefreshToken(family_id, 0);
  const int64_t exp = now + options_.access_ttl_seconds;
  TESSERA_ASSIGN_OR_RETURN(
      session::NewSession created,
      sessions_->CreateTokenSession(subject.id, device, crypto::Sha256(out.refresh_token),
                                    options_.refresh_ttl_seconds, exp, FamilyKey(family_id)));
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
  // One reading: the grace window is measured in milliseconds, everything else in its seconds.
  const int64_t now_ms = clock_->NowMillis();
  const int64_t now = now_ms / 1000;
  RefreshName name = ParseRefreshToken(presented);
  if (name.family_id.empty()) {
    // A token from before families: its successor starts one (the store keeps this family only
    // if the token is live and rotates).
    name.family_id = crypto::RandomString(kFamilyIdBytes);
  } else if (name.generation >= kMaxGeneration) {
    return InvalidArgument(Reason::kMalformedToken, "not a refresh token");  // never issued
  }
  const std::string successor = MakeRefreshToken(name.family_id, name.generation + 1);
  session::RefreshRotation r;
  r.presented_hash = crypto::Sha256(presented);
  r.successor_hash = crypto::Sha256(successor);
  TESSERA_ASSIGN_OR_RETURN(r.sealed_successor,
                           crypto::SealWithSecret(presented, kSealContext, successor));
  r.family = FamilyKey(name.family_id);
  r.generation = name.generation;
  r.now_ms = now_ms;
  r.grace_ms = options_.refresh_reuse_grace_ms;
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
  if (!gone) {
    // An ancestor whose record was pruned still ends its grant, as a stored one does.
    const RefreshName name = ParseRefreshToken(refresh_token);
    if (!name.family_id.empty()) {
      TESSERA_ASSIGN_OR_RETURN(
          gone, store_->RemoveByRefreshAncestor(FamilyKey(name.family_id), name.generation));
    }
  }
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
  if (!found || found->first.rotated_at_ms != 0 || now >= sessions_->ExpiresAt(found->second)) {
    return Found();
  }
  return found;
}

}  // namespace tessera::token
