// Attacks on JWT verification, each named after what it tries (RFC 8725, jwt_verify_lib's
// bit-flip and truncation tests, the classic alg-confusion and header-key injection tricks).
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "jose/test_keys.h"
#include "tessera/jose/jwt.h"

namespace tessera::jose {
namespace {

using testing::B64;
using testing::Forge;
using testing::kAllAlgs;
using testing::PrivateKey;
using testing::SetOf;
using testing::VerifierKey;

constexpr int64_t kNow = 1'800'000'000;
constexpr char kClaims[] = R"({"sub":"alice","exp":1900000000})";

Status VerifyWith(const std::string& token, std::vector<Jwk> keys, JwtVerifyOptions opts = {}) {
  JwtVerifier v(SetOf(std::move(keys)), std::move(opts));
  Claims c;
  return v.Verify(token, kNow, &c);
}

std::string Header(Alg alg, const std::string& extra = "") {
  return std::string(R"({"alg":")") + std::string(AlgName(alg)) + "\"" + extra + "}";
}

TEST(Adversarial, EverySignatureBitFlipIsRejected) {
  for (Alg alg : kAllAlgs) {
    const std::string token = Forge(PrivateKey(alg), alg, Header(alg), kClaims);
    ASSERT_TRUE(VerifyWith(token, {VerifierKey(alg)}).ok()) << AlgName(alg);
    const size_t dot = token.rfind('.');
    auto sig = Base64UrlDecode(token.substr(dot + 1));
    ASSERT_TRUE(sig);
    for (size_t bit = 0; bit < sig->size() * 8; ++bit) {
      std::string s = *sig;
      s[bit / 8] ^= static_cast<char>(1 << (bit % 8));
      Status st = VerifyWith(token.substr(0, dot + 1) + B64(s), {VerifierKey(alg)});
      ASSERT_EQ(st.reason(), Reason::kBadSignature) << AlgName(alg) << " bit " << bit;
    }
  }
}

TEST(Adversarial, EveryTruncationIsRejected) {
  for (Alg alg : {Alg::kHS256, Alg::kES256, Alg::kRS256, Alg::kEdDSA}) {
    const std::string token = Forge(PrivateKey(alg), alg, Header(alg), kClaims);
    for (size_t len = 0; len < token.size(); ++len) {
      EXPECT_FALSE(VerifyWith(token.substr(0, len), {VerifierKey(alg)}).ok())
          << AlgName(alg) << " at " << len;
    }
    // And every truncation of the decoded signature, re-encoded properly.
    const size_t dot = token.rfind('.');
    auto sig = *Base64UrlDecode(token.substr(dot + 1));
    for (size_t len = 0; len < sig.size(); ++len) {
      EXPECT_EQ(VerifyWith(token.substr(0, dot + 1) + B64(sig.substr(0, len)), {VerifierKey(alg)})
                    .reason(),
                len == 0 ? Reason::kMalformedToken : Reason::kBadSignatureLength);
    }
  }
}

TEST(Adversarial, AlgNoneIsRejectedInEverySpelling) {
  for (const char* none : {"none", "None", "NONE", "nOnE", "NoNe"}) {
    const std::string head = std::string(R"({"alg":")") + none + "\"}";
    for (const std::string& sig : {std::string(""), B64("x")}) {
      const std::string token = B64(head) + "." + B64(kClaims) + "." + sig;
      Status s = VerifyWith(token, {VerifierKey(Alg::kHS256)});
      EXPECT_FALSE(s.ok()) << none;
      if (!sig.empty()) {
        EXPECT_EQ(s.reason(), Reason::kAlgNone) << none;
      }
    }
  }
}

TEST(Adversarial, UnknownAndMistypedAlgRejected) {
  for (const char* head : {R"({"alg":"hs256"})", R"({"alg":"HS256 "})", R"({"alg":"ES256K"})",
                           R"({"alg":"RSA-OAEP"})", R"({"alg":""})"}) {
    EXPECT_EQ(VerifyWith(B64(head) + "." + B64(kClaims) + ".AAAA", {VerifierKey(Alg::kHS256)})
                  .reason(),
              Reason::kAlgUnsupported)
        << head;
  }
  for (const char* head : {R"({"alg":256})", R"({"alg":null})", R"({"alg":["HS256"]})", R"({})",
                           R"({"kid":"x"})", R"([])", R"("HS256")"}) {
    EXPECT_EQ(VerifyWith(B64(head) + "." + B64(kClaims) + ".AAAA", {VerifierKey(Alg::kHS256)})
                  .reason(),
              Reason::kBadHeader)
        << head;
  }
}

// The RS256 -> HS256 confusion: the attacker HMACs with the verifier's public key bytes.
TEST(Adversarial, PublicKeyUsedAsHmacSecretIsRejected) {
  for (Alg alg : {Alg::kRS256, Alg::kES256, Alg::kEdDSA}) {
    const Jwk pub = VerifierKey(alg);
    auto j = nlohmann::json::parse(pub.ToJson(false));
    std::vector<std::string> secrets = {pub.ToJson(false)};
    for (const char* m : {"n", "x"}) {
      if (j.contains(m)) secrets.push_back(*Base64UrlDecode(j[m].get<std::string>()));
    }
    for (const std::string& secret : secrets) {
      nlohmann::json oct = {{"kty", "oct"}, {"k", B64(secret)}, {"kid", pub.kid()}};
      auto hmac_key = Jwk::Parse(oct.dump());
      ASSERT_TRUE(hmac_key) << hmac_key.error().ToString();
      const std::string token = Forge(*hmac_key, Alg::kHS256,
                                      R"({"alg":"HS256","kid":")" + pub.kid() + "\"}", kClaims);
      EXPECT_EQ(VerifyWith(token, {pub}).reason(), Reason::kAlgKeyMismatch) << AlgName(alg);
    }
  }
}

// Keys embedded in or pointed to by the header are never used, whatever they say.
TEST(Adversarial, HeaderKeysAreIgnored) {
  auto attacker = Jwk::Generate(Alg::kES256, "kid-ES256");  // same kid as the real key
  ASSERT_TRUE(attacker);
  const std::string jwk = attacker->PublicKey().ToJson(false);
  for (const std::string& extra :
       {",\"jwk\":" + jwk, std::string(",\"jku\":\"https://evil.example/jwks.json\""),
        std::string(",\"x5u\":\"https://evil.example/cert.pem\""),
        std::string(",\"x5c\":[\"MIIB\"]")}) {
    const std::string token =
        Forge(*attacker, Alg::kES256, R"({"alg":"ES256","kid":"kid-ES256")" + extra + "}", kClaims);
    EXPECT_EQ(VerifyWith(token, {VerifierKey(Alg::kES256)}).reason(), Reason::kBadSignature)
        << extra;
  }
  // The same headers on a token the real key signed change nothing.
  const std::string genuine = Forge(PrivateKey(Alg::kES256), Alg::kES256,
                                    R"({"alg":"ES256","jku":"https://evil.example"})", kClaims);
  EXPECT_TRUE(VerifyWith(genuine, {VerifierKey(Alg::kES256)}).ok());
}

TEST(Adversarial, CritIsRejected) {
  for (const char* crit : {R"(,"crit":["exp"],"exp":1)", R"(,"crit":[])", R"(,"crit":["b64"],"b64":false)",
                           R"(,"crit":"x")"}) {
    const std::string token =
        Forge(PrivateKey(Alg::kHS256), Alg::kHS256, Header(Alg::kHS256, crit), kClaims);
    EXPECT_EQ(VerifyWith(token, {VerifierKey(Alg::kHS256)}).reason(), Reason::kCritUnsupported)
        << crit;
  }
  const std::string b64 =
      Forge(PrivateKey(Alg::kHS256), Alg::kHS256, Header(Alg::kHS256, R"(,"b64":false)"), kClaims);
  EXPECT_EQ(VerifyWith(b64, {VerifierKey(Alg::kHS256)}).reason(), Reason::kCritUnsupported);
}

TEST(Adversarial, EcdsaDerAndOutOfRangeSignaturesRejected) {
  const std::string token = Forge(PrivateKey(Alg::kES256), Alg::kES256, Header(Alg::kES256), kClaims);
  const std::string input = token.substr(0, token.rfind('.') + 1);
  const std::string raw = *Base64UrlDecode(token.substr(token.rfind('.') + 1));
  auto der_int = [](std::string v) {
    while (v.size() > 1 && v[0] == 0) v.erase(0, 1);
    if (static_cast<unsigned char>(v[0]) & 0x80) v.insert(0, 1, '\0');
    return std::string("\x02", 1) + static_cast<char>(v.size()) + v;
  };
  const std::string body = der_int(raw.substr(0, 32)) + der_int(raw.substr(32));
  const std::string der = std::string("\x30", 1) + static_cast<char>(body.size()) + body;
  EXPECT_EQ(VerifyWith(input + B64(der), {VerifierKey(Alg::kES256)}).reason(),
            Reason::kBadSignatureLength);
  // P-256 group order n; r or s of 0, n, or above n must fail.
  const std::string n = *Base64UrlDecode("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE");
  const std::string zero(32, '\0');
  std::string n_plus = n;
  n_plus[31] = static_cast<char>(n_plus[31] + 1);
  for (const std::string& sig : {zero + raw.substr(32), raw.substr(0, 32) + zero, n + raw.substr(32),
                                 raw.substr(0, 32) + n, n_plus + raw.substr(32)}) {
    EXPECT_EQ(VerifyWith(input + B64(sig), {VerifierKey(Alg::kES256)}).reason(),
              Reason::kBadSignature);
  }
}

TEST(Adversarial, NonCanonicalBase64Rejected) {
  const std::string token = Forge(PrivateKey(Alg::kHS256), Alg::kHS256, Header(Alg::kHS256), kClaims);
  const auto d1 = token.find('.'), d2 = token.rfind('.');
  const std::string h = token.substr(0, d1), p = token.substr(d1 + 1, d2 - d1 - 1),
                    s = token.substr(d2 + 1);
  // HS256's 32-byte MAC encodes to 43 characters, the last carrying 2 unused bits.
  std::string s_bits = s;
  s_bits.back() = s.back() == 'A' ? 'B' : static_cast<char>(s.back() ^ 1);
  for (const std::string& bad :
       {h + "=." + p + "." + s, h + "." + p + "=." + s, h + "." + p + "." + s + "=",
        h + "." + p + "." + s_bits, h + " ." + p + "." + s, h + "." + p + ".\n" + s,
        h + "." + p + "." + s.substr(0, 10) + "+" + s.substr(11)}) {
    Status st = VerifyWith(bad, {VerifierKey(Alg::kHS256)});
    EXPECT_FALSE(st.ok()) << bad;
  }
}

TEST(Adversarial, DuplicateMembersRejected) {
  const Jwk& k = PrivateKey(Alg::kHS256);
  EXPECT_EQ(VerifyWith(Forge(k, Alg::kHS256, R"({"alg":"HS256","alg":"none"})", kClaims),
                       {VerifierKey(Alg::kHS256)})
                .reason(),
            Reason::kDuplicateMember);
  EXPECT_EQ(VerifyWith(Forge(k, Alg::kHS256, Header(Alg::kHS256),
                             R"({"sub":"alice","sub":"admin","exp":1900000000})"),
                       {VerifierKey(Alg::kHS256)})
                .reason(),
            Reason::kDuplicateMember);
  EXPECT_EQ(VerifyWith(Forge(k, Alg::kHS256, Header(Alg::kHS256),
                             R"({"exp":1900000000,"x":{"a":1,"a":2}})"),
                       {VerifierKey(Alg::kHS256)})
                .reason(),
            Reason::kDuplicateMember);
}

TEST(Adversarial, WrongSegmentCountsRejected) {
  const std::string token = Forge(PrivateKey(Alg::kHS256), Alg::kHS256, Header(Alg::kHS256), kClaims);
  const std::vector<std::string> bad_tokens = {token.substr(0, token.rfind('.')), token + ".",
                                               token + ".x", token + ".x.y", "a.b.c.d.e", "", ".",
                                               "..", "...", "a..b"};
  for (const std::string& bad : bad_tokens) {
    EXPECT_EQ(VerifyWith(bad, {VerifierKey(Alg::kHS256)}).code(), Code::kInvalidArgument) << bad;
  }
}

TEST(Adversarial, OversizedAndDeepInputRejected) {
  const Jwk& k = PrivateKey(Alg::kHS256);
  const std::string big_claims =
      R"({"exp":1900000000,"pad":")" + std::string(20000, 'a') + "\"}";
  EXPECT_EQ(VerifyWith(Forge(k, Alg::kHS256, Header(Alg::kHS256), big_claims),
                       {VerifierKey(Alg::kHS256)})
                .reason(),
            Reason::kTooLarge);
  const std::string big_header = Header(Alg::kHS256, R"(,"x":")" + std::string(3000, 'a') + "\"");
  EXPECT_EQ(VerifyWith(Forge(k, Alg::kHS256, big_header, kClaims), {VerifierKey(Alg::kHS256)})
                .reason(),
            Reason::kTooLarge);
  const std::string deep = R"({"exp":1900000000,"x":)" + std::string(200, '[') +
                           std::string(200, ']') + "}";
  EXPECT_EQ(VerifyWith(Forge(k, Alg::kHS256, Header(Alg::kHS256), deep), {VerifierKey(Alg::kHS256)})
                .reason(),
            Reason::kTooDeep);
  EXPECT_EQ(VerifyWith(std::string(1 << 20, 'a'), {VerifierKey(Alg::kHS256)}).reason(),
            Reason::kTooLarge);
}

