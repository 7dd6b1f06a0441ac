// Every vector of the Wycheproof signature and MAC files tessera relies on, run through the crypto
// layer (src/crypto) directly: ECDSA P-256/384/521 in the IEEE P1363 (JOSE) encoding, Ed25519
// through libsodium and through OpenSSL, HMAC-SHA-2 with truncated tags, RSASSA-PKCS1-v1_5 and
// RSASSA-PSS. Each file's vector count is checked against its "numberOfTests" so that a vector a
// loop forgot cannot pass silently.
#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "crypto/hmac.h"
#include "crypto/pkey.h"
#include "tessera/jose/base64url.h"
#include "testing/testdata.h"

namespace tessera {
namespace {

using nlohmann::json;
using testing::FromHex;

json LoadWycheproof(const std::string& file) {
  return json::parse(testing::ReadTestFile(testing::TestdataDir() + "/wycheproof/" + file));
}

std::string B64(const json& v) {
  auto bytes = jose::Base64UrlDecode(v.get<std::string>());
  if (!bytes) throw std::runtime_error("bad base64url in test vector: " + v.get<std::string>());
  return *bytes;
}

crypto::Hash HashFromName(const std::string& name) {
  if (name == "SHA-256") return crypto::Hash::kSha256;
  if (name == "SHA-384") return crypto::Hash::kSha384;
  if (name == "SHA-512") return crypto::Hash::kSha512;
  throw std::runtime_error("unexpected hash " + name);
}

// Counts what a file's vectors did, and checks each verdict against Wycheproof's "result".
class Tally {
 public:
  explicit Tally(std::string file) : file_(std::move(file)) {}

  // A short label naming the vector in failure messages.
  std::string Label(const json& t) const {
    std::ostringstream s;
    s << file_ << " tcId " << t["tcId"].get<int>() << " (" << t["comment"].get<std::string>()
      << ")";
    return s.str();
  }

  // `accepted`: whether tessera accepted the vector. "valid" must be accepted, "invalid" must
  // not; "acceptable" may go either way and is recorded.
  void Check(const json& t, bool accepted) {
    ++total_;
    const std::string result = t["result"].get<std::string>();
    if (result == "valid") {
      EXPECT_TRUE(accepted) << Label(t) << ": valid vector rejected";
    } else if (result == "invalid") {
      EXPECT_FALSE(accepted) << Label(t) << ": invalid vector accepted";
    } else {
      ASSERT_EQ(result, "acceptable") << Label(t);
      acceptable_.push_back("tcId " + std::to_string(t["tcId"].get<int>()) +
                            (accepted ? " accepted" : " rejected") + " [" + Flags(t) + "]");
    }
  }

  // Asserts that every vector of `doc` was checked, then reports the acceptable ones.
  void Finish(const json& doc) {
    EXPECT_EQ(total_, doc["numberOfTests"].get<int>()) << file_ << ": vectors skipped or repeated";
    std::string acceptable;
    for (const auto& a : acceptable_) acceptable += (acceptable.empty() ? "" : "; ") + a;
    ::testing::Test::RecordProperty("vectors", total_);
    if (!acceptable.empty()) ::testing::Test::RecordProperty("acceptable", acceptable);
    std::cout << "[wycheproof] " << file_ << ": " << total_ << " vectors"
              << (acceptable.empty() ? "" : ", acceptable: " + acceptable) << "\n";
  }

 private:
  static std::string Flags(const json& t) {
    std::string s;
    if (t.contains("flags")) {
      for (const auto& f : t["flags"]) s += (s.empty() ? "" : ",") + f.get<std::string>();
    }
    return s;
  }

