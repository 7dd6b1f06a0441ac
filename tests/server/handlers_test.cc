// The HTTP handlers without sockets: a real Runtime (SQLite accounts in a temporary directory, the
// memory session store, the real keyset and token service) on a FakeClock, requests handed to
// App::Handle. Each defect of the hardening review that lives in a handler has its test here.
#include <gtest/gtest.h>

#include <fstream>
#include <chrono>
#include <future>
#include <thread>
#include <sstream>

#include <nlohmann/json.hpp>

#include "crypto/hash.h"
#include "runtime.h"
#include "server/handlers_fixture.h"
#include "store_conformance/store_factory.h"
#include "tessera/jose/base64url.h"
#include "tessera/store/sqlite.h"
#include "tessera/user/user.h"
#include "user/account_service.h"

namespace tessera::server {
namespace {

using nlohmann::json;

TEST_F(HandlersTest, SignInSeeTheSessionSignOut) {
  AddUser("alice");
  const std::string cookie = CookieLogin("alice");
  HttpResponse me = Send("GET", "/v1/me", {{"Cookie", cookie}});
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(json::parse(me.body)["username"], "alice");
  EXPECT_EQ(Header(me, "Cache-Control"), "no-store");
  const std::string csrf = json::parse(me.body)["csrf_token"];
  HttpResponse out = Send("POST", "/v1/logout", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  EXPECT_EQ(out.status, 204);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", cookie}}).status, 401);
}

TEST_F(HandlersTest, UnknownPathsAndMethods) {
  EXPECT_EQ(Send("GET", "/v1/nothing").status, 404);
  HttpResponse wrong = Send("PUT", "/v1/sessions");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(Header(wrong, "Allow"), "GET, HEAD, DELETE");
}

// The defect: a bearer caller whose session the listing does not show (idle-expired while its
// access token still runs) had every session revoked, its own included.
TEST_F(HandlersTest, RevokeOthersWithABearerKeepsTheCallersSession) {
  Start({{"TESSERA_SESSION_IDLE_TIMEOUT", "60s"}, {"TESSERA_TOKEN_ACCESS_TTL", "15m"}});
  AddUser("alice");
  const auto [access, refresh] = TokenLogin("alice");
  Advance(61);  // the token session is idle-expired; the access token lives 15 min
  const std::string other = CookieLogin("alice");
  const std::vector<std::pair<std::string, std::string>> bearer = {
      {"Authorization", "Bearer " + access}};
  HttpResponse gone = Send("DELETE", "/v1/sessions", bearer);
  ASSERT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(json::parse(gone.body)["revoked"], 1);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", other}}).status, 401);
  EXPECT_EQ(Send("GET", "/v1/me", bearer).status, 200);  // the caller's own token still works
}

TEST_F(HandlersTest, RevokeOthersWithABearerEndsTheRest) {
  AddUser("alice");
  const auto [access, refresh] = TokenLogin("alice");
  const std::string a = CookieLogin("alice"), b = CookieLogin("alice");
  const std::vector<std::pair<std::string, std::string>> bearer = {
      {"Authorization", "Bearer " + access}};
  HttpResponse gone = Send("DELETE", "/v1/sessions", bearer);
  ASSERT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(json::parse(gone.body)["revoked"], 2);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", a}}).status, 401);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", b}}).status, 401);
  EXPECT_EQ(Send("GET", "/v1/me", bearer).status, 200);
}

// The defect: introspection used the verifier's clock-skew leeway and called a token active up
// to 60 s after its exp. RFC 7662: past exp it is inactive.
TEST_F(HandlersTest, IntrospectionCallsATokenInactiveAtItsExp) {
  const std::string secret = "introspection-client-secret-0123456789";
  // SHA-256 of the secret, as token.clients holds it.
  Start({{"TESSERA_TOKEN_CLIENTS", "svc:" + crypto::HexSha256(secret)},
         {"TESSERA_TOKEN_ACCESS_TTL", "5m"}});
  AddUser("alice");
  const auto [access, refresh] = TokenLogin("alice");
  auto introspect = [&] {
    HttpResponse r = Send("POST", "/v1/introspect",
                          {{"Content-Type", "application/x-www-form-urlencoded"},
                           // "svc:" + secret, base64
                           {"Authorization",
                            "Basic c3ZjOmludHJvc3BlY3Rpb24tY2xpZW50LXNlY3JldC0wMTIzNDU2Nzg5"}},
                          "token=" + access);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["active"].get<bool>();
  };
  Advance(299);
  EXPECT_TRUE(introspect());
  Advance(1);  // exactly exp
  EXPECT_FALSE(introspect());
  Advance(30);  // inside the verifiers' leeway, still inactive for the issuer
  EXPECT_FALSE(introspect());
}

