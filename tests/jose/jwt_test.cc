#include "tessera/jose/jwt.h"

#include <gtest/gtest.h>

#include "jose/test_keys.h"

namespace tessera::jose {
namespace {

using testing::Forge;
using testing::PrivateKey;
using testing::SetOf;
using testing::VerifierKey;

constexpr int64_t kNow = 1'800'000'000;

class JwtTest : public ::testing::Test {
 protected:
  std::string Sign(const std::string& claims, Alg alg = Alg::kES256) {
    auto signer = JwtSigner::Create(PrivateKey(alg), alg);
    EXPECT_TRUE(signer) << signer.error().ToString();
    auto token = signer->Sign(claims);
    EXPECT_TRUE(token) << token.error().ToString();
    return token ? *token : "";
  }
  Status Check(const std::string& token, JwtVerifyOptions opts = {}, int64_t now = kNow,
               Alg alg = Alg::kES256) {
    JwtVerifier v(SetOf({VerifierKey(alg)}), std::move(opts));
    Claims c;
    return v.Verify(token, now, &c);
  }
  static std::string Exp(int64_t exp) { return "{\"exp\":" + std::to_string(exp) + "}"; }
};

TEST_F(JwtTest, ReturnsRegisteredClaims) {
  const std::string token = Sign(R"({"iss":"https://id.example","sub":"u-1","aud":["a","b"],
      "exp":1800000100,"nbf":1799999000,"iat":1799999900,"jti":"j1","sid":"s1","roles":["x"]})");
  JwtVerifier v(SetOf({VerifierKey(Alg::kES256)}),
                {.issuers = {"https://id.example"}, .audiences = {"b"}});
  auto c = v.Verify(token, kNow);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->iss, "https://id.example");
  EXPECT_EQ(c->sub, "u-1");
  EXPECT_EQ(c->aud, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c->exp, 1800000100);
  EXPECT_EQ(c->nbf, 1799999000);
  EXPECT_EQ(c->iat, 1799999900);
  EXPECT_EQ(c->jti, "j1");
  EXPECT_EQ(c->sid, "s1");
  EXPECT_EQ(c->alg, Alg::kES256);
  EXPECT_EQ(c->typ, "JWT");
  EXPECT_NE(c->payload.find("\"roles\":[\"x\"]"), std::string::npos);
}

TEST_F(JwtTest, ExpIsRequired) {
  EXPECT_EQ(Check(Sign(R"({"sub":"a"})")).reason(), Reason::kMissingClaim);
}

TEST_F(JwtTest, ExpBoundaryIsExclusive) {
  const std::string token = Sign(Exp(kNow));
  EXPECT_TRUE(Check(token, {}, kNow - 1).ok());
  EXPECT_EQ(Check(token, {}, kNow).reason(), Reason::kExpired);
  EXPECT_EQ(Check(token, {}, kNow + 1).reason(), Reason::kExpired);
  EXPECT_TRUE(Check(token, {.leeway_seconds = 1}, kNow).ok());
  EXPECT_EQ(Check(token, {.leeway_seconds = 1}, kNow + 1).reason(), Reason::kExpired);
}

TEST_F(JwtTest, NbfBoundaryIsInclusive) {
  const std::string token = Sign(R"({"exp":1900000000,"nbf":1800000000})");
  EXPECT_EQ(Check(token, {}, kNow - 1).reason(), Reason::kNotYetValid);
  EXPECT_TRUE(Check(token, {}, kNow).ok());
  EXPECT_TRUE(Check(token, {.leeway_seconds = 1}, kNow - 1).ok());
  EXPECT_EQ(Check(token, {.leeway_seconds = 1}, kNow - 2).reason(), Reason::kNotYetValid);
}

TEST_F(JwtTest, IatInTheFutureIsRefused) {
  const std::string token = Sign(R"({"exp":1900000000,"iat":1800000000})");
  EXPECT_EQ(Check(token, {}, kNow - 1).reason(), Reason::kIssuedInFuture);
  EXPECT_TRUE(Check(token, {}, kNow).ok());
  EXPECT_TRUE(Check(token, {.leeway_seconds = 1}, kNow - 1).ok());
}

