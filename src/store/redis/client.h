// A small synchronous Redis client: what the Redis stores need and nothing else.
//
// Debian's hiredis (0.14) parses replies (redisReader) and formats commands
// (redisFormatCommandArgv); the socket, its timeouts and TLS are ours (OpenSSL), because 0.14 has
// no TLS and its blocking calls cannot bound a whole command's time. Why synchronous connections on
// worker threads and not asynchronous I/O on Beast's threads: docs/design.md "Redis".
//
// Blocking: every call that talks to the server blocks the calling thread for at most the
// configured timeouts (connect, then each command's round trip). Never call them on an I/O thread.
//
// Errors: a server that cannot be reached, times out, closes the connection or sends bytes that are
// not RESP is Code::kUnavailable/Reason::kStore (fail closed); the connection is then broken and
// the pool replaces it. An error reply (-ERR ...) is a Reply of type kError, not a Status: the
// caller decides what it means (NOSCRIPT, READONLY, a script's own error).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/result.h"

namespace tessera::store::redis {

// Where the server is: redis://[[user]:password@]host[:port][/db][?ca_file=PATH]
// (rediss:// for TLS; the server certificate is verified against the system's CAs or ca_file,
// and its name against host). IPv6 hosts in brackets. Port 6379 and db 0 by default.
struct Endpoint {
  std::string host;
  uint16_t port = 6379;
  bool tls = false;
  std::string user;      // empty: AUTH with the password alone (the "default" user)
  std::string password;  // empty: no AUTH
  int db = 0;
  std::string ca_file;  // rediss only; empty: the system's CA store
};

// Errors: kInvalidArgument/kBadConfig with a message that never contains the password.
Result<Endpoint> ParseUrl(std::string_view url);

// Lower-case hex of `bytes`: how binary ids and hashes appear in keys and script arguments.
std::string Hex(std::string_view bytes);

struct Reply {
  enum class Type : uint8_t { kNil, kString, kStatus, kError, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<Reply> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
  // The error reply's first word ("NOSCRIPT", "READONLY", "ERR"...); empty for other types.
  std::string_view error_kind() const;
};

// RESP replies out of bytes as they arrive (hiredis's reader), with a bound on how much one reply
// may take. What the connection reads goes through it; so does the fuzzer (redis_reply_fuzzer).
class ReplyParser {
 public:
  explicit ReplyParser(size_t max_reply_bytes);
  ~ReplyParser();
  ReplyParser(const ReplyParser&) = delete;
  ReplyParser& operator=(const ReplyParser&) = delete;

  // Adds bytes. kUnavailable when the reply being read grows past the bound.
  Status Feed(std::string_view bytes);
  // The next complete reply, nullopt when more bytes are needed. kUnavailable for bytes that are
  // not RESP (then the parser is unusable).
  Result<std::optional<Reply>> Next();

  // How many more objects the reply being read may create (client.cc).
  struct ObjectBudget;

 private:
  void Refill();

  void* reader_;  // redisReader
  std::unique_ptr<ObjectBudget> budget_;
  size_t buffered_ = 0;  // bytes fed since the last complete reply
  const size_t max_bytes_;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{1000};
  // The longest one command (or one pipeline) may take, from the first byte sent to the last
  // byte of its reply.
  std::chrono::milliseconds command_timeout{1000};
  // The largest reply accepted; a larger one breaks the connection (a hostile or broken server
  // cannot make the client buffer without bound), and so does one with more elements than
  // max_reply_bytes / 8 (ReplyParser).
  size_t max_reply_bytes = size_t{8} << 20;
};

// One connection. Not thread-safe: one thread uses it at a time (the pool sees to that).
class Connection {
 public:
  // Connects, negotiates TLS when asked, AUTHs and SELECTs the db.
  static Result<std::unique_ptr<Connection>> Open(const Endpoint& endpoint,
                                                  const ClientOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends the command and reads its reply.
  Result<Reply> Command(const std::vector<std::string_view>& argv);
  // The same with its own bound, for a command that waits on the server (XREAD BLOCK).
  Result<Reply> Command(const std::vector<std::string_view>& argv,
                        std::chrono::milliseconds timeout);
  // Sends every command at once and reads their replies, in order (one round trip).
  Result<std::vector<Reply>> Pipeline(const std::vector<std::vector<std::string_view>>& commands);

  // After any failure the connection is unusable; the pool drops it.
  bool broken() const { return broken_; }
  // False when the server has closed the idle connection (or sent something unasked): checked
  // without waiting before the pool hands out an idle connection.
  bool LooksAlive();

 private:
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  Status Send(const std::string& bytes, std::chrono::steady_clock::time_point deadline);
  Result<Reply> Read(std::chrono::steady_clock::time_point deadline);
  Status Broken(Status s);
  void NoteServerState(const Reply& r);

  std::unique_ptr<Impl> impl_;
  bool broken_ = false;
};

// A bounded set of connections to one endpoint, opened on demand and replaced when broken.
// Thread-safe. Acquire waits (up to the command timeout) when all are in use.
class Pool {
 public:
  Pool(Endpoint endpoint, ClientOptions options, size_t max_connections);
  ~Pool();

  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), conn_(std::move(other.conn_)) {
      other.pool_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // A connection for the caller's exclusive use until the lease ends (WATCH/MULTI need one).
  Result<Lease> Acquire();

  // One command on any connection. A connection that broke at once (closed by the server) is
  // retried once on a fresh one only when `idempotent` (a read, or a write whose repetition
  // changes nothing); otherwise the outcome of a command whose reply was lost is unknown and the
  // caller gets kUnavailable. A command that timed out is not retried.
  Result<Reply> Command(const std::vector<std::string_view>& argv, bool idempotent);

  const Endpoint& endpoint() const { return endpoint_; }
  const ClientOptions& options() const { return options_; }

 private:
  void Release(std::unique_ptr<Connection> conn);

  const Endpoint endpoint_;
  const ClientOptions options_;
  const size_t max_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;  // GUARDED_BY(mu_)
  size_t open_ = 0;                                // GUARDED_BY(mu_): leased + idle
};

// A Lua script run with EVALSHA, loaded (SCRIPT LOAD) the first time the server does not know it
// (NOSCRIPT: a restart, a failover, SCRIPT FLUSH), then run again.
class Script {
 public:
  explicit Script(std::string source);
  Result<Reply> Run(Connection& conn, const std::vector<std::string_view>& keys,
                    const std::vector<std::string_view>& args) const;
  const std::string& sha1() const { return sha1_; }

 private:
  std::string source_;
  std::string sha1_;  // hex
};

}  // namespace tessera::store::redis
