// libFuzzer target: compact JWT parsing and verification, the code every bearer token from the
// network goes through before anything is trusted.
//
// Each input is tried as a token against verifiers over fixed keys, and through DecodeUnverified.
// A mutated token practically never carries a valid signature, so on its own the fuzzer would stop
// at the signature check and never reach claim parsing and validation. Each input is therefore
// also re-signed with the fuzzer's own HS256 secret (its header and payload segments kept as they
// are) and verified again: that drives arbitrary header and payload bytes through every step.
//
// Beyond "no crash, no sanitizer report", it aborts when the library contradicts itself:
//  - a verified token whose exp is not after now - leeway;
//  - a verified token that DecodeUnverified refuses, or whose payload it reads differently;
//  - a verified token whose claims differ between a reused Claims object and a fresh one (the
//    API promises that reuse is safe, so stale fields must never leak through).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "tessera/jose/alg.h"
#include "tessera/jose/base64url.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jws.h"
#include "tessera/jose/jwt.h"

namespace tessera::jose {
namespace {

// Fixed keys, made with `tessera keys generate`. They are test keys and protect nothing. The
// seed tokens in corpus/jwt_verify_fuzzer/ are signed with them; the ES256 and RS256 private
// halves were not kept (the fuzzer verifies only), so new valid seeds are HS256 ones, signed with
// the secret below.
constexpr std::string_view kHs256Jwk =
    R"({"kty":"oct","kid":"fuzz-hs256","use":"sig","alg":"HS256",)"
    R"("k":"7KNwLKa_in7UDOgW6xIu0gxD2uiH1w0GmPbPXDKg8SQ"})";
constexpr std::string_view kEs256Jwk =
    R"({"kty":"EC","crv":"P-256","kid":"fuzz-es256","use":"sig","alg":"ES256",)"
    R"("x":"0N6yN9i6cz8c0RodYdAsVD33RRxMhp_ZLgJJ_WVflGg",)"
    R"("y":"Ih43RNKeOdXH8yJm75b2Y53WkGUcxr4itaxotGJlH_0"})";
constexpr std::string_view kRs256Jwk =
    R"({"kty":"RSA","kid":"fuzz-rs256","use":"sig","alg":"RS256",)"
    R"("n":"q8lXWj7jCd7Tud7u9BdvVZ4T4yoxRObSkq1asc9TNOfQPSyklmLTSxx4ImlXXZ8sGKEhyKhEWB-3WkZA3pKw7)"
    R"(S6qpDiRvgCw7OqocOf9IGw5MPuCXzkUmzT0SdqfZMkvX9GBCntKDzNQrYq77TB5GEVtM-GqvWJMUPz67xzqgUJFFIFp)"
    R"(QUouYnhX1aosh7y8H74lx3NDNcYdIWJbOFNhdlgv7cN2HyAau7nsOX29PNHODxLFSMaAZtzylNbJSKGYMipr96kXDoZ)"
    R"(eS-nIXFkAPsaWCBtQe666LbotINjx1qwlytZvAnrXSt6BGmwuPhBV_Q-pDjX1u27495-QdLEVUQ","e":"AQAB"})";

// A fixed clock, so that a crasher reproduces on any date. The seed tokens are valid at this
// instant (iat 1699999000, exp 1700003600).
constexpr int64_t kNow = 1700000000;
constexpr int64_t kLeeway = 60;
constexpr std::string_view kIssuer = "https://issuer.fuzz.test";
constexpr std::string_view kAudience = "fuzz-api";

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "jwt_verify_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

std::shared_ptr<const Jwks> MustParseSet(std::string_view json) {
  auto set = Jwks::Parse(json);
  if (!set || !set->skipped().empty()) Fail("a fixed key set does not parse");
  return std::make_shared<const Jwks>(std::move(set).value());
}

JwtVerifyOptions Lenient() {
  JwtVerifyOptions o;
  o.audiences = {std::string(kAudience)};
  o.leeway_seconds = kLeeway;
  return o;
}

// Every optional check switched on, so that issuer, typ, allow-list and required-claim code runs.
JwtVerifyOptions Strict() {
  JwtVerifyOptions o = Lenient();
  o.algs = AlgSet{Alg::kHS256, Alg::kES256, Alg::kRS256};
  o.issuers = {std::string(kIssuer), "https://other-issuer.fuzz.test"};
  o.audiences.push_back("second-audience");
  o.typ = "JWT";
  o.required_claims = {"sub", "jti"};
  return o;
}