// Claims nested `levels` deep, the claims object itself being level 1: an RFC 9396-style
// "authorization_details" whose containers alternate arrays and objects, none of them empty.
std::string NestedClaims(size_t levels) {
  std::string open, close;
  for (size_t level = 2; level <= levels; ++level) {
    if (level % 2 == 0) {
      open += "[";
      close += "]";
    } else {
      open += R"({"d":)";
      close += "}";
    }
  }
  std::reverse(close.begin(), close.end());
  return R"({"exp":1900000000,"authorization_details":)" + open + "1" + close + "}";
}

TEST(Adversarial, NestedClaimsUpTo64LevelsAreAccepted) {
  const Jwk& k = PrivateKey(Alg::kHS256);
  for (size_t levels : {1, 2, 16, 17, 32, 33, 63, 64}) {
    const std::string claims = NestedClaims(levels);
    const std::string token = Forge(k, Alg::kHS256, Header(Alg::kHS256), claims);
    JwtVerifier v(SetOf({VerifierKey(Alg::kHS256)}), {});
    Claims c;
    Status s = v.Verify(token, kNow, &c);
    ASSERT_TRUE(s.ok()) << levels << " levels: " << s.ToString();
    EXPECT_EQ(c.payload, claims);
    EXPECT_EQ(c.exp, 1900000000);
    // What verifies also decodes (`tessera jwt decode`), and a signer may produce it.
    EXPECT_TRUE(DecodeUnverified(token)) << levels;
    auto signer = JwtSigner::Create(k, Alg::kHS256);
    ASSERT_TRUE(signer);
    auto signed_token = signer->Sign(claims);
    ASSERT_TRUE(signed_token) << levels << ": " << signed_token.error().ToString();
    EXPECT_TRUE(v.Verify(*signed_token, kNow, &c).ok()) << levels;
  }
}