// The defect: the audit trail recorded attempted unknown usernames verbatim (people type
// passwords into that field). They are now a keyed hash; reasons stay distinct; the answers stay
// identical.
TEST_F(HandlersTest, AuditNamesUnknownAccountsOnlyByKeyedHash) {
  AddUser("alice");
  const std::string typo = "Hunter2-my-password";
  HttpResponse unknown = Login(typo, kPassword, "session");
  HttpResponse wrong = Login("alice", "not the password at all", "session");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.body, wrong.body);
  Login(typo, kPassword, "session");
  std::vector<json> failed;
  for (const json& e : AuditEvents()) {
    EXPECT_EQ(e.dump().find("Hunter2"), std::string::npos) << e.dump();
    EXPECT_EQ(e.dump().find("hunter2"), std::string::npos) << e.dump();
    if (e["event"] == "login.failed") failed.push_back(e);
  }
  ASSERT_EQ(failed.size(), 3u);
  // Stamped by the injected clock, like everything else the server does.
  EXPECT_EQ(failed[0]["ts"], "2030-03-17T17:46:40.000Z");
  EXPECT_EQ(failed[0]["reason"], "unknown_user");
  EXPECT_FALSE(failed[0].contains("username"));
  EXPECT_EQ(failed[0]["username_hmac"].get<std::string>().size(), 32u);
  EXPECT_EQ(failed[1]["reason"], "wrong_password");
  EXPECT_EQ(failed[1]["username"], "alice");
  // The same attempted name gives the same hash, so repeated attempts still correlate.
  EXPECT_EQ(failed[2]["username_hmac"], failed[0]["username_hmac"]);
}

// A disabled account: the same 401 as a wrong password (a distinct reason in the audit trail, and
// only once the password was right), and none of its sessions or tokens work any more.
TEST_F(HandlersTest, ADisabledAccountCannotSignInAndItsSessionsEnd) {
  AddUser("alice");
  const std::string cookie = CookieLogin("alice");
  const auto [access, refresh] = TokenLogin("alice");
  const std::vector<std::pair<std::string, std::string>> bearer = {
      {"Authorization", "Bearer " + access}};
  ASSERT_EQ(Send("GET", "/v1/me", {{"Cookie", cookie}}).status, 200);
  ASSERT_EQ(Send("GET", "/v1/me", bearer).status, 200);
  const HttpResponse wrong_before = Login("alice", "not the password at all", "session");

  auto disabled = runtime_->accounts().SetDisabled("alice", true);
  ASSERT_TRUE(disabled) << disabled.error().ToString();
  EXPECT_EQ(disabled->ended.size(), 2u);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", cookie}}).status, 401);
  EXPECT_EQ(Send("GET", "/v1/me", bearer).status, 401);  // its sid is revoked
  HttpResponse refreshed =
      Send("POST", "/v1/token", {{"Content-Type", "application/x-www-form-urlencoded"}},
           "grant_type=refresh_token&refresh_token=" + refresh);
  EXPECT_EQ(refreshed.status, 400) << refreshed.body;
  HttpResponse right = Login("alice", kPassword, "session");
  HttpResponse wrong = Login("alice", "not the password at all", "session");
  EXPECT_EQ(right.status, 401);
  EXPECT_EQ(right.body, wrong_before.body);
  EXPECT_EQ(wrong.body, wrong_before.body);
  EXPECT_EQ(Header(right, "Set-Cookie").find("tessera_session"), std::string::npos);
  std::vector<std::string> reasons;
  for (const json& e : AuditEvents()) {
    if (e["event"] == "login.failed") reasons.push_back(e["reason"]);
  }
  EXPECT_EQ(reasons, (std::vector<std::string>{"wrong_password", "disabled", "wrong_password"}));

  // Enabled again, the account signs in; nothing that ended comes back.
  ASSERT_TRUE(runtime_->accounts().SetDisabled("alice", false));
  EXPECT_EQ(Login("alice", kPassword, "session").status, 200);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", cookie}}).status, 401);
}

// Another process disabled the account (the flag is in the store) while a session of it was
// still live here: the session authenticates nothing.
TEST_F(HandlersTest, ASessionOfAnAccountDisabledElsewhereIsRefused) {
  Start({{"TESSERA_SESSION_STORE", "sqlite"}});
  AddUser("alice");
  const std::string cookie = CookieLogin("alice");
  ASSERT_EQ(Send("GET", "/v1/me", {{"Cookie", cookie}}).status, 200);
  auto other = store::OpenSqliteUserStore(dir_.path() + "/tessera.db");
  ASSERT_TRUE(other);
  ASSERT_TRUE((*other)->SetDisabled((*other)->FindByName("alice")->value().id, true).ok());
  // Even a write no AccountService announced (the users table's triggers do) reaches the user
  // cache through the change feed.
  runtime_->MaintainOnce();  // what the follower's thread does within milliseconds
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", cookie}}).status, 401);
}

// Which thread answered: the I/O thread (the caller of Handle) or a store worker.
struct Answered {
  HttpResponse response;
  bool on_calling_thread = false;
};

