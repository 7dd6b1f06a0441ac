#include "config/values.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

namespace tessera::config_internal {
namespace {

constexpr std::string_view kDurationHint = " (use 90s, 30m, 12h, 14d)";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// Quotes `text` for a message, as TOML would write it.
std::string Q(std::string_view text) { return TomlQuote(text); }

// Decimal digits up to `max`; nullopt on anything else, including overflow.
std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t max) {
  if (!AllDigits(s)) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (max - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

bool IsIpv4(std::string_view s) {
  in_addr addr;
  return inet_pton(AF_INET, std::string(s).c_str(), &addr) == 1;
}

bool IsIpv6(std::string_view s) {
  in6_addr addr;
  return inet_pton(AF_INET6, std::string(s).c_str(), &addr) == 1;
}

// RFC 1123 host name; the last label must not be all digits (RFC 3696 section 2), so that
// "127.0.0.256" is not taken for a name.
bool IsHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::string_view last;
  while (true) {
    size_t dot = s.find('.');
    std::string_view label = s.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!IsAlnum(c) && c != '-') return false;
    }
    last = label;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return !AllDigits(last);
}

bool HasSpaceOrControl(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

// "host[:port]" of a URL authority, with IPv6 in brackets; the port, when present, in range.
bool IsHostAndPort(std::string_view s) {
  std::string_view host = s;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || !IsIpv6(s.substr(1, close - 1))) return false;
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (!ParseDecimal(port, 65535)) return false;
    }
    return true;
  }
  size_t colon = s.find(':');
  if (colon != std::string_view::npos) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (!ParseDecimal(port, 65535)) return false;
  }
  return IsIpv4(host) || IsHostName(host);
}

}  // namespace

Status BadValue(std::string message) { return InvalidArgument(Reason::kBadConfig, std::move(message)); }

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  if (text.empty()) return BadValue("\"\" is not a duration" + std::string(kDurationHint));
  if (text.front() == '-' && text.size() > 1 && IsDigit(text[1])) {
    return BadValue(Q(text) + " is negative; durations are 0s or more");
  }
  size_t n = 0;
  while (n < text.size() && IsDigit(text[n])) ++n;
  std::string_view digits = text.substr(0, n);
  std::string_view unit = text.substr(n);
  if (digits.empty()) return BadValue(Q(text) + " is not a duration" + std::string(kDurationHint));
  if (unit.empty()) {
    return BadValue(Q(text) + " has no unit" + std::string(kDurationHint));
  }
  int64_t scale = 0;
  switch (unit.size() == 1 ? unit.front() : '\0') {
    case 's': scale = 1; break;
    case 'm': scale = 60; break;
    case 'h': scale = 3600; break;
    case 'd': scale = 86400; break;
    default: return BadValue(Q(text) + " is not a duration" + std::string(kDurationHint));
  }
  std::optional<uint64_t> count =
      ParseDecimal(digits, static_cast<uint64_t>(kMaxDuration.count() / scale));
  if (!count) {
    return BadValue(Q(text) + " is too long (at most " + FormatDuration(kMaxDuration) + ")");
  }
  return std::chrono::seconds(static_cast<int64_t>(*count) * scale);
}

