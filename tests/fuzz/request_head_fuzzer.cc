// The request head as tessera interprets it before any handler decides: the path, cookies (the
// session cookie and the device cookie), the client address behind trusted proxies, the scheme,
// the Origin check of state-changing requests and the Authorization schemes. The input is lines:
// method, target, TCP peer, then "Name: value" headers.
//
// Properties beyond "no crash, no sanitizer report":
//   - the client address is the peer or an address that parses;
//   - a cookie value lies inside one of the Cookie headers;
//   - an Origin that does not parse is never allowed;
//   - no device cookie is accepted: the key is random, so one would be a forgery.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/random.h"
#include "device_cookie.h"
#include "forms.h"
#include "request_identity.h"

namespace {

using namespace tessera;
using namespace tessera::server;

const Config& TestConfig() {
  static const Config config = [] {
    Config c;
    c.server.trusted_proxies = {"10.0.0.0/8", "::1", "2001:db8::/32"};
    c.server.allowed_origins = {"https://app.example", "http://[::1]:8443"};
    return c;
  }();
  return config;
}

bool Inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const RequestIdentity identity(TestConfig());
  static const DeviceCookies devices(TestConfig(), crypto::RandomString(32));
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto line = [&]() {
    const size_t nl = input.find('\n');
    std::string_view l = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    return l;
  };
  HttpRequest r;
  r.method = std::string(line());
  r.target = std::string(line());
  r.peer_ip = std::string(line());
  while (!input.empty()) {
    std::string_view h = line();
    const size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers.emplace_back(std::string(h.substr(0, colon)), std::string(value));
  }

  const std::string_view path = r.Path();
  if (!Inside(path, r.target) || path.data() != r.target.data()) __builtin_trap();

  const std::string ip = identity.ClientIp(r);
  std::array<unsigned char, 16> bytes;
  bool v4 = false;
  if (ip != r.peer_ip && !ParseIp(ip, &bytes, &v4)) __builtin_trap();
  (void)identity.Scheme(r);

  const std::string_view names[] = {TestConfig().cookie.name, devices.name()};
  for (std::string_view name : names) {
    const std::string_view value = CookieValue(r, name);
    if (value.empty()) continue;
    bool found = false;
    for (std::string_view h : r.Headers("Cookie")) found |= Inside(value, h);
    if (!found) __builtin_trap();
  }
  if (!devices.DeviceFor(r, "alice").empty()) __builtin_trap();

  if (identity.OriginAllowed(r)) {
    const std::string_view origin = r.Header("Origin");
    if (!origin.empty() && !Origin::Parse(origin)) __builtin_trap();
  }

  const std::string_view authorization = r.Header("Authorization");
  if (IsBearerAuthorization(authorization)) {
    if (auto token = ParseBearerAuthorization(authorization)) {
      if (token->empty() || !Inside(*token, authorization)) __builtin_trap();
    }
  }
  (void)ParseBasicAuthorization(authorization);
  return 0;
}
