#include "device_cookie.h"

#include "crypto/random.h"
#include "request_identity.h"
#include "tessera/jose/base64url.h"

namespace tessera::server {
namespace {

constexpr size_t kIdBytes = 16;  // 128 random bits

}  // namespace

DeviceCookies::DeviceCookies(const Config& config, std::string_view key)
    : key_(crypto::Hash::kSha256, key), secure_(config.cookie.secure) {
  // The __Host- prefix (RFC 6265bis) needs Secure; a development setup without it gets a plain
  // name, as the session cookie does.
  name_ = config.cookie.name.starts_with("__Host-") ? "__Host-tessera_device" : "tessera_device";
}

std::string DeviceCookies::Mac(std::string_view account, std::string_view id) const {
  std::string message(account);
  message += '\0';
  message += id;
  uint8_t mac[32];
  key_.Compute(message, mac);
  return jose::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), 16));
}

std::string DeviceCookies::DeviceFor(const HttpRequest& request, std::string_view account) const {
  const std::string_view value = CookieValue(request, name_);
  const size_t dot = value.find('.');
  if (dot == std::string_view::npos) return {};
  const std::string_view id = value.substr(0, dot), mac = value.substr(dot + 1);
  if (id.size() != jose::Base64UrlEncodedSize(kIdBytes)) return {};
  if (!crypto::ConstantTimeEquals(mac, Mac(account, id))) return {};
  return std::string(id);
}

std::string DeviceCookies::Issue(std::string_view account) const {
  const std::string id = jose::Base64UrlEncode(crypto::RandomString(kIdBytes));
  std::string s = name_ + "=" + id + "." + Mac(account, id) +
                  "; Path=/; Max-Age=" + std::to_string(kMaxAgeSeconds) + "; HttpOnly";
  if (secure_) s += "; Secure";
  // Only ever needed on a same-origin sign-in POST.
  s += "; SameSite=Strict";
  return s;
}

}  // namespace tessera::server
