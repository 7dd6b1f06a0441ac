// Who and where a request comes from, as far as tessera may believe it: the session cookie, the
// client's address (X-Forwarded-For only from configured proxies), the scheme it used, and whether
// its Origin is one that may make cookie-authenticated writes. Built once from the configuration
// (trusted proxies and allowed origins are parsed at startup, not per request); thread-safe and
// immutable afterwards. Never blocks.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http.h"
#include "tessera/config.h"

namespace tessera::server {

// The value of cookie `name` from the request's Cookie headers, or empty.
std::string_view CookieValue(const HttpRequest& r, std::string_view name);

// True when an Authorization header uses the Bearer scheme (RFC 6750; case-insensitive).
bool IsBearerAuthorization(std::string_view authorization);

// An address or CIDR range, IPv4 held in its IPv4-mapped IPv6 form.
struct IpRange {
  std::array<unsigned char, 16> net{};
  int prefix = 128;
  static std::optional<IpRange> Parse(std::string_view text);  // "10.0.0.0/8", "::1", ...
  bool Contains(std::string_view ip) const;
};

// Parses an IPv4 or IPv6 address into 16 bytes (IPv4 mapped); `*v4` says which it was.
bool ParseIp(std::string_view text, std::array<unsigned char, 16>* out, bool* v4);

// An RFC 6454 origin: scheme, host and port, compared as a triple. "https://a.example" and
// "https://a.example:443" are the same origin; "http://a.example" is not.
struct Origin {
  std::string scheme;  // lower case: "http" or "https"
  std::string host;    // lower case; IPv6 literals keep their brackets
  uint16_t port = 0;   // explicit, or the scheme's default
  // Parses an Origin header value or a configured origin; nullopt for "null" and anything that
  // is not scheme://host[:port] with http or https.
  static std::optional<Origin> Parse(std::string_view text);
  friend bool operator==(const Origin&, const Origin&) = default;
};

class RequestIdentity {
 public:
  // REQUIRES: `config` was validated by LoadConfig (its lists parse).
  explicit RequestIdentity(const Config& config);

  // The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest hop of
  // X-Forwarded-For that is not a trusted proxy.
  std::string ClientIp(const HttpRequest& request) const;

  // The scheme the client used to reach tessera: https when tessera serves TLS itself; the
  // X-Forwarded-Proto of a trusted proxy; http otherwise.
  std::string_view Scheme(const HttpRequest& request) const;

  // Whether a cookie-authenticated state-changing request may proceed as far as its origin goes:
  // an Origin equal (scheme, host and port) to tessera's own as the request reached it, or to a
  // configured allowed origin. Without an Origin header, only a browser that says the request is
  // cross-site (Sec-Fetch-Site) is refused.
  bool OriginAllowed(const HttpRequest& request) const;

 private:
  bool PeerTrusted(const HttpRequest& request) const;
  bool Trusted(std::string_view ip) const;

  bool tls_;
  std::vector<IpRange> trusted_proxies_;
  std::vector<Origin> allowed_origins_;
};

}  // namespace tessera::server
