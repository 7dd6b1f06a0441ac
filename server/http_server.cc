// Boost.Beast/Asio I/O: accept, (TLS handshake,) read with limits and timeouts, hand the request to
// the Handler, post its response back to the connection's strand, write, keep alive or close.
//
// A connection is a template over its stream (plain TCP or TLS over TCP), so the plain path pays
// nothing for TLS: no virtual call and no TLS check per read or write.
#include "http_server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <thread>
#include <type_traits>

#include "core/worker_pool.h"
#include "responses.h"
#include "serialize.h"
#include "tls_context.h"

namespace tessera::server {
namespace {

using namespace std::string_view_literals;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

class Server;

// Room in the read buffer beyond header_limit, for the start of a body or the next pipelined
// request read along with a head; also the longest chunk header or trailer section accepted.
constexpr size_t kReadSlack = 8 * 1024;
// What the whole message may take beyond header_limit + body_limit: chunk sizes, extensions and
// trailers.
constexpr size_t kFramingSlack = 16 * 1024;

template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `stream_args` complete the stream's constructor after the socket: the TLS context for TLS.
  template <class... StreamArgs>
  Connection(Server* server, tcp::socket socket, StreamArgs&... stream_args);
  ~Connection();
  void Start();

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }
  void Handshake();
  // `fresh_deadline`: the request gets a whole read_timeout; false for the first request on a
  // TLS connection, which shares the handshake's.
  void Read(bool fresh_deadline);
  // One read and parse step; the request is read in such steps so that its size is counted as
  // it arrives (see OnReadSome).
  void ReadSome();
  void OnReadSome(beast::error_code ec, size_t consumed);
  void OnRead(beast::error_code ec);
  void Respond(HttpResponse response);
  // Answers a request refused before it was read whole, telling the handler (Handler::Refused)
  // what was read of it: its method, target and fields when `head_read`, else nothing.
  void Refuse(HttpResponse response, bool head_read);
  void Write(HttpResponse response);
  // An orderly close (after a response with Connection: close, or the peer's end of stream):
  // with TLS, send close_notify first, waiting at most tls_shutdown_timeout for the answer.
  void Shutdown();
  // After an answer to a request that was not read whole (413, 431, 400), the client may still be
  // sending. Closing with unread data makes the kernel reset the connection, and the reset can
  // destroy the answer before the client reads it. So: half-close, discard what still arrives
  // (at most 4 MiB, 2 s), then close, as nginx's lingering_close does. Plain TCP only; with TLS
  // the close_notify exchange plays that part.
  void Linger();
  void Discard();
  // Drops the socket at once (after an I/O or TLS error, where no orderly close is possible).
  void Abort() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Tcp().close();
  }

  Stream stream_;
  // What has arrived and is not parsed yet. Bounded (header_limit + kReadSlack): no single
  // element the parser must hold whole (a header line, a chunk header with its extensions, the
  // trailer section) can grow past it; one that would is refused (buffer_overflow).
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  size_t head_bytes_ = 0;     // bytes of this request's head parsed so far
  size_t message_bytes_ = 0;  // bytes of this request parsed so far, framing included
  bool head_done_ = false;
  // Fields of the head. Beast adds a chunked body's trailer fields to the same list after them;
  // those are not headers (RFC 9110 section 6.5.1: a recipient may discard them) and the handler
  // never sees them, so a trailer cannot supply a Cookie, an Authorization or an Origin that the
  // head did not have.
  size_t head_fields_ = 0;
  Server* server_;
  std::string peer_ip_;
  bool keep_alive_ = false;
  bool head_ = false;       // the request is HEAD: the answer goes without its body
  bool http10_ = false;     // the request was HTTP/1.0: keep-alive must be said explicitly
  bool in_flight_ = false;  // this connection's request counts in server_->in_flight
  bool linger_ = false;     // the request was refused unread: linger before closing
  size_t discarded_ = 0;
  std::unique_ptr<char[]> discard_;  // allocated only to linger
  // The serialised response being written; its capacity is kept for the next one, so a
  // keep-alive connection stops allocating for responses after its first.
  std::string out_;
};