// No handler that may wait for a store runs on an I/O thread (issue: scale-out, "nothing blocks
// the I/O threads"): they answer from the store pool; forward-auth answers from the caches on
// the I/O thread and goes to the pool only when a cache misses.
TEST_F(HandlersTest, OnlyCacheHitsAndStorelessRoutesAnswerOnTheIoThread) {
  AddUser("alice");
  const std::string cookie = CookieLogin("alice");
  auto send = [&](std::string method, std::string target,
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.headers = std::move(headers);
    r.headers.emplace_back("Host", "127.0.0.1:8080");
    r.peer_ip = "192.0.2.10";
    std::promise<Answered> answer;
    const auto caller = std::this_thread::get_id();
    runtime_->app().Handle(std::move(r), [&](HttpResponse a) {
      answer.set_value({std::move(a), std::this_thread::get_id() == caller});
    });
    return answer.get_future().get();
  };
  EXPECT_TRUE(send("GET", "/healthz").on_calling_thread);
  EXPECT_TRUE(send("GET", "/.well-known/jwks.json").on_calling_thread);
  EXPECT_TRUE(send("GET", "/metrics").on_calling_thread);
  const Answered ready = send("GET", "/readyz");
  EXPECT_EQ(ready.response.status, 200);
  EXPECT_FALSE(ready.on_calling_thread);
  // Once the session and its account are cached, forward-auth and /v1/me answer at once.
  EXPECT_EQ(send("GET", "/v1/auth", {{"Cookie", cookie}}).response.status, 200);
  Answered auth = send("GET", "/v1/auth", {{"Cookie", cookie}});
  EXPECT_EQ(auth.response.status, 200);
  EXPECT_TRUE(auth.on_calling_thread);
  EXPECT_TRUE(send("GET", "/v1/me", {{"Cookie", cookie}}).on_calling_thread);
  // A session this instance has not seen (another instance's login): the cache misses, the
  // store answers on a worker, and the answer is the same as a hit's.
  auto manager = session::SessionManager(&runtime_->session_store(), {}, &clock_);
  auto elsewhere = manager.Create(runtime_->users().FindByName("alice")->value().id,
                                  session::SessionKind::kCookie, {"UA", "192.0.2.99"});
  ASSERT_TRUE(elsewhere);
  const std::string name = runtime_->config().cookie.name;
  const std::string other = name + "=" + elsewhere->secret;
  Answered miss = send("GET", "/v1/auth", {{"Cookie", other}});
  EXPECT_EQ(miss.response.status, 200);
  EXPECT_FALSE(miss.on_calling_thread);
  EXPECT_TRUE(send("GET", "/v1/auth", {{"Cookie", other}}).on_calling_thread);  // now cached
  // An unknown cookie is a miss too, and still a 401 (never a 503 from the abandoned attempt).
  Answered unknown = send("GET", "/v1/auth", {{"Cookie", name + "=" + std::string(43, 'A')}});
  EXPECT_EQ(unknown.response.status, 401);
  EXPECT_FALSE(unknown.on_calling_thread);
  // Store writes and listings always run on a worker.
  const std::string csrf = json::parse(send("GET", "/v1/me", {{"Cookie", cookie}}).response.body)
                               ["csrf_token"];
  const Answered list = send("GET", "/v1/sessions", {{"Cookie", cookie}});
  EXPECT_EQ(list.response.status, 200);
  EXPECT_FALSE(list.on_calling_thread);
  const Answered out = send("POST", "/v1/logout", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  EXPECT_EQ(out.response.status, 204);
  EXPECT_FALSE(out.on_calling_thread);
  // Forward-auth counted each check once, the abandoned attempts not at all.
  const std::string metrics = send("GET", "/metrics").response.body;
  EXPECT_NE(metrics.find("tessera_auth_checks_total{outcome=\"allowed\"} 4"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tessera_auth_checks_total{outcome=\"denied\"} 1"), std::string::npos)
      << metrics;
}

// When every store worker waits (a store that stopped answering) and the queue is full, a
// request that needs a store gets 503 at once instead of queueing without bound.
TEST_F(HandlersTest, AFullStorePoolAnswers503AtOnce) {
  Start({{"TESSERA_SERVER_STORE_WORKERS", "1"}});
  AddUser("alice");
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  // One task holds the worker (once it runs), 64 more fill its queue.
  std::promise<void> running;
  ASSERT_TRUE(runtime_->store_pool().TrySubmit([released, &running] {
    running.set_value();
    released.wait();
  }));
  running.get_future().wait();
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(runtime_->store_pool().TrySubmit([released] { released.wait(); }));
  }
  HttpResponse busy = Send("GET", "/readyz");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(Header(busy, "Retry-After"), "1");
  EXPECT_EQ(Send("GET", "/healthz").status, 200);  // the I/O thread still answers
  release.set_value();
  while (runtime_->store_pool().queue_depth() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(Send("GET", "/readyz").status, 200);
}

// The defect: /v1/token took a store write for any well-formed garbage, without limit. Unknown
// refresh tokens now spend a budget of the client address.
TEST_F(HandlersTest, GuessingRefreshTokensIsThrottledPerAddress) {
  Start({{"TESSERA_THROTTLE_LOGIN_PER_IP", "3/min"}});
  auto refresh = [&](std::string peer) {
    return Send("POST", "/v1/token", {{"Content-Type", "application/x-www-form-urlencoded"}},
                "grant_type=refresh_token&refresh_token=" + std::string(43, 'A'), peer);
  };
  // Ten times the sign-in budget: failed refreshes are common without any attack.
  for (int i = 0; i < 30; ++i) ASSERT_EQ(refresh("192.0.2.20").status, 400) << i;
  HttpResponse blocked = refresh("192.0.2.20");
  EXPECT_EQ(blocked.status, 429);
  EXPECT_FALSE(Header(blocked, "Retry-After").empty());
  EXPECT_EQ(refresh("192.0.2.21").status, 400);  // another address has its own budget
  // Sign-in from the blocked address is a separate budget.
  AddUser("alice");
  EXPECT_EQ(Login("alice", kPassword, "session", "192.0.2.20").status, 200);
}

// The defect: the per-account block applied to everyone, so a stranger could keep a known account
// locked out indefinitely. A browser that signed in to the account before keeps its own budget.
TEST_F(HandlersTest, AStrangerCannotLockTheOwnerOutOfAKnownDevice) {
  Start({{"TESSERA_THROTTLE_LOGIN_PER_USER", "3/min"}});
  AddUser("admin");
  HttpResponse first = Login("admin", kPassword, "session", "198.51.100.1");
  ASSERT_EQ(first.status, 200);
  std::string device;
  for (const auto& [n, v] : first.headers) {
    if (n == "Set-Cookie" && v.starts_with("__Host-tessera_device=")) device = v.substr(0, v.find(';'));
  }
  ASSERT_FALSE(device.empty());
  // A stranger spends the account's budget from many addresses.
  for (int i = 0; i < 4; ++i) {
    Login("admin", "guess number " + std::to_string(i), "session", "203.0.113." + std::to_string(i));
  }
  EXPECT_EQ(Login("admin", kPassword, "session", "203.0.113.50").status, 429);  // untrusted: blocked
  auto from_device = [&](const std::string& password, const std::string& cookie) {
    return Send("POST", "/v1/login", {{"Content-Type", "application/json"}, {"Cookie", cookie}},
                json{{"username", "admin"}, {"password", password}}.dump(), "198.51.100.1");
  };
  HttpResponse owner = from_device(kPassword, device);
  EXPECT_EQ(owner.status, 200) << owner.body;
  // The known device gets no new device cookie; a forged or another account's cookie is no help.
  for (const auto& [n, v] : owner.headers) EXPECT_FALSE(v.starts_with("__Host-tessera_device="));
  std::string forged = device;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(from_device(kPassword, forged).status, 429);
  // The device's own budget still bounds guessing from it.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(from_device("wrong " + std::to_string(i), device).status, 401);
  EXPECT_EQ(from_device(kPassword, device).status, 429);
  // The audit trail tells the two kinds of attempt apart.
  bool known = false;
  for (const json& e : AuditEvents()) known |= e.value("device", "") == "known";
  EXPECT_TRUE(known);
}

// NIST SP 800-63B: new passwords are screened, at registration and admin creation alike, with a
// message that says why and never echoes the password.
TEST_F(HandlersTest, NewPasswordsAreScreened) {
  Start({{"TESSERA_USERS_REGISTRATION", "true"}});
  auto reg = [&](const std::string& name, const std::string& password) {
    return Send("POST", "/v1/users", {{"Content-Type", "application/json"}},
                json{{"username", name}, {"password", password}}.dump());
  };
  HttpResponse listed = reg("mallory", "iloveyou2");
  EXPECT_EQ(listed.status, 400);
  EXPECT_NE(listed.body.find("common or breached"), std::string::npos) << listed.body;
  HttpResponse named = reg("mallory", "Mallory-and-her-cat-7");
  EXPECT_EQ(named.status, 400);
  EXPECT_NE(named.body.find("username"), std::string::npos) << named.body;
  EXPECT_EQ(named.body.find("her-cat"), std::string::npos);
  EXPECT_EQ(reg("mallory", "abcabcabcabc").status, 400);
  EXPECT_EQ(reg("mallory", kPassword).status, 201);

  AddUser("root", {"admin"});
  const std::string cookie = CookieLogin("root");
  const std::string csrf = json::parse(Send("GET", "/v1/me", {{"Cookie", cookie}}).body)["csrf_token"];
  HttpResponse admin = Send("POST", "/v1/admin/users",
                            {{"Cookie", cookie}, {"X-CSRF-Token", csrf},
                             {"Content-Type", "application/json"}},
                            json{{"username", "trent"}, {"password", "trent12345678"}}.dump());
  EXPECT_EQ(admin.status, 400);
  EXPECT_NE(admin.body.find("username"), std::string::npos) << admin.body;
}

// The defect: /metrics was open to anyone who could reach the listener, and each scrape counted
// sessions with a table scan on an I/O thread. It can move to a listener of its own, ask for a
// bearer token, and its session gauge is counted by the maintenance thread.
TEST_F(HandlersTest, MetricsAskForATokenWhenOneIsConfigured) {
  const std::string token = "scraper-token-0123456789abcdef";
  Start({{"TESSERA_METRICS_TOKEN_SHA256", crypto::HexSha256(token)}});
  EXPECT_EQ(Send("GET", "/metrics").status, 401);
  EXPECT_EQ(Send("GET", "/metrics", {{"Authorization", "Bearer wrong-token"}}).status, 401);
  HttpResponse ok = Send("GET", "/metrics", {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("tessera_sessions_active 0"), std::string::npos) << ok.body;
}

TEST_F(HandlersTest, MetricsOnTheirOwnListener) {
  Start({{"TESSERA_METRICS_LISTEN", "127.0.0.1:0"}});
  AddUser("alice");
  CookieLogin("alice");
  EXPECT_EQ(Send("GET", "/metrics").status, 404);  // not on the main listener
  Handler& ops = runtime_->app().ops();
  EXPECT_EQ(SendTo(ops, "GET", "/v1/me").status, 404);  // the ops listener serves nothing else
  EXPECT_EQ(SendTo(ops, "POST", "/v1/login").status, 404);
  EXPECT_EQ(SendTo(ops, "GET", "/healthz").status, 200);
  // The gauge moves as this process's sessions come and go, with no store work per scrape...
  HttpResponse m = SendTo(ops, "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("tessera_sessions_active 1"), std::string::npos) << m.body;
  const std::string second = CookieLogin("alice");
  const std::string csrf = json::parse(Send("GET", "/v1/me", {{"Cookie", second}}).body)["csrf_token"];
  EXPECT_EQ(Send("POST", "/v1/logout", {{"Cookie", second}, {"X-CSRF-Token", csrf}}).status, 204);
  EXPECT_NE(SendTo(ops, "GET", "/metrics").body.find("tessera_sessions_active 1"),
            std::string::npos);
  // ...and the periodic count brings in what it cannot see (another process's session here).
  session::Session other{.id_hash = std::string(64, 'a'), .handle = std::string(32, 'b'),
                         .user_id = "someone", .created_at = kT0, .last_seen_at = kT0,
                         .expires_at = kT0 + 3600};
  ASSERT_TRUE(runtime_->session_store().Create(other, {}, kT0, nullptr).ok());
  runtime_->CountSessions();  // what the maintenance thread does every 15 s
  m = SendTo(ops, "GET", "/metrics");
  EXPECT_NE(m.body.find("tessera_sessions_active 2"), std::string::npos) << m.body;
}

// The defect: every failed sign-in wrote a throttle counter to the sessions' SQLite database,
// which told the session cache that another writer had changed it: an attacker's wrong passwords
// emptied everyone's cache. Counters live in a file of their own, and what another process does
// reaches the cache through the change feed, one session at a time.
TEST_F(HandlersTest, OutsideChangesReachTheCachePerSessionNeverByEmptyingIt) {
  Start({{"TESSERA_SESSION_STORE", "sqlite"}});
  AddUser("alice");
  AddUser("bob");
  const std::string alice = CookieLogin("alice"), bob = CookieLogin("bob");
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", alice}}).status, 200);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", bob}}).status, 200);
  const uint64_t before = runtime_->session_manager().external_generation();
  const session::FeedPosition head = runtime_->session_store().FeedHead().value();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Login("alice", "wrong password here", "session").status, 401);
  EXPECT_EQ(runtime_->session_store().FeedHead().value(), head) << "failed sign-ins are no news";
  // Another connection (the CLI, another instance) ends alice's session.
  auto other = store::OpenSqliteSessionStore(dir_.path() + "/tessera.db");
  ASSERT_TRUE(other);
  const std::string alice_id = runtime_->users().FindByName("alice").value()->id;
  auto sessions = (*other)->ListByUser(alice_id);
  ASSERT_TRUE(sessions && sessions->size() == 1u);
  ASSERT_TRUE((*other)->Remove(sessions->front().id_hash));
  runtime_->MaintainOnce();  // what the follower's thread does within milliseconds
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", alice}}).status, 401) << "the ended one is refused";
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", bob}}).status, 200) << "the other is untouched";
  EXPECT_EQ(runtime_->session_manager().external_generation(), before) << "no cache was emptied";
}