std::string FormatDuration(std::chrono::seconds d) {
  int64_t s = d.count();
  if (s != 0 && s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s != 0 && s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s != 0 && s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

Result<Rate> ParseRate(std::string_view text) {
  constexpr std::string_view kHint = " (use COUNT/PERIOD, e.g. 5/min, 100/h, 10/15m)";
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return BadValue(Q(text) + " is not a rate" + std::string(kHint));
  }
  std::string_view count_text = text.substr(0, slash);
  std::string_view period_text = text.substr(slash + 1);
  std::optional<uint64_t> count = ParseDecimal(count_text, UINT64_MAX);
  if (!count) return BadValue(Q(text) + " is not a rate" + std::string(kHint));
  if (*count == 0) return BadValue(Q(text) + ": the count must be positive");
  if (*count > 1000000) return BadValue(Q(text) + ": the count must be at most 1000000");
  std::chrono::seconds per{0};
  static constexpr std::pair<std::string_view, int> kUnits[] = {
      {"s", 1},    {"sec", 1},     {"second", 1}, {"min", 60},   {"minute", 60},
      {"h", 3600}, {"hour", 3600}, {"d", 86400},  {"day", 86400}};
  bool found = false;
  for (const auto& [name, seconds] : kUnits) {
    if (period_text == name) {
      per = std::chrono::seconds(seconds);
      found = true;
    }
  }
  if (!found) {
    if (period_text.empty() || !IsDigit(period_text.front())) {
      return BadValue(Q(text) + " is not a rate" + std::string(kHint));
    }
    Result<std::chrono::seconds> d = ParseDuration(period_text);
    if (!d) return BadValue(Q(text) + ": bad period: " + d.error().message());
    per = *d;
  }
  if (per <= std::chrono::seconds(0)) return BadValue(Q(text) + ": the period must be positive");
  if (per > std::chrono::days(1)) return BadValue(Q(text) + ": the period must be at most 1d");
  return Rate{static_cast<uint32_t>(*count), per};
}

std::string FormatRate(const Rate& rate) {
  std::string out = std::to_string(rate.count) + "/";
  switch (rate.per.count()) {
    case 1: return out + "s";
    case 60: return out + "min";
    case 3600: return out + "h";
    case 86400: return out + "d";
    default: return out + FormatDuration(rate.per);
  }
}

Result<HostPort> ParseHostPort(std::string_view text) {
  constexpr std::string_view kHint = " (use HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)";
  HostPort hp;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return BadValue(Q(text) + " is not an address" + std::string(kHint));
    }
    std::string_view host = text.substr(1, close - 1);
    if (!IsIpv6(host)) return BadValue(Q(text) + ": " + Q(host) + " is not an IPv6 address");
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return BadValue(Q(text) + " has no port" + std::string(kHint));
    }
    hp.host = std::string(host);
    port_text = rest.substr(1);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return BadValue(Q(text) + " has no port" + std::string(kHint));
    }
    std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return BadValue(Q(text) + ": IPv6 addresses go in brackets, e.g. [::1]:8080");
    }
    if (host.empty()) {
      return BadValue(Q(text) + " has no host (use 0.0.0.0 or [::] for every interface)");
    }
    if (!IsIpv4(host) && !IsHostName(host)) {
      return BadValue(Q(text) + ": " + Q(host) + " is neither an IP address nor a host name");
    }
    hp.host = std::string(host);
    port_text = text.substr(colon + 1);
  }
  std::optional<uint64_t> port = ParseDecimal(port_text, 65535);
  if (!port) return BadValue(Q(text) + ": the port must be a number from 0 to 65535");
  hp.port = static_cast<uint16_t>(*port);
  return hp;
}

std::string FormatHostPort(const HostPort& hp) {
  bool v6 = hp.host.find(':') != std::string::npos;
  return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

Status CheckAddressOrCidr(std::string_view text) {
  size_t slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  int max_prefix = 0;
  if (IsIpv4(addr)) {
    max_prefix = 32;
  } else if (IsIpv6(addr)) {
    max_prefix = 128;
  } else {
    return BadValue(Q(text) + " is not an IP address or CIDR range (e.g. 10.0.0.1, 10.0.0.0/8, "
                    "fd00::/8)");
  }
  if (slash != std::string_view::npos &&
      !ParseDecimal(text.substr(slash + 1), static_cast<uint64_t>(max_prefix))) {
    return BadValue(Q(text) + ": the prefix length must be a number from 0 to " +
                    std::to_string(max_prefix));
  }
  return Status::Ok();
}

namespace {

// What follows the first of `schemes` that `text` starts with, or nullopt when none does.
std::optional<std::string_view> AfterScheme(std::string_view text,
                                            std::initializer_list<std::string_view> schemes) {
  for (std::string_view scheme : schemes) {
    if (text.starts_with(scheme)) return text.substr(scheme.size());
  }
  return std::nullopt;
}

}  // namespace

Status CheckOrigin(std::string_view text) {
  // An allow-list entry "*" or "null" would let any site, or any sandboxed page, send
  // cookie-authenticated writes: exactly what the Origin check exists to stop (CSRF).
  if (text == "*" || text == "null") {
    return BadValue(Q(text) + " is not allowed; list each origin, e.g. \"https://app.example\"");
  }
  const auto after = AfterScheme(text, {"https://", "http://"});
  if (!after) {
    return BadValue(Q(text) + " is not an origin (use http:// or https:// and a host, e.g. "
                    "\"https://app.example\")");
  }
  const std::string_view rest = *after;
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return BadValue(Q(text) + " is not an origin: no path, query or trailing slash (browsers "
                    "send \"https://app.example\")");
  }
  if (!IsHostAndPort(rest)) {
    return BadValue(Q(text) + " is not an origin: bad host or port");
  }
  return Status::Ok();
}

