// JWT sign/verify throughput: tessera against libjwt (the C peer, Debian libjwt-dev) and against
// the floor, the bare cryptography on the same bytes. All three run in one binary, side by side.
//
//   BM_Verify/<ALG>/<impl>, BM_Sign/<ALG>/<impl>, impl in {tessera, libjwt, floor}
//
// The token is realistic: header {"alg","typ":"JWT","kid"}, claims sub, name, role, iat, exp,
// iss, aud (about 290 bytes of signing input). tessera's verify includes header and claims
// parsing and every claim check; libjwt 1.10's jwt_decode checks the signature and parses, but
// checks no claim; the floor checks only the signature.
#include <benchmark/benchmark.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "crypto/hmac.h"
#include "crypto/random.h"
#include "tessera/jose/base64url.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwt.h"

// Counts heap allocations so the verify benchmarks can report allocations per operation.
static std::atomic<uint64_t> g_allocations{0};
void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace tessera::bench {
namespace {

using jose::Alg;

constexpr char kClaims[] =
    R"({"sub":"1234567890","name":"John Doe","role":"admin","iat":1516239022,)"
    R"("exp":4102444800,"iss":"https://auth.example.com","aud":"api.example.com"})";
constexpr int64_t kNow = 1700000000;
constexpr char kKid[] = "2024-10-main-key-01";

std::string B64(const std::string& s) { return jose::Base64UrlEncode(s); }

std::string BnParam(EVP_PKEY* pkey, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(pkey, name, &bn);
  std::string out(pad ? pad : BN_num_bytes(bn), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

std::string Pem(EVP_PKEY* pkey, bool priv) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (priv) PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  else PEM_write_bio_PUBKEY(bio, pkey);
  char* data;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

// One algorithm's fixture: the same key as a tessera JWK, as PEM/secret for libjwt, and as a bare
// OpenSSL / libsodium key for the floor; one token signed by tessera that everyone verifies.
struct Fixture {
  Alg alg;
  jose::Jwk private_jwk{*jose::Jwk::Generate(Alg::kHS256)};
  std::shared_ptr<const jose::Jwks> verify_set;
  std::string token, signing_input, signature;
  // libjwt
  jwt_alg_t libjwt_alg = JWT_ALG_NONE;
  std::string libjwt_sign_key, libjwt_verify_key;
  // floor
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* verify_ctx = nullptr;
  EVP_PKEY_CTX* sign_ctx = nullptr;
  std::string floor_signature;  // DER for ECDSA, as produced by OpenSSL
  std::unique_ptr<crypto::HmacKey> hmac;
  unsigned char ed_pk[32], ed_sk[64];
};

EVP_PKEY_CTX* PrepareCtx(EVP_PKEY* pkey, bool sign, bool pss) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
  sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx);
  EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256());
  if (pss) {
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256());
    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST);
  }
  return ctx;
}