class Server final : public HttpServer {
 public:
  Server(const HttpServerOptions& options, Handler* handler, std::unique_ptr<ssl::context> tls)
      : options_(options),
        threads_(options.io_threads ? options.io_threads : UsableCpus()),
        handler_(handler),
        tls_(std::move(tls)),
        ioc_(threads_ == 1 ? 1 : BOOST_ASIO_CONCURRENCY_HINT_DEFAULT),
        acceptor_(ioc_),
        signals_(ioc_, SIGINT, SIGTERM),
        drain_timer_(ioc_),
        accept_pause_(ioc_) {
    // At once, not in Run(): `tessera serve` reports ready before Run(), and a reload
    // (SIGHUP) that arrives in between must not meet SIGHUP's default action, which ends the
    // process.
    if (options_.on_hangup) signals_.add(SIGHUP);
  }

  Status Listen() {
    beast::error_code ec;
    const auto address = net::ip::make_address(options_.host, ec);
    if (ec) return Status(Code::kInvalidArgument, Reason::kBadConfig, "bad listen address");
    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status(Code::kUnavailable, Reason::kIo,
                    "cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                        ": " + ec.message());
    }
    return Status::Ok();
  }

  uint16_t bound_port() const override {
    beast::error_code ec;
    return acceptor_.local_endpoint(ec).port();
  }

  void Run() override {
    Accept();
    WaitForSignal();
    std::vector<std::thread> threads;
    for (size_t i = 1; i < threads_; ++i) {
      threads.emplace_back([this] {
        NameThisThread("tessera-io");
        RunLoop();
      });
    }
    RunLoop();
    for (auto& t : threads) t.join();
  }

  // The event loop of one I/O thread. An exception out of a handler (Beast or the standard
  // library throwing on input nothing else caught) costs the connection it came from, whose
  // handler is unwound and which closes, never the process: the loop goes on.
  void RunLoop() {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "tessera: a connection was dropped after an internal error: %s\n",
                     e.what());
      }
    }
  }

  // SIGINT/SIGTERM stop the server; SIGHUP (when on_hangup is set) calls it and waits again.
  void WaitForSignal() {
    signals_.async_wait([this](beast::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        WaitForSignal();  // first: whatever on_hangup does, SIGTERM still stops the server
        return options_.on_hangup();
      }
      Stop();
    });
  }

  void Stop() override {
    net::post(ioc_, [this] {
      if (draining_.exchange(true)) return;
      beast::error_code ignored;
      acceptor_.close(ignored);
      signals_.cancel(ignored);
      drain_deadline_ = std::chrono::steady_clock::now() + options_.drain_timeout;
      if (options_.on_drain) options_.on_drain();
      WaitForDrain();
    });
  }

  const HttpServerOptions& options() const { return options_; }
  Handler* handler() { return handler_; }
  bool draining() const { return draining_.load(); }
  std::atomic<size_t> connections{0};
  // Requests read and not yet answered on the wire (counted until their response is written).
  std::atomic<size_t> in_flight{0};

 private:
  // Each connection's handlers run one at a time: on a strand of its own when several threads
  // run the loop, and on the loop itself when one does (no strand to allocate, reference-count
  // and go through on every step of every request).
  net::any_io_executor ConnectionExecutor() {
    if (threads_ == 1) return ioc_.get_executor();
    return net::make_strand(ioc_);
  }

  void Accept() {
    acceptor_.async_accept(ConnectionExecutor(), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (!acceptor_.is_open()) return;  // stopping
        // Out of file descriptors (or a similar transient failure): accepting again at once
        // would spin; pause briefly so existing connections can finish and free some.
        accept_pause_.expires_after(std::chrono::milliseconds(50));
        accept_pause_.async_wait([this](beast::error_code) { Accept(); });
        return;
      }
      // Accepting goes on whatever happens to this connection (an exception out of its
      // construction reaches RunLoop, which must not find the listener stopped).
      Accept();
      if (connections.load() >= options_.max_connections) {
        // Over the cap: refuse this one rather than let it starve the others.
        beast::error_code ignored;
        s.close(ignored);
      } else if (tls_) {
        std::make_shared<Connection<TlsStream>>(this, std::move(s), *tls_)->Start();
      } else {
        std::make_shared<Connection<PlainStream>>(this, std::move(s))->Start();
      }
    });
  }

  // Idle keep-alive connections are not waited for; requests being handled are, until the
  // deadline. Then the loop stops and every remaining connection is closed.
  void WaitForDrain() {
    if (in_flight.load() == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
      ioc_.stop();
      return;
    }
    drain_timer_.expires_after(std::chrono::milliseconds(20));
    drain_timer_.async_wait([this](beast::error_code) { WaitForDrain(); });
  }

  HttpServerOptions options_;
  size_t threads_;  // running ioc_
  Handler* handler_;
  std::unique_ptr<ssl::context> tls_;  // null: plain HTTP. Outlives every connection (ioc_).
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::steady_timer drain_timer_;
  net::steady_timer accept_pause_;
  std::atomic<bool> draining_{false};
  std::chrono::steady_clock::time_point drain_deadline_;
};

