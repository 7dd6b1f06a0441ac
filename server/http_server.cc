// Boost.Beast/Asio I/O: accept, read with limits and timeouts, hand the request to the Handler,
// post its response back to the connection's strand, write, keep alive or close.
#include "http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <optional>
#include <thread>

namespace tessera::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class Server;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Server* server);
  ~Connection();
  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

 private:
  void Read();
  void OnRead(beast::error_code ec);
  void Respond(HttpResponse response);
  void Write(HttpResponse response);
  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Server* server_;
  std::string peer_ip_;
  bool keep_alive_ = false;
  bool head_ = false;
};

class Server final : public HttpServer {
 public:
  Server(const HttpServerOptions& options, Handler* handler)
      : options_(options), handler_(handler), acceptor_(ioc_), signals_(ioc_, SIGINT, SIGTERM),
        drain_timer_(ioc_), accept_pause_(ioc_) {}

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
    signals_.async_wait([this](beast::error_code ec, int) {
      if (!ec) Stop();
    });
    size_t n = options_.io_threads ? options_.io_threads : std::thread::hardware_concurrency();
    if (n == 0) n = 1;
    std::vector<std::thread> threads;
    for (size_t i = 1; i < n; ++i) threads.emplace_back([this] { ioc_.run(); });
    ioc_.run();
    for (auto& t : threads) t.join();
  }

  void Stop() override {
    net::post(ioc_, [this] {
      if (draining_.exchange(true)) return;
      beast::error_code ignored;
      acceptor_.close(ignored);
      signals_.cancel(ignored);
      drain_deadline_ = std::chrono::steady_clock::now() + options_.drain_timeout;
      WaitForDrain();
    });
  }

  const HttpServerOptions& options() const { return options_; }
  Handler* handler() { return handler_; }
  bool draining() const { return draining_.load(); }
  std::atomic<size_t> connections{0};
  std::atomic<size_t> in_flight{0};

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (!acceptor_.is_open()) return;  // stopping
        // Out of file descriptors (or a similar transient failure): accepting again at once
        // would spin; pause briefly so existing connections can finish and free some.
        accept_pause_.expires_after(std::chrono::milliseconds(50));
        accept_pause_.async_wait([this](beast::error_code) { Accept(); });
        return;
      }
      if (connections.load() >= options_.max_connections) {
        // Over the cap: refuse this one rather than let it starve the others.
        beast::error_code ignored;
        s.close(ignored);
      } else {
        std::make_shared<Connection>(std::move(s), this)->Start();
      }
      Accept();
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
  Handler* handler_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::steady_timer drain_timer_;
  net::steady_timer accept_pause_;
  std::atomic<bool> draining_{false};
  std::chrono::steady_clock::time_point drain_deadline_;
};

Connection::Connection(tcp::socket socket, Server* server)
    : stream_(std::move(socket)), server_(server) {
  server_->connections.fetch_add(1);
  beast::error_code ec;
  const auto peer = stream_.socket().remote_endpoint(ec);
  if (!ec) peer_ip_ = peer.address().to_string();
}

Connection::~Connection() { server_->connections.fetch_sub(1); }

void Connection::Read() {
  if (server_->draining()) return Close();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(server_->options().header_limit));
  parser_->body_limit(server_->options().body_limit);
  stream_.expires_after(server_->options().read_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
}

HttpResponse ErrorResponse(int status, const char* code, const char* description) {
  HttpResponse r;
  r.status = status;
  r.body = std::string("{\"error\":\"") + code + "\",\"error_description\":\"" + description + "\"}";
  r.Set("Content-Type", "application/json; charset=utf-8");
  r.Set("X-Content-Type-Options", "nosniff");
  r.Set("Cache-Control", "no-store");
  return r;
}

void Connection::OnRead(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == net::error::eof) return Close();
  if (ec == beast::error::timeout) return Close();
  keep_alive_ = false;  // after any read error the stream position is unknown: answer and close
  if (ec == http::error::header_limit) {
    return Write(ErrorResponse(431, "invalid_request", "request headers too large"));
  }
  if (ec == http::error::body_limit) {
    return Write(ErrorResponse(413, "invalid_request", "request body too large"));
  }
  if (ec) {
    if (ec.category() == http::make_error_code(http::error::bad_target).category() ||
        ec == http::error::partial_message) {
      return Write(ErrorResponse(400, "invalid_request", "malformed HTTP request"));
    }
    return Close();
  }
  http::request<http::string_body> msg = parser_->release();
  keep_alive_ = msg.keep_alive();
  head_ = msg.method() == http::verb::head;
  HttpRequest request;
  request.method = std::string(msg.method_string());
  request.target = std::string(msg.target());
  request.peer_ip = peer_ip_;
  request.headers.reserve(16);
  for (const auto& field : msg) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(msg.body());
  server_->in_flight.fetch_add(1);
  stream_.expires_never();  // the handler may take a while (password hashing); no read pending
  server_->handler()->Handle(std::move(request), [self = shared_from_this()](HttpResponse r) {
    self->Respond(std::move(r));
  });
}

void Connection::Respond(HttpResponse response) {
  // Handlers may answer from a worker thread: hop back onto this connection's strand. A handler
  // that answered at once is already on it, and dispatch then writes without a queue round trip.
  net::dispatch(stream_.get_executor(), [self = shared_from_this(), r = std::move(response)]() mutable {
    self->server_->in_flight.fetch_sub(1);
    self->Write(std::move(r));
  });
}

void Connection::Write(HttpResponse response) {
  auto msg = std::make_shared<http::response<http::string_body>>();
  msg->result(static_cast<unsigned>(response.status));
  msg->version(11);
  for (auto& [name, value] : response.headers) msg->insert(name, value);
  const size_t length = response.body.size();
  if (!head_) msg->body() = std::move(response.body);
  msg->content_length(length);  // a HEAD answer announces the GET body's length and sends none
  msg->keep_alive(keep_alive_ && !server_->draining());
  stream_.expires_after(server_->options().read_timeout);  // a client that never reads
  http::async_write(stream_, *msg,
                    [self = shared_from_this(), msg](beast::error_code ec, size_t) {
                      if (ec || !msg->keep_alive()) return self->Close();
                      self->Read();
                    });
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      Handler* handler) {
  auto server = std::make_unique<Server>(options, handler);
  TESSERA_RETURN_IF_ERROR(server->Listen());
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace tessera::server
