// Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): after a
// successful sign-in the browser gets a cookie that binds a random device id to the account,
// MACed with a server key. A later sign-in to that account that presents it is judged by the
// device's own failure budget instead of the account's (LoginThrottle), so a stranger who spends
// the account's budget cannot lock its owner out of the devices they use. The cookie grants
// nothing else: it is no credential, and the password is checked as always.
#pragma once

#include <string>
#include <string_view>

#include "crypto/hmac.h"
#include "http.h"
#include "tessera/config.h"

namespace tessera::server {

class DeviceCookies {
 public:
  // `key`: 32 bytes, the same for every instance that shares the throttle counters.
  DeviceCookies(const Config& config, std::string_view key);

  const std::string& name() const { return name_; }
  // The device id when `request` carries a device cookie that was issued for `account` with this
  // key; empty otherwise (none, malformed, forged, or another account's).
  std::string DeviceFor(const HttpRequest& request, std::string_view account) const;
  // A Set-Cookie value with a new device cookie for `account`.
  std::string Issue(std::string_view account) const;

  static constexpr int64_t kMaxAgeSeconds = 365 * 86400;

 private:
  // base64url of the first 16 bytes of HMAC-SHA-256(key, account NUL id).
  std::string Mac(std::string_view account, std::string_view id) const;

  crypto::HmacKey key_;
  std::string name_;
  bool secure_;
};

}  // namespace tessera::server
