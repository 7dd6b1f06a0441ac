#include "store/redis/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <system_error>
#include <tuple>

#include "core/worker_pool.h"

namespace tessera::store::redis {

struct ReplyParser::ObjectBudget {
  size_t left = 0;
  bool exhausted = false;
};

namespace {

using Clock = std::chrono::steady_clock;

Status Unavailable(std::string message) {
  return Status(Code::kUnavailable, Reason::kStore, "redis: " + std::move(message));
}

Status BadUrl(std::string message) {
  return InvalidArgument(Reason::kBadConfig, "redis URL: " + std::move(message));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view s, std::string_view what) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return BadUrl("bad %-escape in " + std::string(what));
    const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return BadUrl("bad %-escape in " + std::string(what));
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

int MillisLeft(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// Waits until `fd` is ready for `events` or the deadline passes.
Status WaitFor(int fd, short events, Clock::time_point deadline, std::string_view what) {
  while (true) {
    const int ms = MillisLeft(deadline);
    if (ms == 0) return Unavailable(std::string(what) + " timed out");
    pollfd p{.fd = fd, .events = events, .revents = 0};
    const int rc = ::poll(&p, 1, ms);
    if (rc > 0) return Status::Ok();
    if (rc == 0) return Unavailable(std::string(what) + " timed out");
    if (errno != EINTR) return Unavailable(std::string(what) + ": " + std::strerror(errno));
  }
}

// hiredis builds our Reply tree directly (no redisReply copy), and every object it creates
// spends one unit of the parser's budget: a server cannot announce or send more elements than the
// reply's byte bound allows (an array header alone may announce 2^31 elements).
using ObjectBudget = ReplyParser::ObjectBudget;

ObjectBudget& BudgetOf(const redisReadTask* task) {
  while (task->parent) task = task->parent;
  return *static_cast<ObjectBudget*>(task->privdata);
}

// Puts `value` where the task says: the root is a new object (hiredis hands it back from
// redisReaderGetReply, or to FreeObject); a child goes into its parent's elements, in order. A
// pointer to a child stays valid while hiredis uses it: a parent only grows once the child
// before is complete.
void* Place(const redisReadTask* task, Reply value) {
  ObjectBudget& budget = BudgetOf(task);
  if (budget.left == 0) {
    budget.exhausted = true;
    return nullptr;  // hiredis reports an error and frees the root
  }
  --budget.left;
  if (!task->parent) return new (std::nothrow) Reply(std::move(value));
  auto* parent = static_cast<Reply*>(task->parent->obj);
  parent->elements.push_back(std::move(value));
  return &parent->elements.back();
}

void* CreateString(const redisReadTask* task, char* str, size_t len) {
  Reply r;
  r.type = task->type == REDIS_REPLY_ERROR    ? Reply::Type::kError
           : task->type == REDIS_REPLY_STATUS ? Reply::Type::kStatus
                                              : Reply::Type::kString;
  r.str.assign(str, len);
  return Place(task, std::move(r));
}

void* CreateArray(const redisReadTask* task, int elements) {
  // An announcement that could never fit is refused before any element arrives; the elements
  // pay for themselves as they do. Nothing is reserved beyond what a legitimate reply needs.
  const size_t n = elements > 0 ? static_cast<size_t>(elements) : 0;
  ObjectBudget& budget = BudgetOf(task);
  if (budget.left < n + 1) {
    budget.exhausted = true;
    return nullptr;
  }
  Reply r;
  r.type = Reply::Type::kArray;
  r.elements.reserve(std::min<size_t>(n, 1024));
  return Place(task, std::move(r));
}

void* CreateInteger(const redisReadTask* task, long long value) {
  Reply r;
  r.type = Reply::Type::kInteger;
  r.integer = value;
  return Place(task, std::move(r));
}

void* CreateNil(const redisReadTask* task) { return Place(task, Reply{}); }

void FreeObject(void* root) { delete static_cast<Reply*>(root); }

redisReplyObjectFunctions kObjectFunctions = {CreateString, CreateArray, CreateInteger, CreateNil,
                                              FreeObject};

// RESP for one command (hiredis's formatter).
Result<std::string> Format(const std::vector<std::string_view>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (std::string_view a : argv) {
    ptrs.push_back(a.data() ? a.data() : "");
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n =
      redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  if (n < 0 || !cmd) return Status(Code::kInternal, Reason::kNone, "redis: cannot format command");
  std::string out(cmd, static_cast<size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

// OpenSSL writes to the socket with write(2), which raises SIGPIPE on a connection the server
// reset, and SIGPIPE ends the process. While `io` runs, SIGPIPE is blocked on this thread; one it
// raised is taken off the thread's pending set before the mask comes back (the error itself
// still reaches the caller as EPIPE).
template <typename F>
int NoSigpipe(F&& io) {
  sigset_t pipe, old;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  const int rc = io();
  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGPIPE) && !sigismember(&old, SIGPIPE)) {
    const timespec zero{0, 0};
    sigtimedwait(&pipe, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return rc;
}

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

namespace {

// host[:port], [v6]:port; `fallback` when no port is given.
Result<HostPort> ParseHostPort(std::string_view text, uint16_t fallback) {
  HostPort out{.host = {}, .port = fallback};
  std::string_view port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return BadUrl("unclosed [ in a host");
    out.host = std::string(text.substr(1, close - 1));
    std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return BadUrl("unexpected characters after a host");
      port = after.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = text.rfind(':');
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = text.substr(colon + 1);
      has_port = true;
    }
  }
  if (out.host.empty()) return BadUrl("no host");
  if (has_port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return BadUrl("the port must be a number from 1 to 65535");
    }
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

Result<int> ParseDb(std::string_view text) {
  int db = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
  if (ec != std::errc() || end != text.data() + text.size() || db < 0 || db > 15) {
    return BadUrl("the database must be a number from 0 to 15");
  }
  return db;
}

}  // namespace

Result<Endpoint> ParseUrl(std::string_view url) {
  Endpoint e;
  std::string_view rest;
  enum class Kind { kServer, kSentinel, kCluster };
  Kind kind = Kind::kServer;
  bool matched = false;
  for (auto [scheme, tls, k] :
       {std::tuple{std::string_view("redis://"), false, Kind::kServer},
        std::tuple{std::string_view("rediss://"), true, Kind::kServer},
        std::tuple{std::string_view("redis+sentinel://"), false, Kind::kSentinel},
        std::tuple{std::string_view("rediss+sentinel://"), true, Kind::kSentinel},
        std::tuple{std::string_view("redis+cluster://"), false, Kind::kCluster},
        std::tuple{std::string_view("rediss+cluster://"), true, Kind::kCluster}}) {
    if (url.starts_with(scheme)) {
      rest = url.substr(scheme.size());
      e.tls = tls;
      kind = k;
      matched = true;
      break;
    }
  }
  if (!matched) {
    return BadUrl(
        "must start with redis://, rediss://, redis+sentinel://, rediss+sentinel://, "
        "redis+cluster:// or rediss+cluster://");
  }
  const bool sentinel = kind == Kind::kSentinel;
  // The credentials first, up to the last '@': a password may hold '/', '?' or '#' unescaped,
  // and nothing of it may reach an error message.
  std::string_view userinfo;
  bool has_userinfo = false;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    has_userinfo = true;
  }
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  bool has_path = false;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    has_path = true;
  }
  if (has_userinfo) {
    // "user:password", ":password" (the default user) or, as redis-cli reads it, "password".
    std::string_view user, password = userinfo;
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      password = userinfo.substr(colon + 1);
    }
    TESSERA_ASSIGN_OR_RETURN(e.user, PercentDecode(user, "the user name"));
    TESSERA_ASSIGN_OR_RETURN(e.password, PercentDecode(password, "the password"));
  }
  if (sentinel) {
    // host[:port],host[:port].../master[/db]
    while (true) {
      const size_t comma = rest.find(',');
      TESSERA_ASSIGN_OR_RETURN(HostPort s, ParseHostPort(rest.substr(0, comma), 26379));
      e.sentinels.push_back(std::move(s));
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
    const size_t slash = path.find('/');
    TESSERA_ASSIGN_OR_RETURN(e.master, PercentDecode(path.substr(0, slash), "the master name"));
    if (e.master.empty()) {
      return BadUrl("name the primary the sentinels monitor: redis+sentinel://HOST:PORT/NAME");
    }
    if (slash != std::string_view::npos) {
      TESSERA_ASSIGN_OR_RETURN(e.db, ParseDb(path.substr(slash + 1)));
    }
    e.host.clear();
    e.port = 0;
  } else if (kind == Kind::kCluster) {
    // host[:port],host[:port]...[/0]
    while (true) {
      const size_t comma = rest.find(',');
      TESSERA_ASSIGN_OR_RETURN(HostPort s, ParseHostPort(rest.substr(0, comma), 6379));
      e.cluster_seeds.push_back(std::move(s));
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
    if (has_path && !path.empty()) {
      TESSERA_ASSIGN_OR_RETURN(e.db, ParseDb(path));
      if (e.db != 0) return BadUrl("a Redis Cluster has only database 0");
    }
    e.host = e.cluster_seeds.front().host;
    e.port = e.cluster_seeds.front().port;
  } else {
    TESSERA_ASSIGN_OR_RETURN(HostPort where, ParseHostPort(rest, 6379));
    e.host = std::move(where.host);
    e.port = where.port;
    if (has_path && !path.empty()) {
      TESSERA_ASSIGN_OR_RETURN(e.db, ParseDb(path));
    }
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (key == "ca_file" && e.tls) {
      TESSERA_ASSIGN_OR_RETURN(e.ca_file, PercentDecode(value, "ca_file"));
    } else if (key == "ca_file") {
      return BadUrl("ca_file needs rediss://, rediss+sentinel:// or rediss+cluster://");
    } else if ((key == "sentinel_user" || key == "sentinel_password") && !sentinel) {
      return BadUrl(std::string(key) + " needs redis+sentinel://");
    } else if (key == "wait_replicas") {
      int n = -1;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < 0 || n > 16) {
        return BadUrl("wait_replicas must be a number from 0 to 16");
      }
      e.wait_replicas = n;
    } else if (key == "sentinel_user") {
      TESSERA_ASSIGN_OR_RETURN(e.sentinel_user, PercentDecode(value, "sentinel_user"));
    } else if (key == "sentinel_password") {
      TESSERA_ASSIGN_OR_RETURN(e.sentinel_password, PercentDecode(value, "sentinel_password"));
    } else {
      // Named only when it is a plain word: never echo text that could be part of a secret.
      const bool word =
          !key.empty() && key.size() <= 32 &&
          key.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos;
      return BadUrl(word ? "unknown parameter \"" + std::string(key) + "\"" : "unknown parameter");
    }
  }
  return e;
}

std::string_view Reply::error_kind() const {
  if (type != Type::kError) return {};
  std::string_view s(str);
  return s.substr(0, s.find(' '));
}

// ---- ReplyParser ----------------------------------------------------------------------------

ReplyParser::ReplyParser(size_t max_reply_bytes)
    : reader_(redisReaderCreateWithFunctions(&kObjectFunctions)),
      budget_(std::make_unique<ObjectBudget>()),
      max_bytes_(max_reply_bytes) {
  if (!reader_) throw std::bad_alloc();
  auto* reader = static_cast<redisReader*>(reader_);
  // Keep the buffer between replies: its size is bounded by max_reply_bytes instead.
  reader->maxbuf = 0;
  reader->privdata = budget_.get();
  Refill();
}

ReplyParser::~ReplyParser() { redisReaderFree(static_cast<redisReader*>(reader_)); }

void ReplyParser::Refill() {
  // A legitimate reply spends at least 8 bytes on each element (a session field, a score);
  // a hostile one gets no more objects than that, about 70 bytes each in memory.
  budget_->left = max_bytes_ / 8 + 1;
  budget_->exhausted = false;
}

Status ReplyParser::Feed(std::string_view bytes) {
  buffered_ += bytes.size();
  if (buffered_ > max_bytes_) {
    return Unavailable("a reply larger than " + std::to_string(max_bytes_) + " bytes");
  }
  if (redisReaderFeed(static_cast<redisReader*>(reader_), bytes.data(), bytes.size()) != REDIS_OK) {
    return Unavailable("out of memory reading a reply");
  }
  return Status::Ok();
}

Result<std::optional<Reply>> ReplyParser::Next() {
  auto* reader = static_cast<redisReader*>(reader_);
  void* raw = nullptr;
  if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
    if (budget_->exhausted) return Unavailable("a reply with more elements than its size allows");
    return Unavailable(std::string("the server sent what is not RESP: ") + reader->errstr);
  }
  if (!raw) return std::optional<Reply>();
  std::unique_ptr<Reply> reply(static_cast<Reply*>(raw));
  buffered_ = 0;
  Refill();
  return std::optional<Reply>(std::move(*reply));
}

// ---- Connection -----------------------------------------------------------------------------

struct Connection::Impl {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  std::unique_ptr<ReplyParser> parser;
  ClientOptions options;

