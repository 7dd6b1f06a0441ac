// token::Verifier with a revocation subscription (issue 15): verification throughput with 100,000
// live revocations held against an empty list, side by side in one process. The Verifier is the
// real one: it fetches its keys and loads its revocation snapshot over HTTP from a loopback
// server in this process (tests/testing/stub_http_server.h) that answers as tessera does, the
// long polls included (each held a second, then answered with nothing new).
//
//   BM_VerifierVerify/<cached|uncached>/revocations:<N>
//
// 1,000 distinct tokens of live sessions are verified in turn, so the revocation lookups (by sid
// and jti, for every token, cached or not) do not all hit one warm entry. Cached: the verified-
// token cache answers (the signature is skipped, the times and the revocation list are not);
// uncached: the cache is off, and every call checks an ES256 signature.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "tessera/clock.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jwt.h"
#include "tessera/token/verifier.h"
#include "testing/stub_http_server.h"

namespace tessera::bench {
namespace {

constexpr int64_t kNow = 1800000000;
constexpr char kIssuer[] = "https://auth.example.com";
constexpr int kTokens = 1000;

struct Fixture {
  testing::StubHttpServer server;
  FakeClock clock{kNow};
  std::vector<std::string> tokens;
  std::unique_ptr<token::Verifier> verifier;
};

std::string Page(const std::vector<std::string>& sids) {
  std::string body = R"({"cursor":"c1","revocations":[)";
  for (size_t i = 0; i < sids.size(); ++i) {
    if (i) body += ',';
    body += R"({"sid":")" + sids[i] + R"(","until":)" + std::to_string(kNow + 3600) + "}";
  }
  return body + "]}";
}

// A Verifier subscribed to a list of `revocations` entries, and tokens of sessions not among
// them. Made once per configuration.
Fixture* Make(size_t revocations, bool cached) {
  auto* f = new Fixture;
  jose::Jwk key = jose::Jwk::Generate(jose::Alg::kES256, "bench-key").value();
  f->server.Set("/jwks", {.status = 200,
                          .body = jose::Jwks::FromKeys({key.PublicKey()}).value().ToJson(false),
                          .headers = {"Content-Type: application/json"}});
  std::vector<std::string> revoked;
  revoked.reserve(revocations);
  for (size_t i = 0; i < revocations; ++i) revoked.push_back("revoked-session-" + std::to_string(i));
  f->server.Set("/rev", {.status = 200, .body = Page(revoked)});
  f->server.Set("/rev?after=c1&wait=1",
                {.status = 200, .body = R"({"cursor":"c1","revocations":[]})",
                 .delay = std::chrono::milliseconds(1000)});
  token::VerifierOptions o{.issuer = kIssuer,
                           .audience = "tessera",
                           .jwks_url = f->server.Url("/jwks"),
                           .cache_capacity = cached ? 65536u : 0u,
                           .clock = &f->clock};
  o.fetch.allow_plain_http = true;
  o.subscribe.url = f->server.Url("/rev");
  o.subscribe.client_id = "bench";
  o.subscribe.client_secret = "bench-secret";
  o.subscribe.max_staleness_ms = 5000;
  auto verifier = token::Verifier::Create(std::move(o));
  if (!verifier) {
    std::fprintf(stderr, "verifier: %s\n", verifier.error().ToString().c_str());
    std::abort();
  }
  f->verifier = std::move(*verifier);
  if (f->verifier->revocation_subscription()->size() != revocations) std::abort();
  auto signer = jose::JwtSigner::Create(key, jose::Alg::kES256, "at+jwt").value();
  for (int i = 0; i < kTokens; ++i) {
    const std::string n = std::to_string(i);
    std::string claims = std::string(R"({"iss":")") + kIssuer +
                         R"(","sub":"user-)" + n + R"(","aud":"tessera","iat":)" +
                         std::to_string(kNow) + R"(,"exp":)" + std::to_string(kNow + 900) +
                         R"(,"jti":"jti-)" + n + R"(","sid":"live-session-)" + n +
                         R"(","roles":["user"],"preferred_username":"user)" + n + R"("})";
    f->tokens.push_back(signer.Sign(claims).value());
  }
  return f;
}

void BM_VerifierVerify(benchmark::State& state, bool cached) {
  const size_t revocations = static_cast<size_t>(state.range(0));
  static Fixture* fixtures[2][2] = {};
  Fixture*& f = fixtures[cached][revocations > 0];
  if (!f) f = Make(revocations, cached);
  token::AccessToken out;
  size_t i = 0;
  for (auto _ : state) {
    Status s = f->verifier->Verify(f->tokens[i], kNow + 1, &out);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(out);
    if (++i == f->tokens.size()) i = 0;
  }
  state.counters["revocations_held"] =
      static_cast<double>(f->verifier->revocation_subscription()->size());
}

BENCHMARK_CAPTURE(BM_VerifierVerify, cached, true)
    ->ArgName("revocations")
    ->Arg(0)
    ->Arg(100000);
BENCHMARK_CAPTURE(BM_VerifierVerify, uncached, false)
    ->ArgName("revocations")
    ->Arg(0)
    ->Arg(100000);

}  // namespace
}  // namespace tessera::bench
