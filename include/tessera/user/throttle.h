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

// Where counters live. Thread-safe; an unreachable store returns Code::kUnavailable.
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

struct ThrottleLimit {
  uint32_t failures = 5;   // this many failures within `per_seconds` start a block
  int64_t per_seconds = 60;
};

class LoginThrottle {
 public:
  // The longest block, however many strikes: an attacker can delay a victim, never lock them out.
  static constexpr int64_t kMaxBlockSeconds = 15 * 60;

  LoginThrottle(ThrottleStore* store, ThrottleLimit per_account, ThrottleLimit per_ip,
                const Clock* clock)
      : store_(store), per_account_(per_account), per_ip_(per_ip), clock_(clock) {}

  // 0 when a sign-in may be attempted now; otherwise the seconds to wait (for Retry-After).
  // `account` is the canonical user name whether or not the account exists, so a throttled
  // unknown name looks exactly like a throttled real one.
  Result<int64_t> Check(std::string_view account, std::string_view ip);

  // Counts a failed sign-in against the account and the IP.
  Status RecordFailure(std::string_view account, std::string_view ip);

  // The per-IP half alone, for requests that are not sign-ins but must not be made in bulk from
  // one address (self-registration): the seconds to wait, and counting one attempt.
  Result<int64_t> CheckIp(std::string_view ip);
  Status RecordIpAttempt(std::string_view ip);

  // A successful sign-in clears the account's counter (not the IP's: one good password does not
  // excuse a spray from that address).
  Status RecordSuccess(std::string_view account);

 private:
  Status Fail(std::string_view key, const ThrottleLimit& limit, int64_t now);

  ThrottleStore* store_;
  ThrottleLimit per_account_;
  ThrottleLimit per_ip_;
  const Clock* clock_;
};

}  // namespace tessera::user