  ~Impl() {
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
    if (fd >= 0) ::close(fd);
  }
};

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

Status Connection::Broken(Status s) {
  broken_ = true;
  return s;
}

Result<std::unique_ptr<Connection>> Connection::Open(const Endpoint& endpoint,
                                                     const ClientOptions& options) {
  const auto deadline = Clock::now() + options.connect_timeout;
  const std::string where = endpoint.host + ":" + std::to_string(endpoint.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(endpoint.port);
  if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Unavailable("cannot resolve " + endpoint.host + ": " + gai_strerror(rc));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  Status last = Unavailable("cannot connect to " + where);
  for (addrinfo* a = found; a; a = a->ai_next) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (Status w = WaitFor(fd, POLLOUT, deadline, "connecting to " + where); !w.ok()) {
        ::close(fd);
        last = w;
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc != 0) {
      last = Unavailable("cannot connect to " + where + ": " + std::strerror(errno));
      ::close(fd);
      continue;
    }
    impl->fd = fd;
    break;
  }
  ::freeaddrinfo(found);
  if (impl->fd < 0) return last;
  const int one = 1;
  ::setsockopt(impl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  if (endpoint.tls) {
    impl->ctx = SSL_CTX_new(TLS_client_method());
    if (!impl->ctx) return Unavailable("TLS: " + OpenSslError());
    SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(impl->ctx, SSL_VERIFY_PEER, nullptr);
    const int loaded = endpoint.ca_file.empty() ? SSL_CTX_set_default_verify_paths(impl->ctx)
                                                : SSL_CTX_load_verify_locations(
                                                      impl->ctx, endpoint.ca_file.c_str(), nullptr);
    if (loaded != 1) return Unavailable("TLS: cannot load the CA certificates: " + OpenSslError());
    impl->ssl = SSL_new(impl->ctx);
    if (!impl->ssl) return Unavailable("TLS: " + OpenSslError());
    SSL_set_fd(impl->ssl, impl->fd);
    in6_addr ip6;
    in_addr ip4;
    const bool is_ip = inet_pton(AF_INET, endpoint.host.c_str(), &ip4) == 1 ||
                       inet_pton(AF_INET6, endpoint.host.c_str(), &ip6) == 1;
    // Without the name check any certificate of a trusted CA would do: no check, no connection.
    const bool named =
        is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(impl->ssl), endpoint.host.c_str()) == 1
              : SSL_set_tlsext_host_name(impl->ssl, endpoint.host.c_str()) == 1 &&
                    SSL_set1_host(impl->ssl, endpoint.host.c_str()) == 1;
    if (!named) return Unavailable("TLS: cannot set the name to verify: " + OpenSslError());
    while (true) {
      const int rc = NoSigpipe([&] { return SSL_connect(impl->ssl); });
      if (rc == 1) break;
      const int err = SSL_get_error(impl->ssl, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        TESSERA_RETURN_IF_ERROR(WaitFor(impl->fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                                        deadline, "TLS handshake with " + where));
        continue;
      }
      const long verify = SSL_get_verify_result(impl->ssl);
      if (verify != X509_V_OK) {
        return Unavailable("TLS handshake with " + where + ": certificate not trusted (" +
                           X509_verify_cert_error_string(verify) + ")");
      }
      return Unavailable("TLS handshake with " + where + ": " + OpenSslError());
    }
  }

  impl->parser = std::make_unique<ReplyParser>(options.max_reply_bytes);
  std::unique_ptr<Connection> conn(new Connection(std::move(impl)));
  // AUTH and SELECT run under the command timeout, each.
  if (!endpoint.password.empty()) {
    std::vector<std::string_view> auth = {"AUTH"};
    if (!endpoint.user.empty()) auth.push_back(endpoint.user);
    auth.push_back(endpoint.password);
    TESSERA_ASSIGN_OR_RETURN(Reply r, conn->Command(auth));
    // The reply names no credential; say which user was refused, never the password.
    if (r.is_error()) return Unavailable("AUTH refused for " + where + ": " + r.str);
  }
  if (endpoint.db != 0) {
    const std::string db = std::to_string(endpoint.db);
    TESSERA_ASSIGN_OR_RETURN(Reply r, conn->Command({"SELECT", db}));
    if (r.is_error()) return Unavailable("SELECT " + db + " on " + where + ": " + r.str);
  }
  return conn;
}

Status Connection::Send(const std::string& bytes, Clock::time_point deadline) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    if (impl_->ssl) {
      size_t n = 0;
      const int rc = NoSigpipe(
          [&] { return SSL_write_ex(impl_->ssl, bytes.data() + sent, bytes.size() - sent, &n); });
      if (rc == 1) {
        sent += n;
        continue;
      }
      const int err = SSL_get_error(impl_->ssl, rc);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        return Broken(Unavailable("TLS write: " + OpenSslError()));
      }
      if (Status w = WaitFor(impl_->fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline,
                             "sending a command");
          !w.ok()) {
        return Broken(w);  // half a command may be out: the connection is done
      }
      continue;
    }
    const ssize_t n = ::send(impl_->fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (Status w = WaitFor(impl_->fd, POLLOUT, deadline, "sending a command"); !w.ok()) {
        return Broken(w);
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return Broken(Unavailable(std::string("send: ") + std::strerror(errno)));
    }
  }
  return Status::Ok();
}

