#include "tessera/token/access_token.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "jose/test_keys.h"
#include "token/access_token_testing.h"

// Verification of good tokens, the verified-token cache (what it may and may not skip), the
// revocation list, and key-set changes. Forged tokens: access_token_adversarial_test.cc.
namespace tessera::token {
namespace {

using jose::Alg;
using jose::testing::Forge;
using namespace tessera::token::testing;  // NOLINT: the fixture and its helpers

TEST_F(AccessVerifierTest, ValidTokenIsAcceptedWithEveryClaim) {
  AccessVerifier v(&keys_, &revocations_, Options());
  AccessToken t;
  Status s = v.Verify(Sign(key1(), Claims()), kT0, &t);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(t.sub, "user-42");
  EXPECT_EQ(t.sid, "sid-1");
  EXPECT_EQ(t.jti, "jti-1");
  EXPECT_EQ(t.username, "alice");
  EXPECT_EQ(t.roles, (std::vector<std::string>{"admin", "billing"}));
  EXPECT_EQ(t.kid, key1().kid());
  EXPECT_EQ(t.iat, kT0);
  EXPECT_EQ(t.exp, kT0 + kTtl);
  EXPECT_EQ(v.cache_misses(), 1u);
  EXPECT_EQ(v.cache_hits(), 0u);
}

TEST_F(AccessVerifierTest, AudienceArrayNamingUsIsAcceptedAndRolesMayBeAbsent) {
  AccessVerifier v(&keys_, &revocations_, Options());
  json c = Claims();
  c["aud"] = {"other-api", kAudience};
  c.erase("roles");
  c.erase("preferred_username");
  AccessToken t;
  ASSERT_TRUE(v.Verify(Sign(key1(), c), kT0, &t).ok());
  EXPECT_TRUE(t.roles.empty());
  EXPECT_EQ(t.username, "");
}

TEST_F(AccessVerifierTest, SecondVerifyIsACacheHitWithTheSameClaims) {
  AccessVerifier v(&keys_, &revocations_, Options());
  const std::string token = Sign(key1(), Claims());
  AccessToken first, second;
  ASSERT_TRUE(v.Verify(token, kT0, &first).ok());
  ASSERT_TRUE(v.Verify(token, kT0 + 1, &second).ok());
  EXPECT_EQ(v.cache_hits(), 1u);
  EXPECT_EQ(v.cache_misses(), 1u);
  EXPECT_EQ(second.sid, first.sid);
  EXPECT_EQ(second.jti, first.jti);
  EXPECT_EQ(second.roles, first.roles);
  EXPECT_EQ(second.username, first.username);
  EXPECT_EQ(second.exp, first.exp);
}

TEST_F(AccessVerifierTest, RevokedSidIsRefusedAfterACacheHit) {
  AccessVerifier v(&keys_, &revocations_, Options());
  const std::string token = Sign(key1(), Claims("sid-r", "jti-r"));
  AccessToken t;
  ASSERT_TRUE(v.Verify(token, kT0, &t).ok());
  ASSERT_TRUE(v.Verify(token, kT0, &t).ok());
  ASSERT_EQ(v.cache_hits(), 1u);
  // A logout: the cached verdict must not outlive it.
  revocations_.RevokeSession("sid-r", kT0 + kTtl);
  Status s = v.Verify(token, kT0 + 1, &t);
  EXPECT_EQ(s.code(), Code::kUnauthenticated);
  EXPECT_EQ(s.reason(), Reason::kUnknownSession);
  EXPECT_EQ(v.cache_hits(), 1u);
  // And stays refused (a revocation is never withdrawn).
  EXPECT_EQ(v.Verify(token, kT0 + 2, &t).code(), Code::kUnauthenticated);
}

// A server whose sessions live in memory forgot every session and revocation at restart: a
// token issued before its start is refused, cached or not.
TEST_F(AccessVerifierTest, TokensIssuedBeforeNotBeforeAreRefused) {
  AccessVerifierOptions o = Options();
  o.not_before = kT0 + 1;
  AccessVerifier v(&keys_, &revocations_, o);
  AccessToken t;
  Status old = v.Verify(Sign(key1(), Claims()), kT0 + 2, &t);
  EXPECT_EQ(old.code(), Code::kUnauthenticated);
  EXPECT_EQ(old.reason(), Reason::kUnknownSession);
  json fresh = Claims("sid-2", "jti-2");
  fresh["iat"] = kT0 + 1;
  EXPECT_TRUE(v.Verify(Sign(key1(), fresh), kT0 + 2, &t).ok());
}

// Fail closed: when the revocation list cannot vouch for itself, no token is accepted, not even
// a cached one, and the answer says "unavailable" (503), not "invalid token".
TEST_F(AccessVerifierTest, AStaleRevocationListRefusesEveryTokenAsUnavailable) {
  class StaleList final : public RevocationList {
   public:
    bool stale = false;
    bool IsRevoked(std::string_view, std::string_view, int64_t) const override { return false; }
    void RevokeSession(std::string_view, int64_t) override {}
    void RevokeTokenId(std::string_view, int64_t) override {}
    size_t size() const override { return 0; }
    Status Check(int64_t) const override {
      return stale ? Status(Code::kUnavailable, Reason::kStore, "stale") : Status::Ok();
    }
  } list;
  AccessVerifier v(&keys_, &list, Options());
  const std::string token = Sign(key1(), Claims());
  AccessToken t;
  ASSERT_TRUE(v.Verify(token, kT0, &t).ok());
  list.stale = true;
  EXPECT_EQ(v.Verify(token, kT0, &t).code(), Code::kUnavailable);
  list.stale = false;
  EXPECT_TRUE(v.Verify(token, kT0, &t).ok());
}

TEST_F(AccessVerifierTest, RevokedJtiIsRefusedAfterACacheHitButItsSessionLivesOn) {
  AccessVerifier v(&keys_, &revocations_, Options());
  const std::string revoked = Sign(key1(), Claims("sid-j", "jti-a"));
  const std::string sibling = Sign(key1(), Claims("sid-j", "jti-b"));
  AccessToken t;
  ASSERT_TRUE(v.Verify(revoked, kT0, &t).ok());
  ASSERT_TRUE(v.Verify(revoked, kT0, &t).ok());
  revocations_.RevokeTokenId("jti-a", kT0 + kTtl);
  EXPECT_EQ(v.Verify(revoked, kT0, &t).reason(), Reason::kUnknownSession);
  EXPECT_TRUE(v.Verify(sibling, kT0, &t).ok());
}

TEST_F(AccessVerifierTest, RevokedBeforeFirstVerifyIsRefusedAndNotCached) {
  AccessVerifier v(&keys_, &revocations_, Options());
  revocations_.RevokeSession("sid-x", kT0 + kTtl);
  const std::string token = Sign(key1(), Claims("sid-x"));
  AccessToken t;
  EXPECT_EQ(v.Verify(token, kT0, &t).reason(), Reason::kUnknownSession);
  EXPECT_EQ(v.Verify(token, kT0, &t).reason(), Reason::kUnknownSession);
  EXPECT_EQ(v.cache_hits(), 0u);
  EXPECT_EQ(v.cache_misses(), 2u);
}

TEST_F(AccessVerifierTest, ExpiryIsCheckedOnCacheHitsAtTheLeewayBoundary) {
  AccessVerifier v(&keys_, &revocations_, Options());
  const std::string token = Sign(key1(), Claims());
  AccessToken t;
  ASSERT_TRUE(v.Verify(token, kT0, &t).ok());
  ASSERT_TRUE(v.Verify(token, kT0 + kTtl + kLeeway - 1, &t).ok());  // last accepted second
  EXPECT_EQ(v.cache_hits(), 1u);
  Status s = v.Verify(token, kT0 + kTtl + kLeeway, &t);
  EXPECT_EQ(s.code(), Code::kUnauthenticated);
  EXPECT_EQ(s.reason(), Reason::kExpired);
  EXPECT_EQ(v.cache_hits(), 1u);
  // A fresh verification of the same token at that time agrees.
  AccessVerifier fresh(&keys_, &revocations_, Options(0));
  EXPECT_EQ(fresh.Verify(token, kT0 + kTtl + kLeeway, &t).reason(), Reason::kExpired);
}

TEST_F(AccessVerifierTest, NotYetValidIsCheckedOnCacheHits) {
  AccessVerifier v(&keys_, &revocations_, Options());
  json c = Claims();
  c["nbf"] = kT0 + 100;
  const std::string token = Sign(key1(), c);
  AccessToken t;
  ASSERT_TRUE(v.Verify(token, kT0 + 100 - kLeeway, &t).ok());
  // The clock stepped back: a cached verdict must not skip the nbf check.
  EXPECT_EQ(v.Verify(token, kT0 + 100 - kLeeway - 1, &t).reason(), Reason::kNotYetValid);
  EXPECT_TRUE(v.Verify(token, kT0 + 100, &t).ok());
}

// Regression (found writing this test): the cache re-checks exp and nbf but not iat, so when the
// clock steps back a cached token issued "in the future" is accepted, while the same token
// verified afresh is refused with kIssuedInFuture. A cache hit must give the fresh verdict.
TEST_F(AccessVerifierTest, CacheHitChecksIatLikeAFreshVerify) {
  AccessVerifier cached(&keys_, &revocations_, Options());
  AccessVerifier fresh(&keys_, &revocations_, Options(0));
  json c = Claims();
  c["iat"] = kT0 + 30;
  const std::string token = Sign(key1(), c);
  AccessToken t;
  ASSERT_TRUE(cached.Verify(token, kT0, &t).ok());  // iat within the leeway of now
  const int64_t earlier = kT0 - 40;                 // iat > earlier + leeway
  ASSERT_EQ(ReasonName(fresh.Verify(token, earlier, &t).reason()), "issued_in_future");
  EXPECT_EQ(ReasonName(cached.Verify(token, earlier, &t).reason()), "issued_in_future");
}

// Regression (found writing this test): JwtVerifier clamps leeway_seconds to [0, 86400] but the
// cache's own exp check uses the unclamped AccessVerifierOptions::leeway_seconds, so with a large
// configured leeway a cached token is accepted after a fresh verification refuses it as expired.
TEST_F(AccessVerifierTest, CacheHitUsesTheSameLeewayAsAFreshVerify) {
  AccessVerifierOptions o = Options();
  o.leeway_seconds = 200000;
  AccessVerifier cached(&keys_, &revocations_, o);
  o.cache_capacity = 0;
  AccessVerifier fresh(&keys_, &revocations_, o);
  const std::string token = Sign(key1(), Claims());
  AccessToken t;
  ASSERT_TRUE(cached.Verify(token, kT0, &t).ok());
  const int64_t late = kT0 + kTtl + 86400;  // past exp + the verifier's clamped leeway
  ASSERT_EQ(ReasonName(fresh.Verify(token, late, &t).reason()), "expired");
  EXPECT_EQ(ReasonName(cached.Verify(token, late, &t).reason()), "expired");
}

TEST_F(AccessVerifierTest, SwappedKeySetMakesACachedTokenVerifyAgainAndFailWithoutItsKey) {
  AccessVerifier v(&keys_, &revocations_, Options());
  const std::string token = Sign(key1(), Claims());
  AccessToken t;
  ASSERT_TRUE(v.Verify(token, kT0, &t).ok());
  ASSERT_TRUE(v.Verify(token, kT0, &t).ok());
  ASSERT_EQ(v.cache_hits(), 1u);
  // key1 revoked (KM-05): the set no longer has it. Its tokens stop at once, cached or not.
  keys_.Swap(SetOf({key2()}));
  Status s = v.Verify(token, kT0 + 1, &t);
  EXPECT_EQ(s.code(), Code::kUnauthenticated);
  EXPECT_EQ(s.reason(), Reason::kNoKey);
  EXPECT_EQ(v.cache_hits(), 1u);
  EXPECT_EQ(keys_.refreshes(), 1);  // the unknown kid asked for a refresh, which found nothing
  // A new set object with the key again: verified afresh under it, then cached under it.
  keys_.Swap(SetOf({key1(), key2()}));
  ASSERT_TRUE(v.Verify(token, kT0 + 2, &t).ok());
  EXPECT_EQ(v.cache_hits(), 1u);
  ASSERT_TRUE(v.Verify(token, kT0 + 3, &t).ok());
  EXPECT_EQ(v.cache_hits(), 2u);
}

TEST_F(AccessVerifierTest, UnknownKidRefreshesOnceAndSucceedsWithTheRefreshedSet) {
  AccessVerifier v(&keys_, &revocations_, Options());
  keys_.StageForRefresh(SetOf({key1(), key2()}));  // the rotation the verifier has not seen
  const std::string token = Sign(key2(), Claims());
  AccessToken t;
  Status s = v.Verify(token, kT0, &t);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(t.kid, key2().kid());
  EXPECT_EQ(keys_.refreshes(), 1);
  EXPECT_EQ(keys_.last_kid(), key2().kid());
  // Cached under the refreshed set: no further refresh.
  ASSERT_TRUE(v.Verify(token, kT0, &t).ok());
  EXPECT_EQ(v.cache_hits(), 1u);
  EXPECT_EQ(keys_.refreshes(), 1);
  // A known kid never triggers a refresh.
  ASSERT_TRUE(v.Verify(Sign(key1(), Claims("s2", "j2")), kT0, &t).ok());
  EXPECT_EQ(keys_.refreshes(), 1);
}

TEST_F(AccessVerifierTest, UnknownKidThatNoRefreshFindsIsRefusedAfterExactlyOneRefresh) {
  AccessVerifier v(&keys_, &revocations_, Options());
  const std::string token = Sign(key2(), Claims());
  AccessToken t;
  Status s = v.Verify(token, kT0, &t);
  EXPECT_EQ(s.code(), Code::kUnauthenticated);
  EXPECT_EQ(s.reason(), Reason::kNoKey);
  EXPECT_EQ(keys_.refreshes(), 1);
  // Made-up kids are looked up once per token (the KeySource rate-limits), never looped.
  json h = Header(key1());
  h["kid"] = "made-up";
  EXPECT_EQ(v.Verify(Forge(key1(), Alg::kES256, h.dump(), Claims().dump()), kT0, &t).reason(),
            Reason::kNoKey);
  EXPECT_EQ(keys_.refreshes(), 2);
  EXPECT_EQ(keys_.last_kid(), "made-up");
}

// A tessera access token whose claims nest `levels` deep (the claims object being level 1): an
// RFC 9396 authorization_details of alternating arrays and objects, signed as given.
std::string NestedToken(const Jwk& key, size_t levels) {
  std::string open, close;
  for (size_t level = 2; level <= levels; ++level) {
    open += level % 2 == 0 ? "[" : R"({"type":"x","d":)";
    close.insert(0, level % 2 == 0 ? "]" : "}");
  }
  std::string claims = Claims().dump();
  claims.pop_back();  // the closing brace
  claims += R"(,"authorization_details":)" + open + "1" + close + "}";
  return Forge(key, Alg::kES256, Header(key).dump(), claims);
}

TEST_F(AccessVerifierTest, ClaimsNestedUpTo64LevelsAreAccepted) {
  AccessVerifier v(&keys_, &revocations_, Options(0));
  for (size_t levels : {2, 16, 17, 63, 64}) {
    AccessToken t;
    Status s = v.Verify(NestedToken(key1(), levels), kT0, &t);
    ASSERT_TRUE(s.ok()) << levels << " levels: " << s.ToString();
    EXPECT_EQ(t.sid, "sid-1");
    EXPECT_EQ(t.roles, (std::vector<std::string>{"admin", "billing"}));
  }
}

TEST_F(AccessVerifierTest, ClaimsNestedBeyondTheLimitAreRefused) {
  AccessVerifier v(&keys_, &revocations_, Options());
  for (size_t levels : {65, 100, 1000, 100000}) {
    const std::string token = NestedToken(key1(), levels);
    AccessToken t;
    Status s = v.Verify(token, kT0, &t);
    EXPECT_EQ(s.code(), Code::kUnauthenticated) << levels;
    // Too deep, or (the largest) too large to be parsed at all.
    EXPECT_TRUE(s.reason() == Reason::kTooDeep || s.reason() == Reason::kMalformedToken)
        << levels << ": " << s.ToString();
    if (token.size() <= 8 * 1024) {
      EXPECT_EQ(s.reason(), Reason::kTooDeep) << levels;
    }
    EXPECT_EQ(v.Verify(token, kT0, &t).code(), Code::kUnauthenticated);  // never cached
  }
  EXPECT_EQ(keys_.refreshes(), 0);  // a refusal for depth is not an unknown key
}

TEST_F(AccessVerifierTest, CacheCapacityZeroNeverHits) {
  AccessVerifier v(&keys_, &revocations_, Options(0));
  const std::string token = Sign(key1(), Claims());
  AccessToken t;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(v.Verify(token, kT0 + i, &t).ok());
  EXPECT_EQ(v.cache_hits(), 0u);
  EXPECT_EQ(v.cache_misses(), 5u);
  revocations_.RevokeSession("sid-1", kT0 + kTtl);
  EXPECT_EQ(v.Verify(token, kT0, &t).reason(), Reason::kUnknownSession);
}

TEST_F(AccessVerifierTest, AFullSmallCacheStaysCorrect) {
  AccessVerifier v(&keys_, &revocations_, Options(3));
  std::vector<std::string> tokens;
  for (int i = 0; i < 60; ++i) {
    tokens.push_back(Sign(key1(), Claims("sid-" + std::to_string(i), "jti-" + std::to_string(i))));
  }
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      AccessToken t;
      ASSERT_TRUE(v.Verify(tokens[i], kT0 + round, &t).ok()) << i;
      EXPECT_EQ(t.sid, "sid-" + std::to_string(i));  // never another token's claims
    }
  }
  EXPECT_EQ(v.cache_hits() + v.cache_misses(), 180u);
  EXPECT_GT(v.cache_misses(), 60u);  // 60 tokens do not fit in 3 (or 16) entries
  for (int i = 0; i < 60; i += 2)
    revocations_.RevokeSession("sid-" + std::to_string(i), kT0 + kTtl);
  for (size_t i = 0; i < tokens.size(); ++i) {
    AccessToken t;
    EXPECT_EQ(v.Verify(tokens[i], kT0 + 5, &t).ok(), i % 2 == 1) << i;
    EXPECT_EQ(v.Verify(tokens[i], kT0 + 6, &t).ok(), i % 2 == 1) << i;
  }
  // Expired entries are refused, whether they were in the cache or not.
  for (const std::string& token : tokens) {
    AccessToken t;
    EXPECT_EQ(v.Verify(token, kT0 + kTtl + kLeeway, &t).code(), Code::kUnauthenticated);
  }
}