Fixture* Make(Alg alg) {
  auto* f = new Fixture;
  f->alg = alg;
  std::string jwk;
  switch (alg) {
    case Alg::kHS256: {
      const std::string secret = crypto::RandomString(32);
      jwk = R"({"kty":"oct","alg":"HS256","k":")" + B64(secret) + "\"}";
      f->libjwt_alg = JWT_ALG_HS256;
      f->libjwt_sign_key = f->libjwt_verify_key = secret;
      f->hmac = std::make_unique<crypto::HmacKey>(crypto::Hash::kSha256, secret);
      break;
    }
    case Alg::kRS256:
    case Alg::kPS256: {
      f->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
      const char* names[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
      const char* params[] = {OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
                              OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
                              OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
                              OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
      jwk = std::string(R"({"kty":"RSA","alg":")") + std::string(jose::AlgName(alg)) + "\"";
      for (int i = 0; i < 8; ++i) jwk += ",\"" + std::string(names[i]) + "\":\"" + B64(BnParam(f->pkey, params[i])) + "\"";
      jwk += "}";
      f->libjwt_alg = JWT_ALG_RS256;  // libjwt 1.10 has no PS256; only used for RS256
      break;
    }
    case Alg::kES256: {
      f->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      jwk = R"({"kty":"EC","crv":"P-256","alg":"ES256","x":")" +
            B64(BnParam(f->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32)) + R"(","y":")" +
            B64(BnParam(f->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + R"(","d":")" +
            B64(BnParam(f->pkey, OSSL_PKEY_PARAM_PRIV_KEY, 32)) + "\"}";
      f->libjwt_alg = JWT_ALG_ES256;
      break;
    }
    case Alg::kEdDSA: {
      crypto_sign_keypair(f->ed_pk, f->ed_sk);
      jwk = R"({"kty":"OKP","crv":"Ed25519","alg":"EdDSA","x":")" +
            B64(std::string(reinterpret_cast<char*>(f->ed_pk), 32)) + R"(","d":")" +
            B64(std::string(reinterpret_cast<char*>(f->ed_sk), 32)) + "\"}";
      f->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, f->ed_pk, 32);
      break;
    }
    default: std::abort();
  }
  auto parsed = jose::Jwk::Parse(jwk);
  if (!parsed) std::abort();
  f->private_jwk = parsed->WithKid(kKid);
  const jose::Jwk verify_key =
      f->private_jwk.is_symmetric() ? f->private_jwk : f->private_jwk.PublicKey();
  f->verify_set = std::make_shared<const jose::Jwks>(*jose::Jwks::FromKeys({verify_key}));
  auto signer = jose::JwtSigner::Create(f->private_jwk, alg);
  f->token = *signer->Sign(kClaims);
  f->signing_input = f->token.substr(0, f->token.rfind('.'));
  f->signature = *jose::Base64UrlDecode(f->token.substr(f->token.rfind('.') + 1));
  if (f->pkey && alg != Alg::kEdDSA) {
    f->libjwt_sign_key = Pem(f->pkey, true);
    f->libjwt_verify_key = Pem(f->pkey, false);
    f->verify_ctx = PrepareCtx(f->pkey, false, alg == Alg::kPS256);
    f->sign_ctx = PrepareCtx(f->pkey, true, alg == Alg::kPS256);
    // The floor verifies OpenSSL's own encoding of a signature of the same input.
    unsigned char digest[32], sig[512];
    size_t len = sizeof sig;
    crypto::Digest(crypto::Hash::kSha256, f->signing_input, digest);
    EVP_PKEY_sign(f->sign_ctx, sig, &len, digest, 32);
    f->floor_signature.assign(reinterpret_cast<char*>(sig), len);
  }
  return f;
}

Fixture& Get(Alg alg) {
  static Fixture* fixtures[jose::kAlgCount] = {};
  Fixture*& f = fixtures[static_cast<int>(alg)];
  if (!f) f = Make(alg);
  return *f;
}

void ReportAllocations(benchmark::State& state, uint64_t before) {
  state.counters["allocs/op"] = benchmark::Counter(
      static_cast<double>(g_allocations.load() - before) / static_cast<double>(state.iterations()));
}

void VerifyTessera(benchmark::State& state, Alg alg) {
  Fixture& f = Get(alg);
  jose::JwtVerifier verifier(f.verify_set, {.algs = {alg},
                                            .issuers = {"https://auth.example.com"},
                                            .audiences = {"api.example.com"}});
  jose::Claims claims;
  if (!verifier.Verify(f.token, kNow, &claims).ok()) state.SkipWithError("verify failed");
  const uint64_t before = g_allocations.load();
  for (auto _ : state) {
    Status s = verifier.Verify(f.token, kNow, &claims);
    benchmark::DoNotOptimize(s);
  }
  ReportAllocations(state, before);
}

void VerifyLibjwt(benchmark::State& state, Alg alg) {
  Fixture& f = Get(alg);
  const auto* key = reinterpret_cast<const unsigned char*>(f.libjwt_verify_key.data());
  const int key_len = static_cast<int>(f.libjwt_verify_key.size());
  jwt_t* jwt = nullptr;
  if (jwt_decode(&jwt, f.token.c_str(), key, key_len) != 0) state.SkipWithError("libjwt failed");
  jwt_free(jwt);
  for (auto _ : state) {
    jwt_t* j = nullptr;
    int rc = jwt_decode(&j, f.token.c_str(), key, key_len);
    benchmark::DoNotOptimize(rc);
    jwt_free(j);
  }
}

void VerifyFloor(benchmark::State& state, Alg alg) {
  Fixture& f = Get(alg);
  const std::string sig_b64 = f.token.substr(f.token.rfind('.') + 1);
  for (auto _ : state) {
    bool ok;
    if (alg == Alg::kHS256) {
      unsigned char sig[32];
      ok = jose::Base64UrlDecodeTo(sig_b64, sig) &&
           f.hmac->Verify(f.signing_input, std::string_view(reinterpret_cast<char*>(sig), 32));
    } else if (alg == Alg::kEdDSA) {
      ok = crypto_sign_verify_detached(
               reinterpret_cast<const unsigned char*>(f.signature.data()),
               reinterpret_cast<const unsigned char*>(f.signing_input.data()),
               f.signing_input.size(), f.ed_pk) == 0;
    } else {
      unsigned char digest[32];
      crypto::Digest(crypto::Hash::kSha256, f.signing_input, digest);
      ok = EVP_PKEY_verify(f.verify_ctx,
                           reinterpret_cast<const unsigned char*>(f.floor_signature.data()),
                           f.floor_signature.size(), digest, 32) == 1;
    }
    if (!ok) state.SkipWithError("floor verify failed");
    benchmark::DoNotOptimize(ok);
  }
}

