#include "crypto/totp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tessera::crypto {
namespace {

// RFC 4226 Appendix D: HOTP-SHA-1, 6 digits, counters 0 to 9.
TEST(Hotp, Rfc4226AppendixD) {
  const std::string secret = "12345678901234567890";
  const std::vector<std::string> expected = {"755224", "287082", "359152", "969429", "338314",
                                             "254676", "287922", "162583", "399871", "520489"};
  for (uint64_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(HotpCode(secret, i, TotpHash::kSha1, 6), expected[i]) << i;
  }
}

// RFC 6238 Appendix B: 8 digits, 30-second steps, the three hashes with their seeds.
TEST(Totp, Rfc6238AppendixB) {
  struct Row {
    int64_t time;
    const char* sha1;
    const char* sha256;
    const char* sha512;
  };
  const Row rows[] = {{59, "94287082", "46119246", "90693936"},
                      {1111111109, "07081804", "68084774", "25091201"},
                      {1111111111, "14050471", "67062674", "99943326"},
                      {1234567890, "89005924", "91819424", "93441116"},
                      {2000000000, "69279037", "90698825", "38618901"},
                      {20000000000, "65353130", "77737706", "47863826"}};
  const std::string seed1 = "12345678901234567890";
  const std::string seed256 = "12345678901234567890123456789012";
  const std::string seed512 =
      "1234567890123456789012345678901234567890123456789012345678901234";
  for (const Row& r : rows) {
    const auto step = static_cast<uint64_t>(TotpStep(r.time));
    EXPECT_EQ(HotpCode(seed1, step, TotpHash::kSha1, 8), r.sha1) << r.time;
    EXPECT_EQ(HotpCode(seed256, step, TotpHash::kSha256, 8), r.sha256) << r.time;
    EXPECT_EQ(HotpCode(seed512, step, TotpHash::kSha512, 8), r.sha512) << r.time;
    // Through the verifier, at that time, with nothing spent yet.
    const TotpParams p{.hash = TotpHash::kSha1, .digits = 8};
    auto ok = VerifyTotp(seed1, r.sha1, r.time, std::nullopt, p);
    ASSERT_TRUE(ok) << r.time;
    EXPECT_EQ(*ok, static_cast<int64_t>(step));
  }
}

TEST(Totp, OneStepOfDriftEitherSideAndNoMore) {
  const std::string secret = "12345678901234567890";
  const int64_t now = 1700000000;
  const int64_t step = TotpStep(now);
  for (int64_t d : {-1, 0, 1}) {
    const std::string code = HotpCode(secret, static_cast<uint64_t>(step + d), TotpHash::kSha1, 6);
    auto r = VerifyTotp(secret, code, now, std::nullopt);
    ASSERT_TRUE(r) << d;
    EXPECT_EQ(*r, step + d);
  }
  for (int64_t d : {-3, -2, 2, 3}) {
    const std::string code = HotpCode(secret, static_cast<uint64_t>(step + d), TotpHash::kSha1, 6);
    // A code two steps away could equal one within the window by chance (1 in 10^6): not here.
    auto r = VerifyTotp(secret, code, now, std::nullopt);
    EXPECT_FALSE(r) << d;
    EXPECT_EQ(r.error().code(), Code::kUnauthenticated);
  }
}

TEST(Totp, ACodeIsAcceptedOnceAndEarlierStepsAreSpentWithIt) {
  const std::string secret = "another secret of twenty";
  const int64_t now = 1700000010;
  const int64_t step = TotpStep(now);
  const std::string code = HotpCode(secret, static_cast<uint64_t>(step), TotpHash::kSha1, 6);
  auto first = VerifyTotp(secret, code, now, std::nullopt);
  ASSERT_TRUE(first);
  // Replayed within its window: refused.
  EXPECT_FALSE(VerifyTotp(secret, code, now, *first));
  EXPECT_FALSE(VerifyTotp(secret, code, now + 29, *first));
  // The previous step's code, still inside the drift window, is spent too.
  const std::string previous =
      HotpCode(secret, static_cast<uint64_t>(step - 1), TotpHash::kSha1, 6);
  EXPECT_FALSE(VerifyTotp(secret, previous, now, *first));
  // The next step's code is not.
  const std::string next = HotpCode(secret, static_cast<uint64_t>(step + 1), TotpHash::kSha1, 6);
  auto later = VerifyTotp(secret, next, now + 30, *first);
  ASSERT_TRUE(later);
  EXPECT_EQ(*later, step + 1);
}

TEST(Totp, MalformedCodesAreRefusedLikeWrongOnes) {
  const std::string secret = "12345678901234567890";
  const int64_t now = 59;
  for (const char* code : {"", "12345", "1234567", "12345a", " 12345", "123 45", "９４２８７０"}) {
    auto r = VerifyTotp(secret, code, now, std::nullopt);
    ASSERT_FALSE(r) << code;
    EXPECT_EQ(r.error().code(), Code::kUnauthenticated);
    EXPECT_EQ(r.error().message().find(code[0] ? code : "\x01"), std::string::npos);
  }
}

TEST(Totp, ParametersOutOfRangeAreRefusedNotUsed) {
  const std::string secret = "12345678901234567890";
  for (const TotpParams& p : {TotpParams{.digits = 5}, TotpParams{.digits = 10},
                              TotpParams{.period = 0}, TotpParams{.window = -1},
                              TotpParams{.window = 1000}}) {
    auto r = VerifyTotp(secret, "287082", 59, std::nullopt, p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  }
  // An empty secret is a (useless) key, not a crash; its codes are its own.
  EXPECT_EQ(HotpCode("", 0, TotpHash::kSha1, 6).size(), 6u);
}

TEST(Totp, StepsAreFloorDivision) {
  EXPECT_EQ(TotpStep(0), 0);
  EXPECT_EQ(TotpStep(29), 0);
  EXPECT_EQ(TotpStep(30), 1);
  EXPECT_EQ(TotpStep(-1), -1);
  EXPECT_EQ(TotpStep(59, 60), 0);
}

// RFC 4648 section 10.
TEST(Base32, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},          {"f", "MY"},          {"fo", "MZXQ"},         {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"}, {"fooba", "MZXW6YTB"}, {"foobar", "MZXW6YTBOI"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base32Encode(plain), encoded);
    auto d = Base32Decode(encoded);
    ASSERT_TRUE(d) << encoded;
    EXPECT_EQ(*d, plain);
  }
  EXPECT_EQ(*Base32Decode("mzxw6ytboi"), "foobar");      // apps may lower-case it
  EXPECT_EQ(*Base32Decode("MZXW6YTBOI======"), "foobar");  // or pad it
  EXPECT_EQ(*Base32Decode("MY======"), "f");
  EXPECT_EQ(*Base32Decode("MZXW6==="), "foo");
  // Padding, when present, is exact.
  for (const char* bad : {"MY=", "MY=======", "MZXW6YTBOI=", "MZXW6YTBOI=======", "========",
                          "MZXW6==", "=MY"}) {
    EXPECT_FALSE(Base32Decode(bad)) << bad;
  }
  // Lengths with a partial byte (1, 3, 6 characters mod 8), characters outside the alphabet,
  // and "MB", whose last character leaves a set bit below its byte (only "MA" is canonical).
  for (const char* bad : {"M", "MZX", "MZXW6Y", "MZ XW", "MZXW1", "MZXW6YTBO!", "MB"}) {
    EXPECT_FALSE(Base32Decode(bad)) << bad;
  }
}

TEST(Totp, OtpauthUriPercentEncodesTheLabelAndNamesEveryParameter) {
  const std::string uri = OtpauthUri("tessera (ACME)", "josé@example", "12345678901234567890");
  EXPECT_EQ(uri,
            "otpauth://totp/tessera%20%28ACME%29:jos%C3%A9%40example?"
            "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=tessera%20%28ACME%29&algorithm=SHA1"
            "&digits=6&period=30");
}

TEST(Totp, QrSvgHasAModuleGridWithAQuietZone) {
  const std::string uri = OtpauthUri("tessera", "alice", "12345678901234567890");
  auto svg = QrSvg(uri);
  ASSERT_TRUE(svg);
  EXPECT_TRUE(svg->starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
  EXPECT_TRUE(svg->ends_with("\"/></svg>"));
  // A symbol of version V has 17 + 4V modules a side, plus 4 of quiet zone on each: this URI
  // (about 110 bytes) needs version 7 at level M.
  const size_t open = svg->find("viewBox=\"0 0 ") + 13;
  const int size = std::stoi(svg->substr(open));
  EXPECT_EQ(size, 17 + 4 * 7 + 8);
  // Dark modules: many, and none inside the quiet zone.
  size_t dark = 0;
  for (size_t p = svg->find('M'); p != std::string::npos; p = svg->find('M', p + 1)) {
    const int x = std::stoi(svg->substr(p + 1));
    const int y = std::stoi(svg->substr(svg->find(' ', p) + 1));
    EXPECT_GE(x, 4);
    EXPECT_GE(y, 4);
    EXPECT_LT(x, size - 4);
    EXPECT_LT(y, size - 4);
    ++dark;
  }
  EXPECT_GT(dark, 300u);
  // The three finder patterns: the top-left module of each is dark.
  const int w = size - 8;
  for (auto [x, y] : {std::pair{4, 4}, std::pair{4 + w - 7, 4}, std::pair{4, 4 + w - 7}}) {
    EXPECT_NE(svg->find("M" + std::to_string(x) + " " + std::to_string(y) + "h"),
              std::string::npos);
  }
  // The secret is in the picture, not in the markup.
  EXPECT_EQ(svg->find("GEZDGNBV"), std::string::npos);
}

}  // namespace
}  // namespace tessera::crypto
