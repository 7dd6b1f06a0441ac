#include "tessera/user/throttle.h"

#include <algorithm>

namespace tessera::user {
namespace {

std::string AccountKey(std::string_view account) { return "user:" + std::string(account); }
std::string IpKey(std::string_view ip) { return "ip:" + std::string(ip); }

// A quiet hour forgives earlier strikes.
constexpr int64_t kStrikeMemorySeconds = 3600;

}  // namespace

Result<int64_t> LoginThrottle::Check(std::string_view account, std::string_view ip) {
  const int64_t now = clock_->NowSeconds();
  TESSERA_ASSIGN_OR_RETURN(ThrottleRecord a, store_->Get(AccountKey(account)));
  TESSERA_ASSIGN_OR_RETURN(ThrottleRecord i, store_->Get(IpKey(ip)));
  const int64_t until = std::max(a.blocked_until, i.blocked_until);
  return until > now ? until - now : 0;
}

Status LoginThrottle::Fail(std::string_view key, const ThrottleLimit& limit, int64_t now) {
  return store_
      ->Update(key,
               [&](ThrottleRecord& r) {
                 if (now >= r.window_start + limit.per_seconds) {
                   if (now - std::max(r.window_start, r.blocked_until) > kStrikeMemorySeconds) {
                     r.strikes = 0;
                   }
                   r.window_start = now;
                   r.failures = 0;
                 }
                 ++r.failures;
                 if (r.failures >= limit.failures && r.blocked_until <= now) {
                   // Progressive: each block in a row lasts twice the last, up to the cap.
                   const int shift = static_cast<int>(std::min<uint32_t>(r.strikes, 20));
                   const int64_t block =
                       std::min<int64_t>(limit.per_seconds << shift, kMaxBlockSeconds);
                   r.blocked_until = now + std::max<int64_t>(block, 1);
                   ++r.strikes;
                   // The next window starts when the block ends.
                   r.window_start = r.blocked_until;
                   r.failures = 0;
                 }
               })
      .status();
}

Status LoginThrottle::RecordFailure(std::string_view account, std::string_view ip) {
  const int64_t now = clock_->NowSeconds();
  TESSERA_RETURN_IF_ERROR(Fail(AccountKey(account), per_account_, now));
  return Fail(IpKey(ip), per_ip_, now);
}

Result<int64_t> LoginThrottle::CheckIp(std::string_view ip) {
  const int64_t now = clock_->NowSeconds();
  TESSERA_ASSIGN_OR_RETURN(ThrottleRecord i, store_->Get(IpKey(ip)));
  return i.blocked_until > now ? i.blocked_until - now : 0;
}

Status LoginThrottle::RecordIpAttempt(std::string_view ip) {
  return Fail(IpKey(ip), per_ip_, clock_->NowSeconds());
}

Status LoginThrottle::RecordSuccess(std::string_view account) {
  return store_->Remove(AccountKey(account));
}

}  // namespace tessera::user
