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

  // OK when the store answers (readiness).
  virtual Status Ping() = 0;
};

}  // namespace tessera::user
