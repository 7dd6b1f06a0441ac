// The HTTP contract of DESIGN.md: routing, JSON errors, cookies, CSRF, the session endpoints and
// token mode (bearer tokens, refresh, JWKS, introspection and revocation). Pure request-to-
// response logic over the library; no sockets here. Token-mode handlers live in app_tokens.cc.
#pragma once

#include <map>
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
#include "tessera/token/access_token.h"
#include "tessera/token/keyset.h"
#include "tessera/token/token_service.h"
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
  // Token mode. All three set, or all null (token mode off: mode "token" and bearer tokens are
  // refused, the well-known documents answer 404).
  token::TokenService* tokens = nullptr;
  const token::AccessVerifier* verifier = nullptr;
  token::Keyset* keyset = nullptr;
};

class App final : public Handler {
 public:
  explicit App(AppDeps deps);
  void Handle(HttpRequest request, Responder respond) override;

  const Metrics& metrics() const { return metrics_; }

 private:
  struct Caller;  // an authenticated request's session and user
  struct TokenAnswerFields;

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
  // Metrics and audit of a login whose session could not be created (store down, or the
  // per-user limit refuses); returns the answer.
  HttpResponse LoginRefused(const Status& s, const nlohmann::json& who);
  // Metrics and audit of a login that created session `s` (and evicted `evicted`).
  void LoginSucceeded(const user::User& u, const nlohmann::json& who, const session::Session& s,
                      const std::vector<session::Session>& evicted, std::string_view mode);
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
  // The caller of a request with `Authorization: Bearer`: an access token checked against the
  // keyset and the revocation list, without any store lookup. Bearer requests need no CSRF token.
  std::unique_ptr<Caller> AuthenticateBearer(std::string_view authorization, HttpResponse* error);

  // Token mode (app_tokens.cc).
  // The answer to a token-mode login of `u` whose password was just verified.
  HttpResponse TokenLogin(const user::User& u, const session::DeviceInfo& device,
                          const nlohmann::json& who);
  HttpResponse TokenEndpoint(const HttpRequest& request);  // POST /v1/token
  HttpResponse JwksDocument();                             // GET /.well-known/jwks.json
  HttpResponse DiscoveryDocument();  // GET /.well-known/openid-configuration
  HttpResponse Introspect(const HttpRequest& request);   // POST /v1/introspect (RFC 7662)
  HttpResponse RevokeToken(const HttpRequest& request);  // POST /v1/revoke (RFC 7009)
  // Checks the HTTP Basic credentials of an introspection/revocation client (token.clients).
  // Returns the client id, or sets *error (401 invalid_client).
  std::optional<std::string> AuthenticateClient(const HttpRequest& request, HttpResponse* error);
  // The form (or JSON) parameters of a token-endpoint request, or the error to send.
  std::optional<HttpResponse> ReadTokenRequest(const HttpRequest& request,
                                               std::map<std::string, std::string, std::less<>>* params,
                                               bool allow_json);
  std::string ClientIp(const HttpRequest& request) const;
  // The user by id, from a cache that is dropped whenever another process writes to the stores
  // (SessionManager::external_generation), so the request path does no store read for it.
  Result<std::optional<user::User>> FindUser(const std::string& id);
  std::string SessionCookie(const std::string& value, int64_t max_age) const;

  AppDeps d_;
  Metrics metrics_;
  // token.clients: client id -> SHA-256 of its secret (binary).
  std::map<std::string, std::string, std::less<>> clients_;
  std::mutex users_mu_;
  std::unordered_map<std::string, user::User> users_;  // GUARDED_BY(users_mu_); by id
  uint64_t users_generation_ = 0;                      // GUARDED_BY(users_mu_)
};

}  // namespace tessera::server