// An account changed by another process (the CLI disables bob) leaves the user cache through the
// feed: his new roles count at his next request.
TEST_F(HandlersTest, AnAccountChangedElsewhereLeavesTheUserCache) {
  Start({{"TESSERA_SESSION_STORE", "sqlite"}});
  AddUser("bob");
  const std::string bob = CookieLogin("bob");
  HttpResponse me = Send("GET", "/v1/me", {{"Cookie", bob}});
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(json::parse(me.body)["roles"], json::array());
  // The CLI's way: its own stores and service on the same database.
  auto users = store::OpenSqliteUserStore(dir_.path() + "/tessera.db");
  auto sessions = store::OpenSqliteSessionStore(dir_.path() + "/tessera.db");
  ASSERT_TRUE(users && sessions);
  session::SessionManager manager(sessions->get(), {}, &clock_);
  auto hasher = crypto::PasswordHasher::Create({.memory_kib = 7168, .iterations = 5});
  ASSERT_TRUE(hasher);
  user::AccountService accounts(users->get(), &manager, &*hasher, &clock_);
  ASSERT_TRUE(accounts.SetRoles("bob", {"admin"}));
  runtime_->MaintainOnce();
  me = Send("GET", "/v1/me", {{"Cookie", bob}});
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(json::parse(me.body)["roles"], json::array({"admin"}));
}