TEST(Adversarial, NestedClaimsBeyondTheLimitAreRefusedCleanly) {
  const Jwk& k = PrivateKey(Alg::kHS256);
  // Sizes that pass the token size limit reach the parser and stop there.
  JwtVerifyOptions roomy;
  roomy.limits.max_token_bytes = 1 << 20;
  for (size_t levels : {65, 66, 100, 10000, 100000}) {
    const std::string token = Forge(k, Alg::kHS256, Header(Alg::kHS256), NestedClaims(levels));
    EXPECT_EQ(VerifyWith(token, {VerifierKey(Alg::kHS256)}, roomy).reason(), Reason::kTooDeep)
        << levels;
    auto decoded = DecodeUnverified(token, roomy.limits);
    ASSERT_FALSE(decoded) << levels;
    EXPECT_EQ(decoded.error().reason(), Reason::kTooDeep) << levels;
    // With the default limits the larger ones are refused for their size, before any parse.
    Status s = VerifyWith(token, {VerifierKey(Alg::kHS256)});
    EXPECT_FALSE(s.ok()) << levels;
    EXPECT_TRUE(s.reason() == Reason::kTooDeep || s.reason() == Reason::kTooLarge) << levels;
  }
  // A configured depth beyond the ceiling still bounds the walk.
  JwtVerifyOptions unbounded = roomy;
  unbounded.limits.max_json_depth = size_t{1} << 40;
  EXPECT_TRUE(VerifyWith(Forge(k, Alg::kHS256, Header(Alg::kHS256), NestedClaims(200)),
                         {VerifierKey(Alg::kHS256)}, unbounded)
                  .ok());
  EXPECT_EQ(VerifyWith(Forge(k, Alg::kHS256, Header(Alg::kHS256),
                             NestedClaims(kMaxJsonDepthCeiling + 1)),
                       {VerifierKey(Alg::kHS256)}, unbounded)
                .reason(),
            Reason::kTooDeep);
  EXPECT_EQ(VerifyWith(Forge(k, Alg::kHS256, Header(Alg::kHS256), NestedClaims(100000)),
                       {VerifierKey(Alg::kHS256)}, unbounded)
                .reason(),
            Reason::kTooDeep);
}

