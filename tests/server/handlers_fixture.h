// The fixture of the handler tests: a real Runtime (SQLite accounts in a temporary directory,
// the memory session store, the real keyset and token service) on a FakeClock, requests handed to
// App::Handle without sockets.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime.h"
#include "store_conformance/store_factory.h"
#include "tessera/user/user.h"

namespace tessera::server {

inline constexpr int64_t kT0 = 1'900'000'000;
inline constexpr char kPassword[] = "a long and unlisted passphrase 7f3";

class HandlersTest : public ::testing::Test {
 protected:
  using json = nlohmann::json;

  void SetUp() override { Start({}); }

  void Start(ConfigSources::Environment env) {
    runtime_.reset();
    ConfigSources sources;
    sources.data = dir_.path();
    sources.env = std::move(env);
    sources.env.emplace("TESSERA_SESSION_STORE", "memory");
    sources.env.emplace("TESSERA_SERVER_ACCESS_LOG", "off");
    auto config = LoadConfig(sources);
    ASSERT_TRUE(config) << config.error().message();
    auto runtime = Runtime::Open(*config, {.clock = &clock_, .maintenance = false});
    ASSERT_TRUE(runtime) << runtime.error().message();
    runtime_ = std::move(*runtime);
  }

  // Adds an account straight to the store (the hash made at the configured cost).
  void AddUser(const std::string& name, std::vector<std::string> roles = {}) {
    auto hasher = crypto::PasswordHasher::Create({7168, 5});
    ASSERT_TRUE(hasher);
    user::User u{.id = user::NewUserId(),
                 .username = name,
                 .password_hash = hasher->Hash(kPassword).value(),
                 .roles = std::move(roles),
                 .created_at = clock_.NowSeconds()};
    ASSERT_TRUE(runtime_->users().Add(u).ok());
  }

  HttpResponse Send(std::string method, std::string target,
                    std::vector<std::pair<std::string, std::string>> headers = {},
                    std::string body = "", std::string peer = "192.0.2.10") {
    return SendTo(runtime_->app(), std::move(method), std::move(target), std::move(headers),
                  std::move(body), std::move(peer));
  }

  HttpResponse SendTo(Handler& handler, std::string method, std::string target,
                      std::vector<std::pair<std::string, std::string>> headers = {},
                      std::string body = "", std::string peer = "192.0.2.10") {
    HttpRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.headers = std::move(headers);
    r.headers.emplace_back("Host", "127.0.0.1:8080");
    r.body = std::move(body);
    r.peer_ip = std::move(peer);
    std::promise<HttpResponse> answer;
    handler.Handle(std::move(r), [&](HttpResponse a) { answer.set_value(std::move(a)); });
    return answer.get_future().get();
  }

  static std::string Header(const HttpResponse& r, std::string_view name) {
    for (const auto& [n, v] : r.headers) {
      if (EqualsIgnoreCase(n, name)) return v;
    }
    return "";
  }

  HttpResponse Login(const std::string& name, const std::string& password, std::string mode,
                     std::string peer = "192.0.2.10") {
    return Send("POST", "/v1/login", {{"Content-Type", "application/json"}},
                json{{"username", name}, {"password", password}, {"mode", mode}}.dump(), peer);
  }

  // A token login's access and refresh tokens.
  std::pair<std::string, std::string> TokenLogin(const std::string& name) {
    HttpResponse r = Login(name, kPassword, "token");
    EXPECT_EQ(r.status, 200) << r.body;
    const json j = json::parse(r.body);
    return {j["access_token"], j["refresh_token"]};
  }

  std::string CookieLogin(const std::string& name) {
    HttpResponse r = Login(name, kPassword, "session");
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string cookie = Header(r, "Set-Cookie");
    return cookie.substr(0, cookie.find(';'));
  }

  // Moves the clock, then runs what the maintenance thread would (the revocation feed fails
  // closed when it has not been read for a few seconds).
  void Advance(int64_t seconds) {
    clock_.Advance(seconds);
    runtime_->MaintainOnce();
  }

  std::vector<json> AuditEvents() {
    std::ifstream in(dir_.path() + "/audit.log");
    std::vector<json> events;
    for (std::string line; std::getline(in, line);) events.push_back(json::parse(line));
    return events;
  }

  testing::TempDir dir_;
  FakeClock clock_{kT0};
  std::unique_ptr<Runtime> runtime_;
};

}  // namespace tessera::server
