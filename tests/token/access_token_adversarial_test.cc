#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "jose/test_keys.h"
#include "tessera/jose/base64url.h"
#include "tessera/token/access_token.h"
#include "token/access_token_testing.h"

// AccessVerifier against forged and malformed tokens (docs/security.md JV-*): wrong claims, alg none,
// algorithm confusion, every flipped signature bit, the size limit, ECDSA malleability.
namespace tessera::token {
namespace {

using jose::Alg;
using jose::Jwk;
using jose::testing::B64;
using jose::testing::Forge;
using nlohmann::json;
using namespace tessera::token::testing;  // NOLINT: the fixture and its helpers

TEST_F(AccessVerifierTest, RefreshIsNotAskedForABadSignatureUnderAKnownKid) {
  AccessVerifier v(&keys_, &revocations_, Options());
  // key2 signs, but the header names key1: a bad signature, not an unknown key.
  const std::string token = Forge(key2(), Alg::kES256, Header(key1()).dump(), Claims().dump());
  AccessToken t;
  EXPECT_EQ(v.Verify(token, kT0, &t).reason(), Reason::kBadSignature);
  EXPECT_EQ(keys_.refreshes(), 0);
}

struct Forgery {
  const char* name;
  std::string token;
};

// Tokens no verifier may accept: each is well signed unless the point is its signature.
std::vector<Forgery> Forgeries(const Jwk& k) {
  const std::string h = Header(k).dump();
  auto without = [](const char* claim) {
    json c = Claims();
    c.erase(claim);
    return c.dump();
  };
  auto with = [](const char* claim, json value) {
    json c = Claims();
    c[claim] = std::move(value);
    return c.dump();
  };
  // The public key's JSON used as an HMAC secret (the classic RS/ES -> HS confusion).
  auto hmac = Jwk::Parse(json{{"kty", "oct"}, {"k", B64(k.PublicKey().ToJson(false))}}.dump());
  if (!hmac) throw std::runtime_error(hmac.error().ToString());
  const std::string good = Sign(k, Claims());
  const auto seg = Segments(good);

  return {
      {"wrong iss", Forge(k, Alg::kES256, h, with("iss", "https://evil.example"))},
      {"no iss", Forge(k, Alg::kES256, h, without("iss"))},
      {"wrong aud", Forge(k, Alg::kES256, h, with("aud", "other-api"))},
      {"aud array without us", Forge(k, Alg::kES256, h, with("aud", {"a", "b"}))},
      {"no aud", Forge(k, Alg::kES256, h, without("aud"))},
      {"typ JWT", Sign(k, Claims(), "JWT")},
      {"no typ",
       Forge(k, Alg::kES256, json{{"alg", "ES256"}, {"kid", k.kid()}}.dump(), Claims().dump())},
      {"typ id_token-ish",
       Forge(k, Alg::kES256, Header(k, "ES256", "id+jwt").dump(), Claims().dump())},
      {"no sid", Forge(k, Alg::kES256, h, without("sid"))},
      {"empty sid", Forge(k, Alg::kES256, h, with("sid", ""))},
      {"no jti", Forge(k, Alg::kES256, h, without("jti"))},
      {"empty jti", Forge(k, Alg::kES256, h, with("jti", ""))},
      {"no sub", Forge(k, Alg::kES256, h, without("sub"))},
      {"no iat", Forge(k, Alg::kES256, h, without("iat"))},
      {"no exp", Forge(k, Alg::kES256, h, without("exp"))},
      {"expired", Forge(k, Alg::kES256, h, with("exp", kT0 - kLeeway))},
      {"sid not a string", Forge(k, Alg::kES256, h, with("sid", 7))},
      {"roles not an array", Forge(k, Alg::kES256, h, with("roles", "admin"))},
      {"a role not a string", Forge(k, Alg::kES256, h, with("roles", {"admin", 1}))},
      {"username not a string", Forge(k, Alg::kES256, h, with("preferred_username", 5))},
      {"alg none", B64(Header(k, "none").dump()) + "." + seg[1] + "."},
      {"alg None", B64(Header(k, "None").dump()) + "." + seg[1] + "."},
      {"alg none with the real signature",
       B64(Header(k, "none").dump()) + "." + seg[1] + "." + seg[2]},
      {"HS256 with the public key",
       Forge(*hmac, Alg::kHS256, Header(k, "HS256").dump(), Claims().dump())},
      {"signature stripped", seg[0] + "." + seg[1] + "."},
      {"payload swapped", seg[0] + "." + B64(with("sub", "admin")) + "." + seg[2]},
      {"two segments", seg[0] + "." + seg[1]},
      {"empty", ""},
      {"garbage", "not a token"},
  };
}

TEST_F(AccessVerifierTest, ForgedAndWrongTokensAreRefusedAndNeverCached) {
  AccessVerifier v(&keys_, &revocations_, Options());
  for (const Forgery& f : Forgeries(key1())) {
    AccessToken t;
    Status first = v.Verify(f.token, kT0, &t);
    EXPECT_FALSE(first.ok()) << f.name;
    // Refusals, not outages: the server must answer 401, never 503/500.
    EXPECT_NE(first.code(), Code::kUnavailable) << f.name;
    EXPECT_NE(first.code(), Code::kInternal) << f.name;
    Status second = v.Verify(f.token, kT0, &t);  // refused again: the cache is positive only
    EXPECT_FALSE(second.ok()) << f.name;
  }
  EXPECT_EQ(v.cache_hits(), 0u);
  // The genuine token passes, so the refusals above are about the forgery.
  AccessToken t;
  EXPECT_TRUE(v.Verify(Sign(key1(), Claims()), kT0, &t).ok());
}

// Regression (found writing this test): access_token.h (and verifier.h for other services)
// promise kUnauthenticated for a token that is not acceptable, and AccessVerifier returns it for
// an empty or oversized token itself, but errors from jose::JwtVerifier pass through unchanged:
// alg "none", a stripped signature, a wrong segment count or a claim of the wrong type come back
// as kInvalidArgument. A service that maps codes as documented (401 for kUnauthenticated, 5xx for
// the rest) answers such a token with an error page instead of 401 invalid_token.
TEST_F(AccessVerifierTest, EveryRefusalIsUnauthenticatedAsDocumented) {
  AccessVerifier v(&keys_, &revocations_, Options());
  for (const Forgery& f : Forgeries(key1())) {
    AccessToken t;
    Status s = v.Verify(f.token, kT0, &t);
    EXPECT_EQ(CodeName(s.code()), CodeName(Code::kUnauthenticated))
        << f.name << ": " << s.ToString();
  }
}

TEST_F(AccessVerifierTest, EveryFlippedSignatureBitAndEveryTruncationIsRefused) {
  AccessVerifier v(&keys_, &revocations_, Options());
  const std::string token = Sign(key1(), Claims());
  AccessToken t;
  ASSERT_TRUE(v.Verify(token, kT0, &t).ok());  // cached: the flips must not ride on it
  const auto seg = Segments(token);
  const std::string sig = *jose::Base64UrlDecode(seg[2]);
  ASSERT_EQ(sig.size(), 64u);
  int accepted = 0;
  for (size_t bit = 0; bit < sig.size() * 8; ++bit) {
    std::string bad = sig;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    if (v.Verify(seg[0] + "." + seg[1] + "." + B64(bad), kT0, &t).ok()) ++accepted;
  }
  for (size_t n = 0; n < sig.size(); ++n) {
    if (v.Verify(seg[0] + "." + seg[1] + "." + B64(sig.substr(0, n)), kT0, &t).ok()) ++accepted;
  }
  EXPECT_EQ(accepted, 0);
  // One flipped character in the token text (header, payload or signature) is refused too.
  for (size_t i = 0; i < token.size(); i += 7) {
    if (token[i] == '.') continue;
    std::string bad = token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(v.Verify(bad, kT0, &t).ok()) << "position " << i;
  }
}

TEST_F(AccessVerifierTest, TokensOver8KiBAreRefusedAtTheBoundary) {
  AccessVerifier v(&keys_, &revocations_, Options());
  auto padded = [](size_t pad) {
    json c = Claims();
    c["pad"] = std::string(pad, 'p');
    return c;
  };
  // Size of a signed token with `pad` bytes of padding, from the size at pad 0 (ES256
  // signatures have a fixed length).
  const size_t base = Sign(key1(), padded(0)).size();
  const size_t base_payload = padded(0).dump().size();
  auto size_for = [&](size_t pad) {
    return base - jose::Base64UrlEncodedSize(base_payload) +
           jose::Base64UrlEncodedSize(base_payload + pad);
  };
  // Genuinely signed tokens around 8192 bytes: only the size decides.
  int below = 0, above = 0;
  for (size_t pad = 0; size_for(pad) <= 8200; ++pad) {
    if (size_for(pad) < 8185) continue;
    const std::string token = Sign(key1(), padded(pad));
    ASSERT_EQ(token.size(), size_for(pad));
    AccessToken t;
    Status s = v.Verify(token, kT0, &t);
    if (token.size() <= 8192) {
      EXPECT_TRUE(s.ok()) << token.size() << ": " << s.ToString();
      ++below;
    } else {
      EXPECT_EQ(s.code(), Code::kUnauthenticated) << token.size();
      EXPECT_EQ(s.reason(), Reason::kMalformedToken) << token.size();
      ++above;
    }
  }
  EXPECT_GT(below, 0);
  EXPECT_GT(above, 0);
  AccessToken t;
  EXPECT_EQ(v.Verify(Sign(key1(), padded(20000)), kT0, &t).code(), Code::kUnauthenticated);
}

// P-256 group order n, big-endian.
constexpr uint8_t kP256Order[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

// n - s for a 32-byte big-endian s (0 < s < n).
std::string NegateModOrder(std::string_view s) {
  std::string out(32, '\0');
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = kP256Order[i] - static_cast<uint8_t>(s[i]) - borrow;
    borrow = d < 0;
    out[i] = static_cast<char>(d < 0 ? d + 256 : d);
  }
  return out;
}

// ECDSA signatures are malleable: (r, s) and (r, n - s) both verify, giving a second token string
// for the same claims, with its own cache key. Revocation is by sid and jti, never by the token's
// bytes, so the twin is refused with its original (docs/security.md JV-09).
TEST_F(AccessVerifierTest, MalleatedEs256SignatureIsRefusedOnceItsSessionIsRevoked) {
  AccessVerifier v(&keys_, &revocations_, Options());
  const std::string token = Sign(key1(), Claims("sid-m", "jti-m"));
  const auto seg = Segments(token);
  const std::string sig = *jose::Base64UrlDecode(seg[2]);
  ASSERT_EQ(sig.size(), 64u);
  const std::string twin =
      seg[0] + "." + seg[1] + "." + B64(sig.substr(0, 32) + NegateModOrder(sig.substr(32)));
  ASSERT_NE(twin, token);
  AccessToken t;
  ASSERT_TRUE(v.Verify(token, kT0, &t).ok());
  const bool twin_accepted = v.Verify(twin, kT0, &t).ok();
  if (twin_accepted) {
    EXPECT_EQ(t.sid, "sid-m");
    ASSERT_TRUE(v.Verify(twin, kT0, &t).ok());  // cached under its own bytes
  }
  RecordProperty("high_s_accepted", twin_accepted ? "yes" : "no");
  revocations_.RevokeSession("sid-m", kT0 + kTtl);
  EXPECT_EQ(v.Verify(token, kT0 + 1, &t).reason(), Reason::kUnknownSession);
  EXPECT_EQ(v.Verify(twin, kT0 + 1, &t).code(), Code::kUnauthenticated);
}

}  // namespace
}  // namespace tessera::token