TEST_F(AccessVerifierTest, WithoutARevocationListOnlyTheTokenDecides) {
  AccessVerifier v(&keys_, nullptr, Options());
  revocations_.RevokeSession("sid-1", kT0 + kTtl);  // not consulted: no list was given
  AccessToken t;
  EXPECT_TRUE(v.Verify(Sign(key1(), Claims()), kT0, &t).ok());
}

// Verifications on several threads while a session is revoked: once RevokeSession returned,
// nothing accepts its token any more, cache or not.
TEST_F(AccessVerifierTest, ConcurrentVerifiesStopAtARevocation) {
  AccessVerifier v(&keys_, &revocations_, Options(64));
  const std::string token = Sign(key1(), Claims("sid-c", "jti-c"));
  const std::string other = Sign(key1(), Claims("sid-d", "jti-d"));
  std::atomic<bool> revoked{false}, done{false};
  std::atomic<int> late_accepts{0}, other_refusals{0};
  auto worker = [&] {
    AccessToken t;
    do {
      const bool was_revoked = revoked.load(std::memory_order_acquire);
      if (v.Verify(token, kT0, &t).ok() && was_revoked) late_accepts.fetch_add(1);
      if (!v.Verify(other, kT0, &t).ok()) other_refusals.fetch_add(1);
    } while (!done.load(std::memory_order_acquire));
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(worker);
  AccessToken t;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(v.Verify(token, kT0, &t).ok());
  revocations_.RevokeSession("sid-c", kT0 + kTtl);
  revoked.store(true, std::memory_order_release);
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(v.Verify(token, kT0, &t).ok());
  done.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  EXPECT_EQ(late_accepts.load(), 0);
  EXPECT_EQ(other_refusals.load(), 0);
}

TEST(AccessTokenFromClaims, RequiresSubSidJtiAndIat) {
  jose::Claims c;
  c.sub = "u";
  c.sid = "s";
  c.jti = "j";
  c.iat = kT0;
  c.exp = kT0 + 1;
  c.payload = R"({"roles":["a"],"preferred_username":"n"})";
  auto ok = AccessTokenFromClaims(c);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->roles, std::vector<std::string>{"a"});
  EXPECT_EQ(ok->username, "n");
  for (int missing = 0; missing < 4; ++missing) {
    jose::Claims bad = c;
    if (missing == 0) bad.sub.clear();
    if (missing == 1) bad.sid.clear();
    if (missing == 2) bad.jti.clear();
    if (missing == 3) bad.iat.reset();
    auto r = AccessTokenFromClaims(bad);
    ASSERT_FALSE(r) << missing;
    EXPECT_EQ(r.error().code(), Code::kUnauthenticated);
    EXPECT_EQ(r.error().reason(), Reason::kMissingClaim);
  }
  jose::Claims not_object = c;
  not_object.payload = "[]";
  EXPECT_EQ(AccessTokenFromClaims(not_object).error().reason(), Reason::kBadClaimType);
}

}  // namespace
}  // namespace tessera::token
