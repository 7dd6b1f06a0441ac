#include "tessera/jose/base64url.h"

#include <gtest/gtest.h>

namespace tessera::jose {
namespace {

TEST(Base64Url, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");
}

TEST(Base64Url, RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data.push_back(static_cast<char>(i * 7 + 3));
    auto back = Base64UrlDecode(Base64UrlEncode(data));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, data);
  }
}

TEST(Base64Url, RejectsPaddingAndForeignAlphabets) {
  for (const char* bad : {"Zg==", "Zm8=", "Zm9v+A", "Zm9v/A", "Zm 9v", "Zm9v\n", " Zm9v",
                          "Zm9v?", "Z", "Zm9vY", "Zm9\x80"}) {
    auto r = Base64UrlDecode(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().reason(), Reason::kBadBase64);
  }
}

// Non-zero unused bits would give one byte string several encodings ("Zh" and "Zg" both "f").
TEST(Base64Url, RejectsNonZeroPadBits) {
  EXPECT_TRUE(Base64UrlDecode("Zg"));
  EXPECT_TRUE(Base64UrlDecode("Zm8"));
  for (const char* bad : {"Zh", "Zi", "Zv", "Zm9", "Zm-"}) EXPECT_FALSE(Base64UrlDecode(bad)) << bad;
}

TEST(Base64Url, DecodedSizeRefusesImpossibleLengths) {
  EXPECT_EQ(Base64UrlDecodedSize(0), 0u);
  EXPECT_EQ(Base64UrlDecodedSize(2), 1u);
  EXPECT_EQ(Base64UrlDecodedSize(3), 2u);
  EXPECT_EQ(Base64UrlDecodedSize(4), 3u);
  EXPECT_FALSE(Base64UrlDecodedSize(5));
}

}  // namespace
}  // namespace tessera::jose
