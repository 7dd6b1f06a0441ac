// A real redis-server (or redis-sentinel) for tests: started on a free loopback port in a
// temporary directory, as the current user, with no persistence unless asked; stopped (SIGKILL)
// when the object goes. Debian's
// redis-server (scripts/install-deps test) must be installed: without it the test fails, it does
// not skip.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tessera::testing {

class RedisServer {
 public:
  // `extra`: more redis-server arguments ("--requirepass", "secret", ...). With `tls`, the port
  // speaks only TLS, with a self-signed certificate for 127.0.0.1 made in dir()/cert.pem.
  explicit RedisServer(std::vector<std::string> extra = {}, bool tls = false)
      : extra_(std::move(extra)) {
    char tmpl[] = "/tmp/tessera-redis-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    port_ = FreePort();
    if (tls) {
      const std::string cmd =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
          "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
          dir_ + "/key.pem -out " + dir_ + "/cert.pem 2>/dev/null";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
      extra_.insert(extra_.begin(),
                    {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file",
                     dir_ + "/cert.pem", "--tls-key-file", dir_ + "/key.pem", "--tls-ca-cert-file",
                     dir_ + "/cert.pem", "--tls-auth-clients", "no"});
    }
    Start();
  }
  // A redis-sentinel (redis-server --sentinel) on a free loopback port that monitors the primary
  // at 127.0.0.1:`primary_port` as `master`, with a quorum of `quorum`. It calls a primary down
  // after one second of silence, so a failover takes a few seconds.
  static std::unique_ptr<RedisServer> Sentinel(int primary_port, const std::string& master,
                                               int quorum) {
    return std::unique_ptr<RedisServer>(new RedisServer(primary_port, master, quorum));
  }

  ~RedisServer() {
    Kill();
    std::filesystem::remove_all(dir_);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // One server for a whole test binary, started on first use. Use it first from the main thread:
  // the server is killed when the thread that started it exits (PR_SET_PDEATHSIG).
  static RedisServer& Shared() {
    static RedisServer server;
    return server;
  }

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  void Stop() { Signal(SIGSTOP); }
  void Continue() { Signal(SIGCONT); }
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // SIGKILL and wait; Start() brings it back on the same port and directory.
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // A port nothing listens on now (the kernel's pick).
  static int FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  void Start() {
    const std::string bin = Find();
    std::vector<std::string> args =
        sentinel_ ? std::vector<std::string>{bin, dir_ + "/sentinel.conf", "--sentinel"}
                  : std::vector<std::string>{bin,
                                             "--port",
                                             std::to_string(port_),
                                             "--bind",
                                             "127.0.0.1",
                                             "--dir",
                                             dir_,
                                             "--save",
                                             "",
                                             "--appendonly",
                                             "no",
                                             "--daemonize",
                                             "no",
                                             "--loglevel",
                                             "warning",
                                             "--logfile",
                                             dir_ + "/redis.log"};
    if (!sentinel_) args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test leaves no server behind
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    // Ready when it accepts a connection.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Accepts()) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at startup; see " + dir_ + "/redis.log");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("redis-server did not start listening within 10 s");
  }

 private:
  RedisServer(int primary_port, const std::string& master, int quorum) : sentinel_(true) {
    char tmpl[] = "/tmp/tessera-sentinel-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    port_ = FreePort();
    // Sentinel rewrites its configuration as it learns the group: the file stays in dir().
    std::ofstream conf(dir_ + "/sentinel.conf");
    conf << "port " << port_ << "\nbind 127.0.0.1\ndir " << dir_ << "\nlogfile " << dir_
         << "/redis.log\nloglevel warning\ndaemonize no\n"
         << "sentinel monitor " << master << " 127.0.0.1 " << primary_port << " " << quorum
         << "\nsentinel down-after-milliseconds " << master << " 1000\n"
         << "sentinel failover-timeout " << master << " 4000\n";
    conf.close();
    if (!conf) throw std::runtime_error("cannot write " + dir_ + "/sentinel.conf");
    Start();
  }

  static std::string Find() {
    for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
      if (::access(p, X_OK) == 0) return p;
    }
    throw std::runtime_error(
        "redis-server is not installed: run scripts/install-deps test (Debian redis-server)");
  }

  bool Accepts() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  bool sentinel_ = false;
  std::vector<std::string> extra_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A real Redis Cluster for tests: three primaries (redis-server --cluster-enabled yes) on free
// loopback ports, joined by `redis-cli --cluster create` (with `replicas` replicas of each), each
// node in a temporary directory of its own; stopped when the object goes.
class RedisCluster {
 public:
  // `node_timeout_ms`: how long the others wait before calling a silent node failed.
  explicit RedisCluster(int node_timeout_ms = 2000, int replicas = 0) {
    for (int i = 0; i < 3 * (1 + replicas); ++i) {
      // The node writes its cluster state next to its data.
      // Its bus port is named: the default (port + 10000) may be taken, or beyond 65535.
      nodes_.push_back(std::make_unique<RedisServer>(std::vector<std::string>{
          "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
          "--cluster-node-timeout", std::to_string(node_timeout_ms), "--cluster-port",
          std::to_string(RedisServer::FreePort())}));
    }
    std::string cmd = "redis-cli --cluster create";
    for (const auto& n : nodes_) cmd += " 127.0.0.1:" + std::to_string(n->port());
    cmd += " --cluster-replicas " + std::to_string(replicas) + " --cluster-yes >" +
           nodes_[0]->dir() + "/create.log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      throw std::runtime_error("redis-cli --cluster create failed; see " + nodes_[0]->dir() +
                               "/create.log");
    }
    WaitUntilOk();
  }

  static RedisCluster& Shared() {
    static RedisCluster cluster;
    return cluster;
  }

  // Two of the three nodes as seeds: the client finds the third from the slot map.
  std::string url() const {
    return "redis+cluster://127.0.0.1:" + std::to_string(nodes_[0]->port()) +
           ",127.0.0.1:" + std::to_string(nodes_[1]->port());
  }
  RedisServer& node(size_t i) { return *nodes_.at(i); }
  size_t size() const { return nodes_.size(); }

  // Every node running says cluster_state:ok (the slots are assigned and the nodes agree), and
  // every replica is in sync with its primary.
  void WaitUntilOk() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      bool ok = true;
      for (const auto& n : nodes_) {
        if (n->pid() <= 0) continue;  // killed
        const std::string cli = "redis-cli -p " + std::to_string(n->port());
        const std::string state = cli + " cluster info 2>/dev/null | grep -q '^cluster_state:ok'";
        // A replica has finished its first sync (before, WAIT finds no replica).
        const std::string synced = cli +
                                   " info replication 2>/dev/null | grep -q -e '^role:master' "
                                   "-e '^master_link_status:up'";
        ok = ok && std::system(state.c_str()) == 0 && std::system(synced.c_str()) == 0;
      }
      if (ok) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("the Redis Cluster did not reach cluster_state:ok within 20 s");
  }

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace tessera::testing
