// RemoteJwks and Verifier against a real loopback HTTP server whose answers each test controls.
#include "tessera/token/remote_jwks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "tessera/jose/base64url.h"
#include "tessera/jose/jwt.h"
#include "tessera/token/verifier.h"
#include "testing/stub_http_server.h"
#include "token/http_get.h"

namespace tessera::token {
namespace {

using jose::Alg;
using jose::Jwk;
using nlohmann::json;
using testing::StubHttpServer;

constexpr int64_t kNow = 1800000000;

Jwk NewKey(const std::string& kid, Alg alg = Alg::kES256) {
  return Jwk::Generate(alg, kid).value();
}

std::string JwksJson(std::initializer_list<Jwk> keys) {
  std::vector<Jwk> published;
  for (const Jwk& k : keys) published.push_back(k.PublicKey());
  return jose::Jwks::FromKeys(std::move(published)).value().ToJson(false);
}

StubHttpServer::Answer JwksAnswer(std::string body,
                                  std::string cache_control = "public, max-age=300") {
  StubHttpServer::Answer a{
      .status = 200, .body = std::move(body), .headers = {"Content-Type: application/json"}};
  if (!cache_control.empty()) a.headers.push_back("Cache-Control: " + cache_control);
  return a;
}

std::vector<std::string> Kids(const jose::Jwks& keys) {
  std::vector<std::string> kids;
  for (const Jwk& k : keys.keys()) kids.push_back(k.kid());
  return kids;
}

// The refresh Keys() asks for runs on RemoteJwks's own thread: wait for it, in real time.
template <class Done>
bool Eventually(Done done) {
  for (int i = 0; i < 500 && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

RemoteJwksOptions FastOptions(const StubHttpServer& server) {
  RemoteJwksOptions o;
  o.jwks_url = server.Url("/jwks");
  o.connect_timeout_ms = 500;
  o.total_timeout_ms = 500;
  return o;
}

std::unique_ptr<RemoteJwks> MustCreate(RemoteJwksOptions options, int64_t now = kNow) {
  auto jwks = RemoteJwks::Create(std::move(options), now);
  EXPECT_TRUE(jwks) << jwks.status().ToString();
  return jwks ? std::move(*jwks) : nullptr;
}

// ---- fetching and refreshing -------------------------------------------------------------------

TEST(RemoteJwks, CreateFetchesTheKeys) {
  StubHttpServer server;
  server.Set("/jwks", JwksAnswer(JwksJson({NewKey("k1"), NewKey("k2")})));
  auto jwks = MustCreate(FastOptions(server));
  ASSERT_TRUE(jwks);
  EXPECT_EQ(Kids(*jwks->Keys(kNow)), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_TRUE(jwks->last_status().ok());
  EXPECT_EQ(jwks->fetch_count(), 1u);
  EXPECT_EQ(server.Requests("/jwks"), 1);
}

TEST(RemoteJwks, CreateFailsWhenTheFirstFetchFails) {
  StubHttpServer server;
  server.Set("/jwks", {.status = 500, .body = "oops"});
  auto jwks = RemoteJwks::Create(FastOptions(server), kNow);
  ASSERT_FALSE(jwks);
  EXPECT_EQ(jwks.error().code(), Code::kUnavailable);
  EXPECT_NE(jwks.error().message().find("500"), std::string::npos);

  RemoteJwksOptions nobody = FastOptions(server);
  nobody.jwks_url = "http://127.0.0.1:1/jwks";  // nothing listens on port 1
  EXPECT_EQ(RemoteJwks::Create(nobody, kNow).status().code(), Code::kUnavailable);
}

TEST(RemoteJwks, CreateRefusesBadOptions) {
  auto bad_config = [](RemoteJwksOptions o) {
    auto jwks = RemoteJwks::Create(std::move(o), kNow);
    return !jwks && jwks.error().reason() == Reason::kBadConfig;
  };
  EXPECT_TRUE(bad_config({}));
  EXPECT_TRUE(bad_config({.jwks_url = "http://keys.example.com/jwks"}));  // clear text, remote
  EXPECT_TRUE(bad_config({.jwks_url = "ftp://127.0.0.1/jwks"}));
  EXPECT_TRUE(bad_config({.jwks_url = "/jwks"}));
  EXPECT_TRUE(
      bad_config({.jwks_url = "https://127.0.0.1/jwks", .unknown_kid_interval_seconds = 0}));
  EXPECT_TRUE(bad_config({.jwks_url = "https://127.0.0.1/jwks", .unknown_kid_min_gap_seconds = 0}));
  EXPECT_TRUE(bad_config({.jwks_url = "https://127.0.0.1/jwks",
                          .unknown_kid_interval_seconds = 5,
                          .unknown_kid_min_gap_seconds = 6}));
  EXPECT_TRUE(bad_config({.jwks_url = "https://127.0.0.1/jwks",
                          .min_refresh_seconds = 100,
                          .max_refresh_seconds = 50}));
  EXPECT_TRUE(bad_config({.jwks_url = "https://127.0.0.1/jwks", .total_timeout_ms = 0}));

  // Credentials are refused without being echoed into the message (it ends up in logs).
  auto with_password = RemoteJwks::Create({.jwks_url = "https://svc:hunter2@keys.test/j"}, kNow);
  ASSERT_FALSE(with_password);
  EXPECT_EQ(with_password.error().message().find("hunter2"), std::string::npos);
}

TEST(CheckKeyUrl, AllowsHttpsAnywhereAndHttpOnLoopback) {
  EXPECT_TRUE(CheckKeyUrl("https://auth.example.com/.well-known/jwks.json", false).ok());
  EXPECT_TRUE(CheckKeyUrl("http://127.0.0.1:8080/.well-known/jwks.json", false).ok());
  EXPECT_TRUE(CheckKeyUrl("http://localhost:8080/jwks", false).ok());
  EXPECT_TRUE(CheckKeyUrl("http://[::1]:8080/jwks", false).ok());
  EXPECT_FALSE(CheckKeyUrl("http://auth.example.com/jwks", false).ok());
  EXPECT_FALSE(CheckKeyUrl("http://127.0.0.1.evil.test/jwks", false).ok());
  EXPECT_TRUE(CheckKeyUrl("http://auth.example.com/jwks", true).ok());
  EXPECT_FALSE(CheckKeyUrl("file:///etc/passwd", true).ok());
  EXPECT_FALSE(CheckKeyUrl("https://user@auth.example.com/jwks", true).ok());
}

TEST(RemoteJwks, DiscoveryFindsTheJwksUri) {
  StubHttpServer server;
  server.Set("/.well-known/openid-configuration",
             {.body = json{{"issuer", server.Url()}, {"jwks_uri", server.Url("/keys")}}.dump()});
  server.Set("/keys", JwksAnswer(JwksJson({NewKey("k1")})));
  auto jwks = MustCreate({.issuer = server.Url()});
  ASSERT_TRUE(jwks);
  EXPECT_EQ(jwks->jwks_url(), server.Url("/keys"));
  EXPECT_EQ(Kids(*jwks->Keys(kNow)), std::vector<std::string>{"k1"});
}

TEST(RemoteJwks, DiscoveryRefusesADocumentOfAnotherIssuer) {
  StubHttpServer server;
  server.Set(
      "/.well-known/openid-configuration",
      {.body = json{{"issuer", "https://other.test"}, {"jwks_uri", server.Url("/keys")}}.dump()});
  server.Set("/keys", JwksAnswer(JwksJson({NewKey("k1")})));
  auto jwks = RemoteJwks::Create({.issuer = server.Url()}, kNow);
  ASSERT_FALSE(jwks);
  EXPECT_EQ(jwks.error().reason(), Reason::kIssuerMismatch);
  EXPECT_EQ(server.Requests("/keys"), 0);
}

TEST(RemoteJwks, DiscoveryRefusesAClearTextJwksUriElsewhere) {
  StubHttpServer server;
  server.Set(
      "/.well-known/openid-configuration",
      {.body = json{{"issuer", server.Url()}, {"jwks_uri", "http://keys.example.com/j"}}.dump()});
  auto jwks = RemoteJwks::Create({.issuer = server.Url()}, kNow);
  ASSERT_FALSE(jwks);
  EXPECT_EQ(jwks.error().reason(), Reason::kBadConfig);
}

TEST(RemoteJwks, RefreshesWhenCacheControlMaxAgeRunsOut) {
  StubHttpServer server;
  server.Set("/jwks", JwksAnswer(JwksJson({NewKey("k1")}), "public, max-age=120"));
  auto jwks = MustCreate(FastOptions(server));
  ASSERT_TRUE(jwks);
  EXPECT_EQ(jwks->refresh_at(), kNow + 120);

  jwks->Keys(kNow + 119);  // fresh: asks for nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(server.Requests("/jwks"), 1);

  server.Set("/jwks", JwksAnswer(JwksJson({NewKey("k2")}), "public, max-age=120"));
  auto stale = jwks->Keys(kNow + 120);  // due: the old set now, the new one once fetched
  EXPECT_EQ(Kids(*stale), std::vector<std::string>{"k1"});
  ASSERT_TRUE(Eventually([&] { return jwks->fetch_count() == 2; }));
  EXPECT_EQ(Kids(*jwks->Keys(kNow + 121)), std::vector<std::string>{"k2"});
  EXPECT_EQ(jwks->refresh_at(), kNow + 120 + 120);
  EXPECT_EQ(server.Requests("/jwks"), 2);
}

TEST(RemoteJwks, ClampsTheRefreshInterval) {
  struct Case {
    std::string cache_control;
    int64_t interval;
  };
  for (const Case& c : std::vector<Case>{{"public, max-age=5", 30},
                                         {"max-age=999999", 3600},
                                         {"", 300},  // no Cache-Control: the default
                                         {"no-store", 30},
                                         {"max-age=600", 600}}) {
    StubHttpServer server;
    server.Set("/jwks", JwksAnswer(JwksJson({NewKey("k1")}), c.cache_control));
    auto jwks = MustCreate(FastOptions(server));
    ASSERT_TRUE(jwks);
    EXPECT_EQ(jwks->refresh_at(), kNow + c.interval) << c.cache_control;
  }
}

TEST(CacheMaxAge, ReadsRfc9111Directives) {
  EXPECT_EQ(CacheMaxAge("public, max-age=300"), 300);
  EXPECT_EQ(CacheMaxAge("MAX-AGE=\"60\""), 60);
  EXPECT_EQ(CacheMaxAge("max-age=12abc"), 0);  // invalid: stale
  EXPECT_EQ(CacheMaxAge("max-age="), 0);
  EXPECT_EQ(CacheMaxAge("max-age=300, no-cache"), 0);
  EXPECT_EQ(CacheMaxAge("max-age=99999999999999999999999"), int64_t{1} << 31);
  EXPECT_EQ(CacheMaxAge(""), std::nullopt);
  EXPECT_EQ(CacheMaxAge("public, s-maxage=10"), std::nullopt);
}

TEST(RemoteJwks, AnUnchangedAnswerKeepsTheSameSet) {
  StubHttpServer server;
  Jwk k1 = NewKey("k1");
  server.Set("/jwks", JwksAnswer(JwksJson({k1})));
  auto jwks = MustCreate(FastOptions(server));
  ASSERT_TRUE(jwks);
  auto before = jwks->Keys(kNow);
  ASSERT_TRUE(jwks->Refresh(kNow + 1).ok());
  EXPECT_EQ(jwks->Keys(kNow + 1), before);  // verified-token cache entries stay valid

  server.Set("/jwks", JwksAnswer(JwksJson({k1, NewKey("k2")})));
  ASSERT_TRUE(jwks->Refresh(kNow + 2).ok());
  EXPECT_NE(jwks->Keys(kNow + 2), before);
}

// Long enough for nothing to have happened: a fetch on loopback takes milliseconds.
void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(200)); }

TEST(RemoteJwks, AnUnknownKidRefetchesInTheBackgroundAtMostOncePerIntervalPerKid) {
  StubHttpServer server;
  Jwk k1 = NewKey("k1");
  server.Set("/jwks", JwksAnswer(JwksJson({k1})));
  auto jwks = MustCreate(FastOptions(server));
  ASSERT_TRUE(jwks);

  EXPECT_TRUE(jwks->RefreshForUnknownKid("k1", kNow));  // known: no fetch
  EXPECT_EQ(server.Requests("/jwks"), 1);

  // A rotation: refused at once, fetched in the background, then known.
  server.Set("/jwks", JwksAnswer(JwksJson({k1, NewKey("k2")})));
  EXPECT_FALSE(jwks->RefreshForUnknownKid("k2", kNow + 1));
  ASSERT_TRUE(Eventually([&] { return jwks->fetch_count() == 2; }));
  EXPECT_TRUE(jwks->RefreshForUnknownKid("k2", kNow + 1));
  EXPECT_EQ(Kids(*jwks->Keys(kNow + 1)), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(server.Requests("/jwks"), 2);

  // A made-up kid: one refetch, then none for that kid until its interval has passed, even
  // though the gap across kids (1 s) passes every second.
  EXPECT_FALSE(jwks->RefreshForUnknownKid("bogus", kNow + 2));
  ASSERT_TRUE(Eventually([&] { return jwks->fetch_count() == 3; }));
  for (int64_t t = kNow + 2; t < kNow + 12; ++t) {
    EXPECT_FALSE(jwks->RefreshForUnknownKid("bogus", t));
    jwks->Keys(t);
  }
  Settle();
  EXPECT_EQ(server.Requests("/jwks"), 3);
  EXPECT_EQ(jwks->unknown_kids_tracked(), 2u);  // k2 and bogus

  EXPECT_FALSE(jwks->RefreshForUnknownKid("bogus", kNow + 12));  // its interval has passed
  ASSERT_TRUE(Eventually([&] { return jwks->fetch_count() == 4; }));
  EXPECT_EQ(server.Requests("/jwks"), 4);
}

TEST(RemoteJwks, CallersSecondsBehindDoNotReopenTheLimitsButAClockSteppedBackDoes) {
  StubHttpServer server;
  server.Set("/jwks", JwksAnswer(JwksJson({NewKey("k1")})));
  auto jwks = MustCreate(FastOptions(server));
  ASSERT_TRUE(jwks);
  EXPECT_FALSE(jwks->RefreshForUnknownKid("a", kNow + 5));
  ASSERT_TRUE(Eventually([&] { return jwks->fetch_count() == 2; }));
  // Threads whose clock reads a second earlier: neither the kid nor the gap opens again.
  EXPECT_FALSE(jwks->RefreshForUnknownKid("a", kNow + 4));
  EXPECT_FALSE(jwks->RefreshForUnknownKid("b", kNow + 4));  // waits for the gap
  Settle();
  EXPECT_EQ(server.Requests("/jwks"), 2);
  // A clock stepped back by more than the interval is no lockout.
  EXPECT_FALSE(jwks->RefreshForUnknownKid("a", kNow - 100));
  ASSERT_TRUE(Eventually([&] { return jwks->fetch_count() == 3; }));
  Settle();
  EXPECT_EQ(server.Requests("/jwks"), 3);  // b's refetch was that one
}

TEST(RemoteJwks, ManyMadeUpKidsCauseOneFetchPerGapAndABoundedTable) {
  StubHttpServer server;
  server.Set("/jwks", JwksAnswer(JwksJson({NewKey("k1")})));
  auto jwks = MustCreate(FastOptions(server));
  ASSERT_TRUE(jwks);

  // Made-up kids from many threads, all in one second, more than the table holds (KM-03).
  std::vector<std::thread> threads;
  std::atomic<int> found{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (jwks->RefreshForUnknownKid("bogus-" + std::to_string(t * 1000 + i), kNow + 10)) {
          ++found;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(found, 0);
  EXPECT_EQ(jwks->unknown_kids_tracked(), RemoteJwks::kMaxTrackedKids);
  ASSERT_TRUE(Eventually([&] { return jwks->fetch_count() >= 2; }));
  Settle();
  EXPECT_EQ(server.Requests("/jwks"), 2);  // Create's, and one for the whole flood

  // A kid that asked within the gap is not forgotten: its refetch starts with the next call
  // once the gap has passed, whoever makes it. One more, not one per kid.
  jwks->Keys(kNow + 11);
  Settle();
  EXPECT_LE(server.Requests("/jwks"), 3);
  const int after = server.Requests("/jwks");
  jwks->Keys(kNow + 12);
  Settle();
  EXPECT_EQ(server.Requests("/jwks"), after);  // nothing was pending any more
}

TEST(RemoteJwks, AnUnknownKidNeverWaitsForAStalledServer) {
  StubHttpServer server;
  Jwk k1 = NewKey("k1");
  server.Set("/jwks", JwksAnswer(JwksJson({k1})));
  RemoteJwksOptions options = FastOptions(server);
  options.total_timeout_ms = 10000;
  auto jwks = MustCreate(options);
  ASSERT_TRUE(jwks);

  StubHttpServer::Answer stalled = JwksAnswer(JwksJson({k1, NewKey("k2")}));
  stalled.held = true;
  server.Set("/jwks", stalled);
  EXPECT_FALSE(jwks->RefreshForUnknownKid("k2", kNow + 1));
  // It returned although the stub has answered nobody: the fetch it asked for has not finished.
  EXPECT_EQ(jwks->fetch_count(), 1u);
  ASSERT_TRUE(Eventually([&] { return server.Held() == 1; }));  // the fetch waits at the stub
  // Neither does anything else meanwhile, and nobody asks for a second fetch.
  EXPECT_EQ(Kids(*jwks->Keys(kNow + 2)), std::vector<std::string>{"k1"});
  EXPECT_FALSE(jwks->RefreshForUnknownKid("k2", kNow + 2));
  EXPECT_FALSE(jwks->RefreshForUnknownKid("k3", kNow + 2));  // queued behind the one in flight
  EXPECT_EQ(jwks->fetch_count(), 1u);
  EXPECT_EQ(server.Requests("/jwks"), 2);

  server.Release();
  ASSERT_TRUE(Eventually([&] { return jwks->fetch_count() >= 2; }));
  EXPECT_TRUE(jwks->RefreshForUnknownKid("k2", kNow + 2));
  // k3's refetch, queued behind the stalled one, runs next (and is held in turn).
  ASSERT_TRUE(Eventually([&] { return server.Held() == 1; }));
  server.Release();
  ASSERT_TRUE(Eventually([&] { return jwks->fetch_count() == 3; }));
}

TEST(RemoteJwks, DestructionCancelsAFetchInFlight) {
  StubHttpServer server;
  server.Set("/jwks", JwksAnswer(JwksJson({NewKey("k1")})));
  RemoteJwksOptions options = FastOptions(server);
  options.connect_timeout_ms = 30000;
  options.total_timeout_ms = 30000;
  auto jwks = MustCreate(options);
  ASSERT_TRUE(jwks);
  server.Set("/jwks", {.body = "{}", .held = true});
  EXPECT_FALSE(jwks->RefreshForUnknownKid("k2", kNow + 1));
  ASSERT_TRUE(Eventually([&] { return server.Held() == 1; }));

  const auto start = std::chrono::steady_clock::now();
  jwks.reset();  // ASan: the fetch thread touches nothing of it afterwards
  // Cancelled (curl looks about once a second), not run to its 30 s timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  server.Release();
}

TEST(RemoteJwks, DestructionWithAFetchQueuedOrJustAskedFor) {
  StubHttpServer server;
  server.Set("/jwks", JwksAnswer(JwksJson({NewKey("k1")})));
  for (int i = 0; i < 20; ++i) {
    auto jwks = MustCreate(FastOptions(server));
    ASSERT_TRUE(jwks);
    jwks->RefreshForUnknownKid("k2", kNow + 1);
    jwks->Keys(kNow + 100000);  // due: a second fetch asked for
  }
}

// ---- failures keep the last good set -----------------------------------------------------------

struct BadAnswer {
  std::string name;
  StubHttpServer::Answer answer;
  Code code;
  Reason reason;
};

class RemoteJwksBadAnswer : public ::testing::TestWithParam<BadAnswer> {};

std::string Big(size_t n) { return "{\"keys\":[],\"pad\":\"" + std::string(n, 'x') + "\"}"; }

INSTANTIATE_TEST_SUITE_P(
    Cases, RemoteJwksBadAnswer,
    ::testing::Values(
        BadAnswer{"ServerError", {.status = 500, .body = "{}"}, Code::kUnavailable, Reason::kIo},
        BadAnswer{"NotFound", {.status = 404, .body = "{}"}, Code::kUnavailable, Reason::kIo},
        BadAnswer{"Redirect",
                  {.status = 302, .headers = {"Location: http://127.0.0.1:1/jwks"}},
                  Code::kUnavailable,
                  Reason::kIo},
        BadAnswer{
            "Garbage", {.body = "<html>not json</html>"}, Code::kInvalidArgument, Reason::kBadJson},
        BadAnswer{
            "TruncatedJson", {.body = "{\"keys\":["}, Code::kInvalidArgument, Reason::kBadJson},
        BadAnswer{"Oversized", {.body = Big(100000)}, Code::kResourceExhausted, Reason::kTooLarge},
        BadAnswer{"OversizedWithoutLength",
                  {.body = Big(100000), .send_content_length = false},
                  Code::kResourceExhausted,
                  Reason::kTooLarge},
        BadAnswer{"Slow", JwksAnswer(JwksJson({NewKey("k9")})), Code::kUnavailable, Reason::kIo},
        BadAnswer{"EmptySet", {.body = "{\"keys\":[]}"}, Code::kInvalidArgument, Reason::kNoKey},
        BadAnswer{"PrivateKey",
                  {.body = NewKey("k9").ToJson(true)},
                  Code::kInvalidArgument,
                  Reason::kKeyInvalid},
        BadAnswer{"SecretKey",
                  {.body = NewKey("k9", Alg::kHS256).ToJson(true)},
                  Code::kInvalidArgument,
                  Reason::kKeyInvalid}),
    [](const auto& info) { return info.param.name; });

TEST_P(RemoteJwksBadAnswer, KeepsTheLastGoodSetAndReportsWhy) {
  StubHttpServer server;
  Jwk k1 = NewKey("k1");
  server.Set("/jwks", JwksAnswer(JwksJson({k1})));
  RemoteJwksOptions options = FastOptions(server);
  options.max_body_bytes = 64 * 1024;
  auto jwks = MustCreate(options);
  ASSERT_TRUE(jwks);
  auto good = jwks->Keys(kNow);

  StubHttpServer::Answer answer = GetParam().answer;
  if (GetParam().name == "Slow") answer.delay = std::chrono::milliseconds(1500);
  server.Set("/jwks", answer);
  Status status = jwks->Refresh(kNow + 1);
  EXPECT_EQ(status.code(), GetParam().code) << status.ToString();
  EXPECT_EQ(status.reason(), GetParam().reason) << status.ToString();
  EXPECT_EQ(jwks->last_status(), status);
  EXPECT_EQ(jwks->Keys(kNow + 2), good);
  EXPECT_EQ(jwks->refresh_at(), kNow + 1 + options.min_refresh_seconds);  // retried soon
  EXPECT_FALSE(jwks->RefreshForUnknownKid("k9", kNow + 3));

  server.Set("/jwks", JwksAnswer(JwksJson({k1, NewKey("k2")})));
  EXPECT_TRUE(jwks->Refresh(kNow + 4).ok());
  EXPECT_TRUE(jwks->last_status().ok());
  EXPECT_EQ(Kids(*jwks->Keys(kNow + 4)), (std::vector<std::string>{"k1", "k2"}));
}

// ---- the Verifier ------------------------------------------------------------------------------

constexpr char kIssuer[] = "https://auth.example.test";

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.Set("/jwks", JwksAnswer(JwksJson({k1_}))); }

  std::unique_ptr<Verifier> Make(const RevocationList* revocations = nullptr,
                                 int64_t total_timeout_ms = 1000) {
    VerifierOptions o{.issuer = kIssuer,
                      .jwks_url = server_.Url("/jwks"),
                      .revocations = revocations,
                      .clock = &clock_};
    o.fetch.total_timeout_ms = total_timeout_ms;
    auto v = Verifier::Create(std::move(o));
    EXPECT_TRUE(v) << v.status().ToString();
    return v ? std::move(*v) : nullptr;
  }

  static json Claims() {
    return {{"iss", kIssuer},    {"sub", "u-42"},      {"aud", "tessera"},
            {"exp", kNow + 900}, {"iat", kNow},        {"jti", "jti-1"},
            {"sid", "sid-1"},    {"roles", {"admin"}}, {"preferred_username", "alice"}};
  }

  static std::string Sign(const Jwk& key, const json& claims, std::string_view typ = "at+jwt") {
    return jose::JwtSigner::Create(key, std::nullopt, typ).value().Sign(claims.dump()).value();
  }

  Status Check(const Verifier& v, std::string_view token, int64_t now = kNow) {
    AccessToken out;
    return v.Verify(token, now, &out);
  }

  FakeClock clock_{kNow};
  StubHttpServer server_;
  Jwk k1_ = NewKey("k1");
};

TEST_F(VerifierTest, AcceptsAValidToken) {
  auto v = Make();
  ASSERT_TRUE(v);
  AccessToken t;
  ASSERT_TRUE(v->Verify(Sign(k1_, Claims()), kNow, &t).ok());
  EXPECT_EQ(t.sub, "u-42");
  EXPECT_EQ(t.username, "alice");
  EXPECT_EQ(t.roles, std::vector<std::string>{"admin"});
  EXPECT_EQ(t.sid, "sid-1");
  EXPECT_EQ(t.jti, "jti-1");
  EXPECT_EQ(t.kid, "k1");
  EXPECT_EQ(t.exp, kNow + 900);
}

TEST_F(VerifierTest, RefusesWrongIssuerAudienceOrTyp) {
  auto v = Make();
  ASSERT_TRUE(v);
  json other_iss = Claims();
  other_iss["iss"] = "https://evil.test";
  EXPECT_EQ(Check(*v, Sign(k1_, other_iss)).reason(), Reason::kIssuerMismatch);
  json other_aud = Claims();
  other_aud["aud"] = "billing";
  EXPECT_EQ(Check(*v, Sign(k1_, other_aud)).reason(), Reason::kAudienceMismatch);
  // An ID token or any other JWT signed by the same key is not an access token (RFC 8725 3.11).
  EXPECT_EQ(Check(*v, Sign(k1_, Claims(), "JWT")).reason(), Reason::kTypMismatch);
}

TEST_F(VerifierTest, RefusesExpiredTokensAtTheLeewayBoundary) {
  auto v = Make();
  ASSERT_TRUE(v);
  std::string token = Sign(k1_, Claims());
  const int64_t exp = kNow + 900;
  EXPECT_TRUE(Check(*v, token, exp + 59).ok());  // within the 60 s leeway
  Status late = Check(*v, token, exp + 60);
  EXPECT_EQ(late.code(), Code::kUnauthenticated);
  EXPECT_EQ(late.reason(), Reason::kExpired);
  // The two-argument Verify reads the injected clock.
  clock_.Set(exp + 61);
  AccessToken out;
  EXPECT_EQ(v->Verify(token, &out).reason(), Reason::kExpired);
}

TEST_F(VerifierTest, RefusesAlgNoneAndEveryAlteredSignature) {
  auto v = Make();
  ASSERT_TRUE(v);
  std::string token = Sign(k1_, Claims());
  const size_t dot = token.rfind('.');

  // The same claims under {"alg":"none"} with the signature dropped.
  std::string none_header = jose::Base64UrlEncode(R"({"alg":"none","typ":"at+jwt","kid":"k1"})");
  std::string body = token.substr(token.find('.'), dot - token.find('.'));
  EXPECT_FALSE(Check(*v, none_header + body + ".").ok());
  EXPECT_FALSE(Check(*v, none_header + body).ok());

  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t i = dot + 1; i < token.size(); ++i) {
    std::string tampered = token;
    tampered[i] = alphabet[(alphabet.find(token[i]) + 1) % alphabet.size()];
    EXPECT_FALSE(Check(*v, tampered).ok()) << "changed signature character " << i;
  }
  for (size_t n = dot; n < token.size(); n += 7) {
    EXPECT_FALSE(Check(*v, token.substr(0, n)).ok()) << "truncated at " << n;
  }
  EXPECT_TRUE(Check(*v, token).ok());
}

TEST_F(VerifierTest, AnUnknownKeyIsRefusedAndRefetchedOnceInTheBackground) {
  auto v = Make();
  ASSERT_TRUE(v);
  Jwk stranger = NewKey("k-stranger");
  EXPECT_EQ(Check(*v, Sign(stranger, Claims())).reason(), Reason::kNoKey);
  ASSERT_TRUE(Eventually([&] { return v->keys().fetch_count() == 2; }));
  EXPECT_EQ(server_.Requests("/jwks"), 2);
  EXPECT_EQ(Check(*v, Sign(stranger, Claims()), kNow + 5).reason(), Reason::kNoKey);
  Settle();
  EXPECT_EQ(server_.Requests("/jwks"), 2);  // rate-limited for that kid
}

TEST_F(VerifierTest, AnUnknownKidIsRefusedAtOnceWhileTheJwksServerStalls) {
  auto v = Make(nullptr, /*total_timeout_ms=*/10000);
  ASSERT_TRUE(v);
  Jwk k2 = NewKey("k2");
  StubHttpServer::Answer stalled = JwksAnswer(JwksJson({k1_, k2}));
  stalled.held = true;
  server_.Set("/jwks", stalled);
  const std::string token = Sign(k2, Claims());

  EXPECT_EQ(Check(*v, token).reason(), Reason::kNoKey);
  // Verify returned before the stub released the response: the refetch has not finished.
  EXPECT_EQ(v->keys().fetch_count(), 1u);
  ASSERT_TRUE(Eventually([&] { return server_.Held() == 1; }));
  // Meanwhile every verify answers from the current set at once.
  EXPECT_TRUE(Check(*v, Sign(k1_, Claims())).ok());
  EXPECT_EQ(Check(*v, token, kNow + 1).reason(), Reason::kNoKey);
  EXPECT_EQ(v->keys().fetch_count(), 1u);

  server_.Release();
  ASSERT_TRUE(Eventually([&] { return v->keys().fetch_count() == 2; }));
  AccessToken t;
  Status s = v->Verify(token, kNow + 1, &t);  // the next verify with the new kid succeeds
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(t.kid, "k2");
  EXPECT_EQ(server_.Requests("/jwks"), 2);
}

TEST_F(VerifierTest, AFloodOfMadeUpKidsDoesNotKeepARotationOut) {
  auto v = Make();
  ASSERT_TRUE(v);
  Jwk stranger = NewKey("x");
  std::vector<std::string> forged;
  for (size_t i = 0; i < RemoteJwks::kMaxTrackedKids + 500; ++i) {
    forged.push_back(Sign(stranger.WithKid("forged-" + std::to_string(i)), Claims()));
  }
  // The flood runs the whole time, on two threads, at the time the test sets.
  std::atomic<int64_t> flood_now{kNow + 1};
  std::atomic<bool> stop{false};
  std::atomic<int> accepted{0};
  std::atomic<size_t> sent{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 2; ++t) {
    flood.emplace_back([&] {
      while (!stop) {
        const size_t i = sent++ % forged.size();
        if (Check(*v, forged[i], flood_now).ok()) ++accepted;
      }
    });
  }
  ASSERT_TRUE(Eventually([&] { return sent >= forged.size(); }));
  EXPECT_EQ(v->keys().unknown_kids_tracked(), RemoteJwks::kMaxTrackedKids);

  // The issuer rotates; the new key's first token comes in the flood's second.
  Jwk k2 = NewKey("k2");
  server_.Set("/jwks", JwksAnswer(JwksJson({k1_, k2})));
  const std::string genuine = Sign(k2, Claims());
  Status first = Check(*v, genuine, kNow + 1);  // refused, unless a queued fetch landed already
  EXPECT_TRUE(first.ok() || first.reason() == Reason::kNoKey) << first.ToString();
  // A second later (the flood goes on) the client's retry gets in.
  flood_now = kNow + 2;
  EXPECT_TRUE(Eventually([&] { return Check(*v, genuine, kNow + 2).ok(); }));
  stop = true;
  for (auto& t : flood) t.join();
  EXPECT_EQ(accepted, 0);
  // Create's, then one per second of the flood: never one per forged kid, and threads whose
  // `now` lags a second behind the others' do not reopen the gap.
  EXPECT_LE(server_.Requests("/jwks"), 3);
}

TEST_F(VerifierTest, ManyMadeUpKidsCauseAtMostOneFetch) {
  auto v = Make();
  ASSERT_TRUE(v);
  Jwk stranger = NewKey("x");
  std::vector<std::string> tokens;
  for (int i = 0; i < 200; ++i) {
    tokens.push_back(Sign(stranger.WithKid("kid-" + std::to_string(i)), Claims()));
  }
  std::vector<std::thread> threads;
  std::atomic<int> accepted{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < tokens.size(); i += 8) {
        if (Check(*v, tokens[i], kNow + 1).ok()) ++accepted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted, 0);
  Settle();
  EXPECT_LE(server_.Requests("/jwks"), 2);  // the first fetch and at most one refetch (KM-03)
}

TEST_F(VerifierTest, AcceptsTheTokensOfARotatedKey) {
  auto v = Make();
  ASSERT_TRUE(v);
  Jwk k2 = NewKey("k2");
  server_.Set("/jwks", JwksAnswer(JwksJson({k1_, k2})));
  const std::string token = Sign(k2, Claims());
  AccessToken t;
  // The first token of the new key asks for the refetch; a retry once it has landed passes.
  Status first = v->Verify(token, kNow, &t);
  EXPECT_TRUE(first.ok() || first.reason() == Reason::kNoKey) << first.ToString();
  ASSERT_TRUE(Eventually([&] { return v->Verify(token, kNow, &t).ok(); }));
  EXPECT_EQ(t.kid, "k2");
  EXPECT_EQ(server_.Requests("/jwks"), 2);
  EXPECT_TRUE(Check(*v, Sign(k1_, Claims())).ok());  // the old key is still published
}

TEST_F(VerifierTest, AKeyDroppedFromTheSetStopsItsTokensDespiteTheCache) {
  auto v = Make();
  ASSERT_TRUE(v);
  std::string token = Sign(k1_, Claims());
  ASSERT_TRUE(Check(*v, token).ok());
  ASSERT_TRUE(Check(*v, token).ok());  // now served from the verified-token cache
  server_.Set("/jwks", JwksAnswer(JwksJson({NewKey("k2")})));  // k1 revoked (KM-05)
  ASSERT_TRUE(v->keys().Refresh(kNow + 1).ok());
  EXPECT_EQ(Check(*v, token, kNow + 1).reason(), Reason::kNoKey);
}

TEST_F(VerifierTest, HonoursTheRevocationList) {
  LocalRevocationList revoked;
  auto v = Make(&revoked);
  ASSERT_TRUE(v);
  std::string token = Sign(k1_, Claims());
  json other = Claims();
  other["jti"] = "jti-2";
  other["sid"] = "sid-2";
  std::string other_token = Sign(k1_, other);
  ASSERT_TRUE(Check(*v, token).ok());  // cached from here on: the cache must not skip revocation
  ASSERT_TRUE(Check(*v, other_token).ok());

  revoked.RevokeSession("sid-1", kNow + 900);
  EXPECT_EQ(Check(*v, token).reason(), Reason::kUnknownSession);
  EXPECT_TRUE(Check(*v, other_token).ok());
  revoked.RevokeTokenId("jti-2", kNow + 900);
  EXPECT_EQ(Check(*v, other_token).reason(), Reason::kUnknownSession);
}

TEST_F(VerifierTest, CreateFailsWithoutKeys) {
  server_.Set("/jwks", {.status = 503, .body = "{}"});
  auto v =
      Verifier::Create({.issuer = kIssuer, .jwks_url = server_.Url("/jwks"), .clock = &clock_});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Code::kUnavailable);
}

TEST_F(VerifierTest, CreateRefusesBadOptions) {
  auto bad_config = [&](VerifierOptions o) {
    o.clock = &clock_;
    auto v = Verifier::Create(std::move(o));
    return !v && v.error().reason() == Reason::kBadConfig;
  };
  const std::string url = server_.Url("/jwks");
  EXPECT_TRUE(bad_config({.jwks_url = url}));  // no issuer
  EXPECT_TRUE(bad_config({.issuer = kIssuer, .audience = "", .jwks_url = url}));
  EXPECT_TRUE(bad_config({.issuer = kIssuer, .jwks_url = url, .leeway_seconds = 61}));
  EXPECT_TRUE(bad_config({.issuer = kIssuer, .fetch = {.jwks_url = url}}));  // two places
  EXPECT_EQ(server_.Requests("/jwks"), 0);
}

// ---- BearerToken -------------------------------------------------------------------------------

TEST(BearerToken, TakesExactlyTheBearerScheme) {
  EXPECT_EQ(BearerToken("Bearer abc.def-_~+/").value(), "abc.def-_~+/");
  EXPECT_EQ(BearerToken("bearer abc").value(), "abc");
  EXPECT_EQ(BearerToken("BEARER abc==").value(), "abc==");
  for (std::string_view bad : {"", "Bearer", "Bearer ", "Bearer  abc", "Bearer\tabc", "Basic abc",
                               "Bearerabc", "Bearer abc def", "Bearer =abc", "Bearer a=b",
                               "Bearer abc,", "Bearer \"abc\"", "Token abc"}) {
    auto token = BearerToken(bad);
    ASSERT_FALSE(token) << bad;
    EXPECT_EQ(token.error().code(), Code::kUnauthenticated);
    EXPECT_EQ(token.error().reason(), Reason::kMalformedToken) << bad;
  }
  std::string at_limit = "Bearer " + std::string(8 * 1024, 'a');
  EXPECT_TRUE(BearerToken(at_limit));
  EXPECT_EQ(BearerToken(at_limit + "a").error().reason(), Reason::kTooLarge);
  std::string with_nul = "Bearer ab";
  with_nul[8] = '\0';
  EXPECT_FALSE(BearerToken(with_nul));
}

}  // namespace
}  // namespace tessera::token
