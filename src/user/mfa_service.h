// MfaService: the second factor of an account (RFC 6238 TOTP with recovery codes), one
// implementation for the HTTP handlers and the CLI.
//
// - Enrolment: Begin makes a 160-bit secret and stores it sealed, unconfirmed; Confirm with a
//   code from the authenticator turns it on and returns ten recovery codes, which are stored only
//   as keyed hashes. Neither the secret nor a code is ever logged or shown again.
// - Sign-in: once the password is right, IssueTicket opens a ticket bound to the account and the
//   sign-in mode (sealed, so it cannot be altered, and random, so it cannot be guessed); Complete
//   accepts it once, with a code of a time step not used before or an unused recovery code. The
//   store decides "once" atomically, so two instances cannot both accept one ticket or one code.
//
// The key: 32 bytes, the same on every instance that shares the account store (runtime.cc says
// where it comes from). Secrets and recovery codes sealed or hashed under another key do not
// open: the answer is kUnavailable (a configuration fault, never a wrong code), so an instance
// with the wrong key fails closed instead of locking people out as if they had typed badly.
//
// Every method may block on the account store: call them where a store call may wait (the store
// pool or the password pool), never on an I/O thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/hmac.h"
#include "crypto/totp.h"
#include "tessera/clock.h"
#include "tessera/result.h"
#include "tessera/user/user.h"
#include "tessera/user/user_store.h"

namespace tessera::user {

class MfaService {
 public:
  static constexpr int64_t kTicketSeconds = 300;
  static constexpr int kRecoveryCodes = 10;

  // REQUIRES: `users` and `clock` outlive the service; `key` is 32 bytes.
  MfaService(UserStore* users, std::string_view key, std::string issuer, const Clock* clock);

  struct Enrolment {
    std::string secret;       // base32, for typing in by hand
    std::string otpauth_uri;  // what the QR code holds
    std::string qr_svg;
  };
  // Starts an enrolment for `u` (replacing one not yet confirmed). kAlreadyExists when the
  // account has a confirmed factor: remove it first.
  Result<Enrolment> Begin(const User& u);

  // Turns the enrolment of `u` on with a code of its secret; returns the recovery codes.
  // kNotFound when no enrolment waits (or it changed meanwhile); kAlreadyExists when the factor
  // is on; kUnauthenticated/kBadPassword for a wrong code. `before_on`, when set, runs once the
  // code is right and before the factor is stored as on (the handler ends the account's other
  // sessions there); its failure is returned and nothing is turned on.
  Result<std::vector<std::string>> Confirm(const User& u, std::string_view code,
                                           const std::function<Status()>& before_on = {});

  // True when `user_id` has a confirmed factor (sign-in asks for it).
  Result<bool> Enabled(std::string_view user_id);

  // Removes the factor of `user_id`; true when there was one.
  Result<bool> Remove(std::string_view user_id);

  // The ticket for the second step of a sign-in of `u` whose password was right; `mode` is the
  // sign-in mode asked for ("session" or "token"). kNotFound when the account has no confirmed
  // factor (then no second step is needed).
  Result<std::string> IssueTicket(const User& u, std::string_view mode);

  struct Ticket {
    std::string user_id;
    std::string mode;
    std::string nonce_hash;  // what the store holds
  };
  // What a ticket says, when it is one of this server's and has not expired: kUnauthenticated
  // otherwise (whatever is wrong with it).
  Result<Ticket> OpenTicket(std::string_view ticket) const;

  // Completes the sign-in that `t` belongs to with a TOTP code (recovery = false) or a recovery
  // code. kAccepted: the code is right and neither it nor the ticket was used before (both are
  // spent now). kWrongCode: the code is wrong or was used (the ticket stays usable for another
  // try while it lives). kBadTicket: the ticket was used, replaced by a newer sign-in, or has
  // expired, or the factor is gone. Anything but kAccepted changes nothing.
  enum class Outcome { kAccepted, kWrongCode, kBadTicket };
  Result<Outcome> Complete(const Ticket& t, std::string_view code, bool recovery);

  // A recovery code as people type it: case, spaces and dashes ignored.
  static std::string NormalizeRecoveryCode(std::string_view code);

 private:
  std::string SecretContext(std::string_view user_id) const;
  std::string HashRecoveryCode(std::string_view user_id, std::string_view normalized) const;

  UserStore* users_;
  std::string key_;
  crypto::HmacKey recovery_key_;
  std::string issuer_;
  const Clock* clock_;
};

}  // namespace tessera::user
