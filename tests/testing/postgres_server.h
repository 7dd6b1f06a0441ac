// A real PostgreSQL server for tests: a fresh cluster (initdb) in a temporary directory, on a free
// loopback port, with password (SCRAM) authentication over TCP for the role `tessera`, fsync off
// (a crash of the server, which the fault tests cause, loses nothing: the kernel has the WAL).
// PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to, and the server runs
// as, the `postgres` system user that Debian's package creates. Debian's postgresql
// (scripts/install-deps test) must be installed: without it the test fails, it does not skip.
#pragma once

#include <arpa/inet.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tessera::testing {

class PostgresServer {
 public:
  static constexpr const char* kPassword = "pg-test-secret-7f3a";

  PostgresServer() {
    char tmpl[] = "/tmp/tessera-pg-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    bin_ = FindBin();
    if (::geteuid() == 0) {
      passwd* pw = ::getpwnam("postgres");
      if (!pw) throw std::runtime_error("running as root and there is no postgres user");
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
      if (::chown(dir_.c_str(), uid_, gid_) != 0) throw std::runtime_error("chown failed");
    }
    port_ = FreePort();
    {
      std::ofstream pw(dir_ + "/pwfile");
      pw << kPassword << '\n';
    }
    if (uid_ != 0 && ::chown((dir_ + "/pwfile").c_str(), uid_, gid_) != 0) {
      throw std::runtime_error("chown failed");
    }
    const int rc = RunAndWait({bin_ + "/initdb", "-D", dir_ + "/data", "-U", "tessera",
                               "--pwfile", dir_ + "/pwfile", "--auth-local", "trust",
                               "--auth-host", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8",
                               "--no-sync"},
                              dir_ + "/initdb.log");
    if (rc != 0) throw std::runtime_error("initdb failed; see " + dir_ + "/initdb.log");
    Start();
  }
  ~PostgresServer() {
    Kill();
    std::filesystem::remove_all(dir_);
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // One server for a whole test binary, started on first use.
  static PostgresServer& Shared() {
    static PostgresServer server;
    return server;
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

  // postgresql://tessera:PASSWORD@127.0.0.1:PORT/`db`
  std::string url(const std::string& db = "postgres") const {
    return "postgresql://tessera:" + std::string(kPassword) + "@127.0.0.1:" +
           std::to_string(port_) + "/" + db;
  }

  // A new, empty database; its URL.
  std::string NewDatabase() {
    static std::atomic<int> n{0};
    const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++n);
    Exec("CREATE DATABASE " + name);
    return url(name);
  }

  // Runs `sql` in database `db` as the superuser `tessera`; throws on failure.
  void Exec(const std::string& sql, const std::string& db = "postgres") {
    PGconn* c = PQconnectdb(url(db).c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      std::string e = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("cannot connect: " + e);
    }
    PGresult* r = PQexec(c, sql.c_str());
    const bool ok =
        PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string e = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (!ok) throw std::runtime_error(sql + ": " + e);
  }

  // The first column of the first row of `sql` in database `db`, as text ("" when no row).
  std::string Query(const std::string& sql, const std::string& db = "postgres") {
    PGconn* c = PQconnectdb(url(db).c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      std::string e = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("cannot connect: " + e);
    }
    PGresult* r = PQexec(c, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string value = ok && PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    std::string e = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (!ok) throw std::runtime_error(sql + ": " + e);
    return value;
  }

  void Stop() { Signal(SIGSTOP); }
  void Continue() { Signal(SIGCONT); }
  // SIGSTOP/SIGCONT reach the postmaster only: new connections hang, established ones
  // (served by their own backend processes) would not; StopAll() freezes them all.
  void StopAll() { SignalAll(SIGSTOP); }
  void ContinueAll() { SignalAll(SIGCONT); }
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // Immediate shutdown (SIGQUIT: every backend exits at once, as in a crash) and wait; Start()
  // brings it back on the same port with the same data.
  void Kill() {
    if (pid_ <= 0) return;
    SignalAll(SIGCONT);
    ::kill(pid_, SIGQUIT);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  void Start() {
    pid_ = Spawn({bin_ + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-h",
                  "127.0.0.1", "-k", dir_, "-c", "fsync=off", "-c", "full_page_writes=off", "-c",
                  "max_connections=200"},
                 dir_ + "/postgres.log");
    const std::string info = url();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (PQping(info.c_str()) == PQPING_OK) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("postgres exited at startup; see " + dir_ + "/postgres.log");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("postgres did not accept connections within 30 s");
  }

 private:
  // The newest installed major version's binaries (Debian keeps them off PATH).
  static std::string FindBin() {
    glob_t g{};
    std::string best;
    if (::glob("/usr/lib/postgresql/*/bin/postgres", 0, nullptr, &g) == 0) {
      int best_major = -1;
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        const std::string p = g.gl_pathv[i];
        const int major = std::atoi(p.c_str() + std::string("/usr/lib/postgresql/").size());
        if (major > best_major) {
          best_major = major;
          best = std::filesystem::path(p).parent_path().string();
        }
      }
    }
    ::globfree(&g);
    if (best.empty()) {
      throw std::runtime_error("no /usr/lib/postgresql/*/bin/postgres: install postgresql "
                               "(scripts/install-deps test)");
    }
    return best;
  }

  void SignalAll(int sig) {
    if (pid_ <= 0) return;
    // The postmaster and its children (backends, checkpointer, walwriter...).
    const std::string cmd = "pkill -" + std::to_string(sig) + " -P " + std::to_string(pid_);
    if (std::system(cmd.c_str()) < 0) return;
    ::kill(pid_, sig);
  }

  pid_t Spawn(std::vector<std::string> args, const std::string& log) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      if (uid_ != 0) {
        if (::setgid(gid_) != 0 || ::setuid(uid_) != 0) ::_exit(126);
      }
      // After setuid, which clears it: a crashed test leaves no server behind.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      FILE* f = std::fopen(log.c_str(), "a");
      if (f) {
        ::dup2(fileno(f), 1);
        ::dup2(fileno(f), 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    return pid;
  }

  int RunAndWait(std::vector<std::string> args, const std::string& log) {
    const pid_t pid = Spawn(std::move(args), log);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  static int FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const int port = ntohs(a.sin_port);
    ::close(fd);
    return port;
  }

  std::string dir_;
  std::string bin_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tessera::testing
