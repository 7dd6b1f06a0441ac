#include "request_identity.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace tessera::server {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits "host[:port]" (IPv6 literals bracketed) into a lower-case host and a port, which is
// `default_port` when none is written. False when the port is not a number in 1..65535 or the
// host is empty.
bool SplitHostPort(std::string_view text, uint16_t default_port, std::string* host,
                   uint16_t* port) {
  std::string_view h = text, p;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    h = text.substr(0, close + 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      p = rest.substr(1);
      if (p.empty()) return false;
    }
  } else if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (p.empty()) return false;
  }
  if (h.empty()) return false;
  *host = Lower(h);
  *port = default_port;
  if (!p.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (ec != std::errc() || end != p.data() + p.size() || value == 0 || value > 65535) {
      return false;
    }
    *port = static_cast<uint16_t>(value);
  }
  return true;
}

uint16_t DefaultPort(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

}  // namespace

std::string_view CookieValue(const HttpRequest& r, std::string_view name) {
  for (std::string_view header : r.Headers("Cookie")) {
    while (!header.empty()) {
      const size_t semi = header.find(';');
      std::string_view pair = header.substr(0, semi);
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    }
  }
  return {};
}

bool IsBearerAuthorization(std::string_view authorization) {
  return authorization.size() >= 7 && EqualsIgnoreCase(authorization.substr(0, 7), "bearer ");
}

bool ParseIp(std::string_view text, std::array<unsigned char, 16>* out, bool* v4) {
  if (text.size() > 64) return false;
  char buf[65];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  unsigned char addr4[4];
  if (inet_pton(AF_INET, buf, addr4) == 1) {
    out->fill(0);
    (*out)[10] = (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, addr4, 4);
    *v4 = true;
    return true;
  }
  *v4 = false;
  return inet_pton(AF_INET6, buf, out->data()) == 1;
}

std::optional<IpRange> IpRange::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  IpRange r;
  bool v4 = false;
  if (!ParseIp(text.substr(0, slash), &r.net, &v4)) return std::nullopt;
  r.prefix = v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    std::string_view bits = text.substr(slash + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
    if (ec != std::errc() || end != bits.data() + bits.size() || value < 0 || value > r.prefix) {
      return std::nullopt;
    }
    r.prefix = value;
  }
  if (v4) r.prefix += 96;  // IPv4 ranges apply to the mapped form
  return r;
}

bool IpRange::Contains(std::string_view ip) const {
  std::array<unsigned char, 16> a;
  bool v4;
  if (!ParseIp(ip, &a, &v4)) return false;
  for (int i = 0; i < prefix; ++i) {
    const unsigned char mask = static_cast<unsigned char>(0x80 >> (i % 8));
    if ((a[i / 8] & mask) != (net[i / 8] & mask)) return false;
  }
  return true;
}

std::optional<Origin> Origin::Parse(std::string_view text) {
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  Origin o;
  o.scheme = Lower(text.substr(0, sep));
  if (o.scheme != "http" && o.scheme != "https") return std::nullopt;
  const std::string_view authority = text.substr(sep + 3);
  // An Origin is serialised without path, query, fragment or user info (RFC 6454 section 6.2).
  if (authority.find_first_of("/?#@ ") != std::string_view::npos) return std::nullopt;
  if (!SplitHostPort(authority, DefaultPort(o.scheme), &o.host, &o.port)) return std::nullopt;
  return o;
}

RequestIdentity::RequestIdentity(const Config& config) : tls_(!config.server.tls_cert.empty()) {
  for (const std::string& t : config.server.trusted_proxies) {
    if (auto r = IpRange::Parse(t)) trusted_proxies_.push_back(*r);
  }
  for (const std::string& o : config.server.allowed_origins) {
    if (auto parsed = Origin::Parse(o)) allowed_origins_.push_back(std::move(*parsed));
  }
}

bool RequestIdentity::Trusted(std::string_view ip) const {
  return std::any_of(trusted_proxies_.begin(), trusted_proxies_.end(),
                     [&](const IpRange& r) { return r.Contains(ip); });
}

bool RequestIdentity::PeerTrusted(const HttpRequest& request) const {
  return !trusted_proxies_.empty() && Trusted(request.peer_ip);
}

std::string RequestIdentity::ClientIp(const HttpRequest& request) const {
  // X-Forwarded-For is believed only from a configured proxy; otherwise anyone could choose the
  // address that throttling and the session list record.
  if (!PeerTrusted(request)) return request.peer_ip;
  std::string_view xff = request.Header("X-Forwarded-For");
  // Walk from the right: the nearest hop not in the trusted set is the client.
  while (!xff.empty()) {
    const size_t comma = xff.rfind(',');
    const std::string_view hop =
        Trim(comma == std::string_view::npos ? xff : xff.substr(comma + 1));
    xff = comma == std::string_view::npos ? std::string_view() : xff.substr(0, comma);
    std::array<unsigned char, 16> buf;
    bool v4;
    if (!Trusted(hop) && ParseIp(hop, &buf, &v4)) return std::string(hop);
  }
  return request.peer_ip;
}

std::string_view RequestIdentity::Scheme(const HttpRequest& request) const {
  if (tls_) return "https";
  if (PeerTrusted(request)) {
    const std::string_view proto = Trim(request.Header("X-Forwarded-Proto"));
    if (EqualsIgnoreCase(proto, "https")) return "https";
  }
  return "http";
}

bool RequestIdentity::OriginAllowed(const HttpRequest& request) const {
  const std::string_view header = request.Header("Origin");
  if (header.empty()) {
    // No Origin: a same-origin GET-like navigation or a non-browser client. A browser that says
    // the request is cross-site is believed (Fetch Metadata), even without an Origin.
    return request.Header("Sec-Fetch-Site") != "cross-site";
  }
  const std::optional<Origin> origin = Origin::Parse(header);  // "null" and garbage: refused
  if (!origin) return false;
  if (std::find(allowed_origins_.begin(), allowed_origins_.end(), *origin) !=
      allowed_origins_.end()) {
    return true;
  }
  // tessera's own origin, as this request reached it: the scheme it used and the Host it named.
  Origin self;
  self.scheme = std::string(Scheme(request));
  const std::string_view host = request.Header("Host");
  if (host.empty() || !SplitHostPort(host, DefaultPort(self.scheme), &self.host, &self.port)) {
    return false;
  }
  return *origin == self;
}

}  // namespace tessera::server