template <class Stream>
template <class... StreamArgs>
Connection<Stream>::Connection(Server* server, tcp::socket socket, StreamArgs&... stream_args)
    : stream_(std::move(socket), stream_args...),
      buffer_(server->options().header_limit + kReadSlack),
      server_(server) {
  server_->connections.fetch_add(1);
  beast::error_code ec;
  const auto peer = Tcp().socket().remote_endpoint(ec);
  if (!ec) peer_ip_ = peer.address().to_string();
}

template <class Stream>
Connection<Stream>::~Connection() {
  // A connection dropped while its request was in flight (an exception unwound it) must not
  // keep a graceful stop waiting for it.
  if (in_flight_) server_->in_flight.fetch_sub(1);
  server_->connections.fetch_sub(1);
}

template <class Stream>
void Connection<Stream>::Start() {
  net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
    if constexpr (kTls) {
      self->Handshake();
    } else {
      self->Read(/*fresh_deadline=*/true);
    }
  });
}

template <class Stream>
void Connection<Stream>::Handshake() {
  // The handshake counts against the first request's read_timeout: a client that connects and
  // never completes it (or trickles it) is dropped like a slowloris, and holds only a socket and
  // a timer meanwhile, never a thread.
  Tcp().expires_after(server_->options().read_timeout);
  stream_.async_handshake(ssl::stream_base::server,
                          [self = this->shared_from_this()](beast::error_code ec) {
                            // Plain HTTP on the TLS port, garbage, TLS 1.1 or older, a cipher or
                            // timeout failure: nothing to answer, drop this connection quietly.
                            if (ec) return self->Abort();
                            self->Read(/*fresh_deadline=*/false);
                          });
}

template <class Stream>
void Connection<Stream>::Read(bool fresh_deadline) {
  if (server_->draining()) return Shutdown();
  parser_.emplace();
  // Beast's own header limit counts only what one parse step sees, so a head that arrives in
  // pieces could grow without bound under it: it stays as a backstop, and OnReadSome counts the
  // whole head.
  parser_->header_limit(static_cast<std::uint32_t>(server_->options().header_limit));
  parser_->body_limit(server_->options().body_limit);
  head_bytes_ = 0;
  message_bytes_ = 0;
  head_done_ = false;
  head_fields_ = 0;
  head_ = false;
  if (fresh_deadline) Tcp().expires_after(server_->options().read_timeout);
  ReadSome();
}

