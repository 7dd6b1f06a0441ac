// RevocationSubscription (and Verifier's use of it) against a real loopback HTTP server whose
// answers each test controls: the snapshot, the long polls, resets, refusals, malformed pages,
// staleness and recovery, expiry of entries.
#include "tessera/token/revocation_subscription.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tessera/token/verifier.h"
#include "testing/stub_http_server.h"

namespace tessera::token {
namespace {

using testing::StubHttpServer;

constexpr int64_t kNow = 1800000000;
constexpr int64_t kLater = kNow + 3600;

template <class Done>
bool Eventually(Done done, int tries = 500) {
  for (int i = 0; i < tries && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

StubHttpServer::Answer Page(const std::string& body, int status = 200) {
  return {.status = status, .body = body, .headers = {"Content-Type: application/json"}};
}

// A poll that tessera holds open (nothing new): answered only when the test releases it.
StubHttpServer::Answer Waiting() {
  StubHttpServer::Answer a = Page(R"({"cursor":"c-never","revocations":[]})");
  a.held = true;
  return a;
}

std::string Poll(const std::string& cursor) { return "/rev?after=" + cursor + "&wait=1"; }

RevocationSubscriptionOptions Options(const StubHttpServer& server) {
  RevocationSubscriptionOptions o;
  o.url = server.Url("/rev");
  o.client_id = "orders";
  o.client_secret = "s3cret with space+plus";
  o.max_staleness_ms = 2500;
  o.wait_seconds = 1;
  o.connect_timeout_ms = 500;
  o.total_timeout_ms = 1000;
  o.retry_min_ms = 20;
  o.retry_max_ms = 100;
  return o;
}

std::unique_ptr<RevocationSubscription> MustCreate(RevocationSubscriptionOptions o,
                                                   const Clock* clock) {
  auto s = RevocationSubscription::Create(std::move(o), clock);
  EXPECT_TRUE(s) << s.status().ToString();
  return s ? std::move(*s) : nullptr;
}

TEST(RevocationSubscription, LoadsTheSnapshotThenFollowsTheFeed) {
  StubHttpServer server;
  FakeClock clock(kNow);
  server.Set("/rev", Page(R"({"cursor":"feed-1","revocations":[
      {"sid":"s-old","until":)" + std::to_string(kLater) + R"(},
      {"jti":"j-old","until":)" + std::to_string(kLater) + R"(}]})"));
  server.Set(Poll("feed-1"), Page(R"({"cursor":"feed-3","revocations":[
      {"seq":2,"sid":"s-new","until":)" + std::to_string(kLater) + R"(,"later":"ignored"},
      {"seq":3,"jti":"j-new","until":)" + std::to_string(kLater) + R"(}]})"));
  server.Set(Poll("feed-3"), Waiting());
  auto sub = MustCreate(Options(server), &clock);
  ASSERT_TRUE(sub);
  EXPECT_TRUE(sub->IsRevoked("s-old", "", kNow));
  EXPECT_TRUE(sub->IsRevoked("", "j-old", kNow));
  EXPECT_FALSE(sub->IsRevoked("s-other", "j-other", kNow));
  EXPECT_TRUE(sub->Check(kNow).ok());

  ASSERT_TRUE(Eventually([&] { return sub->IsRevoked("s-new", "", kNow); }));
  EXPECT_TRUE(sub->IsRevoked("", "j-new", kNow));
  ASSERT_TRUE(Eventually([&] { return server.Held() == 1; }));  // now waiting after feed-3
  RevocationHealth h = sub->health();
  EXPECT_TRUE(h.current);
  EXPECT_EQ(h.cursor, "feed-3");
  EXPECT_EQ(h.entries, 4u);
  EXPECT_EQ(h.snapshots, 1u);
  EXPECT_EQ(h.answers, 2u);
  EXPECT_EQ(h.failures, 0u);
  EXPECT_EQ(server.Requests("/rev"), 1);

  // HTTP Basic as RFC 6749 section 2.3.1 has it: each part form-urlencoded, then base64:
  // "orders:s3cret%20with%20space%2Bplus".
  const std::string head = server.LastHead(Poll("feed-1"));
  EXPECT_NE(head.find("\r\nAuthorization: Basic b3JkZXJzOnMzY3JldCUyMHdpdGglMjBzcGFjZSUyQnBsdXM="),
            std::string::npos)
      << head;
  EXPECT_NE(head.find("\r\nAccept: application/json"), std::string::npos) << head;
  server.Release();
}

TEST(RevocationSubscription, CreateFailsWithoutTheSnapshot) {
  StubHttpServer server;
  FakeClock clock(kNow);
  server.Set("/rev", Page(R"({"error":"invalid_client","error_description":"no"})", 401));
  auto refused = RevocationSubscription::Create(Options(server), &clock);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kUnavailable);
  EXPECT_NE(refused.error().message().find("401 invalid_client"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(refused.error().message().find("s3cret"), std::string::npos);

  for (const char* body : {"not json", "[]", R"({"revocations":[]})",
                           R"({"cursor":"a b","revocations":[]})",  // not query-safe
                           R"({"cursor":"c","revocations":[{"until":1}]})",
                           R"({"cursor":"c","revocations":[{"sid":"x","jti":"y","until":1}]})",
                           R"({"cursor":"c","revocations":[{"sid":"x","until":"1"}]})",
                           R"({"cursor":"c","revocations":[{"sid":"","until":1}]})"}) {
    server.Set("/rev", Page(body));
    auto bad = RevocationSubscription::Create(Options(server), &clock);
    ASSERT_FALSE(bad) << body;
    EXPECT_EQ(bad.error().reason(), Reason::kBadJson) << body;
  }

  RevocationSubscriptionOptions nobody = Options(server);
  nobody.url = "http://127.0.0.1:1/rev";
  EXPECT_EQ(RevocationSubscription::Create(nobody, &clock).status().code(), Code::kUnavailable);
}

TEST(RevocationSubscription, RefusesBadOptions) {
  StubHttpServer server;
  auto bad = [&](auto change) {
    RevocationSubscriptionOptions o = Options(server);
    change(o);
    auto s = RevocationSubscription::Create(std::move(o));
    return !s && s.error().reason() == Reason::kBadConfig;
  };
  EXPECT_TRUE(bad([](auto& o) { o.client_id.clear(); }));
  EXPECT_TRUE(bad([](auto& o) { o.client_secret.clear(); }));
  EXPECT_TRUE(bad([](auto& o) { o.url.clear(); }));  // and no issuer to discover it from
  EXPECT_TRUE(bad([](auto& o) { o.url = "http://auth.example.com/v1/revocations"; }));
  EXPECT_TRUE(bad([](auto& o) { o.max_staleness_ms = 1000; }));
  // A poll and its successor must fit in the bound.
  EXPECT_TRUE(bad([](auto& o) {
    o.max_staleness_ms = 4000;
    o.wait_seconds = 2;
  }));
  EXPECT_TRUE(bad([](auto& o) { o.retry_max_ms = 1; }));
  EXPECT_EQ(server.Requests("/rev"), 0);
}

TEST(RevocationSubscription, FailsClosedWhenNotConfirmedAndRecoversByItself) {
  StubHttpServer server;
  FakeClock clock(kNow);
  server.Set("/rev", Page(R"({"cursor":"c1","revocations":[]})"));
  server.Set(Poll("c1"), Page(R"({"error":"unavailable"})", 503));
  auto sub = MustCreate(Options(server), &clock);
  ASSERT_TRUE(sub);
  EXPECT_TRUE(sub->Check(kNow).ok());
  // Every poll fails (tessera's own list is behind, say): retried from the same cursor, and
  // once the bound has passed, Check fails closed.
  ASSERT_TRUE(Eventually([&] { return !sub->Check(kNow).ok(); }, 600));
  Status stale = sub->Check(kNow);
  EXPECT_EQ(stale.code(), Code::kUnavailable);
  EXPECT_EQ(stale.reason(), Reason::kRevocationStale);
  RevocationHealth h = sub->health();
  EXPECT_FALSE(h.current);
  EXPECT_GE(h.confirmed_ms_ago, 2500);
  EXPECT_GE(h.failures, 3u);
  EXPECT_NE(h.last_status.message().find("503 unavailable"), std::string::npos)
      << h.last_status.message();
  EXPECT_EQ(h.cursor, "c1");

  server.Set(Poll("c1"), Page(R"({"cursor":"c2","revocations":[{"seq":2,"sid":"s","until":)" +
                              std::to_string(kLater) + "}]}"));
  server.Set(Poll("c2"), Waiting());
  ASSERT_TRUE(Eventually([&] { return sub->Check(kNow).ok(); }));
  EXPECT_TRUE(sub->IsRevoked("s", "", kNow));
  EXPECT_TRUE(sub->health().last_status.ok());
  server.Release();
}

TEST(RevocationSubscription, AnUnknownCursorLoadsTheSnapshotAgain) {
  StubHttpServer server;
  FakeClock clock(kNow);
  const std::string until = std::to_string(kLater);
  server.Set("/rev", Page(R"({"cursor":"a-1","revocations":[{"sid":"s1","until":)" + until + "}]}"));
  server.Set(Poll("a-1"), Page(R"({"error":"cursor_unknown"})", 410));
  auto sub = MustCreate(Options(server), &clock);
  ASSERT_TRUE(sub);
  // tessera failed over to another feed: the next snapshot has another cursor.
  server.Set("/rev", Page(R"({"cursor":"b-7","revocations":[{"sid":"s2","until":)" + until + "}]}"));
  server.Set(Poll("b-7"), Waiting());
  ASSERT_TRUE(Eventually([&] { return sub->IsRevoked("s2", "", kNow); }));
  ASSERT_TRUE(Eventually([&] { return server.Held() == 1; }));
  EXPECT_TRUE(sub->IsRevoked("s1", "", kNow));  // a union: nothing held is dropped early
  RevocationHealth h = sub->health();
  EXPECT_EQ(h.snapshots, 2u);
  EXPECT_EQ(h.cursor, "b-7");
  EXPECT_EQ(server.Requests(Poll("a-1")), 1);
  server.Release();
}

TEST(RevocationSubscription, AMalformedPageIsAppliedNotAtAll) {
  StubHttpServer server;
  FakeClock clock(kNow);
  const std::string until = std::to_string(kLater);
  server.Set("/rev", Page(R"({"cursor":"c1","revocations":[]})"));
  server.Set(Poll("c1"), Page(R"({"cursor":"c3","revocations":[{"seq":2,"sid":"good","until":)" +
                              until + R"(},{"seq":3,"sid":7,"until":1}]})"));
  auto sub = MustCreate(Options(server), &clock);
  ASSERT_TRUE(sub);
  ASSERT_TRUE(Eventually([&] { return server.Requests(Poll("c1")) >= 3; }));
  EXPECT_FALSE(sub->IsRevoked("good", "", kNow));  // not without the rest of its page
  EXPECT_EQ(sub->health().cursor, "c1");
  EXPECT_EQ(sub->health().last_status.reason(), Reason::kBadJson);
}

TEST(RevocationSubscription, EntriesLeaveOnceTheirTokensHaveExpired) {
  StubHttpServer server;
  FakeClock clock(kNow);
  RevocationSubscriptionOptions o = Options(server);
  o.leeway_seconds = 60;
  server.Set("/rev", Page(R"({"cursor":"c1","revocations":[{"sid":"soon","until":)" +
                          std::to_string(kNow + 10) + R"(},{"sid":"late","until":)" +
                          std::to_string(kLater) + "}]}"));
  server.Set(Poll("c1"), Page(R"({"cursor":"c1","revocations":[]})"));
  auto sub = MustCreate(o, &clock);
  ASSERT_TRUE(sub);
  EXPECT_EQ(sub->size(), 2u);
  EXPECT_TRUE(sub->IsRevoked("soon", "", kNow + 10 + 59));  // within the verifier's leeway
  clock.Advance(10 + 60);
  ASSERT_TRUE(Eventually([&] { return sub->size() == 1u; }));  // pruned at the next answer
  EXPECT_TRUE(sub->IsRevoked("late", "", clock.NowSeconds()));
}

TEST(RevocationSubscription, DiscoversTheEndpoint) {
  StubHttpServer server;
  FakeClock clock(kNow);
  const std::string issuer = server.Url();
  server.Set("/.well-known/openid-configuration",
             Page(R"({"issuer":")" + issuer + R"(","tessera_revocation_endpoint":")" +
                  server.Url("/rev") + R"("})"));
  server.Set("/rev", Page(R"({"cursor":"c1","revocations":[]})"));
  server.Set(Poll("c1"), Waiting());
  RevocationSubscriptionOptions o = Options(server);
  o.url.clear();
  o.issuer = issuer;
  auto sub = MustCreate(o, &clock);
  ASSERT_TRUE(sub);
  EXPECT_EQ(sub->url(), server.Url("/rev"));

  // A document naming another issuer is not trusted (OpenID Connect Discovery 4.3).
  o.issuer = "http://localhost:" + issuer.substr(issuer.rfind(':') + 1);
  auto other = RevocationSubscription::Create(o, &clock);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().reason(), Reason::kIssuerMismatch);
  server.Release();
}

TEST(VerifierSubscription, OptionsThatContradictEachOtherAreRefused) {
  StubHttpServer server;
  LocalRevocationList list;
  auto bad = [&](auto change) {
    VerifierOptions o{.issuer = server.Url(), .jwks_url = server.Url("/jwks")};
    change(o);
    auto v = Verifier::Create(std::move(o));
    return !v && v.error().reason() == Reason::kBadConfig;
  };
  EXPECT_TRUE(bad([&](VerifierOptions& o) {
    o.subscribe.client_id = "orders";
    o.subscribe.client_secret = "x";
    o.revocations = &list;
  }));
  EXPECT_TRUE(bad([](VerifierOptions& o) { o.subscribe.url = "http://127.0.0.1:1/rev"; }));
  EXPECT_TRUE(bad([](VerifierOptions& o) {
    o.subscribe.client_id = "orders";
    o.subscribe.client_secret = "x";
    o.subscribe.issuer = "http://127.0.0.1:1";
  }));
  EXPECT_EQ(server.Requests("/jwks"), 0);
}

}  // namespace
}  // namespace tessera::token
