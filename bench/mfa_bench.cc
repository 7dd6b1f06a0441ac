// What a second factor adds to a sign-in (issue 17: at most 1 ms of CPU more than one without).
// The real server in this process: a Runtime on SQLite files in a temporary directory (accounts,
// sessions, throttle counters, as `tessera serve` keeps them by default), Argon2id at the default
// cost, requests handed to App::Handle (no sockets: the same work minus the kernel's).
//
//   BM_SignIn/password        POST /v1/login for an account without a second factor
//   BM_SignIn/password+totp   POST /v1/login (-> 401 mfa_required with a ticket), then
//                             POST /v1/login/mfa with the current TOTP code (-> 200, a session)
//   BM_TotpSecondStep         the second request alone (the first runs with the timer paused):
//                             ticket, throttle, code, the atomic use, and the session it creates
//   BM_TotpTicket             what the first step does beyond a plain sign-in: is a factor on,
//                             and the ticket (a store write and a seal)
//   BM_PasswordVerify         the Argon2id verify alone (crypto::PasswordHasher, libsodium with
//                             the per-thread arena), on this thread: BM_SignIn/password less this
//                             is what a sign-in costs besides the hash (issue 16)
//
// The two sign-ins differ by Argon2id's noise (milliseconds on a shared machine), so the extra
// cost is measured by its parts: BM_TotpTicket + BM_TotpSecondStep bounds it from above (the
// second step also creates the session, which the plain sign-in does too).
//
// CPU time is the whole process's (the work runs on the password and store pools, not on the
// benchmark's thread). The clock is a FakeClock moved 30 s per sign-in, so every sign-in has a
// code of a new time step (a code is accepted once).
#include <benchmark/benchmark.h>

#include <future>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "crypto/password.h"
#include "crypto/totp.h"
#include "runtime.h"
#include "store_conformance/store_factory.h"
#include "tessera/user/user.h"

namespace tessera::bench {
namespace {

using nlohmann::json;

constexpr char kPassword[] = "a long and unlisted passphrase 7f3";

class SignInFixture {
 public:
  SignInFixture() {
    ConfigSources sources;
    sources.data = dir_.path();
    sources.env.emplace("TESSERA_SERVER_ACCESS_LOG", "off");
    auto config = LoadConfig(sources);
    if (!config) throw std::runtime_error(config.error().message());
    auto runtime = server::Runtime::Open(*config, {.clock = &clock_, .maintenance = false});
    if (!runtime) throw std::runtime_error(runtime.error().message());
    runtime_ = std::move(*runtime);
    for (const char* name : {"plain", "second"}) {
      auto created = runtime_->accounts().Create(name, kPassword, {});
      if (!created) throw std::runtime_error(created.error().message());
    }
    const user::User second = runtime_->users().FindByName("second")->value();
    auto enrolment = runtime_->mfa().Begin(second);
    if (!enrolment) throw std::runtime_error(enrolment.error().message());
    secret_ = crypto::Base32Decode(enrolment->secret).value();
    auto codes = runtime_->mfa().Confirm(second, Code());
    if (!codes) throw std::runtime_error(codes.error().message());
  }

  server::HttpResponse Post(const std::string& target, const json& body) {
    server::HttpRequest r;
    r.method = "POST";
    r.target = target;
    r.headers = {{"Host", "127.0.0.1:8080"}, {"Content-Type", "application/json"}};
    r.body = body.dump();
    r.peer_ip = "192.0.2.10";
    std::promise<server::HttpResponse> answer;
    runtime_->app().Handle(std::move(r),
                           [&](server::HttpResponse a) { answer.set_value(std::move(a)); });
    return answer.get_future().get();
  }

  std::string Code() const {
    return crypto::HotpCode(secret_, crypto::TotpStep(clock_.NowSeconds()),
                            crypto::TotpHash::kSha1, 6);
  }

  FakeClock& clock() { return clock_; }
  server::Runtime& runtime() { return *runtime_; }

 private:
  testing::TempDir dir_;
  FakeClock clock_{1'900'000'000};
  std::unique_ptr<server::Runtime> runtime_;
  std::string secret_;
};

SignInFixture& Fixture() {
  static SignInFixture* f = new SignInFixture();
  return *f;
}

void BM_SignIn(benchmark::State& state, bool totp) {
  SignInFixture& f = Fixture();
  const json first = {{"username", totp ? "second" : "plain"}, {"password", kPassword}};
  for (auto _ : state) {
    f.clock().Advance(30);  // a new time step: the last code was used
    server::HttpResponse r = f.Post("/v1/login", first);
    if (totp) {
      if (r.status != 401) state.SkipWithError(("first step: " + r.body).c_str());
      const json second = {{"mfa_ticket", json::parse(r.body)["mfa_ticket"]}, {"code", f.Code()}};
      r = f.Post("/v1/login/mfa", second);
    }
    if (r.status != 200) {
      state.SkipWithError(("sign-in: " + r.body).c_str());
      break;
    }
  }
}
// Fixed iteration counts: each sign-in costs tens of milliseconds of Argon2id, paused or not, and
// `make bench` repeats every benchmark 15 times. Times stay in nanoseconds (bench/report.py).
BENCHMARK_CAPTURE(BM_SignIn, password, false)
    ->MeasureProcessCPUTime()
    ->Iterations(10);
BENCHMARK_CAPTURE(BM_SignIn, password+totp, true)
    ->MeasureProcessCPUTime()
    ->Iterations(10);

void BM_TotpSecondStep(benchmark::State& state) {
  SignInFixture& f = Fixture();
  const json first = {{"username", "second"}, {"password", kPassword}};
  for (auto _ : state) {
    state.PauseTiming();
    f.clock().Advance(30);
    server::HttpResponse r = f.Post("/v1/login", first);
    const json second = {{"mfa_ticket", json::parse(r.body)["mfa_ticket"]}, {"code", f.Code()}};
    state.ResumeTiming();
    r = f.Post("/v1/login/mfa", second);
    if (r.status != 200) {
      state.SkipWithError(("second step: " + r.body).c_str());
      break;
    }
  }
}
BENCHMARK(BM_TotpSecondStep)->MeasureProcessCPUTime()->Iterations(20);

void BM_TotpTicket(benchmark::State& state) {
  SignInFixture& f = Fixture();
  const user::User u = f.runtime().users().FindByName("second")->value();
  for (auto _ : state) {
    auto on = f.runtime().mfa().Enabled(u.id);
    auto ticket = f.runtime().mfa().IssueTicket(u, "session");
    if (!on || !*on || !ticket) {
      state.SkipWithError("ticket");
      break;
    }
    benchmark::DoNotOptimize(ticket->data());
  }
}
BENCHMARK(BM_TotpTicket)->MeasureProcessCPUTime();

void BM_PasswordVerify(benchmark::State& state) {
  auto hasher = crypto::PasswordHasher::Create();
  if (!hasher) return state.SkipWithError("cannot create the hasher");
  auto stored = hasher->Hash(kPassword);
  if (!stored) return state.SkipWithError("cannot hash");
  for (auto _ : state) {
    auto outcome = hasher->Verify(*stored, kPassword);
    if (!outcome || !outcome->ok) return state.SkipWithError("the password did not verify");
  }
}
BENCHMARK(BM_PasswordVerify)->MeasureProcessCPUTime()->Iterations(40);

}  // namespace
}  // namespace tessera::bench
