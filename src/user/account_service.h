// AccountService: the account lifecycle, one implementation for the CLI and the HTTP handlers
// alike: create (screened, hashed), remove, set a new password, set roles, disable and enable,
// reset the second factor.
// Removing, disabling and setting a password end every session of the account through the
// SessionManager (so the bridge's revocation list and the session cache learn of it at once, in
// the process that made the change). Every change of a stored account is also published on the
// session store's change feed (kUserChanged), so that every server drops its cached copy: new
// roles take effect at the account's next request, on any instance, and in access tokens issued
// from then on; tokens already issued keep the
// roles they were signed with until they expire, as with every JWT.
//
// Every method may block: Argon2id hashing (Create, SetPassword: tens of milliseconds, call them
// on the password pool, never on an I/O thread) and store I/O. Audit events are the caller's,
// which knows who acted (an administrator, the CLI, the user themselves).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "crypto/password.h"
#include "tessera/clock.h"
#include "tessera/result.h"
#include "tessera/session/session_manager.h"
#include "tessera/user/user.h"
#include "tessera/user/user_store.h"

namespace tessera::user {

class AccountService {
 public:
  // REQUIRES: every pointer outlives the service.
  AccountService(UserStore* users, session::SessionManager* sessions,
                 const crypto::PasswordHasher* hasher, const Clock* clock)
      : users_(users), sessions_(sessions), hasher_(hasher), clock_(clock) {}

  // Adds an account. `name` must be canonical (CanonicalUsername) and `roles` valid
  // (CheckRoleName). The password is screened first (kInvalidArgument/kBadPassword with a message
  // that says why); a taken name is kAlreadyExists, decided after the hash so both cost the same.
  Result<User> Create(std::string_view name, std::string_view password,
                      std::vector<std::string> roles);

  // Removes the account and ends every session of it, before and after the removal (a sign-in
  // racing the removal ends too). kNotFound/kUnknownUser when there is no such account.
  struct Removed {
    User user;
    std::vector<session::Session> ended;
  };
  Result<Removed> Remove(std::string_view name);

  // Replaces the password of `user` (screened, hashed) and ends every session of the account
  // but `keep_id_hash` (empty: all): whoever held the old password loses their sessions.
  Result<std::vector<session::Session>> SetPassword(const User& user, std::string_view password,
                                                    std::string_view keep_id_hash = {});

  // Replaces the roles of the account `name` (each must pass CheckRoleName; duplicates are
  // dropped, order kept). Returns the account as it now is. kNotFound/kUnknownUser when absent.
  Result<User> SetRoles(std::string_view name, std::vector<std::string> roles);

  // Disables (ending every session of the account, as Remove does, before and after the change)
  // or enables the account `name`. Returns the account as it now is and the sessions ended.
  // kNotFound/kUnknownUser when absent. Idempotent.
  struct Changed {
    User user;
    std::vector<session::Session> ended;
  };
  Result<Changed> SetDisabled(std::string_view name, bool disabled);

  // Removes the second factor of the account `name` (its owner lost both the authenticator and
  // the recovery codes, and an administrator has checked who they are) and ends every session of
  // the account. `removed` is false when it had none. kNotFound/kUnknownUser when absent.
  struct MfaReset {
    User user;
    bool removed = false;
    std::vector<session::Session> ended;
  };
  Result<MfaReset> ResetMfa(std::string_view name);

 private:
  Result<User> Find(std::string_view name);

  UserStore* users_;
  session::SessionManager* sessions_;
  const crypto::PasswordHasher* hasher_;
  const Clock* clock_;
};

}  // namespace tessera::user
