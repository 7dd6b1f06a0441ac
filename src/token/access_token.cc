#include "tessera/token/access_token.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "crypto/hash.h"

namespace tessera::token {
namespace {

// An Authorization header is capped at 8 KiB (docs/security.md JV-08); tessera's tokens are far below.
constexpr size_t kMaxTokenBytes = 8 * 1024;

Status Revoked() {
  return Unauthenticated(Reason::kUnknownSession, "the session of this token has ended");
}

// The kid a token names, read from its unverified header only to decide whether the key set is
// worth reloading; never trusted for anything else.
std::string UnverifiedKid(std::string_view token) {
  auto decoded = jose::DecodeUnverified(token);
  if (!decoded) return {};
  auto header = nlohmann::json::parse(decoded->header_json, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return {};
  auto kid = header.find("kid");
  if (kid == header.end() || !kid->is_string()) return {};
  return kid->get<std::string>().substr(0, 256);
}

// The leeway as JwtVerifier applies it, so that a cache hit and a fresh verify agree.
AccessVerifierOptions Clamped(AccessVerifierOptions o) {
  o.leeway_seconds = std::clamp<int64_t>(o.leeway_seconds, 0, 86400);
  return o;
}

// Every refusal of a token is kUnauthenticated (with the library's reason and message), whatever
// code the JOSE layer used for it (a malformed token is kInvalidArgument there).
Status AsUnauthenticated(Status s) {
  if (s.ok() || s.code() == Code::kUnauthenticated || s.code() == Code::kUnavailable ||
      s.code() == Code::kInternal) {
    return s;
  }
  return Unauthenticated(s.reason(), s.message());
}

}  // namespace

Result<AccessToken> AccessTokenFromClaims(const jose::Claims& c) {
  if (c.sub.empty() || c.sid.empty() || c.jti.empty() || !c.iat) {
    return Unauthenticated(Reason::kMissingClaim, "token lacks sub, sid, jti or iat");
  }
  AccessToken t;
  t.sub = c.sub;
  t.sid = c.sid;
  t.jti = c.jti;
  t.kid = c.kid;
  t.iat = *c.iat;
  t.exp = c.exp;
  // The payload was parsed strictly (duplicates, depth) when the signature was checked; this
  // second parse only reads the two application claims.
  auto payload = nlohmann::json::parse(c.payload, nullptr, /*allow_exceptions=*/false);
  if (!payload.is_object()) return Unauthenticated(Reason::kBadClaimType, "payload is not an object");
  if (auto roles = payload.find("roles"); roles != payload.end()) {
    if (!roles->is_array()) return Unauthenticated(Reason::kBadClaimType, "roles is not an array");
    for (const auto& r : *roles) {
      if (!r.is_string()) return Unauthenticated(Reason::kBadClaimType, "a role is not a string");
      t.roles.push_back(r.get<std::string>());
    }
  }
  if (auto amr = payload.find("amr"); amr != payload.end()) {
    if (!amr->is_array()) return Unauthenticated(Reason::kBadClaimType, "amr is not an array");
    for (const auto& m : *amr) {
      if (!m.is_string()) return Unauthenticated(Reason::kBadClaimType, "an amr is not a string");
      t.amr.push_back(m.get<std::string>());
    }
  }
  if (auto name = payload.find("preferred_username"); name != payload.end()) {
    if (!name->is_string()) {
      return Unauthenticated(Reason::kBadClaimType, "preferred_username is not a string");
    }
    t.username = name->get<std::string>();
  }
  return t;
}

AccessVerifier::AccessVerifier(KeySource* keys, const RevocationList* revocations,
                               AccessVerifierOptions options)
    : keys_(keys),
      revocations_(revocations),
      options_(Clamped(std::move(options))),
      per_shard_capacity_((options_.cache_capacity + kShards - 1) / kShards) {}

AccessVerifier::~AccessVerifier() = default;

std::shared_ptr<const jose::JwtVerifier> AccessVerifier::VerifierFor(
    std::shared_ptr<const jose::Jwks> keys) const {
  std::lock_guard lock(verifier_mu_);
  if (verifier_keys_ != keys || !verifier_) {
    jose::JwtVerifyOptions o;
    o.algs = options_.algs;
    o.issuers = {options_.issuer};
    o.audiences = {options_.audience};
    o.typ = "at+jwt";  // RFC 9068: never an ID token or another JWT signed with the same key
    o.leeway_seconds = options_.leeway_seconds;
    o.required_claims = {"sub", "sid", "jti", "iat"};
    verifier_ = std::make_shared<const jose::JwtVerifier>(keys, std::move(o));
    verifier_keys_ = std::move(keys);
  }
  return verifier_;
}

Status AccessVerifier::CheckTimesAndRevocation(const AccessToken& t, int64_t nbf,
                                               int64_t now) const {
  // The same checks JwtVerifier makes, repeated for a token served from the cache.
  if (now - options_.leeway_seconds >= t.exp) return Unauthenticated(Reason::kExpired, "token expired");
  if (nbf > 0 && now + options_.leeway_seconds < nbf) {
    return Unauthenticated(Reason::kNotYetValid, "token not valid yet");
  }
  if (now + options_.leeway_seconds < t.iat) {
    return Unauthenticated(Reason::kIssuedInFuture, "token issued in the future");
  }
  if (t.iat < options_.not_before) return Revoked();
  if (revocations_ && revocations_->IsRevoked(t.sid, t.jti, now)) return Revoked();
  return Status::Ok();
}

Status AccessVerifier::Verify(std::string_view token, int64_t now, AccessToken* out) const {
  if (token.empty() || token.size() > kMaxTokenBytes) {
    return Unauthenticated(Reason::kMalformedToken, "malformed token");
  }
  // Fail closed: without a current revocation list, no token can be known to be alive.
  if (revocations_) TESSERA_RETURN_IF_ERROR(revocations_->Check(now));
  std::shared_ptr<const jose::Jwks> keys = keys_->Keys(now);
  std::string cache_key;
  Shard* shard = nullptr;
  if (per_shard_capacity_ > 0) {
    cache_key = crypto::Sha256(token);
    shard = &shards_[static_cast<unsigned char>(cache_key[0]) % kShards];
    std::unique_lock lock(shard->mu);
    if (auto it = shard->map.find(cache_key); it != shard->map.end()) {
      const Entry& e = it->second;
      if (e.keys == keys) {
        Status ok = CheckTimesAndRevocation(e.token, e.nbf, now);
        if (ok.ok()) {
          *out = e.token;
          lock.unlock();
          hits_.fetch_add(1, std::memory_order_relaxed);
          return ok;
        }
        // Expired or revoked: never valid again. Not yet valid (the clock stepped back): later.
        if (ok.reason() != Reason::kNotYetValid && ok.reason() != Reason::kIssuedInFuture) {
          shard->map.erase(it);
        }
        return ok;
      }
      shard->map.erase(it);  // verified under a key set that has changed: verify again
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  jose::Claims claims;
  Status verified = VerifierFor(keys)->Verify(token, now, &claims);
  if (!verified.ok() && verified.reason() == Reason::kNoKey &&
      keys_->RefreshForUnknownKid(UnverifiedKid(token), now)) {
    keys = keys_->Keys(now);
    verified = VerifierFor(keys)->Verify(token, now, &claims);
  }
  TESSERA_RETURN_IF_ERROR(AsUnauthenticated(std::move(verified)));
  TESSERA_ASSIGN_OR_RETURN(AccessToken t, AccessTokenFromClaims(claims));
  if (t.iat < options_.not_before) return Revoked();
  if (revocations_ && revocations_->IsRevoked(t.sid, t.jti, now)) return Revoked();
  if (shard) {
    Entry e{.token = t, .nbf = claims.nbf.value_or(0), .keys = std::move(keys)};
    std::lock_guard lock(shard->mu);
    if (shard->map.size() >= per_shard_capacity_) {
      std::erase_if(shard->map, [&](const auto& kv) {
        return now - options_.leeway_seconds >= kv.second.token.exp;
      });
      // Still full of live tokens: start over rather than track recency on every hit.
      if (shard->map.size() >= per_shard_capacity_) shard->map.clear();
    }
    shard->map.insert_or_assign(std::move(cache_key), std::move(e));
  }
  *out = std::move(t);
  return Status::Ok();
}

}  // namespace tessera::token
