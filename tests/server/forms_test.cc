#include "forms.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace tessera::server {
namespace {

using Form = std::map<std::string, std::string, std::less<>>;

// Standard base64 with padding, as a client builds a Basic header.
std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (in.size() - i == 1) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

TEST(ParseForm, ParsesNamesAndValues) {
  auto f = ParseForm("grant_type=refresh_token&refresh_token=abc-_123&scope=");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f,
            (Form{{"grant_type", "refresh_token"}, {"refresh_token", "abc-_123"}, {"scope", ""}}));
}

TEST(ParseForm, DecodesPlusAndPercentEscapes) {
  auto f = ParseForm("user+name=a+b%20c&p%61ss=%41%2b%3D%26%25&up=%c3%a9");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->at("user name"), "a b c");
  EXPECT_EQ(f->at("pass"), "A+=&%");   // an escaped '+' is a plus, an escaped '&' no separator
  EXPECT_EQ(f->at("up"), "\xc3\xa9");  // hex digits in either case
  EXPECT_EQ(f->size(), 3u);
}

TEST(ParseForm, EmptyBodyAndEmptyPairs) {
  auto empty = ParseForm("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  auto f = ParseForm("&a=1&&b=2&");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, (Form{{"a", "1"}, {"b", "2"}}));
}

TEST(ParseForm, MissingEqualsIsAnEmptyValue) {
  auto f = ParseForm("flag&a=1");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, (Form{{"flag", ""}, {"a", "1"}}));
  // Only the first '=' separates.
  auto g = ParseForm("k=v=w");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->at("k"), "v=w");
}

TEST(ParseForm, RepeatedNameIsRefused) {
  // RFC 6749 section 3.2: a parameter MUST NOT be sent twice; the two copies could be read
  // differently by two parsers (parameter pollution).
  EXPECT_FALSE(ParseForm("a=1&a=2"));
  EXPECT_FALSE(ParseForm("a=1&a=1"));
  EXPECT_FALSE(ParseForm("a=1&%61=2"));  // the same name once decoded
  EXPECT_FALSE(ParseForm("a&a"));
}

TEST(ParseForm, MalformedEscapesAreRefused) {
  for (const char* bad :
       {"a=%4", "a=%", "a=%zz", "a=%4g", "a=%g4", "%=1", "a%2=1", "a=1%", "a=%%41", "a=% 1"}) {
    EXPECT_FALSE(ParseForm(bad)) << bad;
  }
  EXPECT_TRUE(ParseForm("a=%41"));  // the boundary: an escape ending the body
}

TEST(ParseForm, NulIsRefusedEncodedOrRaw) {
  EXPECT_FALSE(ParseForm("a=%00"));
  EXPECT_FALSE(ParseForm("a%00=1"));
  EXPECT_FALSE(ParseForm(std::string_view("a=x\0y", 5)));
}

TEST(ParseForm, TooManyParametersAreRefused) {
  std::string body;
  for (int i = 0; i < 32; ++i) body += (i ? "&p" : "p") + std::to_string(i) + "=v";
  auto ok = ParseForm(body);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->size(), 32u);
  EXPECT_FALSE(ParseForm(body + "&p32=v"));
  EXPECT_TRUE(ParseForm("a=1&b=2", 2));
  EXPECT_FALSE(ParseForm("a=1&b=2&c=3", 2));
}

TEST(PercentDecode, PlusIsASpaceOnlyWhenAsked) {
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("%2B", true), "+");
  EXPECT_FALSE(PercentDecode("%0", false));
  EXPECT_FALSE(PercentDecode("%00", false));
}