TEST_F(JwtTest, NumericDatesMayBeFractionalButNotStrings) {
  EXPECT_TRUE(Check(Sign(R"({"exp":1800000000.9})"), {}, kNow - 1).ok());
  EXPECT_EQ(Check(Sign(R"({"exp":1800000000.9})"), {}, kNow).reason(), Reason::kExpired);
  EXPECT_EQ(Check(Sign(R"({"exp":"1900000000"})")).reason(), Reason::kBadClaimType);
  EXPECT_EQ(Check(Sign(R"({"exp":true})")).reason(), Reason::kBadClaimType);
  EXPECT_EQ(Check(Sign(R"({"exp":null})")).reason(), Reason::kBadClaimType);
  EXPECT_EQ(Check(Sign(R"({"exp":1900000000,"nbf":"0"})")).reason(), Reason::kBadClaimType);
  // Far-future values clamp instead of overflowing.
  EXPECT_TRUE(Check(Sign(R"({"exp":18446744073709551615})")).ok());
  EXPECT_TRUE(Check(Sign(R"({"exp":1e300})")).ok());
  EXPECT_EQ(Check(Sign(R"({"exp":-1e300})")).reason(), Reason::kExpired);
}

TEST_F(JwtTest, IssuerMustMatchWhenConfigured) {
  const std::string token = Sign(R"({"exp":1900000000,"iss":"https://a"})");
  EXPECT_TRUE(Check(token).ok());
  EXPECT_TRUE(Check(token, {.issuers = {"https://b", "https://a"}}).ok());
  EXPECT_EQ(Check(token, {.issuers = {"https://b"}}).reason(), Reason::kIssuerMismatch);
  EXPECT_EQ(Check(token, {.issuers = {"https://A"}}).reason(), Reason::kIssuerMismatch);
  EXPECT_EQ(Check(Sign(Exp(1900000000)), {.issuers = {"https://a"}}).reason(),
            Reason::kIssuerMismatch);
  EXPECT_EQ(Check(Sign(R"({"exp":1900000000,"iss":5})")).reason(), Reason::kBadClaimType);
}

TEST_F(JwtTest, AudienceRules) {
  const std::string one = Sign(R"({"exp":1900000000,"aud":"api"})");
  const std::string many = Sign(R"({"exp":1900000000,"aud":["web","api"]})");
  const std::string none = Sign(Exp(1900000000));
  EXPECT_TRUE(Check(one, {.audiences = {"api"}}).ok());
  EXPECT_TRUE(Check(many, {.audiences = {"api"}}).ok());
  EXPECT_EQ(Check(one, {.audiences = {"web"}}).reason(), Reason::kAudienceMismatch);
  // A token addressed to someone is refused by a verifier that names no audience.
  EXPECT_EQ(Check(one).reason(), Reason::kAudienceMismatch);
  EXPECT_EQ(Check(many).reason(), Reason::kAudienceMismatch);
  // A verifier with an audience requires one.
  EXPECT_EQ(Check(none, {.audiences = {"api"}}).reason(), Reason::kAudienceMismatch);
  EXPECT_TRUE(Check(none).ok());
  EXPECT_EQ(Check(Sign(R"({"exp":1900000000,"aud":[]})"), {.audiences = {"api"}}).reason(),
            Reason::kAudienceMismatch);
  EXPECT_EQ(Check(Sign(R"({"exp":1900000000,"aud":["api",1]})"), {.audiences = {"api"}}).reason(),
            Reason::kBadClaimType);
  EXPECT_EQ(Check(Sign(R"({"exp":1900000000,"aud":{"a":1}})"), {.audiences = {"api"}}).reason(),
            Reason::kBadClaimType);
}

TEST_F(JwtTest, TypComparedCaseInsensitivelyWithOptionalApplicationPrefix) {
  auto signer = JwtSigner::Create(PrivateKey(Alg::kES256), Alg::kES256, "at+jwt");
  const std::string token = *signer->Sign(Exp(1900000000));
  EXPECT_TRUE(Check(token, {.typ = "at+jwt"}).ok());
  EXPECT_TRUE(Check(token, {.typ = "application/AT+JWT"}).ok());
  EXPECT_EQ(Check(token, {.typ = "JWT"}).reason(), Reason::kTypMismatch);
  EXPECT_EQ(Check(Sign(Exp(1900000000)), {.typ = "at+jwt"}).reason(), Reason::kTypMismatch);
}

TEST_F(JwtTest, RequiredClaimsMustBePresent) {
  const std::string token = Sign(R"({"exp":1900000000,"sub":"a","sid":"s"})");
  EXPECT_TRUE(Check(token, {.required_claims = {"sub", "sid"}}).ok());
  EXPECT_EQ(Check(token, {.required_claims = {"sub", "jti"}}).reason(), Reason::kMissingClaim);
}

TEST_F(JwtTest, ClaimsObjectIsReusedWithoutStaleFields) {
  JwtVerifier v(SetOf({VerifierKey(Alg::kES256)}), {});
  Claims c;
  ASSERT_TRUE(v.Verify(Sign(R"({"exp":1900000000,"sub":"a","jti":"j","nbf":1})"), kNow, &c).ok());
  EXPECT_EQ(c.jti, "j");
  ASSERT_TRUE(v.Verify(Sign(R"({"exp":1900000000,"sub":"b"})"), kNow, &c).ok());
  EXPECT_EQ(c.sub, "b");
  EXPECT_EQ(c.jti, "");
  EXPECT_FALSE(c.nbf);
}

// The verifier memoises the last header it parsed on each thread; alternating headers, and a
// repeated header under tighter limits, must each get their own verdict.
TEST_F(JwtTest, RepeatedHeadersAreJudgedAfresh) {
  auto a = Jwk::Generate(Alg::kES256, "a");
  auto b = Jwk::Generate(Alg::kES256, "b");
  auto keys = SetOf({a->PublicKey(), b->PublicKey()});
  const std::string ta = *JwtSigner::Create(*a)->Sign(Exp(1900000000));
  const std::string tb = *JwtSigner::Create(*b)->Sign(Exp(1900000000));
  const std::string forged = *JwtSigner::Create(b->WithKid("a"))->Sign(Exp(1900000000));
  JwtVerifier v(keys, {});
  Claims c;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(v.Verify(ta, kNow, &c).ok());
    EXPECT_EQ(c.kid, "a");
    ASSERT_TRUE(v.Verify(tb, kNow, &c).ok());
    EXPECT_EQ(c.kid, "b");
    EXPECT_EQ(v.Verify(forged, kNow, &c).reason(), Reason::kBadSignature);
  }
  JwtVerifyOptions tight;
  tight.limits.max_header_bytes = 10;
  JwtVerifier small(keys, tight);
  ASSERT_TRUE(v.Verify(ta, kNow, &c).ok());
  EXPECT_EQ(small.Verify(ta, kNow, &c).reason(), Reason::kTooLarge);
  ASSERT_TRUE(v.Verify(ta, kNow, &c).ok());
}