Result<Reply> Connection::Read(Clock::time_point deadline) {
  char buf[16384];
  while (true) {
    auto next = impl_->parser->Next();
    if (!next) return Broken(next.error());
    if (*next) return std::move(**next);
    ssize_t n;
    if (impl_->ssl) {
      size_t got = 0;
      const int rc = NoSigpipe([&] { return SSL_read_ex(impl_->ssl, buf, sizeof buf, &got); });
      if (rc == 1) {
        n = static_cast<ssize_t>(got);
      } else {
        const int err = SSL_get_error(impl_->ssl, rc);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
          if (Status w = WaitFor(impl_->fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline,
                                 "waiting for a reply");
              !w.ok()) {
            return Broken(w);
          }
          continue;
        }
        if (err == SSL_ERROR_ZERO_RETURN)
          return Broken(Unavailable("the server closed the connection"));
        return Broken(Unavailable("TLS read: " + OpenSslError()));
      }
    } else {
      n = ::recv(impl_->fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (Status w = WaitFor(impl_->fd, POLLIN, deadline, "waiting for a reply"); !w.ok()) {
          return Broken(w);
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) return Broken(Unavailable("the server closed the connection"));
      if (n < 0) return Broken(Unavailable(std::string("recv: ") + std::strerror(errno)));
    }
    if (Status fed = impl_->parser->Feed(std::string_view(buf, static_cast<size_t>(n)));
        !fed.ok()) {
      return Broken(fed);
    }
  }
}

