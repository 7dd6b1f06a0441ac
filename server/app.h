// The HTTP contract of DESIGN.md (session mode so far): routing, JSON errors, cookies, CSRF and
// the session endpoints. Pure request-to-response logic over the library; no sockets here.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "crypto/password.h"
#include "core/worker_pool.h"
#include "http.h"
#include "tessera/config.h"
#include "tessera/session/session_manager.h"
#include "tessera/user/throttle.h"
#include "tessera/user/user_store.h"

namespace tessera::server {

struct AppDeps {
  const Config* config;
  user::UserStore* users;
  session::SessionStore* sessions;  // for readiness
  session::SessionManager* session_manager;
  const crypto::PasswordHasher* hasher;
  WorkerPool* password_pool;  // Argon2id runs here, never on an I/O thread
  user::LoginThrottle* throttle;
};

class App final : public Handler {
 public:
  explicit App(AppDeps deps) : d_(deps) {}
  void Handle(HttpRequest request, Responder respond) override;

 private:
  struct Caller;  // an authenticated request's session and user

  HttpResponse Health();
  HttpResponse Ready();
  void Login(const HttpRequest& request, Responder respond);
  HttpResponse Logout(const HttpRequest& request);
  HttpResponse Me(const HttpRequest& request);
  HttpResponse ListSessions(const HttpRequest& request);
  HttpResponse RevokeSession(const HttpRequest& request, std::string_view handle);
  HttpResponse RevokeOtherSessions(const HttpRequest& request);
  HttpResponse ForwardAuth(const HttpRequest& request);

  // Authenticates the request by its session cookie; for state-changing methods also checks
  // the CSRF token and Origin. On failure, *error is the response to send.
  std::unique_ptr<Caller> Authenticate(const HttpRequest& request, bool state_changing,
                                       HttpResponse* error);
  std::string ClientIp(const HttpRequest& request) const;
  // The user by id, from a cache that is dropped whenever another process writes to the stores
  // (SessionManager::external_generation), so the request path does no store read for it.
  Result<std::optional<user::User>> FindUser(const std::string& id);
  std::string SessionCookie(const std::string& value, int64_t max_age) const;

  AppDeps d_;
  std::mutex users_mu_;
  std::unordered_map<std::string, user::User> users_;  // GUARDED_BY(users_mu_); by id
  uint64_t users_generation_ = 0;                      // GUARDED_BY(users_mu_)
};

}  // namespace tessera::server
