// orders-service: a small HTTP service that accepts tessera's access tokens, to show
// token::Verifier in use (README.md next to this file explains how to run it).
//
//   GET /orders   200 {"user","username","orders":[...]} for a valid bearer token, else 401;
//                 503 while the revocation list followed from tessera is not known current
//   GET /healthz  200 {"status":"ok", "revocations":{...}}; 503 while that list is not current
//
// With --client-id (one of tessera's token.clients), it follows tessera's revocations
// (GET /v1/revocations): a logout, "sign out everywhere" or an admin action is refused here
// within milliseconds, still with no call to tessera per request.
//
// The HTTP side is Boost.Beast's plain asynchronous server: a few threads run one io_context,
// each connection reads one request at a time under a deadline and size limits, and Handle()
// maps a request to a response without touching a socket. Verification runs inline: it is a
// signature check (or a cache hit) and never waits for the network, not even when a token names
// a key this service has not fetched yet (right after a rotation): that token gets a 401 at once
// while the keys are refetched in the background, and the client's retry passes.

// clang-format off
#include <utility>  // before Asio: Boost 1.74's asio/awaitable.hpp uses std::exchange unincluded
// clang-format on

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tessera/token/verifier.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using tessera::token::AccessToken;
using tessera::token::Verifier;

Response JsonResponse(http::status status, const json& body) {
  Response res(status, 11);
  res.set(http::field::content_type, "application/json");
  // The answers are about one user: no shared cache may keep them (RFC 9111 section 5.2.2.5).
  res.set(http::field::cache_control, "no-store");
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return res;
}

// 401 as RFC 6750 section 3 puts it, and as tessera answers: the challenge names the error only
// when a token was sent; the client learns "invalid_token" and nothing more (why goes to our log).
Response Unauthorized(bool had_credentials) {
  Response res =
      JsonResponse(http::status::unauthorized,
                   {{"error", "invalid_token"},
                    {"error_description", had_credentials ? "the access token is not valid"
                                                          : "an access token is required"}});
  res.set(http::field::www_authenticate, had_credentials
                                             ? R"(Bearer realm="orders", error="invalid_token")"
                                             : R"(Bearer realm="orders")");
  return res;
}

// Made up, but stable per user: a real service would look them up by `sub`.
json OrdersOf(const std::string& sub) {
  size_t seed = std::hash<std::string>{}(sub) % 9000 + 1000;
  return json::array(
      {{{"id", "ord-" + std::to_string(seed)}, {"item", "espresso beans, 1 kg"}, {"quantity", 2}},
       {{"id", "ord-" + std::to_string(seed + 1)}, {"item", "milk frother"}, {"quantity", 1}}});
}

// 503 with the reason: the client may retry; nothing about the token was decided.
Response Unavailable(std::string_view reason) {
  Response res = JsonResponse(http::status::service_unavailable,
                              {{"error", "unavailable"}, {"error_description", reason}});
  res.set(http::field::retry_after, "1");
  return res;
}

Response Health(const Verifier& verifier) {
  json body = {{"status", "ok"}};
  if (const auto* feed = verifier.revocation_subscription()) {
    const tessera::token::RevocationHealth h = feed->health();
    body["revocations"] = {{"current", h.current},
                           {"confirmed_ms_ago", h.confirmed_ms_ago},
                           {"entries", h.entries},
                           {"answers", h.answers},
                           {"failures", h.failures},
                           {"snapshots", h.snapshots},
                           {"last_error", h.last_status.ok() ? "" : h.last_status.message()}};
    if (!h.current) {
      body["status"] = "unavailable";
      return JsonResponse(http::status::service_unavailable, body);
    }
  }
  return JsonResponse(http::status::ok, body);
}

Response Handle(const Request& req, const Verifier& verifier) {
  if (req.target() == "/healthz" && req.method() == http::verb::get) return Health(verifier);
  if (req.target() != "/orders") {
    return JsonResponse(http::status::not_found, {{"error", "not_found"}});
  }
  if (req.method() != http::verb::get) {
    Response res =
        JsonResponse(http::status::method_not_allowed, {{"error", "method_not_allowed"}});
    res.set(http::field::allow, "GET");
    return res;
  }
  auto authorization = req.find(http::field::authorization);
  if (authorization == req.end()) return Unauthorized(false);
  AccessToken who;
  beast::string_view value = authorization->value();
  auto token = tessera::token::BearerToken(std::string_view(value.data(), value.size()));
  tessera::Status status = token ? verifier.Verify(*token, &who) : token.error();
  if (status.code() == tessera::Code::kUnavailable) {
    // Fail closed: the revocation list is not known current, so the token may belong to a
    // session that ended. Not a 401: the client's token may well be good.
    return Unavailable(tessera::ReasonName(status.reason()));
  }
  if (!status.ok()) {
    // The reason, never the token: a log is not a place for credentials.
    std::fprintf(stderr, "orders-service: 401 GET /orders: %s\n",
                 std::string(tessera::ReasonName(status.reason())).c_str());
    return Unauthorized(true);
  }
  return JsonResponse(
      http::status::ok,
      {{"user", who.sub}, {"username", who.username}, {"orders", OrdersOf(who.sub)}});
}