bool Connection::LooksAlive() {
  if (broken_) return false;
  pollfd p{.fd = impl_->fd, .events = POLLIN, .revents = 0};
  if (::poll(&p, 1, 0) != 0) broken_ = true;  // EOF, an error, or bytes nobody asked for
  return !broken_;
}

// Errors that say this server will not serve us for a while (a replica after a failover, one
// loading its data set, one cut off from its primary): the pool replaces the connection, and the
// next one may reach the new primary.
void Connection::NoteServerState(const Reply& r) {
  const std::string_view kind = r.error_kind();
  if (kind == "READONLY" || kind == "LOADING" || kind == "MASTERDOWN") broken_ = true;
}

Result<Reply> Connection::Command(const std::vector<std::string_view>& argv) {
  return Command(argv, impl_->options.command_timeout);
}

Result<Reply> Connection::Command(const std::vector<std::string_view>& argv,
                                  std::chrono::milliseconds timeout) {
  if (broken_) return Unavailable("connection broken");
  const auto deadline = Clock::now() + timeout;
  TESSERA_ASSIGN_OR_RETURN(std::string bytes, Format(argv));
  TESSERA_RETURN_IF_ERROR(Send(bytes, deadline));
  TESSERA_ASSIGN_OR_RETURN(Reply r, Read(deadline));
  NoteServerState(r);
  return r;
}

Result<std::vector<Reply>> Connection::Pipeline(
    const std::vector<std::vector<std::string_view>>& commands) {
  if (broken_) return Unavailable("connection broken");
  const auto deadline = Clock::now() + impl_->options.command_timeout;
  std::string bytes;
  for (const auto& argv : commands) {
    TESSERA_ASSIGN_OR_RETURN(std::string one, Format(argv));
    bytes += one;
  }
  TESSERA_RETURN_IF_ERROR(Send(bytes, deadline));
  std::vector<Reply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    TESSERA_ASSIGN_OR_RETURN(Reply r, Read(deadline));
    NoteServerState(r);
    out.push_back(std::move(r));
  }
  return out;
}

Status Connection::Write(const std::vector<std::string_view>& argv) {
  if (broken_) return Unavailable("connection broken");
  TESSERA_ASSIGN_OR_RETURN(std::string bytes, Format(argv));
  return Send(bytes, Clock::now() + impl_->options.command_timeout);
}

Result<std::optional<Reply>> Connection::Receive(std::chrono::milliseconds wait, int wake_fd) {
  if (broken_) return Unavailable("connection broken");
  auto buffered = impl_->parser->Next();
  if (!buffered) return Broken(buffered.error());
  if (*buffered) return std::move(*buffered);
  // Bytes OpenSSL has already decrypted are not on the socket any more.
  if (!impl_->ssl || SSL_pending(impl_->ssl) == 0) {
    pollfd p[2] = {{.fd = impl_->fd, .events = POLLIN, .revents = 0},
                   {.fd = wake_fd, .events = POLLIN, .revents = 0}};
    const int rc = ::poll(p, wake_fd >= 0 ? 2 : 1, static_cast<int>(wait.count()));
    if (rc < 0 && errno != EINTR) {
      return Broken(Unavailable(std::string("poll: ") + std::strerror(errno)));
    }
    if (rc <= 0 || (wake_fd >= 0 && p[1].revents != 0) || p[0].revents == 0) {
      return std::optional<Reply>();
    }
  }
  // Something arrived: the rest of it within the command timeout.
  TESSERA_ASSIGN_OR_RETURN(Reply r, Read(Clock::now() + impl_->options.command_timeout));
  return std::optional<Reply>(std::move(r));
}

// ---- Sentinel -------------------------------------------------------------------------------

namespace {

// Sentinel groups by everything that tells them apart; weak, so a group no store uses any more
// stops its watcher.
std::mutex sentinels_mu;
std::map<std::string, std::weak_ptr<Sentinel>> sentinels;  // GUARDED_BY(sentinels_mu)

std::string GroupKey(const Endpoint& e, const ClientOptions& o) {
  std::string key = e.master + '\n' + (e.tls ? "tls" : "plain") + '\n' + e.ca_file + '\n' +
                    e.sentinel_user + '\n' + e.sentinel_password + '\n' +
                    std::to_string(o.connect_timeout.count()) + '\n' +
                    std::to_string(o.command_timeout.count());
  for (const HostPort& s : e.sentinels) key += '\n' + s.host + ':' + std::to_string(s.port);
  return key;
}

std::string Describe(const HostPort& where) {
  return (where.host.find(':') != std::string::npos ? "[" + where.host + "]" : where.host) + ":" +
         std::to_string(where.port);
}

}  // namespace

