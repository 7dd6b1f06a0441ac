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
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tessera/result.h"

namespace tessera::store::redis {

struct HostPort {
  std::string host;  // a name or an address (IPv6 without brackets)
  uint16_t port = 6379;
  bool operator==(const HostPort&) const = default;
};

// Where the server is, from one of:
//   redis://[[user]:password@]host[:port][/db][?ca_file=PATH]
//   redis+sentinel://[[user]:password@]host[:port],host[:port].../master[/db]
//       [?sentinel_user=U&sentinel_password=P&ca_file=PATH]
//   redis+cluster://[[user]:password@]host[:port],host[:port]...[/0][?ca_file=PATH]
// (all also take ?wait_replicas=N; rediss://, rediss+sentinel:// and rediss+cluster:// for TLS:
// the server certificate is verified against the system's CAs or ca_file, and its name against
// the host connected to, which in a cluster is the address the map gives). IPv6 hosts in
// brackets. Port 6379 (26379 for a sentinel) and db 0 by default (a cluster has only db 0). With
// sentinels, `host` and `port` are empty until the primary has been found (Sentinel below); user
// and password are the primary's, sentinel_user and sentinel_password the sentinels' (none by
// default). In a cluster, user and password are every node's.
struct Endpoint {
  std::string host;
  uint16_t port = 6379;
  bool tls = false;
  std::string user;      // empty: AUTH with the password alone (the "default" user)
  std::string password;  // empty: no AUTH
  int db = 0;
  std::string ca_file;              // rediss only; empty: the system's CA store
  std::vector<HostPort> sentinels;  // non-empty: redis+sentinel://
  std::string master;               // the name the sentinels monitor the primary under
  std::string sentinel_user;
  std::string sentinel_password;
  // Non-empty: redis+cluster://, the nodes asked for the cluster's slot map (any of them will
  // do; the others are found from the map). `host` and `port` are the first of them.
  std::vector<HostPort> cluster_seeds;
  // ?wait_replicas=N: a store write is acknowledged only once N replicas have it (WAIT), so a
  // failover cannot lose it; otherwise the caller gets kUnavailable (the write may or may not
  // survive). 0 (the default): Redis's asynchronous replication.
  int wait_replicas = 0;
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

  // For a subscriber (SUBSCRIBE, then messages as they come): sends a command without reading
  // its reply, and waits up to `wait` for the next reply or message. nullopt when nothing came
  // (the connection stays usable) or when `wake_fd` (-1: none) became readable first.
  Status Write(const std::vector<std::string_view>& argv);
  Result<std::optional<Reply>> Receive(std::chrono::milliseconds wait, int wake_fd = -1);

  // After any failure the connection is unusable; the pool drops it.
  bool broken() const { return broken_; }
  // Which primary a pooled connection of a Sentinel group was opened to (Sentinel::generation).
  uint64_t generation() const { return generation_; }
  void set_generation(uint64_t g) { generation_ = g; }
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
  uint64_t generation_ = 0;
};

// Where the primary of a Sentinel-managed group is (redis+sentinel://), as the sentinels' client
// guidelines describe: asked of the sentinels in turn (SENTINEL get-master-addr-by-name), checked
// with ROLE on every new connection (Pool::Open), remembered until a connection to it breaks.
// A background thread subscribes to +switch-master on one sentinel at a time, so a failover is
// known the moment the sentinels decide it, even while the old primary is frozen and its
// connections still look alive: each change of address starts a new generation, and the pool
// drops idle connections of older ones.
//
// One per distinct group in a process (For), shared by the pools of its stores. Thread-safe.
// Blocking: Primary may ask every sentinel (connect + command timeouts each).
class Sentinel {
 public:
  static std::shared_ptr<Sentinel> For(const Endpoint& endpoint, const ClientOptions& options);
  Sentinel(Endpoint endpoint, ClientOptions options);
  ~Sentinel();
  Sentinel(const Sentinel&) = delete;
  Sentinel& operator=(const Sentinel&) = delete;

  struct Found {
    HostPort primary;
    uint64_t generation = 0;
  };
  // The primary's address, remembered or asked of the sentinels. kUnavailable when none answers
  // or none knows the group.
  Result<Found> Primary();
  // A connection to the primary of `generation` broke, or it was not the primary: ask again next
  // time.
  void Forget(uint64_t generation);
  uint64_t generation() const;

 private:
  Result<HostPort> Ask();
  void Learn(const HostPort& primary);
  void Watch();
  Endpoint SentinelEndpoint(size_t i) const;