// POST /v1/me/password: the current password proves it is the owner (a wrong one counts as a
// failed sign-in); every other session of the account ends, cookie and token, the caller's stays.
TEST_F(HandlersTest, ChangingOnesPasswordEndsEveryOtherSession) {
  Start({});
  AddUser("alice");
  const std::string mine = CookieLogin("alice");
  const std::string other = CookieLogin("alice");
  const auto [at, rt] = TokenLogin("alice");
  const std::string csrf =
      json::parse(Send("GET", "/v1/me", {{"Cookie", mine}}).body)["csrf_token"];
  const std::string fresh = "a brand-new passphrase, 2027";
  auto change = [&](const json& body, std::vector<std::pair<std::string, std::string>> headers) {
    headers.emplace_back("Content-Type", "application/json");
    return Send("POST", "/v1/me/password", std::move(headers), body.dump());
  };
  const std::vector<std::pair<std::string, std::string>> as_me = {{"Cookie", mine},
                                                                   {"X-CSRF-Token", csrf}};

  HttpResponse wrong = change({{"current_password", "not it"}, {"new_password", fresh}}, as_me);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(json::parse(wrong.body)["error"], "invalid_credentials");
  EXPECT_EQ(change({{"current_password", kPassword}, {"new_password", "short"}}, as_me).status, 400);
  EXPECT_EQ(change({{"current_password", kPassword}}, as_me).status, 400);
  EXPECT_EQ(change({{"current_password", kPassword}, {"new_password", fresh}}, {{"Cookie", mine}})
                .status,
            403)
      << "a cookie-authenticated write without its CSRF token";
  EXPECT_EQ(change({{"current_password", kPassword}, {"new_password", fresh}}, {}).status, 401);
  EXPECT_EQ(Send("POST", "/v1/me/password",
                 {{"Cookie", mine}, {"X-CSRF-Token", csrf}, {"Content-Type", "text/plain"}}, "{}")
                .status,
            415);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", other}}).status, 200) << "nothing changed yet";

  ASSERT_EQ(change({{"current_password", kPassword}, {"new_password", fresh}}, as_me).status, 204);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", mine}}).status, 200) << "the caller's stays";
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", other}}).status, 401);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Authorization", "Bearer " + at}}).status, 401);
  EXPECT_EQ(Send("POST", "/v1/token", {{"Content-Type", "application/x-www-form-urlencoded"}},
                 "grant_type=refresh_token&refresh_token=" + rt)
                .status,
            400);
  EXPECT_EQ(Login("alice", kPassword, "session", "198.51.100.7").status, 401);
  EXPECT_EQ(Login("alice", fresh, "session", "198.51.100.7").status, 200);

  // A bearer caller (no CSRF: a token is not sent by the browser by itself) keeps its own token.
  HttpResponse signed_in = Login("alice", fresh, "token");
  ASSERT_EQ(signed_in.status, 200) << signed_in.body;
  const std::string at2 = json::parse(signed_in.body)["access_token"];
  const std::string back = "the passphrase goes back, 2027";
  ASSERT_EQ(change({{"current_password", fresh}, {"new_password", back}},
                   {{"Authorization", "Bearer " + at2}})
                .status,
            204);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Authorization", "Bearer " + at2}}).status, 200);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", mine}}).status, 401);

  // Guessing the current password is throttled like signing in: the 6th try is refused even
  // when right (throttle.login_per_user, 5 a minute).
  HttpResponse again = Login("alice", back, "session");
  ASSERT_EQ(again.status, 200) << again.body;
  const std::string cookie = Header(again, "Set-Cookie").substr(0, Header(again, "Set-Cookie").find(';'));
  const std::string token =
      json::parse(Send("GET", "/v1/me", {{"Cookie", cookie}}).body)["csrf_token"];
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(change({{"current_password", "guess " + std::to_string(i)}, {"new_password", fresh}},
                     {{"Cookie", cookie}, {"X-CSRF-Token", token}})
                  .status,
              401);
  }
  EXPECT_EQ(change({{"current_password", back}, {"new_password", fresh}},
                   {{"Cookie", cookie}, {"X-CSRF-Token", token}})
                .status,
            429);
}