std::shared_ptr<Sentinel> Sentinel::For(const Endpoint& endpoint, const ClientOptions& options) {
  const std::string key = GroupKey(endpoint, options);
  std::lock_guard lock(sentinels_mu);
  if (auto found = sentinels[key].lock()) return found;
  auto made = std::make_shared<Sentinel>(endpoint, options);
  sentinels[key] = made;
  return made;
}

Sentinel::Sentinel(Endpoint endpoint, ClientOptions options)
    : endpoint_(std::move(endpoint)), options_(options) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  watcher_ = std::thread([this] {
    NameThisThread("tessera-redis");
    Watch();
  });
}

Sentinel::~Sentinel() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
  watcher_.join();
  ::close(wake_fd_);
}

Endpoint Sentinel::SentinelEndpoint(size_t i) const {
  Endpoint e;
  e.host = endpoint_.sentinels[i].host;
  e.port = endpoint_.sentinels[i].port;
  e.tls = endpoint_.tls;
  e.ca_file = endpoint_.ca_file;
  e.user = endpoint_.sentinel_user;
  e.password = endpoint_.sentinel_password;
  return e;
}

uint64_t Sentinel::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void Sentinel::Learn(const HostPort& primary) {
  std::lock_guard lock(mu_);
  if (!(primary == primary_)) {
    primary_ = primary;
    ++generation_;
  }
  known_ = true;
}

void Sentinel::Forget(uint64_t generation) {
  std::lock_guard lock(mu_);
  if (generation == generation_) known_ = false;
}

Result<Sentinel::Found> Sentinel::Primary() {
  {
    std::lock_guard lock(mu_);
    if (known_) return Found{primary_, generation_};
  }
  TESSERA_ASSIGN_OR_RETURN(HostPort primary, Ask());
  Learn(primary);
  std::lock_guard lock(mu_);
  return Found{primary_, generation_};
}

// Each sentinel in turn, starting with the one that answered last, until one names the primary.
Result<HostPort> Sentinel::Ask() {
  const size_t n = endpoint_.sentinels.size();
  size_t first;
  {
    std::lock_guard lock(mu_);
    first = first_;
  }
  Status last = Unavailable("no sentinel answered for " + endpoint_.master);
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (first + k) % n;
    const std::string where = Describe(endpoint_.sentinels[i]);
    auto conn = Connection::Open(SentinelEndpoint(i), options_);
    if (!conn) {
      last = conn.status();
      continue;
    }
    auto r = (*conn)->Command({"SENTINEL", "get-master-addr-by-name", endpoint_.master});
    if (!r) {
      last = r.status();
      continue;
    }
    if (r->is_nil()) {
      last = Unavailable("sentinel " + where + " knows no primary named " + endpoint_.master);
      continue;
    }
    if (r->is_error()) {
      last = Unavailable("sentinel " + where + ": " + r->str);
      continue;
    }
    unsigned port = 0;
    if (r->type != Reply::Type::kArray || r->elements.size() != 2 || r->elements[0].str.empty() ||
        std::from_chars(r->elements[1].str.data(),
                        r->elements[1].str.data() + r->elements[1].str.size(), port)
                .ec != std::errc() ||
        port == 0 || port > 65535) {
      last = Unavailable("sentinel " + where + " sent a malformed address");
      continue;
    }
    std::lock_guard lock(mu_);
    first_ = i;
    return HostPort{.host = r->elements[0].str, .port = static_cast<uint16_t>(port)};
  }
  return last;
}

// Follows +switch-master on one sentinel at a time, as long as the group is in use. Between
// subscriptions (a sentinel down, a connection lost) the primary is asked again, so a failover
// announced meanwhile is not missed. A silent subscription is checked with PING.
void Sentinel::Watch() {
  const size_t n = endpoint_.sentinels.size();
  const auto idle = std::chrono::seconds(5);
  auto stopping = [this] {
    pollfd p{.fd = wake_fd_, .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, 0) > 0;
  };
  auto pause = [this](std::chrono::milliseconds ms) {
    pollfd p{.fd = wake_fd_, .events = POLLIN, .revents = 0};
    ::poll(&p, 1, static_cast<int>(ms.count()));
  };
  std::chrono::milliseconds backoff{100};
  for (size_t i = 0; !stopping(); i = (i + 1) % n) {
    auto conn = Connection::Open(SentinelEndpoint(i), options_);
    if (!conn) {
      if (i + 1 == n) {
        pause(backoff);
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(2));
      }
      continue;
    }
    Connection& c = **conn;
    auto subscribed = c.Command({"SUBSCRIBE", "+switch-master"});
    if (!subscribed || subscribed->is_error()) continue;
    // Anything announced before the subscription took effect is in the answer to this.
    if (auto primary = Ask(); primary) Learn(*primary);
    backoff = std::chrono::milliseconds(100);
    bool pinged = false;
    while (!stopping()) {
      auto got = c.Receive(idle, wake_fd_);
      if (!got) break;
      if (!*got) {
        if (stopping()) return;
        if (pinged) break;  // a whole idle period without even a pong: another sentinel
        if (!c.Write({"PING"}).ok()) break;
        pinged = true;
        continue;
      }
      pinged = false;
      // ["message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"]
      const Reply& m = **got;
      if (m.type != Reply::Type::kArray || m.elements.size() != 3 ||
          m.elements[0].str != "message") {
        continue;  // a pong, or the subscription's confirmation
      }
      std::vector<std::string_view> words;
      std::string_view text = m.elements[2].str;
      while (!text.empty()) {
        const size_t space = text.find(' ');
        words.push_back(text.substr(0, space));
        text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
      }
      unsigned port = 0;
      if (words.size() != 5 || words[0] != endpoint_.master ||
          std::from_chars(words[4].data(), words[4].data() + words[4].size(), port).ec !=
              std::errc() ||
          port == 0 || port > 65535) {
        continue;
      }
      Learn(HostPort{.host = std::string(words[3]), .port = static_cast<uint16_t>(port)});
    }
  }
}

