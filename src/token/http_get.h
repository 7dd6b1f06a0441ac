// One HTTP(S) GET for the keys a verifier fetches (remote_jwks.cc), and the checks on the URLs it
// fetches from. This is the only file pair that includes libcurl.
//
// Strict on purpose: the answer decides which signatures a service accepts, so anything unusual
// is a failure, never a guess. TLS peers are always verified (chain and host name), redirects are
// never followed (a 3xx is a failure like any other non-200), only http and https are spoken, the
// body is capped, and the connection and the whole exchange have deadlines.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/result.h"

namespace tessera::token {

struct HttpGetOptions {
  // PEM file of CA certificates to trust instead of the system's store; empty: the system's.
  std::string ca_file;
  int64_t connect_timeout_ms = 2000;
  // The whole exchange: connect, TLS, request, response.
  int64_t total_timeout_ms = 5000;
  // A larger body fails the request (an announced Content-Length before reading anything).
  size_t max_body_bytes = 1 << 20;
  // When not null and it turns true, the request gives up (kUnavailable): curl looks at it at
  // least about once a second, also while nothing arrives. For an owner that is shutting down.
  const std::atomic<bool>* cancel = nullptr;
  // The Accept field sent.
  std::string accept = "application/jwk-set+json, application/json";
  // An Authorization field value to send (client credentials); empty: none. Never echoed in an
  // error message.
  std::string authorization;
  // When set, any final status is returned (HttpGetResponse::status) with its body, for callers
  // that read error answers; redirects are still not followed.
  bool any_status = false;
};

struct HttpGetResponse {
  long status = 200;
  std::string body;
  std::string cache_control;  // every Cache-Control field line, joined by ", "; empty when none
};

// GETs `url` and returns a 200 response (any response with options.any_status). Otherwise kUnavailable (reason kIo: no connection,
// timeout, TLS failure, any other status) or kResourceExhausted (kTooLarge). Messages name the URL
// and what went wrong, never the body. Thread-safe: each call has its own handle.
Result<HttpGetResponse> HttpGet(const std::string& url, const HttpGetOptions& options);

// OK when a verifier may fetch keys from `url`: http or https, a host, no user name or password
// (credentials in a URL end up in logs and error messages), and plain http only to a loopback
// host unless `allow_plain_http`: keys fetched in clear text over a network can be replaced by
// anyone on the path, who could then sign tokens this service accepts.
Status CheckKeyUrl(std::string_view url, bool allow_plain_http);

// A URL member of the issuer's discovery document (OpenID Connect Discovery 1.0 section 4):
// GET <issuer>/.well-known/openid-configuration, whose "issuer" must equal `issuer` exactly
// (section 4.3: a document naming another issuer describes another issuer's keys and endpoints:
// a misrouted proxy, a mix-up), then its string member `member`, checked by CheckKeyUrl.
Result<std::string> DiscoverUrl(const std::string& issuer, std::string_view member,
                                const HttpGetOptions& options, bool allow_plain_http);

// The freshness lifetime a Cache-Control value gives (RFC 9111 section 5.2.2): its max-age; 0 for
// no-store, no-cache or an invalid max-age; nullopt when it says nothing about freshness.
std::optional<int64_t> CacheMaxAge(std::string_view cache_control);

}  // namespace tessera::token