// PATCH /v1/admin/users/{username}: roles and the disabled flag; disabling ends every session of
// the account (its bearer tokens too) and stops its sign-ins; an administrator cannot lock
// themselves out.
TEST_F(HandlersTest, AdminPatchChangesRolesAndDisablesAnAccount) {
  Start({});
  AddUser("root", {"admin"});
  AddUser("bob");
  const std::string root = CookieLogin("root");
  const std::string csrf =
      json::parse(Send("GET", "/v1/me", {{"Cookie", root}}).body)["csrf_token"];
  const std::string bob = CookieLogin("bob");
  const auto [bob_at, bob_rt] = TokenLogin("bob");
  auto patch = [&](const std::string& who, const json& body,
                   const std::string& type = "application/json") {
    return Send("PATCH", "/v1/admin/users/" + who,
                {{"Cookie", root}, {"X-CSRF-Token", csrf}, {"Content-Type", type}}, body.dump());
  };

  HttpResponse r = patch("bob", {{"roles", {"billing", "billing", "ops"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["user"]["roles"], json::array({"billing", "ops"}));
  EXPECT_EQ(json::parse(r.body)["user"]["disabled"], false);
  HttpResponse me = Send("GET", "/v1/me", {{"Cookie", bob}});
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(json::parse(me.body)["roles"], json::array({"billing", "ops"}));

  r = patch("Bob", {{"disabled", true}});  // names are case-folded
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["user"]["disabled"], true);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", bob}}).status, 401);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Authorization", "Bearer " + bob_at}}).status, 401);
  HttpResponse refused = Login("bob", kPassword, "session", "198.51.100.9");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.body, Login("bob", "not the password", "session", "198.51.100.9").body)
      << "a disabled account answers as a wrong password does";
  ASSERT_EQ(patch("bob", {{"disabled", false}}).status, 200);
  EXPECT_EQ(Login("bob", kPassword, "session", "198.51.100.9").status, 200);

  // No self-lockout; keeping one's own admin role is fine.
  EXPECT_EQ(patch("root", {{"roles", json::array()}}).status, 409);
  EXPECT_EQ(patch("root", {{"disabled", true}}).status, 409);
  EXPECT_EQ(patch("root", {{"roles", {"ops", "admin"}}}).status, 200);
  // Refusals.
  EXPECT_EQ(patch("nobody", {{"disabled", true}}).status, 404);
  EXPECT_EQ(patch("bob", json::object()).status, 400);
  EXPECT_EQ(patch("bob", {{"username", "eve"}}).status, 400);
  EXPECT_EQ(patch("bob", {{"disabled", "yes"}}).status, 400);
  EXPECT_EQ(patch("bob", {{"roles", {"not a role!"}}}).status, 400);
  EXPECT_EQ(patch("bob", {{"roles", "admin"}}).status, 400);
  EXPECT_EQ(patch("bob", {{"disabled", true}}, "text/plain").status, 415);
  EXPECT_EQ(Send("PATCH", "/v1/admin/users/bob",
                 {{"Cookie", root}, {"Content-Type", "application/json"}}, R"({"disabled":true})")
                .status,
            403)
      << "a cookie-authenticated write without its CSRF token";
  const std::string bob_again = CookieLogin("bob");
  const std::string bob_csrf =
      json::parse(Send("GET", "/v1/me", {{"Cookie", bob_again}}).body)["csrf_token"];
  EXPECT_EQ(Send("PATCH", "/v1/admin/users/root",
                 {{"Cookie", bob_again}, {"X-CSRF-Token", bob_csrf},
                  {"Content-Type", "application/json"}},
                 R"({"disabled":true})")
                .status,
            403)
      << "not an administrator";
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", root}}).status, 200);
}

