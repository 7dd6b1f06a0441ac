// HTTP/1.1 server, plain or over TLS, on Boost.Beast/Asio. http_server.cc is the only translation
// unit that includes Beast or Asio (ssl included).
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <string>

#include "http.h"
#include "tessera/result.h"

namespace tessera::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;            // 0: any free port (see bound_port())
  size_t io_threads = 0;           // 0: one per usable CPU (UsableCpus())
  size_t header_limit = 16 * 1024;  // larger headers: 431
  size_t body_limit = 64 * 1024;    // larger bodies: 413
  // To receive a whole request, counted from the moment the server starts waiting for it, so a
  // keep-alive connection that stays silent and a client that trickles a request byte by byte
  // (slowloris) are both closed after this long.
  std::chrono::seconds read_timeout{15};
  size_t max_connections = 10000;          // beyond: closed at accept
  std::chrono::seconds drain_timeout{10};  // graceful stop: how long in-flight requests get
  // Called once when the graceful stop begins, on an I/O thread (must not block): answer what
  // is only waiting (the long polls of GET /v1/revocations), so the stop need not wait for it.
  std::function<void()> on_drain;
  // Called on SIGHUP, on an I/O thread (must not block for long), when set: `tessera serve`
  // reopens its log files (after logrotate). Unset: SIGHUP keeps its default action.
  std::function<void()> on_hangup;

  // HTTPS (server.tls_cert, server.tls_key): a PEM file holding the certificate chain, leaf
  // first, and a PEM file holding its unencrypted private key. Both empty: plain HTTP. Start()
  // loads both and fails, naming the config key and the file, when either is missing or
  // unreadable, when the key file is readable or writable by other users (mode 0600 or 0640
  // expected), when the key is encrypted, or when it does not match the certificate.
  // TLS 1.2 and 1.3 only, ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2, no compression,
  // no renegotiation, no session tickets.
  std::string tls_cert_file;
  std::string tls_key_file;
  // With TLS: how long closing a connection waits for the peer's close_notify before it drops
  // the socket anyway.
  std::chrono::seconds tls_shutdown_timeout{2};
};

class HttpServer {
 public:
  // Loads the TLS credentials when configured, then binds and listens. Errors: kInvalidArgument
  // (kBadConfig) for TLS files, naming the config key; kUnavailable when it cannot listen.
  // REQUIRES: `handler` outlives the server.
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
