// HTTP/1.1 server over Boost.Beast/Asio. The only translation unit that includes Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "http.h"
#include "tessera/result.h"

namespace tessera::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;            // 0: any free port (see bound_port())
  size_t io_threads = 0;           // 0: one per core
  size_t header_limit = 16 * 1024;  // larger headers: 431
  size_t body_limit = 64 * 1024;    // larger bodies: 413
  // To receive a whole request, counted from the moment the server starts waiting for it, so a
  // keep-alive connection that stays silent and a client that trickles a request byte by byte
  // (slowloris) are both closed after this long.
  std::chrono::seconds read_timeout{15};
  size_t max_connections = 10000;          // beyond: closed at accept
  std::chrono::seconds drain_timeout{10};  // graceful stop: how long in-flight requests get
};

class HttpServer {
 public:
  // Binds and listens; REQUIRES: `handler` outlives the server.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   Handler* handler);
  virtual ~HttpServer() = default;

  virtual uint16_t bound_port() const = 0;

  // Serves until SIGINT/SIGTERM or Stop(), then drains: stops accepting, lets in-flight requests
  // finish (up to drain_timeout), closes idle connections. Blocks the calling thread.
  virtual void Run() = 0;
  virtual void Stop() = 0;
};

}  // namespace tessera::server