TEST(Adversarial, TheClaimsDepthLimitIsConfigurable) {
  const Jwk& k = PrivateKey(Alg::kHS256);
  JwtVerifyOptions tight;
  tight.limits.max_json_depth = 16;
  EXPECT_TRUE(VerifyWith(Forge(k, Alg::kHS256, Header(Alg::kHS256), NestedClaims(16)),
                         {VerifierKey(Alg::kHS256)}, tight)
                  .ok());
  EXPECT_EQ(VerifyWith(Forge(k, Alg::kHS256, Header(Alg::kHS256), NestedClaims(17)),
                       {VerifierKey(Alg::kHS256)}, tight)
                .reason(),
            Reason::kTooDeep);
}

TEST(Adversarial, TheHeaderStaysShallow) {
  const Jwk& k = PrivateKey(Alg::kHS256);
  // The header object and 7 arrays: 8 levels, the header's limit; one more is refused.
  const std::string eight = Header(Alg::kHS256, R"(,"x":[[[[[[[1]]]]]]])");
  const std::string nine = Header(Alg::kHS256, R"(,"x":[[[[[[[[1]]]]]]]])");
  EXPECT_TRUE(VerifyWith(Forge(k, Alg::kHS256, eight, kClaims), {VerifierKey(Alg::kHS256)}).ok());
  const std::string deep = Forge(k, Alg::kHS256, nine, kClaims);
  EXPECT_EQ(VerifyWith(deep, {VerifierKey(Alg::kHS256)}).reason(), Reason::kTooDeep);
  EXPECT_EQ(DecodeUnverified(deep).error().reason(), Reason::kTooDeep);
}

TEST(Adversarial, InvalidUtf8InClaimsRejected) {
  const std::string token = Forge(PrivateKey(Alg::kHS256), Alg::kHS256, Header(Alg::kHS256),
                                  "{\"exp\":1900000000,\"sub\":\"\xc3\x28\"}");
  EXPECT_EQ(VerifyWith(token, {VerifierKey(Alg::kHS256)}).reason(), Reason::kBadJson);
}

TEST(Adversarial, SignatureFromAnotherAlgOfTheSameKeyRejected) {
  // A key without "alg" serves RS256 and PS256; a PS256 signature relabelled RS256 must fail.
  auto j = nlohmann::json::parse(PrivateKey(Alg::kRS256).ToJson(true));
  j.erase("alg");
  auto rsa = Jwk::Parse(j.dump());
  ASSERT_TRUE(rsa);
  std::string input = B64(Header(Alg::kRS256)) + "." + B64(kClaims);
  std::string sig;
  ASSERT_TRUE(rsa->Sign(Alg::kPS256, input, &sig).ok());
  EXPECT_EQ(VerifyWith(input + "." + B64(sig), {rsa->PublicKey()}).reason(), Reason::kBadSignature);
}

}  // namespace
}  // namespace tessera::jose
