// Runtime: everything `tessera serve` assembles from a configuration, in one object that the CLI
// and the tests both use: the stores, the password pool, the session manager, the throttle, the
// audit and access logs, the signing keyset with its revocation list, verifier and token service,
// the HTTP App, and the maintenance thread that keeps them current.
//
// Open reads and writes local files (the database, the keyset, the audit log) and may block;
// call it at startup. The App it holds answers on I/O threads; off them, the change follower's
// thread applies what other processes change, and the maintenance thread does the periodic work
// (last-seen flushes, keyset reloads, purges).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "app.h"
#include "revocation_feed.h"
#include "core/log.h"
#include "core/worker_pool.h"
#include "crypto/password.h"
#include "tessera/clock.h"
#include "tessera/config.h"
#include "tessera/result.h"
#include "tessera/session/change_feed.h"
#include "tessera/session/session_manager.h"
#include "tessera/token/access_token.h"
#include "tessera/token/keyset.h"
#include "tessera/token/revocation.h"
#include "tessera/token/token_service.h"
#include "tessera/user/throttle.h"
#include "user/account_service.h"
#include "user/mfa_service.h"

namespace tessera::server {

// Clock skew allowed on access tokens' exp/nbf/iat between instances and services
// (docs/security.md JV-05 and MI-03: at most 60 s); revocations are kept that much longer than
// the tokens they stop.
inline constexpr int64_t kTokenLeewaySeconds = 60;

// The signing keyset's settings from token.alg and token.access_ttl: one function for `tessera
// serve` and `tessera keys`, so that both derive the same key states from the same file.
token::KeysetOptions KeysetOptionsFor(const Config& config);

class Runtime {
 public:
  struct Options {
    const Clock* clock = &SystemClock::Instance();
    // Runs the maintenance thread (tests that move a FakeClock may do without it).
    bool maintenance = true;
  };

  // Opens every part `config` names. A configuration that cannot work is kInvalidArgument; a
  // store, file or key that fails is kUnavailable (or another code), with a message naming it.
  static Result<std::unique_ptr<Runtime>> Open(Config config, Options options);
  ~Runtime();  // stops maintenance (one last flush), then the store and password pools

  App& app() { return *app_; }
  const Config& config() const { return config_; }
  user::UserStore& users() { return *users_; }
  user::AccountService& accounts() { return *accounts_; }
  user::MfaService& mfa() { return *mfa_; }
  session::SessionStore& session_store() { return *sessions_; }
  session::SessionManager& session_manager() { return *manager_; }
  token::TokenService& tokens() { return *tokens_; }
  WorkerPool& store_pool() { return *store_pool_; }

  // Applies what the change feed holds now, for tests without the follower's thread.
  void MaintainOnce();
  session::ChangeFollower& follower() { return *follower_; }
  RevocationFeed& revocation_feed() { return *revocation_feed_; }
  // Counts the live sessions for the metrics gauge (the maintenance thread does every 15 s).
  void CountSessions();

 private:
  Runtime(Config config, Options options) : config_(std::move(config)), options_(options) {}
  Status Assemble();
  void MaintenanceLoop();

  Config config_;
  Options options_;
  std::unique_ptr<user::UserStore> users_;
  std::unique_ptr<session::SessionStore> sessions_;
  std::unique_ptr<user::ThrottleStore> throttle_store_;
  std::unique_ptr<user::LoginThrottle> throttle_;
  std::unique_ptr<crypto::PasswordHasher> hasher_;
  std::unique_ptr<WorkerPool> password_pool_;
  std::unique_ptr<WorkerPool> store_pool_;
  std::unique_ptr<session::SessionManager> manager_;
  std::unique_ptr<user::AccountService> accounts_;
  std::unique_ptr<user::MfaService> mfa_;
  std::unique_ptr<log::AuditLog> audit_;
  std::unique_ptr<log::AccessLog> access_log_;
  std::unique_ptr<token::Keyset> keyset_;
  std::unique_ptr<token::LocalRevocationList> revocations_;
  std::unique_ptr<RevocationFeed> revocation_feed_;
  std::unique_ptr<token::KeysetKeySource> key_source_;
  std::unique_ptr<token::AccessVerifier> verifier_;
  std::unique_ptr<token::TokenService> tokens_;
  std::unique_ptr<App> app_;
  // Stopped first: its callbacks use the parts above.
  std::unique_ptr<session::ChangeFollower> follower_;

  // The maintenance thread.
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace tessera::server
