#include "crypto/seal.h"

#include <gtest/gtest.h>

#include <string>

namespace tessera::crypto {
namespace {

constexpr std::string_view kSecret = "the refresh token only its holder knows";
constexpr std::string_view kContext = "tessera refresh successor v1";
constexpr size_t kOverhead = 12 + 16;  // nonce + tag

std::string Seal(std::string_view plaintext, std::string_view secret = kSecret,
                 std::string_view context = kContext) {
  auto sealed = SealWithSecret(secret, context, plaintext);
  EXPECT_TRUE(sealed) << sealed.error().ToString();
  return sealed ? *sealed : std::string();
}

void ExpectRefused(const Result<std::string>& opened, const std::string& what) {
  ASSERT_FALSE(opened) << what;
  EXPECT_EQ(opened.error().code(), Code::kUnauthenticated) << what;
  EXPECT_EQ(opened.error().reason(), Reason::kCrypto) << what;
}

TEST(Seal, RoundTrips) {
  for (const std::string& plaintext :
       {std::string(), std::string("x"), std::string("successor-token-43-characters-long-aaaaaaa"),
        std::string("with\0nul", 8), std::string(5000, 'z')}) {
    const std::string sealed = Seal(plaintext);
    EXPECT_EQ(sealed.size(), plaintext.size() + kOverhead);
    auto opened = OpenWithSecret(kSecret, kContext, sealed);
    ASSERT_TRUE(opened) << opened.error().ToString();
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST(Seal, TheBoxDoesNotContainThePlaintext) {
  const std::string plaintext = "successor-token-in-the-clear";
  EXPECT_EQ(Seal(plaintext).find(plaintext), std::string::npos);
}

TEST(Seal, TwoSealsOfTheSamePlaintextDiffer) {
  // A random nonce per seal: equal successors never show as equal boxes, and a nonce is never
  // reused under one key (which would break GCM).
  const std::string a = Seal("same");
  const std::string b = Seal("same");
  EXPECT_NE(a, b);
  EXPECT_NE(a.substr(0, 12), b.substr(0, 12));
  EXPECT_EQ(*OpenWithSecret(kSecret, kContext, a), "same");
  EXPECT_EQ(*OpenWithSecret(kSecret, kContext, b), "same");
}

TEST(Seal, WrongSecretIsRefused) {
  const std::string sealed = Seal("payload");
  ExpectRefused(OpenWithSecret("another token", kContext, sealed), "other secret");
  std::string near(kSecret);
  near.back() ^= 1;
  ExpectRefused(OpenWithSecret(near, kContext, sealed), "secret off by one bit");
  ExpectRefused(OpenWithSecret(kSecret.substr(1), kContext, sealed), "secret truncated");
}

TEST(Seal, WrongContextIsRefused) {
  const std::string sealed = Seal("payload");
  ExpectRefused(OpenWithSecret(kSecret, "tessera refresh successor v2", sealed), "other context");
  ExpectRefused(OpenWithSecret(kSecret, "", sealed), "empty context");
}

TEST(Seal, EveryFlippedBitIsRefused) {
  const std::string sealed = Seal("a successor token");
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    std::string bad = sealed;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    ExpectRefused(OpenWithSecret(kSecret, kContext, bad), "bit " + std::to_string(bit));
  }
}

TEST(Seal, EveryTruncationAndExtensionIsRefused) {
  const std::string sealed = Seal("a successor token");
  for (size_t n = 0; n < sealed.size(); ++n) {
    ExpectRefused(OpenWithSecret(kSecret, kContext, sealed.substr(0, n)),
                  "truncated to " + std::to_string(n));
  }
  ExpectRefused(OpenWithSecret(kSecret, kContext, sealed + "x"), "extended");
  // Dropping the first bytes shifts the nonce: refused too.
  ExpectRefused(OpenWithSecret(kSecret, kContext, sealed.substr(1)), "front dropped");
}

TEST(Seal, BoxesAreNotInterchangeableBetweenSecrets) {
  const std::string a = Seal("for a", "secret-a");
  const std::string b = Seal("for b", "secret-b");
  ExpectRefused(OpenWithSecret("secret-a", kContext, b), "b's box with a's secret");
  ExpectRefused(OpenWithSecret("secret-b", kContext, a), "a's box with b's secret");
  // Splicing a's nonce onto b's ciphertext and tag does not open either.
  ExpectRefused(OpenWithSecret("secret-b", kContext, a.substr(0, 12) + b.substr(12)), "spliced");
}

}  // namespace
}  // namespace tessera::crypto