// One key set cannot hold the secret and the public keys together: Jwks refuses such a mix (the
// RS256/HS256 confusion), so the secret and the public keys get verifiers of their own.
struct Fixture {
  Jwk hs_key;
  std::shared_ptr<const Jwks> secret_set;
  std::shared_ptr<const Jwks> public_set;
  JwtVerifier secret_lenient;
  JwtVerifier secret_strict;
  JwtVerifier public_lenient;
  JwtVerifier public_strict;
};

const Fixture& GetFixture() {
  // Built once and never destroyed: libFuzzer runs millions of inputs in one process.
  static const Fixture* fixture = [] {
    auto hs = Jwk::Parse(kHs256Jwk);
    if (!hs) Fail("the fixed HS256 key does not parse");
    auto secret_set = MustParseSet(std::string("{\"keys\":[") + std::string(kHs256Jwk) + "]}");
    auto public_set = MustParseSet(std::string("{\"keys\":[") + std::string(kEs256Jwk) + "," +
                                   std::string(kRs256Jwk) + "]}");
    return new Fixture{.hs_key = *hs,
                       .secret_set = secret_set,
                       .public_set = public_set,
                       .secret_lenient = JwtVerifier(secret_set, Lenient()),
                       .secret_strict = JwtVerifier(secret_set, Strict()),
                       .public_lenient = JwtVerifier(public_set, Lenient()),
                       .public_strict = JwtVerifier(public_set, Strict())};
  }();
  return *fixture;
}

bool SameClaims(const Claims& a, const Claims& b) {
  return a.alg == b.alg && a.kid == b.kid && a.typ == b.typ && a.iss == b.iss && a.sub == b.sub &&
         a.jti == b.jti && a.sid == b.sid && a.aud == b.aud && a.exp == b.exp && a.nbf == b.nbf &&
         a.iat == b.iat && a.payload == b.payload;
}

// Verifies with a Claims object reused across all inputs (as a warm server thread does) and, on
// success, checks the result against a fresh Claims and against DecodeUnverified.
void VerifyAndCheck(const JwtVerifier& verifier, std::string_view token) {
  static Claims reused;
  const Status status = verifier.Verify(token, kNow, &reused);
  if (!status.ok()) return;
  if (reused.exp <= kNow - kLeeway) Fail("accepted a token whose exp has passed");
  Claims fresh;
  if (!verifier.Verify(token, kNow, &fresh).ok()) Fail("verification is not repeatable");
  if (!SameClaims(reused, fresh)) Fail("a reused Claims object differs from a fresh one");
  auto decoded = DecodeUnverified(token, verifier.options().limits);
  if (!decoded) Fail("DecodeUnverified refuses a token that verifies");
  if (decoded->payload_json != fresh.payload) Fail("DecodeUnverified reads another payload");
}

// The input's header and payload segments with a valid HS256 signature in place of its own.
bool Resign(const Fixture& f, std::string_view input, std::string* token) {
  const size_t last_dot = input.rfind('.');
  if (last_dot == std::string_view::npos) return false;
  std::string signature;
  if (!f.hs_key.Sign(Alg::kHS256, input.substr(0, last_dot), &signature).ok()) {
    Fail("the fixed HS256 key cannot sign");
  }
  token->assign(input.substr(0, last_dot + 1));
  token->append(Base64UrlEncode(signature));
  return true;
}

void FuzzOne(std::string_view input) {
  const Fixture& f = GetFixture();
  VerifyAndCheck(f.secret_lenient, input);
  VerifyAndCheck(f.secret_strict, input);
  VerifyAndCheck(f.public_lenient, input);
  VerifyAndCheck(f.public_strict, input);
  (void)DecodeUnverified(input);

  std::string resigned;
  if (!Resign(f, input, &resigned)) return;
  VerifyAndCheck(f.secret_lenient, resigned);
  VerifyAndCheck(f.secret_strict, resigned);
  // The JWS layer alone: no claim rules, any payload bytes.
  JwsHeader header;
  std::string payload;
  if (VerifyJws(resigned, *f.secret_set, AlgSet(), JwsLimits(), &header, &payload).ok()) {
    const size_t first_dot = resigned.find('.');
    const size_t last_dot = resigned.rfind('.');
    auto expected =
        Base64UrlDecode(std::string_view(resigned).substr(first_dot + 1, last_dot - first_dot - 1));
    if (!expected || *expected != payload) Fail("VerifyJws returned another payload");
  }
}

}  // namespace
}  // namespace tessera::jose

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::jose::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