  std::string file_;
  int total_ = 0;
  std::vector<std::string> acceptable_;
};

// For a group whose key the crypto layer refuses: no vector of it may be "valid".
void ExpectNoValidVector(Tally& tally, const json& group, const Status& why) {
  for (const auto& t : group["tests"]) {
    EXPECT_NE(t["result"].get<std::string>(), "valid")
        << tally.Label(t) << ": key refused (" << why.ToString() << ") for a valid vector";
    tally.Check(t, false);
  }
}

// ---- ECDSA (P1363 encoding: raw r || s, as JOSE uses) -----------------------------------------

struct EcdsaFile {
  const char* file;
  crypto::KeyKind curve;
};

class WycheproofEcdsa : public ::testing::TestWithParam<EcdsaFile> {};

TEST_P(WycheproofEcdsa, EveryVectorMatchesExpectedResult) {
  const EcdsaFile& param = GetParam();
  const json doc = LoadWycheproof(param.file);
  Tally tally(param.file);
  const size_t size = crypto::EcCoordinateSize(param.curve);
  for (const auto& group : doc["testGroups"]) {
    crypto::EcComponents c;
    const std::string point = FromHex(group["publicKey"]["uncompressed"].get<std::string>());
    ASSERT_EQ(point.size(), 1 + 2 * size) << param.file;
    if (group.contains("publicKeyJwk")) {
      c.x = B64(group["publicKeyJwk"]["x"]);
      c.y = B64(group["publicKeyJwk"]["y"]);
      // The JWK and the uncompressed point are the same key; a mismatch is a bad test harness.
      ASSERT_EQ(c.x + c.y, point.substr(1)) << param.file << ": JWK differs from publicKey";
    } else {
      c.x = point.substr(1, size);
      c.y = point.substr(1 + size);
    }
    const crypto::Hash hash = HashFromName(group["sha"].get<std::string>());
    auto key = crypto::AsymmetricKey::FromEc(param.curve, c);
    if (!key) {
      ExpectNoValidVector(tally, group, key.error());
      continue;
    }
    for (const auto& t : group["tests"]) {
      const bool ok =
          (*key)->Verify(crypto::SigScheme::kEcdsa, hash, FromHex(t["msg"].get<std::string>()),
                         FromHex(t["sig"].get<std::string>()));
      tally.Check(t, ok);
    }
  }
  tally.Finish(doc);
}

INSTANTIATE_TEST_SUITE_P(
    Files, WycheproofEcdsa,
    ::testing::Values(EcdsaFile{"ecdsa_secp256r1_sha256_p1363_test.json", crypto::KeyKind::kEcP256},
                      EcdsaFile{"ecdsa_secp384r1_sha384_p1363_test.json", crypto::KeyKind::kEcP384},
                      EcdsaFile{"ecdsa_secp521r1_sha512_p1363_test.json",
                                crypto::KeyKind::kEcP521}),
    [](const ::testing::TestParamInfo<EcdsaFile>& info) {
      return std::string(info.param.curve == crypto::KeyKind::kEcP256   ? "P256"
                         : info.param.curve == crypto::KeyKind::kEcP384 ? "P384"
                                                                        : "P521");
    });

// ---- Ed25519: libsodium (what tessera uses) and OpenSSL must both match every vector -----------

TEST(WycheproofEd25519, LibsodiumAndOpenSslMatchEveryVector) {
  const std::string file = "ed25519_test.json";
  const json doc = LoadWycheproof(file);
  Tally tally(file);
  std::vector<std::string> disagreements;
  for (const auto& group : doc["testGroups"]) {
    const std::string pk = FromHex(group["publicKey"]["pk"].get<std::string>());
    if (group.contains("publicKeyJwk")) {
      ASSERT_EQ(B64(group["publicKeyJwk"]["x"]), pk) << file << ": JWK differs from publicKey";
    }
    auto key = crypto::AsymmetricKey::FromEd25519({.x = pk, .d = {}});
    if (!key) {
      ExpectNoValidVector(tally, group, key.error());
      continue;
    }
    for (const auto& t : group["tests"]) {
      const std::string msg = FromHex(t["msg"].get<std::string>());
      const std::string sig = FromHex(t["sig"].get<std::string>());
      const bool sodium =
          (*key)->Verify(crypto::SigScheme::kEd25519, crypto::Hash::kSha512, msg, sig);
      const bool openssl = crypto::Ed25519VerifyOpenSsl(pk, msg, sig);
      EXPECT_EQ(openssl, t["result"] == "valid") << tally.Label(t) << ": OpenSSL verdict";
      if (sodium != openssl) {
        disagreements.push_back(tally.Label(t) +
                                (sodium ? " libsodium accepts" : " OpenSSL accepts"));
      }
      tally.Check(t, sodium);
    }
  }
  std::string listed;
  for (const auto& d : disagreements) listed += "\n  " + d;
  EXPECT_TRUE(disagreements.empty())
      << "libsodium and OpenSSL disagree on " << disagreements.size() << " vectors:" << listed;
  tally.Finish(doc);
}

// ---- HMAC, with tags truncated to the group's tagSize ------------------------------------------

struct HmacFile {
  const char* file;
  crypto::Hash hash;
};

class WycheproofHmac : public ::testing::TestWithParam<HmacFile> {};

TEST_P(WycheproofHmac, EveryVectorMatchesExpectedResult) {
  const HmacFile& param = GetParam();
  const json doc = LoadWycheproof(param.file);
  Tally tally(param.file);
  for (const auto& group : doc["testGroups"]) {
    const size_t tag_bytes = group["tagSize"].get<size_t>() / 8;
    ASSERT_LE(tag_bytes, crypto::DigestSize(param.hash)) << param.file;
    for (const auto& t : group["tests"]) {
      const crypto::HmacKey key(param.hash, FromHex(t["key"].get<std::string>()));
      std::string mac(key.tag_size(), '\0');
      key.Compute(FromHex(t["msg"].get<std::string>()), reinterpret_cast<uint8_t*>(mac.data()));
      mac.resize(tag_bytes);
      tally.Check(t, mac == FromHex(t["tag"].get<std::string>()));
    }
  }
  tally.Finish(doc);
}

INSTANTIATE_TEST_SUITE_P(Files, WycheproofHmac,
                         ::testing::Values(HmacFile{"hmac_sha256_test.json", crypto::Hash::kSha256},
                                           HmacFile{"hmac_sha384_test.json", crypto::Hash::kSha384},
                                           HmacFile{"hmac_sha512_test.json",
                                                    crypto::Hash::kSha512}),
                         [](const ::testing::TestParamInfo<HmacFile>& info) {
                           return std::string(info.param.hash == crypto::Hash::kSha256 ? "Sha256"
                                              : info.param.hash == crypto::Hash::kSha384
                                                  ? "Sha384"
                                                  : "Sha512");
                         });

// ---- RSA: PKCS #1 v1.5 and PSS -----------------------------------------------------------------

struct RsaFile {
  const char* file;
  crypto::SigScheme scheme;
  const char* name;  // test name suffix
};

class WycheproofRsa : public ::testing::TestWithParam<RsaFile> {};

// The group's public key: hex modulus/exponent from "publicKey", else the JWK's n/e.
crypto::RsaComponents RsaKeyOf(const json& group) {
  crypto::RsaComponents c;
  if (group.contains("publicKey") && group["publicKey"].is_object() &&
      group["publicKey"].contains("modulus")) {
    c.n = FromHex(group["publicKey"]["modulus"].get<std::string>());
    c.e = FromHex(group["publicKey"]["publicExponent"].get<std::string>());
  } else {
    const json& jwk = group.contains("publicKeyJwk") ? group["publicKeyJwk"] : group["keyJwk"];
    c.n = B64(jwk["n"]);
    c.e = B64(jwk["e"]);
  }
  return c;
}

TEST_P(WycheproofRsa, EveryVectorMatchesExpectedResult) {
  const RsaFile& param = GetParam();
  const json doc = LoadWycheproof(param.file);
  Tally tally(param.file);
  for (const auto& group : doc["testGroups"]) {
    const crypto::Hash hash = HashFromName(group["sha"].get<std::string>());
    if (param.scheme == crypto::SigScheme::kRsaPss) {
      // tessera's PSS is RFC 7518's profile: MGF1 with the message hash, salt as long as the
      // hash. The files run here are exactly that profile; anything else is a harness error.
      ASSERT_EQ(group["mgf"].get<std::string>(), "MGF1") << param.file;
      ASSERT_EQ(HashFromName(group["mgfSha"].get<std::string>()), hash) << param.file;
      ASSERT_EQ(group["sLen"].get<size_t>(), crypto::DigestSize(hash)) << param.file;
    }
    auto key = crypto::AsymmetricKey::FromRsa(RsaKeyOf(group));
    if (!key) {
      ExpectNoValidVector(tally, group, key.error());
      continue;
    }
    EXPECT_EQ((*key)->bits(), group["keySize"].get<int>()) << param.file;
    for (const auto& t : group["tests"]) {
      const bool ok = (*key)->Verify(param.scheme, hash, FromHex(t["msg"].get<std::string>()),
                                     FromHex(t["sig"].get<std::string>()));
      tally.Check(t, ok);
    }
  }
  tally.Finish(doc);
}

constexpr auto kPkcs1 = crypto::SigScheme::kRsaPkcs1;
constexpr auto kPss = crypto::SigScheme::kRsaPss;

INSTANTIATE_TEST_SUITE_P(
    Files, WycheproofRsa,
    ::testing::Values(RsaFile{"rsa_signature_2048_sha256_test.json", kPkcs1, "Pkcs1_2048_Sha256"},
                      RsaFile{"rsa_signature_2048_sha384_test.json", kPkcs1, "Pkcs1_2048_Sha384"},
                      RsaFile{"rsa_signature_2048_sha512_test.json", kPkcs1, "Pkcs1_2048_Sha512"},
                      RsaFile{"rsa_signature_3072_sha256_test.json", kPkcs1, "Pkcs1_3072_Sha256"},
                      RsaFile{"rsa_signature_3072_sha384_test.json", kPkcs1, "Pkcs1_3072_Sha384"},
                      RsaFile{"rsa_signature_3072_sha512_test.json", kPkcs1, "Pkcs1_3072_Sha512"},
                      RsaFile{"rsa_signature_4096_sha256_test.json", kPkcs1, "Pkcs1_4096_Sha256"},
                      RsaFile{"rsa_signature_4096_sha384_test.json", kPkcs1, "Pkcs1_4096_Sha384"},
                      RsaFile{"rsa_signature_4096_sha512_test.json", kPkcs1, "Pkcs1_4096_Sha512"},
                      RsaFile{"rsa_pss_2048_sha256_mgf1_32_test.json", kPss, "Pss_2048_Sha256"},
                      RsaFile{"rsa_pss_2048_sha384_mgf1_48_test.json", kPss, "Pss_2048_Sha384"},
                      RsaFile{"rsa_pss_4096_sha512_mgf1_64_test.json", kPss, "Pss_4096_Sha512"}),
    [](const ::testing::TestParamInfo<RsaFile>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tessera