// POST /v1/admin/users/{username}/password and DELETE /v1/admin/users/{username}: each ends every
// session of the account at once; an administrator cannot delete themselves.
TEST_F(HandlersTest, AdminResetsAPasswordAndDeletesAnAccount) {
  Start({});
  AddUser("root", {"admin"});
  AddUser("carol");
  const std::string root = CookieLogin("root");
  const std::string csrf =
      json::parse(Send("GET", "/v1/me", {{"Cookie", root}}).body)["csrf_token"];
  const std::vector<std::pair<std::string, std::string>> as_root = {
      {"Cookie", root}, {"X-CSRF-Token", csrf}, {"Content-Type", "application/json"}};
  auto reset = [&](const std::string& who, const std::string& body) {
    return Send("POST", "/v1/admin/users/" + who + "/password", as_root, body);
  };
  const std::string carol = CookieLogin("carol");
  const auto [at, rt] = TokenLogin("carol");
  (void)rt;
  const std::string fresh = "a reset passphrase for her, 2027";

  EXPECT_EQ(reset("carol", json{{"password", "short"}}.dump()).status, 400);
  EXPECT_EQ(reset("carol", "{}").status, 400);
  EXPECT_EQ(reset("carol", json{{"password", fresh}, {"roles", json::array()}}.dump()).status, 400);
  EXPECT_EQ(reset("nobody", json{{"password", fresh}}.dump()).status, 404);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", carol}}).status, 200) << "nothing changed yet";
  ASSERT_EQ(reset("carol", json{{"password", fresh}}.dump()).status, 204);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", carol}}).status, 401);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Authorization", "Bearer " + at}}).status, 401);
  EXPECT_EQ(Login("carol", kPassword, "session", "198.51.100.5").status, 401);
  HttpResponse back = Login("carol", fresh, "session", "198.51.100.5");
  ASSERT_EQ(back.status, 200);
  const std::string carol_again = Header(back, "Set-Cookie").substr(0, Header(back, "Set-Cookie").find(';'));

  EXPECT_EQ(Send("DELETE", "/v1/admin/users/root", as_root).status, 409);
  EXPECT_EQ(Send("DELETE", "/v1/admin/users/carol", {{"Cookie", root}}).status, 403)
      << "without the CSRF token";
  ASSERT_EQ(Send("DELETE", "/v1/admin/users/carol", as_root).status, 204);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", carol_again}}).status, 401);
  EXPECT_EQ(Login("carol", fresh, "session", "198.51.100.5").status, 401);
  EXPECT_EQ(Send("DELETE", "/v1/admin/users/carol", as_root).status, 404);
  const json listed = json::parse(Send("GET", "/v1/admin/users", {{"Cookie", root}}).body);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["username"], "root");

  // An administrator resetting their own password signs themselves out too.
  HttpResponse own = reset("root", json{{"password", "an admin's own new passphrase 2027"}}.dump());
  ASSERT_EQ(own.status, 204);
  EXPECT_NE(Header(own, "Set-Cookie").find("Max-Age=0"), std::string::npos) << Header(own, "Set-Cookie");
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", root}}).status, 401);
}

// GET /v1/revocations: the confidential clients of token.clients get the revocation list with a
// cursor, then (long poll) what follows it, answered the moment the change feed brings an entry.
class RevocationFeedTest : public HandlersTest {
 protected:
  // "svc:" + kSecret, base64 (HTTP Basic).
  static constexpr char kSecret[] = "revocation-client-secret-0123456789";
  static constexpr char kBasic[] = "Basic c3ZjOnJldm9jYXRpb24tY2xpZW50LXNlY3JldC0wMTIzNDU2Nzg5";

  void SetUp() override {
    Start({{"TESSERA_TOKEN_CLIENTS", "svc:" + crypto::HexSha256(kSecret)}});
    AddUser("alice");
    AddUser("bob");
  }

  // Starts a request; the answer may come later (a long poll).
  std::future<HttpResponse> Ask(std::string target, std::string authorization = kBasic) {
    auto answer = std::make_shared<std::promise<HttpResponse>>();
    std::future<HttpResponse> f = answer->get_future();
    HttpRequest r;
    r.method = "GET";
    r.target = std::move(target);
    r.headers = {{"Host", "127.0.0.1:8080"}, {"Authorization", std::move(authorization)}};
    r.peer_ip = "192.0.2.20";
    runtime_->app().Handle(std::move(r),
                           [answer](HttpResponse a) { answer->set_value(std::move(a)); });
    return f;
  }