// ---- Pool -----------------------------------------------------------------------------------

Pool::Pool(Endpoint endpoint, ClientOptions options, size_t max_connections)
    : endpoint_(std::move(endpoint)),
      options_(options),
      sentinel_(endpoint_.sentinels.empty() ? nullptr : Sentinel::For(endpoint_, options_)),
      max_(max_connections ? max_connections : 1) {}

bool Pool::Current(const Connection& conn) const {
  return !sentinel_ || conn.generation() == sentinel_->generation();
}

Result<std::unique_ptr<Connection>> Pool::Open() {
  if (!sentinel_) return Connection::Open(endpoint_, options_);
  TESSERA_ASSIGN_OR_RETURN(Sentinel::Found found, sentinel_->Primary());
  Endpoint primary = endpoint_;
  primary.host = found.primary.host;
  primary.port = found.primary.port;
  primary.sentinels.clear();
  auto conn = Connection::Open(primary, options_);
  if (!conn) {
    sentinel_->Forget(found.generation);
    return conn.status();
  }
  // What the sentinels said may be out of date (a failover under way, a demoted primary that
  // came back): only a server that says it is the primary is used.
  auto role = (*conn)->Command({"ROLE"});
  if (!role) {
    sentinel_->Forget(found.generation);
    return role.status();
  }
  if (role->type != Reply::Type::kArray || role->elements.empty() ||
      role->elements[0].str != "master") {
    sentinel_->Forget(found.generation);
    return Unavailable(Describe(found.primary) + " is not the primary of " + endpoint_.master +
                       " (yet); a failover may be under way");
  }
  (*conn)->set_generation(found.generation);
  return conn;
}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (pool_ && conn_) pool_->Release(std::move(conn_));
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  // A connection that broke may have been to a primary that is one no more (READONLY, a
  // failover): the next one is opened to where the sentinels say.
  if (sentinel_ && conn->broken()) sentinel_->Forget(conn->generation());
  std::lock_guard lock(mu_);
  if (conn->broken() || !Current(*conn)) {
    --open_;
  } else {
    idle_.push_back(std::move(conn));
  }
  freed_.notify_one();
}

Result<Pool::Lease> Pool::Acquire() {
  std::unique_lock lock(mu_);
  const auto deadline = Clock::now() + options_.command_timeout;
  while (idle_.empty() && open_ >= max_) {
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= max_) {
      return Status(Code::kUnavailable, Reason::kStoreBusy, "redis: every connection is busy");
    }
  }
  while (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    // Closed by the server while idle (a restart, its timeout), or to a primary the sentinels
    // have replaced (which may still look alive, frozen): open a new one.
    if (Current(*conn) && conn->LooksAlive()) return Lease(this, std::move(conn));
    --open_;
  }
  ++open_;
  lock.unlock();
  auto conn = Open();
  if (!conn) {
    lock.lock();
    --open_;
    freed_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

Result<Reply> Pool::Command(const std::vector<std::string_view>& argv, bool idempotent) {
  for (int attempt = 0;; ++attempt) {
    TESSERA_ASSIGN_OR_RETURN(Lease lease, Acquire());
    const auto started = Clock::now();
    auto reply = lease->Command(argv);
    if (reply || !lease->broken() || !idempotent || attempt > 0) return reply;
    // A pooled connection that the server closed while idle (a restart, a timeout) fails at once:
    // once more, on a fresh one. A command that failed only after waiting most of its timeout
    // met a server that does not answer; a second wait would only double the caller's (a
    // frozen Redis must cost a request one timeout, not two).
    if (Clock::now() - started >= options_.command_timeout / 2) return reply;
  }
}

// ---- Script ---------------------------------------------------------------------------------

Script::Script(std::string source, bool writes) : source_(std::move(source)), writes_(writes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(source_.data(), source_.size(), digest, &n, EVP_sha1(), nullptr);
  sha1_ = Hex(std::string_view(reinterpret_cast<const char*>(digest), n));
}

Result<Reply> Script::Run(Connection& conn, const std::vector<std::string_view>& keys,
                          const std::vector<std::string_view>& args) const {
  const std::string numkeys = std::to_string(keys.size());
  std::vector<std::string_view> argv = {"EVALSHA", sha1_, numkeys};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  TESSERA_ASSIGN_OR_RETURN(Reply r, conn.Command(argv));
  if (r.error_kind() != "NOSCRIPT") return r;
  TESSERA_ASSIGN_OR_RETURN(Reply loaded, conn.Command({"SCRIPT", "LOAD", source_}));
  if (loaded.is_error()) return Unavailable("SCRIPT LOAD: " + loaded.str);
  return conn.Command(argv);
}

}  // namespace tessera::store::redis

// ---- Cluster --------------------------------------------------------------------------------

