#include "tessera/jose/jwk.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "jose/test_keys.h"
#include "tessera/jose/jwks.h"

namespace tessera::jose {
namespace {

using testing::kAllAlgs;
using testing::PrivateKey;

TEST(Jwk, GeneratedKeysRoundTripThroughJson) {
  for (Alg alg : kAllAlgs) {
    const Jwk& key = PrivateKey(alg);
    EXPECT_TRUE(key.is_private());
    EXPECT_EQ(key.alg(), alg);
    auto again = Jwk::Parse(key.ToJson(true));
    ASSERT_TRUE(again) << AlgName(alg) << ": " << again.error().ToString();
    EXPECT_EQ(again->Thumbprint(), key.Thumbprint());
    EXPECT_EQ(again->kid(), key.kid());
    std::string sig;
    ASSERT_TRUE(again->Sign(alg, "input", &sig).ok());
    EXPECT_TRUE(key.Verify(alg, "input", sig)) << AlgName(alg);
  }
}

TEST(Jwk, PublicFormCarriesNoPrivateMember) {
  for (Alg alg : kAllAlgs) {
    const Jwk& key = PrivateKey(alg);
    if (key.is_symmetric()) continue;
    auto j = nlohmann::json::parse(key.ToJson(false));
    for (const char* m : {"d", "p", "q", "dp", "dq", "qi", "k"}) {
      EXPECT_FALSE(j.contains(m)) << AlgName(alg) << " leaks " << m;
    }
    Jwk pub = key.PublicKey();
    EXPECT_FALSE(pub.is_private());
    EXPECT_TRUE(pub.SignAlgs().empty());
    EXPECT_TRUE(pub.VerifyAlgs().Contains(alg));
    EXPECT_EQ(pub.Thumbprint(), key.Thumbprint());
  }
}

TEST(Jwk, GeneratedKidIsTheThumbprint) {
  auto key = Jwk::Generate(Alg::kES256);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->kid(), key->Thumbprint());
  EXPECT_EQ(key->kid().size(), 43u);
}

TEST(Jwk, KeyAlgPinsOneAlgorithm) {
  const Jwk& rs = PrivateKey(Alg::kRS256);
  EXPECT_TRUE(rs.VerifyAlgs().Contains(Alg::kRS256));
  EXPECT_FALSE(rs.VerifyAlgs().Contains(Alg::kPS256));
  EXPECT_FALSE(rs.VerifyAlgs().Contains(Alg::kRS512));
  // Without "alg", the type decides: RSA serves the RSA family only.
  auto j = nlohmann::json::parse(rs.ToJson(false));
  j.erase("alg");
  auto no_alg = Jwk::Parse(j.dump());
  ASSERT_TRUE(no_alg);
  EXPECT_TRUE(no_alg->VerifyAlgs().Contains(Alg::kPS512));
  EXPECT_FALSE(no_alg->VerifyAlgs().Contains(Alg::kHS256));
  EXPECT_FALSE(no_alg->VerifyAlgs().Contains(Alg::kES256));
}

TEST(Jwk, AlgMustFitTypeAndCurve) {
  auto j = nlohmann::json::parse(PrivateKey(Alg::kES256).ToJson(false));
  for (const char* wrong : {"ES384", "RS256", "HS256", "EdDSA"}) {
    j["alg"] = wrong;
    auto k = Jwk::Parse(j.dump());
    ASSERT_FALSE(k) << wrong;
    EXPECT_EQ(k.error().reason(), Reason::kAlgKeyMismatch);
  }
  for (const char* unknown : {"ES521", "RSA-OAEP", "A256GCM", "none", "es256"}) {
    j["alg"] = unknown;
    auto k = Jwk::Parse(j.dump());
    ASSERT_FALSE(k) << unknown;
    EXPECT_EQ(k.error().reason(), Reason::kAlgUnsupported);
  }
}

TEST(Jwk, HmacKeyMustBeAsLongAsTheHash) {
  auto make = [](size_t len, const char* alg) {
    nlohmann::json j = {{"kty", "oct"}, {"k", Base64UrlEncode(std::string(len, 'k'))}};
    if (alg) j["alg"] = alg;
    return Jwk::Parse(j.dump());
  };
  EXPECT_EQ(make(31, "HS256").error().reason(), Reason::kKeyTooWeak);
  EXPECT_TRUE(make(32, "HS256"));
  EXPECT_EQ(make(47, "HS384").error().reason(), Reason::kKeyTooWeak);
  EXPECT_EQ(make(63, "HS512").error().reason(), Reason::kKeyTooWeak);
  EXPECT_FALSE(make(0, nullptr));
  auto k48 = make(48, nullptr);  // no alg: only the hashes the length supports
  ASSERT_TRUE(k48);
  EXPECT_TRUE(k48->VerifyAlgs().Contains(Alg::kHS384));
  EXPECT_FALSE(k48->VerifyAlgs().Contains(Alg::kHS512));
}

TEST(Jwk, UseAndKeyOpsNarrowOperations) {
  auto j = nlohmann::json::parse(PrivateKey(Alg::kES256).ToJson(true));
  j["use"] = "enc";
  auto enc = Jwk::Parse(j.dump());
  ASSERT_TRUE(enc);
  EXPECT_TRUE(enc->VerifyAlgs().empty());
  EXPECT_TRUE(enc->SignAlgs().empty());
  j.erase("use");
  j["key_ops"] = {"verify"};
  auto verify_only = Jwk::Parse(j.dump());
  ASSERT_TRUE(verify_only);
  EXPECT_FALSE(verify_only->VerifyAlgs().empty());
  EXPECT_TRUE(verify_only->SignAlgs().empty());
  j["key_ops"] = {"sign, verify"};
  EXPECT_TRUE(Jwk::Parse(j.dump())->VerifyAlgs().empty());
  j["key_ops"] = {"verify", "verify"};
  EXPECT_FALSE(Jwk::Parse(j.dump()));
  j["key_ops"] = "verify";
  EXPECT_FALSE(Jwk::Parse(j.dump()));
}

TEST(Jwk, RejectsMalformedMembers) {
  const std::string ec = PrivateKey(Alg::kES256).ToJson(false);
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(ec);
    edit(j);
    return Jwk::Parse(j.dump());
  };
  EXPECT_FALSE(with([](nlohmann::json& j) { j.erase("kty"); }));
  EXPECT_FALSE(with([](nlohmann::json& j) { j["kty"] = "XYZ"; }));
  EXPECT_FALSE(with([](nlohmann::json& j) { j["kty"] = 1; }));
  EXPECT_FALSE(with([](nlohmann::json& j) { j["crv"] = "P-192"; }));
  EXPECT_FALSE(with([](nlohmann::json& j) { j["x"] = j["x"].get<std::string>() + "="; }));
  EXPECT_FALSE(with([](nlohmann::json& j) { j["kid"] = 7; }));
  EXPECT_FALSE(with([](nlohmann::json& j) { j.erase("y"); }));
  EXPECT_FALSE(Jwk::Parse(R"({"kty":"oct","k":"AAAA","kty":"oct"})"));  // duplicate member
  EXPECT_FALSE(Jwk::Parse("[]"));
  EXPECT_FALSE(Jwk::Parse("not json"));
  // Unknown members are ignored (RFC 7517 section 4).
  EXPECT_TRUE(with([](nlohmann::json& j) { j["x-custom"] = {{"a", 1}}; }));
}