TEST(ParseBasicAuthorization, DecodesIdAndSecret) {
  auto c = ParseBasicAuthorization("Basic " + Base64("client:s3cret"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "client");
  EXPECT_EQ(c->secret, "s3cret");
}

TEST(ParseBasicAuthorization, FormDecodesIdAndSecretPerRfc6749) {
  // RFC 6749 section 2.3.1: id and secret are form-encoded before base64, so a ':' in the id is
  // sent as %3A and only the first raw ':' separates.
  auto c = ParseBasicAuthorization("Basic " + Base64("a%3Ab:p%40ss+word%25"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "a:b");
  EXPECT_EQ(c->secret, "p@ss word%");
  EXPECT_EQ(c->raw_id, "a%3Ab");
  EXPECT_EQ(c->raw_secret, "p%40ss+word%25");
  auto colon = ParseBasicAuthorization("Basic " + Base64("id:se:cret"));
  ASSERT_TRUE(colon);
  EXPECT_EQ(colon->id, "id");
  EXPECT_EQ(colon->secret, "se:cret");
  auto empty = ParseBasicAuthorization("Basic " + Base64(":"));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->id, "");
  EXPECT_EQ(empty->secret, "");
  EXPECT_FALSE(ParseBasicAuthorization("Basic " + Base64("id%zz:secret")));
  // A secret that does not form-decode was sent unencoded (curl -u): kept as sent.
  auto unencoded = ParseBasicAuthorization("Basic " + Base64("id:sec%00ret"));
  ASSERT_TRUE(unencoded);
  EXPECT_EQ(unencoded->secret, "sec%00ret");
  EXPECT_EQ(unencoded->raw_secret, "sec%00ret");
}

TEST(ParseBasicAuthorization, SchemeIsCaseInsensitive) {
  for (const char* scheme : {"Basic ", "basic ", "BASIC ", "bAsIc "}) {
    auto c = ParseBasicAuthorization(scheme + Base64("id:secret"));
    ASSERT_TRUE(c) << scheme;
    EXPECT_EQ(c->id, "id");
  }
  EXPECT_FALSE(ParseBasicAuthorization("Bearer " + Base64("id:secret")));
  EXPECT_FALSE(ParseBasicAuthorization("Basic" + Base64("id:secret")));
  EXPECT_FALSE(ParseBasicAuthorization("Basi"));
  EXPECT_FALSE(ParseBasicAuthorization(""));
}

TEST(ParseBasicAuthorization, EveryPaddingLengthDecodes) {
  for (const char* pair :
       {"i:s", "id:s", "id:se", "id:sec"}) {  // 3, 4, 5, 6 bytes: none, ==, =, none
    auto c = ParseBasicAuthorization("Basic " + Base64(pair));
    ASSERT_TRUE(c) << pair << " " << Base64(pair);
    EXPECT_EQ(c->id + ":" + c->secret, pair);
  }
}

TEST(ParseBasicAuthorization, MalformedBase64IsRefused) {
  for (const char* bad :
       {"aWQ6c2VjcmV0!", "aWQ6c2VjcmV", "aWQ6c2VjcmV0=", "aWQ6c2Vj=mV0", "aWQ6c2Vj cmV0",
        "aWQ6c2VjcmV0-_==", "====", "aWQ6c===", "aWQ6c2VjcmV0\t", ""}) {
    EXPECT_FALSE(ParseBasicAuthorization(std::string("Basic ") + bad)) << bad;
  }
}

TEST(ParseBasicAuthorization, NonCanonicalPaddingBitsAreRefused) {
  // "id:s" is aWQ6cw==; the last character's low four bits must be zero. aWQ6cx== decodes to the
  // same bytes in a lax decoder: two encodings of one credential are refused, not equated.
  ASSERT_TRUE(ParseBasicAuthorization("Basic aWQ6cw=="));
  EXPECT_FALSE(ParseBasicAuthorization("Basic aWQ6cx=="));
  EXPECT_FALSE(ParseBasicAuthorization("Basic aWQ6c/=="));
  // "id:se" is aWQ6c2U=; the low two bits of 'U' are zero, of 'V' not.
  ASSERT_TRUE(ParseBasicAuthorization("Basic aWQ6c2U="));
  EXPECT_FALSE(ParseBasicAuthorization("Basic aWQ6c2V="));
}

TEST(ParseBasicAuthorization, MissingColonIsRefused) {
  EXPECT_FALSE(ParseBasicAuthorization("Basic " + Base64("justanid")));
  EXPECT_FALSE(ParseBasicAuthorization("Basic " + Base64("id%3Asecret")));  // an encoded ':' only
}

TEST(ParseBearerAuthorization, ReturnsTheToken) {
  EXPECT_EQ(ParseBearerAuthorization("Bearer abc.DEF-ghi_jkl"), "abc.DEF-ghi_jkl");
  EXPECT_EQ(ParseBearerAuthorization("bearer abc"), "abc");
  EXPECT_EQ(ParseBearerAuthorization("BEARER abc"), "abc");
  EXPECT_EQ(ParseBearerAuthorization("Bearer a~b+c/d"), "a~b+c/d");  // every token68 symbol
  EXPECT_EQ(ParseBearerAuthorization("Bearer abc="), "abc=");
  EXPECT_EQ(ParseBearerAuthorization("Bearer abc=="), "abc==");
}

TEST(ParseBearerAuthorization, RefusesWhatIsNotOneToken68) {
  for (const char* bad :
       {"Bearer ", "Bearer", "Bearer  abc", "Bearer abc ", "Bearer abc def", "Bearer abc,def",
        "Bearer a=b", "Bearer =abc", "Bearer ===", "Bearer abc\t", "Bearer ab\"c", "Bearer a;b",
        "Bearer a%b", "Basic abc", "Bearerabc", "", "Token abc"}) {
    EXPECT_FALSE(ParseBearerAuthorization(bad)) << '"' << bad << '"';
  }
  EXPECT_FALSE(ParseBearerAuthorization(std::string_view("Bearer a\0b", 10)));
}

}  // namespace
}  // namespace tessera::server