namespace tessera::store::redis {

uint16_t SlotOf(std::string_view key) {
  if (const size_t open = key.find('{'); open != std::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  // CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as the cluster specification gives.
  uint16_t crc = 0;
  for (const char c : key) {
    crc ^= static_cast<uint16_t>(static_cast<uint8_t>(c)) << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc & 16383;
}

namespace {

constexpr int kSlots = 16384;
// How many redirects one command follows before giving up (a map that keeps changing).
constexpr int kMaxRedirects = 5;
// At most one refresh of the map in this time, however many commands find it stale.
constexpr auto kRefreshInterval = std::chrono::milliseconds(100);

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": the slot's new node.
std::optional<HostPort> RedirectTarget(std::string_view error) {
  const size_t last_space = error.rfind(' ');
  if (last_space == std::string_view::npos) return std::nullopt;
  const std::string_view where = error.substr(last_space + 1);
  const size_t colon = where.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;  // an empty host: the node asked
  uint16_t port = 0;
  const std::string_view digits = where.substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || port == 0) return std::nullopt;
  std::string_view host = where.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return HostPort{std::string(host), port};
}

}  // namespace

struct Cluster::Node {
  HostPort where;
  std::unique_ptr<Pool> pool;
  // When a connection to it last failed (never: the epoch): asked for the map after the others.
  std::chrono::steady_clock::time_point failed{};  // GUARDED_BY(Cluster::mu_)
};

Cluster::Cluster(Endpoint endpoint, ClientOptions options, size_t pool_size)
    : endpoint_(std::move(endpoint)),
      options_(options),
      pool_size_(pool_size),
      slots_(kSlots, -1) {}

Cluster::~Cluster() = default;

Endpoint Cluster::NodeEndpoint(const HostPort& where) const {
  Endpoint e = endpoint_;
  e.host = where.host;
  e.port = where.port;
  e.cluster_seeds.clear();
  return e;
}

int Cluster::NodeIndex(const HostPort& where) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->where == where) return static_cast<int>(i);
  }
  auto node = std::make_unique<Node>();
  node->where = where;
  node->pool = std::make_unique<Pool>(NodeEndpoint(where), options_, pool_size_);
  nodes_.push_back(std::move(node));
  return static_cast<int>(nodes_.size() - 1);
}

void Cluster::MarkStale(Node* failed) {
  std::lock_guard lock(mu_);
  stale_ = true;
  if (failed) failed->failed = std::chrono::steady_clock::now();
}

Status Cluster::Refresh() {
  std::lock_guard one(refresh_mu_);
  return RefreshLocked();
}

Status Cluster::RefreshIfStale(bool wait) {
  // One refresh at a time; unless told to wait for it, the others go on with the map they have
  // meanwhile (a refresh that meets dead nodes may take their connect timeouts).
  std::unique_lock one(refresh_mu_, std::defer_lock);
  if (wait) {
    one.lock();
  } else if (!one.try_lock()) {
    return Status::Ok();
  }
  {
    // Another thread may have refreshed while this one waited for refresh_mu_.
    std::lock_guard lock(mu_);
    if (!stale_ || std::chrono::steady_clock::now() - refreshed_ < kRefreshInterval) {
      return Status::Ok();
    }
  }
  return RefreshLocked();
}

Status Cluster::RefreshLocked() {
  // Asked of the nodes known (the map's own, most likely up to date; those that failed last,
  // last), then of the seeds.
  std::vector<HostPort> candidates;
  {
    std::lock_guard lock(mu_);
    std::vector<const Node*> known;
    for (const auto& n : nodes_) known.push_back(n.get());
    std::stable_sort(known.begin(), known.end(),
                     [](const Node* a, const Node* b) { return a->failed < b->failed; });
    for (const Node* n : known) candidates.push_back(n->where);
    refreshed_ = std::chrono::steady_clock::now();
  }
  for (const HostPort& s : endpoint_.cluster_seeds) {
    if (std::find(candidates.begin(), candidates.end(), s) == candidates.end()) {
      candidates.push_back(s);
    }
  }
  Status last = Unavailable("no node of the cluster answered");
  for (const HostPort& where : candidates) {
    auto conn = Connection::Open(NodeEndpoint(where), options_);
    if (!conn) {
      last = conn.status();
      continue;
    }
    auto r = (*conn)->Command({"CLUSTER", "SLOTS"});
    if (!r) {
      last = r.status();
      continue;
    }
    if (r->is_error()) {
      last = Unavailable("CLUSTER SLOTS at " + Describe(where) + ": " + r->str);
      continue;
    }
    // [[start, end, [host, port, id...], replicas...]...]
    std::vector<std::pair<std::pair<int64_t, int64_t>, HostPort>> ranges;
    bool malformed = r->type != Reply::Type::kArray;
    for (const Reply& range : r->elements) {
      if (range.type != Reply::Type::kArray || range.elements.size() < 3 ||
          range.elements[0].type != Reply::Type::kInteger ||
          range.elements[1].type != Reply::Type::kInteger ||
          range.elements[2].type != Reply::Type::kArray || range.elements[2].elements.size() < 2 ||
          range.elements[2].elements[0].type != Reply::Type::kString ||
          range.elements[2].elements[1].type != Reply::Type::kInteger) {
        malformed = true;
        break;
      }
      const int64_t from = range.elements[0].integer, to = range.elements[1].integer;
      const int64_t port = range.elements[2].elements[1].integer;
      if (from < 0 || to >= kSlots || from > to || port <= 0 || port > 65535) {
        malformed = true;
        break;
      }
      // An empty or "?" host: the node did not say; it is the one we asked.
      std::string host = range.elements[2].elements[0].str;
      if (host.empty() || host == "?") host = where.host;
      ranges.push_back({{from, to}, HostPort{std::move(host), static_cast<uint16_t>(port)}});
    }
    if (malformed) {
      last = Unavailable("CLUSTER SLOTS at " + Describe(where) + ": an unexpected reply");
      continue;
    }
    if (ranges.empty()) {  // a node reset, or not yet part of the cluster
      last = Unavailable("CLUSTER SLOTS at " + Describe(where) + ": no slot is served");
      continue;
    }
    std::lock_guard lock(mu_);
    refreshed_ = std::chrono::steady_clock::now();
    std::fill(slots_.begin(), slots_.end(), -1);
    for (const auto& [range, primary] : ranges) {
      std::fill(slots_.begin() + range.first, slots_.begin() + range.second + 1,
                NodeIndex(primary));
    }
    stale_ = false;
    return Status::Ok();
  }
  std::lock_guard lock(mu_);
  refreshed_ = std::chrono::steady_clock::now();  // the next try waits its interval from here
  return last;
}

