#include "crypto/pkey.h"

#include <gtest/gtest.h>

namespace tessera::crypto {
namespace {

struct Case {
  KeyKind kind;
  SigScheme scheme;
  Hash hash;
  size_t sig_size;
};

class AsymmetricKeyRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(AsymmetricKeyRoundTrip, SignsVerifiesAndRejectsTampering) {
  const Case c = GetParam();
  auto key = AsymmetricKey::Generate(c.kind);
  ASSERT_TRUE(key) << key.error().ToString();
  const std::string msg = "eyJhbGciOi.eyJzdWIiOiJhbGljZSJ9";
  std::string sig;
  ASSERT_TRUE((*key)->Sign(c.scheme, c.hash, msg, &sig).ok());
  EXPECT_EQ(sig.size(), c.sig_size);
  EXPECT_EQ((*key)->signature_size(), c.sig_size);
  EXPECT_TRUE((*key)->Verify(c.scheme, c.hash, msg, sig));
  EXPECT_FALSE((*key)->Verify(c.scheme, c.hash, msg + "x", sig));
  std::string flipped = sig;
  flipped[sig.size() / 2] ^= 0x01;
  EXPECT_FALSE((*key)->Verify(c.scheme, c.hash, msg, flipped));
  EXPECT_FALSE((*key)->Verify(c.scheme, c.hash, msg, sig.substr(1)));
  EXPECT_FALSE((*key)->Verify(c.scheme, c.hash, msg, std::string(1, '\0') + sig));
}

TEST_P(AsymmetricKeyRoundTrip, PublicComponentsRebuildAVerifyingKey) {
  const Case c = GetParam();
  auto key = AsymmetricKey::Generate(c.kind);
  ASSERT_TRUE(key);
  std::string sig;
  ASSERT_TRUE((*key)->Sign(c.scheme, c.hash, "m", &sig).ok());
  Result<AsymmetricKey::Ptr> pub = Status(Code::kInternal, Reason::kNone, "unset");
  switch (c.kind) {
    case KeyKind::kRsa: pub = AsymmetricKey::FromRsa({.n = (*key)->rsa().n, .e = (*key)->rsa().e}); break;
    case KeyKind::kEd25519: pub = AsymmetricKey::FromEd25519({.x = (*key)->okp().x}); break;
    default: pub = AsymmetricKey::FromEc(c.kind, {.x = (*key)->ec().x, .y = (*key)->ec().y}); break;
  }
  ASSERT_TRUE(pub) << pub.error().ToString();
  EXPECT_FALSE((*pub)->has_private());
  EXPECT_TRUE((*pub)->Verify(c.scheme, c.hash, "m", sig));
  std::string out;
  EXPECT_EQ((*pub)->Sign(c.scheme, c.hash, "m", &out).reason(), Reason::kKeyNotPrivate);
}

INSTANTIATE_TEST_SUITE_P(
    AllKinds, AsymmetricKeyRoundTrip,
    ::testing::Values(Case{KeyKind::kRsa, SigScheme::kRsaPkcs1, Hash::kSha256, 256},
                      Case{KeyKind::kRsa, SigScheme::kRsaPss, Hash::kSha384, 256},
                      Case{KeyKind::kEcP256, SigScheme::kEcdsa, Hash::kSha256, 64},
                      Case{KeyKind::kEcP384, SigScheme::kEcdsa, Hash::kSha384, 96},
                      Case{KeyKind::kEcP521, SigScheme::kEcdsa, Hash::kSha512, 132},
                      Case{KeyKind::kEd25519, SigScheme::kEd25519, Hash::kSha512, 64}));

TEST(AsymmetricKey, EcdsaRefusesDerEncodedSignatures) {
  auto key = AsymmetricKey::Generate(KeyKind::kEcP256);
  ASSERT_TRUE(key);
  std::string raw;
  ASSERT_TRUE((*key)->Sign(SigScheme::kEcdsa, Hash::kSha256, "m", &raw).ok());
  // Build the DER form of the same (valid) signature: it must not be accepted.
  auto der_int = [](std::string v) {
    while (v.size() > 1 && v[0] == 0) v.erase(0, 1);
    if (static_cast<unsigned char>(v[0]) & 0x80) v.insert(0, 1, '\0');
    return std::string("\x02", 1) + static_cast<char>(v.size()) + v;
  };
  std::string body = der_int(raw.substr(0, 32)) + der_int(raw.substr(32));
  std::string der = std::string("\x30", 1) + static_cast<char>(body.size()) + body;
  EXPECT_FALSE((*key)->Verify(SigScheme::kEcdsa, Hash::kSha256, "m", der));
  EXPECT_TRUE((*key)->Verify(SigScheme::kEcdsa, Hash::kSha256, "m", raw));
}

TEST(AsymmetricKey, RefusesZeroAndOutOfRangeScalars) {
  auto key = AsymmetricKey::Generate(KeyKind::kEcP256);
  ASSERT_TRUE(key);
  const std::string zero(32, '\0'), ff(32, '\xff');
  std::string one(32, '\0');
  one[31] = 1;
  for (const auto& sig : {zero + zero, zero + one, one + zero, ff + one, one + ff}) {
    EXPECT_FALSE((*key)->Verify(SigScheme::kEcdsa, Hash::kSha256, "m", sig));
  }
}

TEST(AsymmetricKey, SchemeMustFitTheKey) {
  auto ec = AsymmetricKey::Generate(KeyKind::kEcP256);
  ASSERT_TRUE(ec);
  std::string sig;
  ASSERT_TRUE((*ec)->Sign(SigScheme::kEcdsa, Hash::kSha256, "m", &sig).ok());
  EXPECT_FALSE((*ec)->Verify(SigScheme::kEd25519, Hash::kSha256, "m", sig));
  EXPECT_FALSE((*ec)->Verify(SigScheme::kRsaPkcs1, Hash::kSha256, "m", sig));
  EXPECT_EQ((*ec)->Sign(SigScheme::kRsaPss, Hash::kSha256, "m", &sig).reason(),
            Reason::kAlgKeyMismatch);
}

TEST(AsymmetricKey, RsaPolicyRefusesWeakKeys) {
  auto key = AsymmetricKey::Generate(KeyKind::kRsa);
  ASSERT_TRUE(key);
  const RsaComponents c = (*key)->rsa();
  EXPECT_EQ(AsymmetricKey::FromRsa({.n = c.n, .e = std::string("\x01", 1)}).error().reason(),
            Reason::kKeyTooWeak);
  EXPECT_EQ(AsymmetricKey::FromRsa({.n = c.n, .e = std::string("\x01\x00\x00", 3)}).error().reason(),
            Reason::kKeyTooWeak);  // even exponent
  EXPECT_EQ(AsymmetricKey::FromRsa({.n = c.n.substr(0, 128), .e = c.e}).error().reason(),
            Reason::kKeyTooWeak);  // 1024 bits
  EXPECT_EQ(AsymmetricKey::FromRsa({.n = c.n, .e = std::string(9, '\x01')}).error().reason(),
            Reason::kKeyTooWeak);  // 72-bit exponent
  EXPECT_FALSE(AsymmetricKey::Generate(KeyKind::kRsa, 1024));
  RsaComponents wrong = c;
  wrong.d[wrong.d.size() - 1] ^= 2;
  EXPECT_FALSE(AsymmetricKey::FromRsa(wrong));
}

TEST(AsymmetricKey, EcPolicyRefusesBadPoints) {
  auto key = AsymmetricKey::Generate(KeyKind::kEcP256);
  ASSERT_TRUE(key);
  EcComponents c = (*key)->ec();
  EcComponents off = c;
  off.y[31] ^= 1;  // almost surely not on the curve
  EXPECT_EQ(AsymmetricKey::FromEc(KeyKind::kEcP256, {.x = off.x, .y = off.y}).error().reason(),
            Reason::kKeyInvalid);
  EXPECT_FALSE(AsymmetricKey::FromEc(KeyKind::kEcP384, {.x = c.x, .y = c.y}));  // wrong curve size
  EXPECT_FALSE(AsymmetricKey::FromEc(KeyKind::kEcP256, {.x = c.x.substr(1), .y = c.y}));
  EcComponents wrong_d = c;
  wrong_d.d[31] ^= 1;
  EXPECT_FALSE(AsymmetricKey::FromEc(KeyKind::kEcP256, wrong_d));
  EXPECT_TRUE(AsymmetricKey::FromEc(KeyKind::kEcP256, c));
}

TEST(AsymmetricKey, Ed25519SeedMustMatchPublicKey) {
  auto key = AsymmetricKey::Generate(KeyKind::kEd25519);
  ASSERT_TRUE(key);
  OkpComponents c = (*key)->okp();
  EXPECT_TRUE(AsymmetricKey::FromEd25519(c));
  c.d[0] ^= 1;
  EXPECT_FALSE(AsymmetricKey::FromEd25519(c));
  EXPECT_FALSE(AsymmetricKey::FromEd25519({.x = std::string(31, 'a')}));
}

}  // namespace
}  // namespace tessera::crypto
