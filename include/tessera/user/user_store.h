// UserStore: where accounts live. Implementations: memory, SQLite (embedded default), later
// PostgreSQL. Every method is thread-safe. A method that cannot reach its storage returns an
// error with Code::kUnavailable (Reason::kStore or kStoreBusy), never a made-up answer: callers
// fail closed.
//
// Blocking: every method may block on I/O (SQLite: a disk read or a commit's sync, up to
// busy_timeout for another process's write lock; a network store: a round trip). The server
// calls them on the password pool (sign-in, registration) and the store pool (a cache miss of
// the authenticator, the admin endpoints), never on an I/O thread.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "tessera/result.h"
#include "tessera/user/user.h"

namespace tessera::user {

class UserStore {
 public:
  virtual ~UserStore() = default;

  // Adds `user`. REQUIRES: user.username is canonical. kAlreadyExists/kUserExists when the name
  // or the id is taken.
  virtual Status Add(const User& user) = 0;

  // The user, or nullopt when there is none.
  virtual Result<std::optional<User>> FindByName(std::string_view canonical_name) = 0;
  virtual Result<std::optional<User>> FindById(std::string_view id) = 0;

  // Every user, ordered by username.
  virtual Result<std::vector<User>> List() = 0;

  // Removes the user. kNotFound/kUnknownUser when absent.
  virtual Status Remove(std::string_view canonical_name) = 0;

  // Replaces the stored hash. kNotFound/kUnknownUser when absent. Idempotent.
  virtual Status SetPasswordHash(std::string_view id, std::string_view password_hash) = 0;

  // Replaces the roles (each valid under CheckRoleName; order kept). kNotFound/kUnknownUser when
  // absent. Idempotent.
  virtual Status SetRoles(std::string_view id, const std::vector<std::string>& roles) = 0;

  // Sets or clears the disabled flag. kNotFound/kUnknownUser when absent. Idempotent.
  virtual Status SetDisabled(std::string_view id, bool disabled) = 0;

  // ---- The second factor (Totp) -------------------------------------------------------------
  // Removing an account removes its factor too.

  // The factor of the account, or nullopt when it has none.
  virtual Result<std::optional<Totp>> GetTotp(std::string_view id) = 0;

  // Stores `totp` as the account's factor, replacing any. kNotFound/kUnknownUser when there is
  // no such account. For copying accounts between stores and for tests; the enrolment goes
  // through StartTotp and ConfirmTotp, which cannot undo a concurrent change.
  virtual Status PutTotp(std::string_view id, const Totp& totp) = 0;

  // Stores the unconfirmed `pending` as the account's factor, atomically, unless the account has
  // a confirmed one: then false and nothing changes. A waiting enrolment is replaced.
  // kNotFound/kUnknownUser when there is no such account.
  virtual Result<bool> StartTotp(std::string_view id, const Totp& pending) = 0;

  // Turns on, atomically, the waiting enrolment whose sealed secret is `sealed_secret`: confirmed,
  // last step `step`, these recovery-code hashes, created at `now`, no ticket. False (nothing
  // changed) when no such enrolment waits: confirmed already, replaced by another start, or
  // removed.
  virtual Result<bool> ConfirmTotp(std::string_view id, std::string_view sealed_secret,
                                   int64_t step, const std::vector<std::string>& recovery_hashes,
                                   int64_t now) = 0;

  // Removes the account's factor; true when there was one.
  virtual Result<bool> RemoveTotp(std::string_view id) = 0;

  // Opens a sign-in ticket on the account's confirmed factor, replacing the open one; false (and
  // nothing changed) when the account has no confirmed factor.
  virtual Result<bool> SetMfaTicket(std::string_view id, std::string_view ticket_hash,
                                    int64_t expires_at) = 0;

  // Completes a sign-in, atomically: when the account's confirmed factor has the open ticket
  // `use.ticket_hash`, unexpired at `use.now`, and either `use.step` is later than its last step
  // or `use.recovery_hash` is one of its unused recovery codes, then the ticket is cleared, the
  // last step moves to `use.step` (or the recovery code is used up) and the answer is true.
  // Otherwise nothing changes and the answer is false. Two calls with one ticket or one code:
  // at most one is true, whichever instance makes them.
  struct MfaUse {
    std::string ticket_hash;
    int64_t now = 0;
    int64_t step = -1;           // a TOTP code's time step; -1 when a recovery code is used
    std::string recovery_hash;   // empty when a TOTP code is used
  };
  virtual Result<bool> UseMfa(std::string_view id, const MfaUse& use) = 0;

  // OK when the store answers (readiness).
  virtual Status Ping() = 0;
};

}  // namespace tessera::user