Result<Cluster::Node*> Cluster::NodeFor(uint16_t slot) {
  bool refresh = false, known = false;
  {
    std::lock_guard lock(mu_);
    refresh = stale_ && std::chrono::steady_clock::now() - refreshed_ >= kRefreshInterval;
    known = slots_[slot] >= 0;
  }
  if (refresh) {
    // With no node known for the slot (the first command), wait for a refresh under way.
    if (Status s = RefreshIfStale(/*wait=*/!known); !s.ok()) {
      // Serve from the map we have, if any: the nodes it names may still answer.
      std::lock_guard lock(mu_);
      if (slots_[slot] < 0) return s;
    }
  }
  std::lock_guard lock(mu_);
  const int index = slots_[slot];
  if (index < 0) {
    stale_ = true;
    return Unavailable("no node of the cluster serves slot " + std::to_string(slot));
  }
  return nodes_[static_cast<size_t>(index)].get();
}

Result<Reply> Cluster::Run(uint16_t slot, const std::function<Result<Reply>(Connection&)>& fn,
                           bool follow_ask) {
  const auto deadline = std::chrono::steady_clock::now() + options_.command_timeout;
  constexpr auto kPause = std::chrono::milliseconds(20);
  std::optional<HostPort> ask;  // one command there, behind ASKING
  for (int redirect = 0; redirect <= kMaxRedirects; ++redirect) {
    Node* node = nullptr;
    if (ask) {
      std::lock_guard lock(mu_);
      node = nodes_[static_cast<size_t>(NodeIndex(*ask))].get();
    } else {
      TESSERA_ASSIGN_OR_RETURN(node, NodeFor(slot));
    }
    auto lease = node->pool->Acquire();
    if (!lease) {
      // Refused or unreachable: perhaps a failed primary whose replica has taken over. (Not
      // when every connection of the pool is merely in use.)
      if (lease.status().reason() != Reason::kStoreBusy) MarkStale(node);
      return lease.status();
    }
    if (ask) {
      ask.reset();
      TESSERA_ASSIGN_OR_RETURN(Reply asking, (*lease)->Command({"ASKING"}));
      if (asking.is_error()) return asking;
    }
    auto reply = fn(**lease);
    if (!reply) {
      // A node that does not answer may have been replaced by its replica: ask for the map.
      if ((*lease)->broken()) MarkStale(node);
      return reply;
    }
    const std::string_view kind = reply->error_kind();
    if (kind == "MOVED") {
      auto target = RedirectTarget(reply->str);
      if (!target) return Unavailable("an unreadable redirect: " + reply->str);
      if (target->host.empty()) target->host = node->where.host;  // "MOVED 3999 :6381"
      {
        std::lock_guard lock(mu_);
        slots_[slot] = NodeIndex(*target);
        stale_ = true;  // more than this slot has probably moved
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      continue;
    }
    // ASK (the key has moved, its slot is being migrated) is followed for one command on one
    // key, as the cluster specification intends. Not for scripts and for several commands in a
    // row: during a migration the slot's keys are on both nodes, and a script that computes its
    // keys (what the stores run) would see only part of them on either side. They wait until
    // the migration ends and the old node answers MOVED, as TRYAGAIN (a command on several
    // keys during a migration) does.
    if (kind == "ASK" && follow_ask) {
      ask = RedirectTarget(reply->str);
      if (!ask) return Unavailable("an unreadable redirect: " + reply->str);
      if (ask->host.empty()) ask->host = node->where.host;
      if (std::chrono::steady_clock::now() >= deadline) break;
      continue;
    }
    if (kind == "ASK" || kind == "TRYAGAIN") {
      if (std::chrono::steady_clock::now() + kPause >= deadline) {
        return Status(Code::kUnavailable, Reason::kStore,
                      "redis: slot " + std::to_string(slot) + " is being migrated");
      }
      std::this_thread::sleep_for(kPause);
      --redirect;  // a pause, not a redirect
      continue;
    }
    if (kind == "CLUSTERDOWN") MarkStale();
    return reply;
  }
  return Unavailable("slot " + std::to_string(slot) + " kept moving (" +
                     std::to_string(kMaxRedirects) + " redirects)");
}

Result<std::unique_ptr<Connection>> Cluster::Open(uint16_t slot) {
  TESSERA_ASSIGN_OR_RETURN(Node * node, NodeFor(slot));
  auto conn = node->pool->Open();
  if (!conn) MarkStale(node);
  return conn;
}

// ---- Router ---------------------------------------------------------------------------------

Router::Router(Endpoint endpoint, ClientOptions options, size_t pool_size)
    : endpoint_(std::move(endpoint)), options_(options) {
  if (endpoint_.cluster_seeds.empty()) {
    pool_ = std::make_unique<Pool>(endpoint_, options_, pool_size);
  } else {
    cluster_ = std::make_unique<Cluster>(endpoint_, options_, pool_size);
  }
}

Result<Reply> Router::Run(std::string_view key,
                          const std::function<Result<Reply>(Connection&)>& fn) {
  if (cluster_) return cluster_->Run(SlotOf(key), fn);
  TESSERA_ASSIGN_OR_RETURN(Pool::Lease lease, pool_->Acquire());
  return fn(*lease);
}

Result<Reply> Router::Command(std::string_view key, const std::vector<std::string_view>& argv,
                              bool idempotent) {
  if (!cluster_) return pool_->Command(argv, idempotent);
  for (int attempt = 0;; ++attempt) {
    bool broke_at_once = false;
    auto reply = cluster_->Run(
        SlotOf(key),
        [&](Connection& conn) -> Result<Reply> {
          const auto started = std::chrono::steady_clock::now();
          auto r = conn.Command(argv);
          broke_at_once = !r && conn.broken() &&
                          std::chrono::steady_clock::now() - started < options_.command_timeout / 2;
          return r;
        },
        /*follow_ask=*/true);
    // As Pool::Command: once more on a fresh connection, for a read that met a connection the
    // server had closed (a restarted node, or a failover the map learns of now).
    if (reply || !broke_at_once || !idempotent || attempt > 0) return reply;
  }
}

Result<std::unique_ptr<Connection>> Router::Open(std::string_view key) {
  if (cluster_) return cluster_->Open(SlotOf(key));
  return pool_->Open();
}

}  // namespace tessera::store::redis
