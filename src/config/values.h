// Parsers and printers for the value syntaxes of the configuration: durations, rates, listen
// addresses, origins, store URLs. Each parser is strict and total: it accepts exactly the
// documented syntax and returns an error message that quotes the input but not the key (the
// caller, which knows the key and where the value came from, adds those).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "tessera/config.h"
#include "tessera/result.h"
#include "tessera/status.h"

namespace tessera::config_internal {

// The largest duration any key accepts before its own bound: 36500 days. It keeps `now + d` far
// from overflowing any clock representation.
inline constexpr std::chrono::seconds kMaxDuration = std::chrono::days(36500);

// A duration: decimal digits and one unit, s (seconds), m (minutes), h (hours) or d (days):
// "90s", "30m", "12h", "14d", "0s". No sign, no spaces, no fraction, no compound ("1h30m"), no
// bare number: "90" is refused because nothing says whether it meant seconds or minutes.
// At most kMaxDuration.
Result<std::chrono::seconds> ParseDuration(std::string_view text);

// The largest unit that divides `d` exactly: 86400s -> "1d", 90s -> "90s", 0s -> "0s".
// REQUIRES: d >= 0.
std::string FormatDuration(std::chrono::seconds d);

// A rate "COUNT/PERIOD": COUNT from 1 to 1000000, PERIOD a unit word (s, sec, second, min,
// minute, h, hour, d, day) meaning one of it, or a duration ("100/15m"), from 1s to 1d. Windows
// longer than a day would amount to the permanent lockout docs/design.md rules out.
Result<Rate> ParseRate(std::string_view text);

// "5/min", "1/s", "3/h", "2/d", else "100/15m". Round-trips through ParseRate.
std::string FormatRate(const Rate& rate);

// "HOST:PORT": HOST an IPv4 address, a DNS name (RFC 1123 labels, last label not all digits),
// or an IPv6 address in brackets ("[::1]:8080"); PORT 0 to 65535 in decimal. HOST is required:
// listening on every interface takes an explicit "0.0.0.0" or "[::]".
Result<HostPort> ParseHostPort(std::string_view text);

// The inverse of ParseHostPort (IPv6 hosts in brackets).
std::string FormatHostPort(const HostPort& hp);

// An IPv4 or IPv6 address, optionally with a CIDR prefix length ("10.0.0.0/8", "fd00::/8").
Status CheckAddressOrCidr(std::string_view text);

// A Web origin (RFC 6454) as browsers send it: "http" or "https", "://", a host (IPv4, DNS name
// or bracketed IPv6), an optional port, and nothing else (no path, no trailing slash).
Status CheckOrigin(std::string_view text);

// An issuer: an http(s) URL with a host, without query or fragment (OpenID Connect Discovery
// section 3).
Status CheckIssuer(std::string_view text);

// RFC 6265 cookie-name: a non-empty token of at most 256 visible ASCII characters other than
// separators.
Status CheckCookieName(std::string_view name);

// "redis://HOST...", "rediss://HOST...", "redis+sentinel://HOST:PORT,.../NAME..." (also
// rediss+sentinel://) or "redis+cluster://HOST:PORT,..." (also rediss+cluster://), with a
// non-empty host part (and a primary's name for Sentinel) and no
// spaces or control characters. Syntax only: nothing is contacted.
Status CheckRedisUrl(std::string_view url);

// "postgresql://..." or "postgres://..." (libpq's URI forms; an empty rest means the local
// socket), without spaces or control characters. Syntax only.
Status CheckPostgresUrl(std::string_view url);

// `url` with the password of its userinfo ("redis://:secret@host", also in a mistyped URL such
// as "redis//:secret@host") and any "password=" or "sentinel_password=" query parameter replaced by "REDACTED", for
// messages and DescribeConfig. User names and hosts stay visible.
std::string RedactUrl(std::string_view url);

// `text` as a TOML basic string, quotes included, with ", \ and control characters escaped.
std::string TomlQuote(std::string_view text);

// An error about a value: InvalidArgument with no specific Reason.
Status BadValue(std::string message);

}  // namespace tessera::config_internal
