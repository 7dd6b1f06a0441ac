// What every handler works with: the library objects the server was assembled from, the metrics,
// and the helpers built once from the configuration (request identity, authentication, the
// OAuth clients). One Context per App; handlers are free functions of (Context&, request), so
// tests call them without a socket.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "authenticator.h"
#include "core/log.h"
#include "core/worker_pool.h"
#include "device_cookie.h"
#include "crypto/hmac.h"
#include "crypto/password.h"
#include "http.h"
#include "metrics.h"
#include "request_identity.h"
#include "tessera/clock.h"
#include "tessera/config.h"
#include "tessera/session/session_manager.h"
#include "tessera/token/keyset.h"
#include "tessera/token/token_service.h"
#include "tessera/token/verifier.h"
#include "tessera/user/throttle.h"
#include "tessera/user/user_store.h"
#include "user/account_service.h"
#include "user/mfa_service.h"

namespace tessera::server {

class RevocationFeed;

struct AppDeps {
  const Config* config;
  user::UserStore* users;
  session::SessionStore* sessions;  // for readiness
  session::SessionManager* session_manager;
  const crypto::PasswordHasher* hasher;
  WorkerPool* password_pool;  // Argon2id runs here, never on an I/O thread
  // Handlers that may wait for a store run here (router.h, Runs). Null: on the calling thread.
  WorkerPool* store_pool = nullptr;
  user::LoginThrottle* throttle;
  user::AccountService* accounts;  // the account lifecycle (Argon2id: on the password pool)
  user::MfaService* mfa;           // second factors (store calls: off the I/O threads)
  log::AuditLog* audit;          // security events; never null (AuditLog::Discard() for none)
  log::AccessLog* access_log;    // one line per request; null: off
  const Clock* clock = &SystemClock::Instance();  // every "now" of the server
  // The HMAC-SHA-256 key under which audit events name sign-in attempts for accounts that do not
  // exist (often a password typed into the username field). Empty: a random key per process.
  std::string audit_name_key;
  // The key of device cookies (device_cookie.h). Empty: a random key per process.
  std::string device_cookie_key;
  // Token mode. All three set, or all null (token mode off: mode "token" and bearer tokens are
  // refused, the well-known documents answer 404).
  token::TokenService* tokens = nullptr;
  const token::AccessVerifier* verifier = nullptr;
  token::Keyset* keyset = nullptr;
  // GET /v1/revocations (token mode): the revocations held, and what follows a cursor. Both
  // set, or both null (404).
  const token::LocalRevocationList* revocations = nullptr;
  RevocationFeed* revocation_feed = nullptr;
};

// The confidential clients of token.clients (introspection, revocation), checked in constant
// time.
class OAuthClients {
 public:
  explicit OAuthClients(const Config& config);
  // The client id when `id`/`secret` name a configured client; compares against a dummy for an
  // unknown id, so the time taken says nothing about which ids exist.
  std::optional<std::string> Check(std::string_view id, std::string_view secret) const;

 private:
  std::map<std::string, std::string, std::less<>> secrets_;  // id -> SHA-256 of the secret
};

struct Context {
  explicit Context(AppDeps deps);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int64_t Now() const { return d.clock->NowSeconds(); }
  // Audit fields common to events about a request: client IP and user agent.
  nlohmann::json RequestFields(const HttpRequest& request) const;
  // The Set-Cookie value for the session cookie (an empty value with max_age 0 clears it).
  std::string SessionCookie(std::string_view value, int64_t max_age) const;

  AppDeps d;
  Metrics metrics;
  RequestIdentity identity;
  Authenticator auth;
  OAuthClients clients;
  std::unique_ptr<const crypto::HmacKey> audit_names;  // keyed by AppDeps::audit_name_key
  DeviceCookies device_cookies;
};

}  // namespace tessera::server
