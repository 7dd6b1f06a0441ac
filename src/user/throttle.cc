#include "tessera/user/throttle.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace tessera::user {
namespace {

std::string AccountKey(std::string_view account) { return "user:" + std::string(account); }
std::string DeviceKey(std::string_view device) { return "device:" + std::string(device); }

// Whose budget a sign-in attempt spends besides its address's.
std::string ClientKey(std::string_view account, std::string_view device) {
  return device.empty() ? AccountKey(account) : DeviceKey(device);
}

// A quiet hour forgives earlier strikes.
constexpr int64_t kStrikeMemorySeconds = 3600;

}  // namespace

std::string LoginThrottle::IpKey(std::string_view ip, IpBudget budget) const {
  std::string key = budget == IpBudget::kSignIn       ? "ip:"
                    : budget == IpBudget::kClientAuth ? "client-ip:"
                                                      : "refresh-ip:";
  unsigned char a[16];
  char text[INET6_ADDRSTRLEN + 1];
  if (ip.size() < sizeof text) {
    std::memcpy(text, ip.data(), ip.size());
    text[ip.size()] = '\0';
    const bool v6 = inet_pton(AF_INET6, text, a) == 1;
    const bool mapped_v4 = v6 && std::all_of(a, a + 10, [](unsigned char b) { return b == 0; }) &&
                           a[10] == 0xff && a[11] == 0xff;
    if (v6 && !mapped_v4) {
      const int bits = std::clamp(ipv6_prefix_bits_, 0, 128);
      for (int i = bits; i < 128; ++i) a[i / 8] &= static_cast<unsigned char>(~(0x80 >> (i % 8)));
      char out[INET6_ADDRSTRLEN];
      if (inet_ntop(AF_INET6, a, out, sizeof out)) return key + out + "/" + std::to_string(bits);
    }
  }
  return key.append(ip);
}

Result<int64_t> LoginThrottle::Check(std::string_view account, std::string_view ip,
                                     std::string_view device) {
  const int64_t now = clock_->NowSeconds();
  TESSERA_ASSIGN_OR_RETURN(ThrottleRecord a, store_->Get(ClientKey(account, device)));
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

Status LoginThrottle::RecordFailure(std::string_view account, std::string_view ip,
                                   std::string_view device) {
  const int64_t now = clock_->NowSeconds();
  TESSERA_RETURN_IF_ERROR(Fail(ClientKey(account, device), per_account_, now));
  return Fail(IpKey(ip), per_ip_, now);
}

Result<int64_t> LoginThrottle::CheckIp(std::string_view ip, IpBudget budget) {
  const int64_t now = clock_->NowSeconds();
  TESSERA_ASSIGN_OR_RETURN(ThrottleRecord i, store_->Get(IpKey(ip, budget)));
  return i.blocked_until > now ? i.blocked_until - now : 0;
}

Status LoginThrottle::RecordIpAttempt(std::string_view ip, IpBudget budget) {
  ThrottleLimit limit = per_ip_;
  if (budget == IpBudget::kRefresh) limit.failures *= 10;
  return Fail(IpKey(ip, budget), limit, clock_->NowSeconds());
}

Status LoginThrottle::RecordSuccess(std::string_view account, std::string_view device) {
  return store_->Remove(ClientKey(account, device));
}

}  // namespace tessera::user