Status CheckIssuer(std::string_view text) {
  const auto after = AfterScheme(text, {"https://", "http://"});
  if (!after) return BadValue(Q(text) + " is not an http(s) URL");
  const std::string_view rest = *after;
  if (text.find_first_of("?#") != std::string_view::npos) {
    return BadValue(Q(text) + ": an issuer has no query or fragment");
  }
  if (HasSpaceOrControl(text)) return BadValue(Q(text) + " contains spaces or control characters");
  if (!IsHostAndPort(rest.substr(0, rest.find('/')))) {
    return BadValue(Q(text) + ": bad host or port");
  }
  return Status::Ok();
}

Status CheckCookieName(std::string_view name) {
  if (name.empty()) return BadValue("the name must not be empty");
  if (name.size() > 256) return BadValue("the name must be at most 256 characters");
  constexpr std::string_view kSeparators = "()<>@,;:\\\"/[]?={}";
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || kSeparators.find(static_cast<char>(c)) != std::string::npos) {
      return BadValue(Q(name) + " is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)");
    }
  }
  return Status::Ok();
}

Status CheckRedisUrl(std::string_view url) {
  const auto after =
      AfterScheme(url, {"redis://", "rediss://", "redis+sentinel://", "rediss+sentinel://",
                        "redis+cluster://", "rediss+cluster://"});
  if (!after) {
    return BadValue(Q(RedactUrl(url)) +
                    " is not a redis://, rediss://, redis+sentinel://, rediss+sentinel://, "
                    "redis+cluster:// or rediss+cluster:// URL");
  }
  const std::string_view rest = *after;
  if (HasSpaceOrControl(url)) {
    return BadValue(Q(RedactUrl(url)) + " contains spaces or control characters");
  }
  // The credentials run to the last '@' (as the client reads them): they may hold '/' or '?'.
  const size_t at = rest.rfind('@');
  const std::string_view hosts = at == std::string_view::npos ? rest : rest.substr(at + 1);
  const std::string_view host = hosts.substr(0, hosts.find_first_of("/?"));
  if (host.empty() || host.front() == ':') {
    return BadValue(Q(RedactUrl(url)) + " has no host (e.g. redis://127.0.0.1:6379/0)");
  }
  if (url.starts_with("redis+sentinel://") || url.starts_with("rediss+sentinel://")) {
    const size_t slash = hosts.find('/');
    if (slash == std::string_view::npos || slash + 1 == hosts.size() || hosts[slash + 1] == '/' ||
        hosts[slash + 1] == '?') {
      return BadValue(Q(RedactUrl(url)) +
                      " names no primary (e.g. redis+sentinel://10.0.0.5:26379,10.0.0.6:26379/"
                      "mymaster/0)");
    }
  }
  return Status::Ok();
}

Status CheckPostgresUrl(std::string_view url) {
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    return BadValue(Q(RedactUrl(url)) + " is not a postgresql:// URL");
  }
  if (HasSpaceOrControl(url)) {
    return BadValue(Q(RedactUrl(url)) + " contains spaces or control characters");
  }
  return Status::Ok();
}

std::string RedactUrl(std::string_view url) {
  constexpr std::string_view kRedacted = "REDACTED";
  std::string out(url);
  // The userinfo runs from after "://" (or "//", or the start, for a mistyped URL) to the last
  // '@': a password containing an unencoded '/' or '@' is still covered. At worst this hides
  // more than the password, never less.
  size_t start = out.find("://");
  if (start != std::string::npos) {
    start += 3;
  } else {
    start = out.find("//");
    start = start == std::string::npos ? 0 : start + 2;
  }
  size_t at = out.rfind('@');
  if (at != std::string::npos && at >= start) {
    size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, kRedacted);
    } else if (out.starts_with("redis")) {
      // "redis://secret@host": a userinfo without ':' is a password, as redis-cli reads it.
      out.replace(start, at - start, kRedacted);
    }
  }
  // libpq also takes the password as a query parameter.
  size_t query = out.find('?');
  while (query != std::string::npos) {
    size_t param = query + 1;
    size_t end = out.find('&', param);
    if (end == std::string::npos) end = out.size();
    const std::string_view pair = std::string_view(out).substr(param, end - param);
    const size_t name = pair.starts_with("password=")            ? 9
                        : pair.starts_with("sentinel_password=") ? 18
                                                                 : 0;
    if (name != 0) {
      size_t value = param + name;
      out.replace(value, end - value, kRedacted);
      end = value + kRedacted.size();
    }
    query = end < out.size() ? end : std::string::npos;
  }
  return out;
}

std::string TomlQuote(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace tessera::config_internal