template <class Stream>
void Connection<Stream>::ReadSome() {
  http::async_read_some(stream_, buffer_, *parser_,
                        [self = this->shared_from_this()](beast::error_code ec, size_t consumed) {
                          self->OnReadSome(ec, consumed);
                        });
}

// The parser stops after the head (it is not eager), so the head's size is exact: a head of
// header_limit bytes is read, one more is 431. The whole message, chunk sizes, extensions and
// trailers included, may take body_limit plus kFramingSlack beyond the head: a body sent in
// absurdly small chunks, or with long extensions, is refused as too large.
template <class Stream>
void Connection<Stream>::OnReadSome(beast::error_code ec, size_t consumed) {
  if (ec) return OnRead(ec);
  const HttpServerOptions& o = server_->options();
  message_bytes_ += consumed;
  if (!head_done_) {
    // Until the head is done every byte parsed is the head's, those of the step that ends it too.
    head_bytes_ += consumed;
    if (head_bytes_ > o.header_limit) return OnRead(http::error::header_limit);
    head_done_ = parser_->is_header_done();
    if (head_done_) {
      const auto& fields = parser_->get();
      head_fields_ = static_cast<size_t>(std::distance(fields.begin(), fields.end()));
    }
  }
  if (message_bytes_ > o.header_limit + o.body_limit + kFramingSlack) {
    return OnRead(http::error::body_limit);
  }
  if (!parser_->is_done()) return ReadSome();
  OnRead({});
}

// An answer the App never sees (the request could not be read): its headers are set here.
HttpResponse ErrorResponse(int status, const char* code, const char* description) {
  return Error(status, code, description)
      .Set("X-Content-Type-Options", "nosniff")
      .Set("Cache-Control", "no-store");
}

template <class Stream>
void Connection<Stream>::OnRead(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == net::error::eof) return Shutdown();
  if (ec == beast::error::timeout) return Abort();
  keep_alive_ = false;  // after any read error the stream position is unknown: answer and close
  linger_ = true;
  // The error answers HEAD without a body when the request line said HEAD, and whatever the last
  // request on this connection was.
  head_ = parser_->get().method() == http::verb::head;
  if (ec == http::error::header_limit) {
    return Refuse(ErrorResponse(431, "invalid_request", "request headers too large"), false);
  }
  if (ec == http::error::body_limit) {
    // Raised once the head is read (its Content-Length, or the body as it arrives).
    return Refuse(ErrorResponse(413, "invalid_request", "request body too large"), true);
  }
  if (ec == http::error::buffer_overflow) {
    // One element longer than the read buffer: a header line, or a chunk header or trailer.
    return parser_->is_header_done()
               ? Refuse(ErrorResponse(413, "invalid_request", "request body too large"), true)
               : Refuse(ErrorResponse(431, "invalid_request", "request headers too large"), false);
  }
  if (ec) {
    if (ec.category() == http::make_error_code(http::error::bad_target).category() ||
        ec == http::error::partial_message) {
      return Refuse(ErrorResponse(400, "invalid_request", "malformed HTTP request"),
                    parser_->is_header_done());
    }
    return Abort();  // reset, TLS record error, truncation without close_notify
  }
  http::request<http::string_body> msg = parser_->release();
  keep_alive_ = msg.keep_alive();
  head_ = msg.method() == http::verb::head;
  http10_ = msg.version() == 10;
  HttpRequest request;
  request.method = std::string(msg.method_string());
  request.target = std::string(msg.target());
  request.peer_ip = peer_ip_;
  request.headers.reserve(16);
  size_t index = 0;
  for (const auto& field : msg) {
    if (index++ == head_fields_) break;  // the rest are trailer fields
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(msg.body());
  server_->in_flight.fetch_add(1);
  in_flight_ = true;
  Tcp().expires_never();  // the handler may take a while (password hashing); no read pending
  server_->handler()->Handle(std::move(request), [self = this->shared_from_this()](HttpResponse r) {
    self->Respond(std::move(r));
  });
}

