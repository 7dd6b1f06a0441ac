// Who is calling: the session cookie or a bearer access token turned into a Caller, with the CSRF
// defence for cookie-authenticated writes. A cookie check reads the session manager's cache and a
// cache of users; a bearer check verifies the token against the keyset and the revocation list.
// Neither waits on the network on a cache hit; a miss reads the stores (SQLite: local disk).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http.h"
#include "request_identity.h"
#include "tessera/clock.h"
#include "tessera/config.h"
#include "tessera/session/session_manager.h"
#include "tessera/token/verifier.h"
#include "tessera/user/user_store.h"

namespace tessera::server {

// An authenticated request's session and user.
struct Caller {
  bool bearer = false;   // authenticated by an access token, not the session cookie
  std::string secret;    // the cookie's session secret; empty for bearer callers
  // Cookie callers: the stored record. Bearer callers: what the token says (handle = sid,
  // user_id = sub, kind token); no store was read.
  session::Session session;
  user::User user;
  int64_t expires_at = 0;  // X-Auth-Expires-At: the session's end, or the token's exp
  bool HasRole(std::string_view role) const;
};

// RFC 6750 section 3: a 401 for a bearer request says why in WWW-Authenticate. `description` is
// a fixed text, never the token.
HttpResponse BearerError(std::string_view description, bool token_presented);

class Authenticator {
 public:
  struct Deps {
    const Config* config;
    user::UserStore* users;
    session::SessionManager* sessions;
    const token::AccessVerifier* verifier;  // null: token mode off
    const RequestIdentity* identity;
    const Clock* clock;
  };
  explicit Authenticator(Deps deps) : d_(deps) {}

  // The caller of `request`. A bearer token, when sent, is the only credential looked at;
  // otherwise the session cookie. For state-changing methods a cookie caller must also pass the
  // CSRF checks (allowed Origin and the X-CSRF-Token bound to the session). On failure *error is
  // the answer to send (401, 403 csrf_failed, 503 when a store cannot answer).
  std::optional<Caller> Authenticate(const HttpRequest& request, bool state_changing,
                                     HttpResponse* error);
  // The same, and the caller must have role admin (else 403 forbidden).
  std::optional<Caller> AuthenticateAdmin(const HttpRequest& request, bool state_changing,
                                          HttpResponse* error);

  // The user by id, from a cache, so the request path does no store read for it. An account
  // changed anywhere leaves the cache through the change feed (ForgetUser, on kUserChanged), and
  // the whole cache goes when the session cache does (SessionManager::external_generation). The
  // cache is not used while the feed is behind, and an entry is read again after a minute (a
  // change whose announcement failed is then picked up anyway).
  // A disabled account is nullopt, as a removed one is: none of its sessions authenticates.
  Result<std::optional<user::User>> FindUser(const std::string& id);
  // Drops the cached account; a read of it that is under way when this runs is not cached.
  void ForgetUser(const std::string& id);

 private:
  std::optional<Caller> AuthenticateBearer(std::string_view authorization, HttpResponse* error);

  Deps d_;
  std::mutex users_mu_;
  struct CachedUser {
    user::User user;
    std::chrono::steady_clock::time_point read_at;
  };
  static constexpr std::chrono::seconds kUserCacheTtl{60};
  std::unordered_map<std::string, CachedUser> users_;  // GUARDED_BY(users_mu_); by id
  uint64_t users_generation_ = 0;                      // GUARDED_BY(users_mu_)
  uint64_t users_epoch_ = 0;  // GUARDED_BY(users_mu_); moved by every ForgetUser
};

}  // namespace tessera::server
