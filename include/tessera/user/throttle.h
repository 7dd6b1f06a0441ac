// Brute-force defence: failed sign-ins counted per account and per client IP in the shared store
// (so every instance sees the same counts), with a progressive, bounded block: never a
// permanent lockout that an attacker could turn into a denial of service against the victim.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tessera/clock.h"
#include "tessera/result.h"

namespace tessera::user {

// One counter: failures in the current window, and the block they earned.
struct ThrottleRecord {
  int64_t window_start = 0;
  uint32_t failures = 0;
  int64_t blocked_until = 0;
  uint32_t strikes = 0;  // blocks in a row; each doubles the next block
  friend bool operator==(const ThrottleRecord&, const ThrottleRecord&) = default;
};

// Where counters live. Thread-safe; an unreachable store returns Code::kUnavailable. Every method
// may block on I/O (SQLite: <data>/throttle.db, a commit's sync per Update); LoginThrottle is
// called on the password pool for sign-ins, and on the I/O thread by the OAuth endpoints.
class ThrottleStore {
 public:
  virtual ~ThrottleStore() = default;
  // Reads the record of `key` (a zero record when absent), lets `update` change it, and writes it
  // back, atomically with respect to every other Update of the same store (even across processes).
  virtual Result<ThrottleRecord> Update(std::string_view key,
                                        const std::function<void(ThrottleRecord&)>& update) = 0;
  // The record of `key`, a zero record when absent.
  virtual Result<ThrottleRecord> Get(std::string_view key) = 0;
  virtual Status Remove(std::string_view key) = 0;
  // Drops records whose window and block both ended before `before`.
  virtual Result<size_t> RemoveStale(int64_t before) = 0;
};

// Per-address budgets are kept apart: a client spending one does not block the others from its
// address.
// - kSignIn: failed sign-ins and registrations (throttle.login_per_ip).
// - kClientAuth: failed client authentications at /v1/introspect and /v1/revoke, secrets that
//   could be guessed like passwords (the same size as kSignIn).
// - kRefresh: refresh tokens /v1/token does not know. No one guesses 256 random bits online, and
//   failed refreshes are common without any attack (two tabs racing, tokens of an ended session),
//   so this budget is ten times the sign-in one: it bounds the store writes garbage can cause.
enum class IpBudget : uint8_t { kSignIn, kClientAuth, kRefresh };

struct ThrottleLimit {
  uint32_t failures = 5;   // this many failures within `per_seconds` start a block
  int64_t per_seconds = 60;
};

class LoginThrottle {
 public:
  // The longest block, however many strikes: an attacker can delay a victim, never lock them out.
  static constexpr int64_t kMaxBlockSeconds = 15 * 60;

  // IPv6 clients are counted per network of `ipv6_prefix_bits` (default /64, what one subscriber
  // is usually given), or one host could rotate through 2^64 addresses with a fresh budget each.
  LoginThrottle(ThrottleStore* store, ThrottleLimit per_account, ThrottleLimit per_ip,
                const Clock* clock, int ipv6_prefix_bits = 64)
      : store_(store),
        per_account_(per_account),
        per_ip_(per_ip),
        clock_(clock),
        ipv6_prefix_bits_(ipv6_prefix_bits) {}

  // The key under which an address is counted: IPv4 addresses whole, IPv6 addresses (not
  // IPv4-mapped ones) cut to the prefix, in canonical form ("2001:db8:1:2::/64").
  std::string IpKey(std::string_view ip, IpBudget budget = IpBudget::kSignIn) const;

  // 0 when a sign-in may be attempted now; otherwise the seconds to wait (for Retry-After).
  // `account` is the canonical user name whether or not the account exists, so a throttled
  // unknown name looks exactly like a throttled real one.
  //
  // `device`: the id of a device cookie that proves this client signed in to `account` before
  // (OWASP "device cookies"); empty for none. Such a client is judged by a budget of its own
  // instead of the account's, so a stranger who spends the account's budget (to keep a known
  // name such as "admin" locked out) does not lock out the devices its owner uses.
  Result<int64_t> Check(std::string_view account, std::string_view ip,
                        std::string_view device = {});

  // Counts a failed sign-in against the account (or the device, see Check) and the IP.
  Status RecordFailure(std::string_view account, std::string_view ip,
                       std::string_view device = {});

  // The per-IP half alone, for requests that are not sign-ins but must not be made in bulk from
  // one address (self-registration): the seconds to wait, and counting one attempt.
  Result<int64_t> CheckIp(std::string_view ip, IpBudget budget = IpBudget::kSignIn);
  Status RecordIpAttempt(std::string_view ip, IpBudget budget = IpBudget::kSignIn);

  // A successful sign-in clears the account's counter, or the device's when it came with one
  // (not the IP's: one good password does not excuse a spray from that address; and a sign-in
  // from a known device does not give strangers a fresh budget against the account).
  Status RecordSuccess(std::string_view account, std::string_view device = {});

 private:
  Status Fail(std::string_view key, const ThrottleLimit& limit, int64_t now);

  ThrottleStore* store_;
  ThrottleLimit per_account_;
  ThrottleLimit per_ip_;
  const Clock* clock_;
  int ipv6_prefix_bits_;
};

}  // namespace tessera::user