  const Endpoint endpoint_;
  const ClientOptions options_;
  mutable std::mutex mu_;
  HostPort primary_;         // GUARDED_BY(mu_): the last address learnt
  bool known_ = false;       // GUARDED_BY(mu_): primary_ may be used without asking
  uint64_t generation_ = 1;  // GUARDED_BY(mu_)
  size_t first_ = 0;         // GUARDED_BY(mu_): the sentinel that answered last is asked first
  int wake_fd_ = -1;         // eventfd: the watcher stops when it is readable
  std::thread watcher_;
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
  // A new connection of the caller's own, outside the pool (a blocking XREAD must not hold one
  // of the pool's): to the server, or to the group's current primary.
  Result<std::unique_ptr<Connection>> Open();
  // False for a connection to a primary the sentinels have since replaced.
  bool Current(const Connection& conn) const;

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
  const std::shared_ptr<Sentinel> sentinel_;  // redis+sentinel:// only
  const size_t max_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;  // GUARDED_BY(mu_)
  size_t open_ = 0;                                // GUARDED_BY(mu_): leased + idle
};

// The Redis Cluster slot of `key`: CRC16 (XMODEM) of its hash tag (the part between the first
// '{' and the next '}', when not empty) or of the whole key, modulo 16384.
uint16_t SlotOf(std::string_view key);

// The primaries of a Redis Cluster (redis+cluster://): which one serves each slot (CLUSTER
// SLOTS, asked of the nodes it knows and then of the seeds), and a pool of connections to each.
// A command goes to the primary of its key's slot; a MOVED answer (the slot has moved: a
// resharding, a failover) updates the map and sends it there. ASK (the slot is being migrated
// and the key has moved) is followed behind ASKING for a single command on one key, and not for
// a script or several commands in a row: while a slot is migrated its keys are on both nodes,
// and a script that computes its keys would see only part of them on either. Those, and
// TRYAGAIN, are retried after a pause until the migration ends (MOVED) or the command's
// deadline (then kUnavailable). A connection that breaks or cannot be opened makes the map be
// asked for again before the next command (a replica may have been promoted). Thread-safe.
// Blocking: every call may wait for connections (connect and command timeouts), and for the map.
class Cluster {
 public:
  Cluster(Endpoint endpoint, ClientOptions options, size_t pool_size);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Runs `fn` on a connection to the primary serving `slot`, following MOVED (and ASK when
  // `follow_ask`: only for an `fn` that sends one command on one key): `fn` may run more than
  // once, and must return the reply of its first command as soon as that is an error.
  // kUnavailable when no node serves the slot, it keeps moving, or it is being migrated.
  Result<Reply> Run(uint16_t slot, const std::function<Result<Reply>(Connection&)>& fn,
                    bool follow_ask = false);
  // A new connection of the caller's own to the primary serving `slot`.
  Result<std::unique_ptr<Connection>> Open(uint16_t slot);
  // Asks for the slot map again now.
  Status Refresh();

 private:
  struct Node;
  Endpoint NodeEndpoint(const HostPort& where) const;
  Result<Node*> NodeFor(uint16_t slot);
  // The index of the node at `where` in nodes_, added when new. REQUIRES: mu_ held.
  int NodeIndex(const HostPort& where);
  // The map needs asking for again (`failed`: a node a connection to which just failed).
  void MarkStale(Node* failed = nullptr);
  // Refreshes the map unless it is current or was asked for within kRefreshInterval; `wait`:
  // for a refresh another thread is making (else that thread's map is used).
  Status RefreshIfStale(bool wait);
  Status RefreshLocked();  // REQUIRES: refresh_mu_ held

  const Endpoint endpoint_;
  const ClientOptions options_;
  const size_t pool_size_;
  std::mutex refresh_mu_;  // one refresh at a time
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Node>> nodes_;  // GUARDED_BY(mu_); never shrinks
  std::vector<int> slots_;                    // GUARDED_BY(mu_); node index per slot, -1: none
  bool stale_ = true;                         // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point refreshed_{};  // GUARDED_BY(mu_)
};

// Where a key's commands go: the one server (redis://, or the primary redis+sentinel:// finds),
// or in a cluster the primary that serves the key's slot. What the stores talk to. Thread-safe.
// Blocking: as Pool and Cluster.
class Router {
 public:
  Router(Endpoint endpoint, ClientOptions options, size_t pool_size);
  bool cluster() const { return cluster_ != nullptr; }
  const Endpoint& endpoint() const { return endpoint_; }
  const ClientOptions& options() const { return options_; }

  // Runs `fn` on a connection to where `key` lives, leased for the call (see Cluster::Run; ASK
  // is not followed).
  Result<Reply> Run(std::string_view key, const std::function<Result<Reply>(Connection&)>& fn);
  // One command on one key (see Pool::Command for `idempotent`; in a cluster ASK is followed).
  Result<Reply> Command(std::string_view key, const std::vector<std::string_view>& argv,
                        bool idempotent);
  // A new connection of the caller's own to where `key` lives.
  Result<std::unique_ptr<Connection>> Open(std::string_view key);
  // False for a connection to a primary the sentinels have since replaced.
  bool Current(const Connection& conn) const { return !pool_ || pool_->Current(conn); }

 private:
  const Endpoint endpoint_;
  const ClientOptions options_;
  std::unique_ptr<Pool> pool_;        // redis://, redis+sentinel://
  std::unique_ptr<Cluster> cluster_;  // redis+cluster://
};

// A Lua script run with EVALSHA, loaded (SCRIPT LOAD) the first time the server does not know it
// (NOSCRIPT: a restart, a failover, SCRIPT FLUSH), then run again.
class Script {
 public:
  // `writes`: false for a script that only reads (no WAIT after it).
  explicit Script(std::string source, bool writes = true);
  bool writes() const { return writes_; }
  Result<Reply> Run(Connection& conn, const std::vector<std::string_view>& keys,
                    const std::vector<std::string_view>& args) const;
  const std::string& sha1() const { return sha1_; }

 private:
  std::string source_;
  std::string sha1_;  // hex
  bool writes_;
};

}  // namespace tessera::store::redis