// One connection: read a request, answer it, repeat while the client keeps the connection alive.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, const Verifier& verifier)
      : stream_(std::move(socket)), verifier_(verifier) {}

  void Read() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);  // bounds what a client can make us buffer
    parser_->body_limit(4 * 1024);
    stream_.expires_after(std::chrono::seconds(30));  // a silent client cannot hold us forever
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Close();  // end of stream, timeout, over a limit
                       self->Respond();
                     });
  }

 private:
  void Respond() {
    const Request& req = parser_->get();
    auto res = std::make_shared<Response>(Handle(req, verifier_));
    res->keep_alive(req.keep_alive());
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const Verifier& verifier_;
};

void Accept(tcp::acceptor& acceptor, const Verifier& verifier) {
  // Each connection gets its own strand: its handlers never run at the same time.
  acceptor.async_accept(net::make_strand(acceptor.get_executor()),
                        [&acceptor, &verifier](beast::error_code ec, tcp::socket socket) {
                          if (ec == net::error::operation_aborted) return;
                          if (!ec)
                            std::make_shared<Connection>(std::move(socket), verifier)->Read();
                          Accept(acceptor, verifier);
                        });
}

// "HOST:PORT" or "[V6]:PORT".
bool ParseListen(const std::string& text, tcp::endpoint* out) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(host, ec);
  unsigned long port = 0;
  try {
    port = std::stoul(text.substr(colon + 1));
  } catch (const std::exception&) {
    return false;
  }
  if (ec || port > 65535) return false;
  *out = tcp::endpoint(address, static_cast<unsigned short>(port));
  return true;
}

int Run(int argc, char** argv) {
  CLI::App app{"orders-service: an example service that accepts tessera's access tokens"};
  std::string listen = "127.0.0.1:8081";
  tessera::token::VerifierOptions options;
  int64_t jwks_refresh = 0;
  int threads = 4;
  app.add_option("--listen", listen, "HOST:PORT to listen on; port 0 picks a free one")
      ->capture_default_str();
  app.add_option("--issuer", options.issuer,
                 "tessera's issuer URL (its token.issuer), e.g. http://127.0.0.1:8080")
      ->required();
  app.add_option("--audience", options.audience, "the audience tokens must name")
      ->capture_default_str();
  app.add_option("--jwks", options.jwks_url,
                 "the JWKS URL; default: from <issuer>/.well-known/openid-configuration");
  app.add_option("--ca-file", options.fetch.ca_file, "PEM CA certificates for an https issuer");
  app.add_option("--jwks-refresh", jwks_refresh,
                 "refetch the keys every N seconds, whatever Cache-Control says")
      ->check(CLI::Range(1, 86400));
  std::string client_secret_file;
  app.add_option("--client-id", options.subscribe.client_id,
                 "follow tessera's revocations (GET /v1/revocations) as this client of its "
                 "token.clients");
  app.add_option("--client-secret-file", client_secret_file,
                 "a file holding that client's secret (or set ORDERS_CLIENT_SECRET)");
  app.add_option("--revocations", options.subscribe.url,
                 "the revocation feed URL; default: from the discovery document");
  app.add_option("--revocation-staleness-ms", options.subscribe.max_staleness_ms,
                 "refuse every token (503) when the revocation list was last confirmed current "
                 "longer ago than this")
      ->capture_default_str();
  app.add_option("--threads", threads, "I/O threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  tcp::endpoint endpoint;
  if (!ParseListen(listen, &endpoint)) {
    std::fprintf(stderr, "orders-service: --listen wants HOST:PORT, not \"%s\"\n", listen.c_str());
    return 2;
  }
  if (!options.subscribe.client_id.empty()) {
    // A secret on the command line would show in ps and shell histories: a file or the
    // environment.
    if (!client_secret_file.empty()) {
      std::ifstream in(client_secret_file);
      if (!std::getline(in, options.subscribe.client_secret)) {
        std::fprintf(stderr, "orders-service: cannot read %s\n", client_secret_file.c_str());
        return 2;
      }
    } else if (const char* env = std::getenv("ORDERS_CLIENT_SECRET")) {
      options.subscribe.client_secret = env;
    }
  }
  if (jwks_refresh > 0) {
    options.fetch.min_refresh_seconds = options.fetch.max_refresh_seconds =
        options.fetch.default_refresh_seconds = jwks_refresh;
  }

  // Fetches the keys (and with --client-id loads the revocation list) now: without them the
  // service would reject everyone (or accept tokens of ended sessions), so it does not start.
  auto verifier = Verifier::Create(std::move(options));
  if (!verifier) {
    std::fprintf(stderr, "orders-service: %s\n", verifier.error().ToString().c_str());
    return 1;
  }

  net::io_context ioc;
  tcp::acceptor acceptor(ioc);
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "orders-service: cannot listen on %s: %s\n", listen.c_str(),
                 ec.message().c_str());
    return 1;
  }
  Accept(acceptor, **verifier);
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });

  tcp::endpoint bound = acceptor.local_endpoint();
  std::string host = bound.address().to_string();
  if (bound.address().is_v6()) host = "[" + host + "]";
  std::printf("orders-service: listening on http://%s:%u\n", host.c_str(), bound.port());
  std::fflush(stdout);

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (std::thread& t : pool) t.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Exceptions stop at the process boundary (docs/design.md, "Errors"): Asio reports setup failures this way.
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orders-service: %s\n", e.what());
    return 1;
  }
}
