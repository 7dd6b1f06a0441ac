// A loopback HTTP/1.1 server for tests of HTTP clients (RemoteJwks): a thread per connection (so
// that a slow answer delays no other), answers per path that the test sets and changes, a count
// of requests per path, and answers held back until the test releases them (to show that a
// caller did not wait for one). Every answer closes the connection. POSIX sockets only, so that
// the test depends on nothing the code under test uses.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tessera::testing {

class StubHttpServer {
 public:
  struct Answer {
    int status = 200;
    std::string body;
    std::vector<std::string> headers;    // "Name: value"
    std::chrono::milliseconds delay{0};  // before answering: to run into a client's timeout
    bool send_content_length = true;     // false: the body ends when the connection does
    // Answer only once the test calls Release() after the request arrived (or the server stops);
    // the request is counted when it arrives.
    bool held = false;
  };

  StubHttpServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("stub server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }

  ~StubHttpServer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    released_.notify_all();
    thread_.join();
    for (std::thread& t : connections_) t.join();
    close(listen_fd_);
  }

  // "http://127.0.0.1:PORT" followed by `path`.
  std::string Url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  void Set(const std::string& path, Answer answer) {
    std::lock_guard lock(mu_);
    answers_[path] = std::move(answer);
  }

  int Requests(const std::string& path) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find(path);
    return it == counts_.end() ? 0 : it->second;
  }

  // The head (request line and fields) of the last request for `path`; empty when none came.
  std::string LastHead(const std::string& path) const {
    std::lock_guard lock(mu_);
    auto it = heads_.find(path);
    return it == heads_.end() ? "" : it->second;
  }

  // Requests waiting for Release() now.
  int Held() const {
    std::lock_guard lock(mu_);
    return held_;
  }

  // Lets every held request that has arrived be answered; later ones wait for the next call.
  void Release() {
    {
      std::lock_guard lock(mu_);
      ++release_generation_;
    }
    released_.notify_all();
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{.fd = listen_fd_, .events = POLLIN, .revents = 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      connections_.emplace_back([this, fd] {
        Serve(fd);
        close(fd);
      });
    }
  }

  void Serve(int fd) {
    timeval timeout{.tv_sec = 2, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    // "GET /path HTTP/1.1": the path is between the first two spaces.
    size_t a = request.find(' ');
    size_t b = request.find(' ', a + 1);
    if (a == std::string::npos || b == std::string::npos) return;
    std::string path = request.substr(a + 1, b - a - 1);
    Answer answer{.status = 404, .body = "{}"};
    {
      std::unique_lock lock(mu_);
      ++counts_[path];
      heads_[path] = request.substr(0, request.find("\r\n\r\n"));
      if (auto it = answers_.find(path); it != answers_.end()) answer = it->second;
      if (answer.held) {
        const uint64_t arrived = release_generation_;
        ++held_;
        released_.wait(lock, [&] { return stop_ || release_generation_ != arrived; });
        --held_;
      }
    }
    for (auto waited = std::chrono::milliseconds(0); waited < answer.delay && !stop_;
         waited += std::chrono::milliseconds(10)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::string out =
        "HTTP/1.1 " + std::to_string(answer.status) + " Stub\r\nConnection: close\r\n";
    if (answer.send_content_length) {
      out += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n";
    }
    for (const std::string& h : answer.headers) out += h + "\r\n";
    out += "\r\n" + answer.body;
    for (size_t sent = 0; sent < out.size();) {
      ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the client gave up (a body over its limit)
      sent += static_cast<size_t>(n);
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::map<std::string, Answer> answers_;  // GUARDED_BY(mu_)
  std::map<std::string, int> counts_;      // GUARDED_BY(mu_)
  std::map<std::string, std::string> heads_;  // GUARDED_BY(mu_)
  std::condition_variable released_;       // signals release_generation_ and stop_
  uint64_t release_generation_ = 0;        // GUARDED_BY(mu_)
  int held_ = 0;                           // GUARDED_BY(mu_)
  std::thread thread_;
  std::vector<std::thread> connections_;  // only the accept thread touches it, then ~
};

}  // namespace tessera::testing
