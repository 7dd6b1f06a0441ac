#include "tessera/jose/jws.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "jose/test_keys.h"

namespace tessera::jose {
namespace {

using testing::kAllAlgs;
using testing::PrivateKey;
using testing::SetOf;
using testing::VerifierKey;

Status Verify(const std::string& token, const Jwks& keys, AlgSet allowed = {}) {
  JwsHeader h;
  std::string payload;
  return VerifyJws(token, keys, allowed, JwsLimits{}, &h, &payload);
}

TEST(Jws, SignsAndVerifiesEveryAlgorithm) {
  for (Alg alg : kAllAlgs) {
    auto token = SignJws(PrivateKey(alg), alg, std::string("any \0 bytes", 11), "JWT");
    ASSERT_TRUE(token) << AlgName(alg) << ": " << token.error().ToString();
    auto keys = SetOf({VerifierKey(alg)});
    JwsHeader h;
    std::string payload;
    Status s = VerifyJws(*token, *keys, {}, JwsLimits{}, &h, &payload);
    ASSERT_TRUE(s.ok()) << AlgName(alg) << ": " << s.ToString();
    EXPECT_EQ(h.alg, alg);
    EXPECT_EQ(h.kid, PrivateKey(alg).kid());
    EXPECT_EQ(h.typ, "JWT");
    EXPECT_EQ(payload, std::string("any \0 bytes", 11));
  }
}

TEST(Jws, EmptyPayloadIsValid) {
  auto token = SignJws(PrivateKey(Alg::kES256), Alg::kES256, "");
  ASSERT_TRUE(token);
  EXPECT_TRUE(Verify(*token, *SetOf({VerifierKey(Alg::kES256)})).ok());
}

TEST(Jws, PublicKeyCannotSign) {
  auto token = SignJws(VerifierKey(Alg::kES256), Alg::kES256, "x");
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().reason(), Reason::kKeyNotPrivate);
}

TEST(Jws, AllowListNarrowsAlgorithms) {
  auto token = SignJws(PrivateKey(Alg::kES256), Alg::kES256, "x");
  auto keys = SetOf({VerifierKey(Alg::kES256)});
  EXPECT_TRUE(Verify(*token, *keys, {Alg::kES256, Alg::kRS256}).ok());
  EXPECT_EQ(Verify(*token, *keys, {Alg::kRS256}).reason(), Reason::kAlgNotAllowed);
}

TEST(Jws, KidSelectsTheKey) {
  auto a = Jwk::Generate(Alg::kES256, "a");
  auto b = Jwk::Generate(Alg::kES256, "b");
  ASSERT_TRUE(a && b);
  auto keys = SetOf({a->PublicKey(), b->PublicKey()});
  EXPECT_TRUE(Verify(*SignJws(*a, Alg::kES256, "x"), *keys).ok());
  EXPECT_TRUE(Verify(*SignJws(*b, Alg::kES256, "x"), *keys).ok());
  // b's signature under a's kid: only key "a" is tried, and it fails.
  auto forged = SignJws(b->WithKid("a"), Alg::kES256, "x");
  EXPECT_EQ(Verify(*forged, *keys).reason(), Reason::kBadSignature);
  // An unknown kid finds no key, even though a kid-less match would verify.
  EXPECT_EQ(Verify(*SignJws(a->WithKid("c"), Alg::kES256, "x"), *keys).reason(), Reason::kNoKey);
}

TEST(Jws, TokenWithoutKidTriesEveryFittingKey) {
  auto a = Jwk::Generate(Alg::kES256, "a");
  auto b = Jwk::Generate(Alg::kES256, "b");
  auto keys = SetOf({a->PublicKey(), b->PublicKey()});
  EXPECT_TRUE(Verify(*SignJws(b->WithKid(""), Alg::kES256, "x"), *keys).ok());
}

TEST(Jws, KeyWithoutKidServesTokensWithAnyKid) {
  auto a = Jwk::Generate(Alg::kEdDSA, "a");
  auto keys = SetOf({a->PublicKey().WithKid("")});
  EXPECT_TRUE(Verify(*SignJws(*a, Alg::kEdDSA, "x"), *keys).ok());
}

TEST(Jws, DuplicateKidIsAmbiguous) {
  auto a = Jwk::Generate(Alg::kHS256, "same");
  auto b = Jwk::Generate(Alg::kHS256, "same");
  auto keys = SetOf({*a, *b});
  EXPECT_EQ(Verify(*SignJws(*a, Alg::kHS256, "x"), *keys).reason(), Reason::kAmbiguousKey);
}

// Wycheproof json_web_key_test tcId 4: a broken key (non-canonical base64url) sharing the kid
// makes the kid ambiguous even though that key itself is skipped.
TEST(Jws, KidSharedWithABrokenKeyIsAmbiguous) {
  auto a = Jwk::Generate(Alg::kHS256, "k");
  const std::string broken = R"({"kty":"oct","kid":"k","alg":"HS256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"})";
  auto keys = Jwks::Parse("{\"keys\":[" + a->ToJson(true) + "," + broken + "]}");
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->skipped().size(), 1u);
  EXPECT_EQ(Verify(*SignJws(*a, Alg::kHS256, "x"), *keys).reason(), Reason::kAmbiguousKey);
}

// RFC 7517 section 4.5: an encryption twin may share the kid of a signing key.
TEST(Jws, KidSharedWithAnEncryptionKeyIsNotAmbiguous) {
  auto a = Jwk::Generate(Alg::kES256, "k");
  auto twin = nlohmann::json::parse(Jwk::Generate(Alg::kES256, "k")->ToJson(false));
  twin["use"] = "enc";
  twin["alg"] = "ECDH-ES";
  auto keys = Jwks::Parse("{\"keys\":[" + a->PublicKey().ToJson(false) + "," + twin.dump() + "]}");
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->skipped().size(), 1u);
  EXPECT_TRUE(Verify(*SignJws(*a, Alg::kES256, "x"), *keys).ok());
}

TEST(Jws, EmptyKeySetFindsNoKey) {
  auto token = SignJws(PrivateKey(Alg::kHS256), Alg::kHS256, "x");
  EXPECT_EQ(Verify(*token, Jwks()).reason(), Reason::kNoKey);
}

TEST(Jws, HeaderKidIsJsonEscaped) {
  auto key = PrivateKey(Alg::kHS256).WithKid("a\"b\\c");
  auto token = SignJws(key, Alg::kHS256, "x");
  ASSERT_TRUE(token);
  JwsHeader h;
  std::string payload;
  ASSERT_TRUE(VerifyJws(*token, *SetOf({key}), {}, JwsLimits{}, &h, &payload).ok());
  EXPECT_EQ(h.kid, "a\"b\\c");
}

}  // namespace
}  // namespace tessera::jose