TEST_F(JwtTest, PayloadMustBeAJsonObject) {
  const Jwk& k = PrivateKey(Alg::kES256);
  for (const char* payload : {"[1]", "\"s\"", "1", "", "{", "{\"exp\":1900000000}x"}) {
    Status s = Check(Forge(k, Alg::kES256, R"({"alg":"ES256"})", payload));
    EXPECT_FALSE(s.ok()) << payload;
    EXPECT_TRUE(s.reason() == Reason::kBadJson) << payload << ": " << s.ToString();
  }
}

TEST_F(JwtTest, SignerValidatesAndMinifiesClaims) {
  auto signer = JwtSigner::Create(PrivateKey(Alg::kHS256));
  ASSERT_TRUE(signer);
  EXPECT_EQ(signer->alg(), Alg::kHS256);
  EXPECT_FALSE(signer->Sign("[1,2]"));
  EXPECT_FALSE(signer->Sign(R"({"a":1,"a":2})"));
  EXPECT_FALSE(signer->Sign("{"));
  auto token = signer->Sign("{ \"exp\" : 1900000000 }");
  ASSERT_TRUE(token);
  auto decoded = DecodeUnverified(*token);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->payload_json, R"({"exp":1900000000})");
  EXPECT_EQ(decoded->header_json,
            R"({"alg":"HS256","typ":"JWT","kid":")" + PrivateKey(Alg::kHS256).kid() + "\"}");
}

TEST_F(JwtTest, SignerRefusesAlgTheKeyDoesNotServe) {
  EXPECT_EQ(JwtSigner::Create(PrivateKey(Alg::kES256), Alg::kES384).error().reason(),
            Reason::kAlgKeyMismatch);
  EXPECT_EQ(JwtSigner::Create(VerifierKey(Alg::kES256)).error().reason(), Reason::kKeyNotPrivate);
}

TEST_F(JwtTest, EveryAlgorithmSignsAndVerifies) {
  for (Alg alg : testing::kAllAlgs) {
    const std::string token = Sign(Exp(1900000000), alg);
    EXPECT_TRUE(Check(token, {.algs = {alg}}, kNow, alg).ok()) << AlgName(alg);
  }
}

}  // namespace
}  // namespace tessera::jose