TEST(Jwk, OkpOnlyEd25519) {
  auto j = nlohmann::json::parse(PrivateKey(Alg::kEdDSA).ToJson(false));
  j["crv"] = "X25519";
  EXPECT_FALSE(Jwk::Parse(j.dump()));
  j["crv"] = "Ed448";
  EXPECT_FALSE(Jwk::Parse(j.dump()));
}

// RFC 7638 section 3.1.
TEST(Jwk, ThumbprintMatchesRfc7638) {
  auto key = Jwk::Parse(R"({"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"})");
  ASSERT_TRUE(key) << key.error().ToString();
  EXPECT_EQ(key->Thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(Jwks, SkipsUnusableKeysAndReportsThem) {
  const std::string good = PrivateKey(Alg::kES256).ToJson(false);
  auto set = Jwks::Parse(R"({"keys":[)" + good +
                         R"(,{"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"},)"
                         R"({"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"a","y":"b"},)"
                         R"({"kty":"OKP","kid":"x","crv":"X25519","x":"AAAA"}]})");
  ASSERT_TRUE(set) << set.error().ToString();
  EXPECT_EQ(set->keys().size(), 1u);
  ASSERT_EQ(set->skipped().size(), 3u);
  EXPECT_EQ(set->skipped()[0].index, 1u);
  EXPECT_EQ(set->skipped()[0].kid, "small");
}

TEST(Jwks, RefusesSecretAndPublicKeysTogether) {
  auto set = Jwks::Parse("{\"keys\":[" + PrivateKey(Alg::kHS256).ToJson(true) + "," +
                         PrivateKey(Alg::kES256).ToJson(false) + "]}");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().reason(), Reason::kAmbiguousKey);
}

TEST(Jwks, PublicJsonOmitsSecrets) {
  auto set = Jwks::FromKeys({PrivateKey(Alg::kES256), PrivateKey(Alg::kEdDSA)});
  ASSERT_TRUE(set);
  auto j = nlohmann::json::parse(set->ToJson(false));
  ASSERT_EQ(j["keys"].size(), 2u);
  for (const auto& k : j["keys"]) EXPECT_FALSE(k.contains("d"));
  auto back = Jwks::Parse(set->ToJson(false));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->keys().size(), 2u);
}

}  // namespace
}  // namespace tessera::jose