template <class Stream>
void Connection<Stream>::Refuse(HttpResponse response, bool head_read) {
  HttpRequest partial;
  partial.peer_ip = peer_ip_;
  if (head_read) {
    const auto& head = parser_->get();
    partial.method = std::string(head.method_string());
    partial.target = std::string(head.target());
    // A head refused as it completed (a Content-Length over the limit) was not counted yet; no
    // trailer can have followed it.
    const size_t fields = head_done_ ? head_fields_
                                     : static_cast<size_t>(std::distance(head.begin(), head.end()));
    size_t index = 0;
    for (const auto& field : head) {
      if (index++ == fields) break;  // the rest are trailer fields
      partial.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
  }
  server_->handler()->Refused(partial, response);
  Write(std::move(response));
}

template <class Stream>
void Connection<Stream>::Respond(HttpResponse response) {
  // Handlers may answer from a worker thread: hop back onto this connection's strand. A handler
  // that answered at once is already on it, and dispatch then writes without a queue round trip.
  net::dispatch(stream_.get_executor(),
                [self = this->shared_from_this(), r = std::move(response)]() mutable {
                  self->Write(std::move(r));
                });
}

template <class Stream>
void Connection<Stream>::Write(HttpResponse response) {
  // One buffer, one write: Beast's serializer walks a chain of buffer views per field, which cost
  // more than the whole answer to /v1/auth (see bench/http/notes.md).
  const bool keep_alive = keep_alive_ && !server_->draining();
  Serialize(response, head_, keep_alive, http10_, out_);
  Tcp().expires_after(server_->options().read_timeout);  // a client that never reads
  net::async_write(stream_, net::buffer(out_),
                    [self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                      // The request stays in flight until its answer is written (or failed), so
                      // a drain does not stop the loop with a response still being sent.
                      if (self->in_flight_) {
                        self->in_flight_ = false;
                        self->server_->in_flight.fetch_sub(1);
                      }
                      if (ec) return self->Abort();
                      // An idle connection keeps a small buffer, not its largest answer.
                      if (self->out_.capacity() > 64 * 1024) std::string().swap(self->out_);
                      if (!keep_alive) return self->Shutdown();
                      self->Read(/*fresh_deadline=*/true);
                    });
}

template <class Stream>
void Connection<Stream>::Linger() {
  beast::error_code ignored;
  Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
  Tcp().expires_after(std::chrono::seconds(2));
  discard_ = std::make_unique<char[]>(16 * 1024);
  Discard();
}

template <class Stream>
void Connection<Stream>::Discard() {
  Tcp().async_read_some(net::buffer(discard_.get(), 16 * 1024),
                        [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                          self->discarded_ += n;
                          if (ec || self->discarded_ > (4u << 20)) return self->Abort();
                          self->Discard();
                        });
}

template <class Stream>
void Connection<Stream>::Shutdown() {
  if constexpr (!kTls) {
    if (linger_) return Linger();
  }
  if constexpr (kTls) {
    // close_notify tells the client the response was complete (no truncation attack); a peer
    // that never answers it costs at most tls_shutdown_timeout, then the socket goes anyway.
    Tcp().expires_after(server_->options().tls_shutdown_timeout);
    stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->Abort(); });
  } else {
    Abort();
  }
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      Handler* handler) {
  std::unique_ptr<ssl::context> tls;
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    TESSERA_ASSIGN_OR_RETURN(SslCtxPtr native,
                             MakeTlsServerContext(options.tls_cert_file, options.tls_key_file));
    tls = std::make_unique<ssl::context>(native.release());  // the context owns it from here
  }
  auto server = std::make_unique<Server>(options, handler, std::move(tls));
  TESSERA_RETURN_IF_ERROR(server->Listen());
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace tessera::server
