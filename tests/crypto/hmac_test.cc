#include "crypto/hmac.h"

#include <gtest/gtest.h>

#include "crypto/random.h"
#include "testing/testdata.h"

namespace tessera::crypto {
namespace {

using testing::FromHex;

std::string Mac(Hash h, const std::string& key, const std::string& msg) {
  HmacKey k(h, key);
  std::string out(k.tag_size(), '\0');
  k.Compute(msg, reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

// RFC 4231 test case 2 (short key) and 6 (key longer than the block, hashed first).
TEST(HmacKey, MatchesRfc4231) {
  EXPECT_EQ(Mac(Hash::kSha256, "Jefe", "what do ya want for nothing?"),
            FromHex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
  EXPECT_EQ(Mac(Hash::kSha384, "Jefe", "what do ya want for nothing?"),
            FromHex("af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                    "8e2240ca5e69e2c78b3239ecfab21649"));
  EXPECT_EQ(Mac(Hash::kSha512, "Jefe", "what do ya want for nothing?"),
            FromHex("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"));
  const std::string long_key(131, '\xaa');
  EXPECT_EQ(Mac(Hash::kSha256, long_key, "Test Using Larger Than Block-Size Key - Hash Key First"),
            FromHex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
}

TEST(HmacKey, VerifyRejectsAnyChangedOrTruncatedTag) {
  HmacKey k(Hash::kSha256, RandomString(32));
  const std::string msg = "header.payload";
  std::string tag(32, '\0');
  k.Compute(msg, reinterpret_cast<uint8_t*>(tag.data()));
  EXPECT_TRUE(k.Verify(msg, tag));
  for (size_t bit = 0; bit < tag.size() * 8; ++bit) {
    std::string t = tag;
    t[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_FALSE(k.Verify(msg, t)) << bit;
  }
  for (size_t len = 0; len < tag.size(); ++len) EXPECT_FALSE(k.Verify(msg, tag.substr(0, len)));
  EXPECT_FALSE(k.Verify(msg, tag + "x"));
  EXPECT_FALSE(k.Verify(msg + " ", tag));
}

TEST(ConstantTimeEquals, ComparesLengthAndBytes) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(RandomBytes, DifferEachCall) {
  EXPECT_NE(RandomString(32), RandomString(32));
  EXPECT_EQ(RandomString(17).size(), 17u);
}

}  // namespace
}  // namespace tessera::crypto