  // A long poll that waits: the handler runs on the store pool, so its wait begins a moment
  // after Ask returns.
  std::future<HttpResponse> Waiting(std::string target) {
    const size_t before = runtime_->revocation_feed().waiting();
    auto f = Ask(std::move(target));
    for (int i = 0; i < 5000 && runtime_->revocation_feed().waiting() == before && !Ready(f); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(runtime_->revocation_feed().waiting(), before + 1);
    return f;
  }

  static bool Ready(std::future<HttpResponse>& f) {
    return f.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready;
  }

  // Ends the session of an access token with a bearer logout; the store's feed carries it.
  void Logout(const std::string& access) {
    ASSERT_EQ(Send("POST", "/v1/logout", {{"Authorization", "Bearer " + access}}).status, 204);
  }

  static std::string Sid(const std::string& access) {
    const std::string payload =
        access.substr(access.find('.') + 1, access.rfind('.') - access.find('.') - 1);
    return json::parse(jose::Base64UrlDecode(payload).value())["sid"];
  }
};

TEST_F(RevocationFeedTest, OnlyForConfidentialClients) {
  EXPECT_EQ(Ask("/v1/revocations", "").get().status, 401);
  // "svc:wrong", base64
  EXPECT_EQ(Ask("/v1/revocations", "Basic c3ZjOndyb25n").get().status, 401);
  HttpResponse ok = Ask("/v1/revocations").get();
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Header(ok, "Cache-Control"), "no-store");
}

TEST_F(RevocationFeedTest, SnapshotThenEveryRevocationAsItHappens) {
  const auto [alice, alice_refresh] = TokenLogin("alice");
  const auto [bob, bob_refresh] = TokenLogin("bob");
  Logout(alice);
  runtime_->MaintainOnce();  // the feed applied (the server's follower thread does it at once)
  HttpResponse snap = Ask("/v1/revocations").get();
  ASSERT_EQ(snap.status, 200) << snap.body;
  const json s = json::parse(snap.body);
  ASSERT_EQ(s["revocations"].size(), 1u) << snap.body;
  EXPECT_EQ(s["revocations"][0]["sid"], Sid(alice));
  EXPECT_GT(s["revocations"][0]["until"].get<int64_t>(), clock_.NowSeconds());
  const std::string cursor = s["cursor"];

  // Nothing after the cursor yet: the long poll waits...
  auto poll = Waiting("/v1/revocations?after=" + cursor + "&wait=10s");
  EXPECT_FALSE(Ready(poll));
  runtime_->MaintainOnce();
  EXPECT_FALSE(Ready(poll));
  // ...until the next revocation reaches this instance's feed.
  Logout(bob);
  runtime_->MaintainOnce();
  ASSERT_TRUE(Ready(poll));
  HttpResponse next = poll.get();
  ASSERT_EQ(next.status, 200) << next.body;
  const json n = json::parse(next.body);
  ASSERT_EQ(n["revocations"].size(), 1u) << next.body;
  EXPECT_EQ(n["revocations"][0]["sid"], Sid(bob));
  EXPECT_GT(n["revocations"][0]["seq"].get<uint64_t>(), 0u);
  EXPECT_NE(n["cursor"], cursor);

  // From the new cursor: nothing, at once without wait; after the wait with one.
  HttpResponse now = Ask("/v1/revocations?after=" + n["cursor"].get<std::string>()).get();
  ASSERT_EQ(now.status, 200);
  EXPECT_TRUE(json::parse(now.body)["revocations"].empty());
  auto quiet = Waiting("/v1/revocations?after=" + n["cursor"].get<std::string>() + "&wait=3");
  Advance(2);
  EXPECT_FALSE(Ready(quiet));
  Advance(1);
  ASSERT_TRUE(Ready(quiet));
  HttpResponse ended = quiet.get();
  ASSERT_EQ(ended.status, 200);
  EXPECT_TRUE(json::parse(ended.body)["revocations"].empty());
  EXPECT_EQ(json::parse(ended.body)["cursor"], n["cursor"]);
  // The older cursor still gets everything after it.
  HttpResponse replay = Ask("/v1/revocations?after=" + cursor).get();
  EXPECT_EQ(json::parse(replay.body)["revocations"].size(), 1u);
}

TEST_F(RevocationFeedTest, RefusesWhatItCannotContinue) {
  EXPECT_EQ(Ask("/v1/revocations?after=0123456789abcdef-5").get().status, 410);  // another feed
  EXPECT_EQ(Ask("/v1/revocations?after=garbage").get().status, 410);
  const std::string cursor = json::parse(Ask("/v1/revocations").get().body)["cursor"];
  EXPECT_EQ(Ask("/v1/revocations?wait=5").get().status, 400);  // wait needs after
  EXPECT_EQ(Ask("/v1/revocations?after=" + cursor + "&wait=31").get().status, 400);
  EXPECT_EQ(Ask("/v1/revocations?after=" + cursor + "&wait=-1").get().status, 400);
  EXPECT_EQ(Ask("/v1/revocations?after=" + cursor + "&since=1").get().status, 400);
  EXPECT_EQ(Ask("/v1/revocations?after=" + cursor + "&after=" + cursor).get().status, 400);
  // Discovery says where the feed is.
  HttpResponse d = Send("GET", "/.well-known/openid-configuration");
  EXPECT_EQ(json::parse(d.body)["tessera_revocation_endpoint"],
            "http://127.0.0.1:8080/v1/revocations")
      << d.body;
}

}  // namespace
}  // namespace tessera::server
