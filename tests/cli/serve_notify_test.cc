// `tessera serve` under a service manager, as systemd runs it (Type=notify): READY=1 on
// NOTIFY_SOCKET when /readyz answers 200, SIGHUP reopening the log files logrotate moved away,
// STOPPING=1 and exit 0 on SIGTERM. The real binary, a real datagram socket, real HTTP.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>
#include <vector>

#include "cli/cli_harness.h"

namespace tessera {
namespace {

// One HTTP/1.1 GET on a fresh connection; the whole response ("" when it cannot connect).
std::string Get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return response;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

class ServeNotify : public Cli {
 protected:
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (sock_ >= 0) ::close(sock_);
    Cli::TearDown();
  }

  // The socket systemd would pass as NOTIFY_SOCKET.
  void Listen() {
    sock_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(sock_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    notify_path_ = (dir_ / "notify").string();
    ASSERT_LT(notify_path_.size(), sizeof addr.sun_path);
    std::strcpy(addr.sun_path, notify_path_.c_str());
    ASSERT_EQ(::bind(sock_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }

  // The next datagram, or "" after `limit`.
  std::string Receive(std::chrono::milliseconds limit) {
    pollfd p{.fd = sock_, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return "";
    char buf[4096];
    const ssize_t n = ::recv(sock_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  // Everything the child needs is made before fork: between fork and exec it calls only
  // async-signal-safe functions (other threads of this test binary may hold malloc's lock).
  void Start(const std::string& config) {
    const std::string data = (dir_ / "data").string();
    std::vector<std::string> args = {"tessera", "serve",  "--listen", "127.0.0.1:0",
                                     "--data",  data,     "--config", config};
    std::vector<std::string> env = {"NOTIFY_SOCKET=" + notify_path_};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).rfind("NOTIFY_SOCKET=", 0) != 0) env.emplace_back(*e);
    }
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int out = ::open((dir_ / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(out, 0);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
      ::execve(bin_.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(out);
  }

  pid_t pid_ = -1;
  int sock_ = -1;
  std::string notify_path_;
};

TEST_F(ServeNotify, ReadyWhenReadyReopensLogsOnHangupStopsOnTerm) {
  Listen();
  const fs::path access = dir_ / "access.log";
  const fs::path audit = dir_ / "audit.log";
  Start(Write("tessera.toml", "[server]\naccess_log = \"" + access.string() + "\"\n[audit]\npath = \"" +
                                  audit.string() + "\"\n"));

  const std::string ready = Receive(std::chrono::seconds(60));
  ASSERT_NE(ready.find("READY=1"), std::string::npos) << ready << Slurp(dir_ / "out");
  const std::string prefix = "STATUS=listening on http://127.0.0.1:";
  const size_t at = ready.find(prefix);
  ASSERT_NE(at, std::string::npos) << ready;
  const int port = std::stoi(ready.substr(at + prefix.size()));
  // Ready means ready: the first request after READY=1 is answered 200 by /readyz.
  const std::string readyz = Get(port, "/readyz");
  EXPECT_EQ(readyz.rfind("HTTP/1.1 200", 0), 0u) << readyz;

  // logrotate: move the files away, SIGHUP, and the lines go to new files at the same paths.
  ASSERT_TRUE(WaitFor([&] { return Slurp(access).find("/readyz") != std::string::npos; },
                      std::chrono::seconds(5)));
  fs::rename(access, dir_ / "access.log.1");
  fs::rename(audit, dir_ / "audit.log.1");
  ASSERT_EQ(::kill(pid_, SIGHUP), 0);
  ASSERT_TRUE(WaitFor([&] { return fs::exists(access) && fs::exists(audit); },
                      std::chrono::seconds(5)))
      << "SIGHUP did not reopen the log files";
  EXPECT_EQ((fs::status(access).permissions() & fs::perms::all), fs::perms::owner_read | fs::perms::owner_write);
  Get(port, "/after-the-hangup");
  EXPECT_TRUE(WaitFor([&] { return Slurp(access).find("/after-the-hangup") != std::string::npos; },
                      std::chrono::seconds(5)))
      << Slurp(access);
  EXPECT_EQ(Slurp(dir_ / "access.log.1").find("/after-the-hangup"), std::string::npos);
  EXPECT_EQ(Get(port, "/healthz").rfind("HTTP/1.1 200", 0), 0u) << "still serving after SIGHUP";

  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  std::string stopping;
  for (int i = 0; i < 5 && stopping.find("STOPPING=1") == std::string::npos; ++i) {
    stopping = Receive(std::chrono::seconds(10));
  }
  EXPECT_NE(stopping.find("STOPPING=1"), std::string::npos) << stopping;
  int status = 0;
  ASSERT_EQ(::waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << Slurp(dir_ / "out");
}

}  // namespace
}  // namespace tessera
