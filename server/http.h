// The HTTP types handlers see: plain structs, no Beast, so handlers are pure functions of a
// request that tests can call without a socket.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer_ip;  // the TCP peer

  // The first header with this name (case-insensitive), or empty.
  std::string_view Header(std::string_view name) const;
  // Every value of a header (e.g. Cookie may come several times).
  std::vector<std::string_view> Headers(std::string_view name) const;
  std::string_view Path() const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  HttpResponse& Set(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

using Responder = std::function<void(HttpResponse)>;

// Handles one request and calls `respond` exactly once, on any thread (slow work runs on a
// worker pool and answers from there).
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void Handle(HttpRequest request, Responder respond) = 0;
  // A request the server refused before handing it over (malformed, or its head or body over the
  // limits), with what was read of it (method, target and fields only when its head was
  // complete; peer_ip always) and the answer sent. For the metrics and the access log: called on
  // an I/O thread, it must not block.
  virtual void Refused(const HttpRequest& /*partial*/, const HttpResponse& /*answer*/) {}
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace tessera::server