// EdDSA through OpenSSL 3.0, for the record: the second floor the issue names.
void VerifyFloorOpenSsl(benchmark::State& state, Alg alg) {
  Fixture& f = Get(alg);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  for (auto _ : state) {
    EVP_DigestVerifyInit(md, nullptr, nullptr, nullptr, f.pkey);
    int rc = EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(f.signature.data()),
                              f.signature.size(),
                              reinterpret_cast<const unsigned char*>(f.signing_input.data()),
                              f.signing_input.size());
    if (rc != 1) state.SkipWithError("openssl verify failed");
  }
  EVP_MD_CTX_free(md);
}

void SignTessera(benchmark::State& state, Alg alg) {
  Fixture& f = Get(alg);
  auto signer = *jose::JwtSigner::Create(f.private_jwk, alg);
  std::string token;
  for (auto _ : state) {
    Status s = signer.SignTrusted(kClaims, &token);
    benchmark::DoNotOptimize(s);
  }
}

void SignLibjwt(benchmark::State& state, Alg alg) {
  Fixture& f = Get(alg);
  const auto* key = reinterpret_cast<const unsigned char*>(f.libjwt_sign_key.data());
  const int key_len = static_cast<int>(f.libjwt_sign_key.size());
  for (auto _ : state) {
    jwt_t* jwt = nullptr;
    jwt_new(&jwt);
    jwt_add_header(jwt, "kid", kKid);
    jwt_add_grants_json(jwt, kClaims);
    jwt_set_alg(jwt, f.libjwt_alg, key, key_len);
    char* out = jwt_encode_str(jwt);
    if (!out) state.SkipWithError("libjwt sign failed");
    benchmark::DoNotOptimize(out);
    free(out);
    jwt_free(jwt);
  }
}

void SignFloor(benchmark::State& state, Alg alg) {
  Fixture& f = Get(alg);
  for (auto _ : state) {
    if (alg == Alg::kHS256) {
      unsigned char mac[32];
      f.hmac->Compute(f.signing_input, mac);
      benchmark::DoNotOptimize(mac);
    } else if (alg == Alg::kEdDSA) {
      unsigned char sig[64];
      crypto_sign_detached(sig, nullptr,
                           reinterpret_cast<const unsigned char*>(f.signing_input.data()),
                           f.signing_input.size(), f.ed_sk);
      benchmark::DoNotOptimize(sig);
    } else {
      unsigned char digest[32], sig[512];
      size_t len = sizeof sig;
      crypto::Digest(crypto::Hash::kSha256, f.signing_input, digest);
      if (EVP_PKEY_sign(f.sign_ctx, sig, &len, digest, 32) != 1) state.SkipWithError("sign");
      benchmark::DoNotOptimize(sig);
    }
  }
}

int Register() {
  if (sodium_init() < 0) std::abort();
  for (Alg alg : {Alg::kHS256, Alg::kES256, Alg::kRS256, Alg::kPS256, Alg::kEdDSA}) {
    const std::string name(jose::AlgName(alg));
    benchmark::RegisterBenchmark(("BM_Verify/" + name + "/tessera").c_str(), VerifyTessera, alg);
    const bool libjwt = alg != Alg::kEdDSA && alg != Alg::kPS256;  // libjwt 1.10 lacks both
    if (libjwt) {
      benchmark::RegisterBenchmark(("BM_Verify/" + name + "/libjwt").c_str(), VerifyLibjwt, alg);
    }
    benchmark::RegisterBenchmark(("BM_Verify/" + name + "/floor").c_str(), VerifyFloor, alg);
    if (alg == Alg::kEdDSA) {
      benchmark::RegisterBenchmark(("BM_Verify/" + name + "/floor_openssl").c_str(),
                                   VerifyFloorOpenSsl, alg);
    }
    benchmark::RegisterBenchmark(("BM_Sign/" + name + "/tessera").c_str(), SignTessera, alg);
    if (libjwt) {
      benchmark::RegisterBenchmark(("BM_Sign/" + name + "/libjwt").c_str(), SignLibjwt, alg);
    }
    benchmark::RegisterBenchmark(("BM_Sign/" + name + "/floor").c_str(), SignFloor, alg);
  }
  return 0;
}

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) {
  tessera::bench::Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
