// The HTTP contract of DESIGN.md (session mode so far): routing, JSON errors, cookies, CSRF and
// the session endpoints. Pure request-to-response logic over the library; no sockets here.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/log.h"
#include "core/worker_pool.h"
#include "crypto/password.h"
#include "http.h"
#include "metrics.h"
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
  log::AuditLog* audit;          // security events; never null (AuditLog::Discard() for none)
  log::AccessLog* access_log;    // one line per request; null: off
};

class App final : public Handler {
 public:
  explicit App(AppDeps deps) : d_(deps) {}
  void Handle(HttpRequest request, Responder respond) override;

  const Metrics& metrics() const { return metrics_; }

 private:
  struct Caller;  // an authenticated request's session and user

  // Answers the request, or returns nullopt after handing `respond` (wrapped by Deferred) to a
  // handler that answers later.
  std::optional<HttpResponse> Dispatch(const HttpRequest& request, Responder& respond,
                                       server::Route* route);
  // Wraps `respond` so that a later answer gets the common headers, metrics and access log.
  Responder Deferred(const HttpRequest& request, server::Route route, Responder respond);
  void AddCommonHeaders(HttpResponse& r) const;
  HttpResponse MetricsPage();
  void Register(const HttpRequest& request, Responder respond);
  // Hashes `password` (call on the password pool) and adds the account; *out is the new user.
  // On failure returns the answer to send (409 when the name is taken).
  std::optional<HttpResponse> CreateAccount(const std::string& name, const std::string& password,
                                            std::vector<std::string> roles, user::User* out);
  void AdminCreateUser(const HttpRequest& request, Responder respond);
  HttpResponse AdminListUsers(const HttpRequest& request);
  HttpResponse AdminUserSessions(const HttpRequest& request, std::string_view username,
                                 bool revoke);
  // The caller if it is signed in with role admin; otherwise *error is set (401/403).
  std::unique_ptr<Caller> AuthenticateAdmin(const HttpRequest& request, bool state_changing,
                                            HttpResponse* error);
  // Checks what every unauthenticated state-changing JSON endpoint (login, registration) needs:
  // a JSON body (a cross-site form cannot send one without a CORS preflight) and, when the
  // browser says where the request comes from, an allowed origin. Returns the error to send.
  std::optional<HttpResponse> CheckUnauthenticatedPost(const HttpRequest& request) const;
  bool OriginAllowed(const HttpRequest& request) const;
  void AccessLogLine(const HttpRequest& request, const HttpResponse& response,
                     int64_t nanoseconds);
  // Audit fields common to events about a request: client IP and user agent.
  nlohmann::json RequestFields(const HttpRequest& request) const;
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
  Metrics metrics_;
  std::mutex users_mu_;
  std::unordered_map<std::string, user::User> users_;  // GUARDED_BY(users_mu_); by id
  uint64_t users_generation_ = 0;                      // GUARDED_BY(users_mu_)
};

}  // namespace tessera::server
