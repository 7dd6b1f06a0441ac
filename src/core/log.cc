#include "core/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "core/worker_pool.h"

namespace tessera::log {

namespace {

// The file sinks that are open, for ReopenLogFiles.
std::mutex& SinksMutex() {
  static std::mutex mu;
  return mu;
}
std::vector<LineSink*>& Sinks() {
  static std::vector<LineSink*> sinks;
  return sinks;
}

Result<int> OpenForAppending(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(Code::kUnavailable, Reason::kIo,
                  "cannot open " + path + " for appending: " + std::strerror(errno));
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<LineSink>> LineSink::Open(const std::string& target) {
  if (target == "-") return std::unique_ptr<LineSink>(new LineSink(STDOUT_FILENO, ""));
  TESSERA_ASSIGN_OR_RETURN(int fd, OpenForAppending(target));
  return std::unique_ptr<LineSink>(new LineSink(fd, target));
}

LineSink::LineSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
  if (path_.empty()) return;
  std::lock_guard lock(SinksMutex());
  Sinks().push_back(this);
}

LineSink::~LineSink() {
  if (path_.empty()) return;
  {
    std::lock_guard lock(SinksMutex());
    std::erase(Sinks(), this);
  }
  ::close(fd_);
}

Status LineSink::Reopen() {
  if (path_.empty()) return Status::Ok();
  TESSERA_ASSIGN_OR_RETURN(int fd, OpenForAppending(path_));
  std::lock_guard lock(mu_);
  const int replaced = ::dup3(fd, fd_, O_CLOEXEC);
  const int error = errno;
  ::close(fd);
  if (replaced < 0) {
    return Status(Code::kUnavailable, Reason::kIo,
                  "cannot reopen " + path_ + ": " + std::strerror(error));
  }
  reported_ = false;  // a write error on the old file says nothing about the new one
  return Status::Ok();
}

Status ReopenLogFiles() {
  std::lock_guard lock(SinksMutex());
  Status first = Status::Ok();
  for (LineSink* sink : Sinks()) {
    if (Status s = sink->Reopen(); !s.ok() && first.ok()) first = std::move(s);
  }
  return first;
}

void LineSink::Write(std::string_view lines) {
  std::lock_guard lock(mu_);
  while (!lines.empty()) {
    const ssize_t n = ::write(fd_, lines.data(), lines.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!reported_) {
        reported_ = true;
        std::fprintf(stderr, "tessera: cannot write a log line: %s\n", std::strerror(errno));
      }
      return;
    }
    lines.remove_prefix(static_cast<size_t>(n));
  }
}

std::string Timestamp(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(ms / 1000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[96];  // room for any int values, though real ones take 24 bytes
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// Appends `s` to `out` as the inside of a JSON string: quotes, backslashes and control characters
// escaped, bytes >= 0x80 that are not valid UTF-8 replaced, so a hostile path or User-Agent can
// neither break the line nor forge fields.
void AppendJsonEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // One UTF-8 sequence, checked strictly (no overlongs, surrogates or > U+10FFFF).
      size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
      bool ok = len != 0 && c <= 0xf4 && i + len <= s.size();
      for (size_t k = 1; ok && k < len; ++k) {
        ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
      }
      if (ok && len >= 3) {
        const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
        if (c == 0xe0 && c1 < 0xa0) ok = false;
        if (c == 0xed && c1 >= 0xa0) ok = false;
        if (c == 0xf0 && c1 < 0x90) ok = false;
        if (c == 0xf4 && c1 >= 0x90) ok = false;
      }
      if (ok) {
        out.append(s.substr(i, len));
        i += len;
      } else {
        out += "\\ufffd";
        ++i;
      }
    }
  }
}

std::string ToLine(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& target, const Clock* clock) {
  TESSERA_ASSIGN_OR_RETURN(auto sink, LineSink::Open(target));
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(sink), clock));
}

std::unique_ptr<AuditLog> AuditLog::Discard() {
  return std::unique_ptr<AuditLog>(new AuditLog(nullptr, &SystemClock::Instance()));
}

void AuditLog::Record(std::string_view event, nlohmann::json fields) {
  if (!sink_) return;
  const std::chrono::system_clock::time_point now{std::chrono::milliseconds(clock_->NowMillis())};
  nlohmann::json line = {{"ts", Timestamp(now)},
                         {"log", "audit"},
                         {"event", event}};
  if (fields.is_object()) {
    for (auto& [key, value] : fields.items()) line[key] = std::move(value);
  }
  sink_->Write(ToLine(line) + "\n");
}

Result<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& target) {
  if (target == "off") return std::unique_ptr<AccessLog>();
  TESSERA_ASSIGN_OR_RETURN(auto sink, LineSink::Open(target));
  return std::unique_ptr<AccessLog>(new AccessLog(std::move(sink)));
}

AccessLog::AccessLog(std::unique_ptr<LineSink> sink)
    : sink_(std::move(sink)), flusher_([this] {
        NameThisThread("tessera-log");
        Loop();
      }) {}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  flusher_.join();
  Flush();
}

void AccessLog::Append(std::string_view line) {
  bool full;
  {
    std::lock_guard lock(mu_);
    pending_.append(line);
    pending_.push_back('\n');
    full = pending_.size() >= 64 * 1024;
  }
  if (full) cv_.notify_one();
}

void AccessLog::Flush() {
  std::lock_guard write_lock(write_mu_);
  std::string chunk;
  {
    std::lock_guard lock(mu_);
    chunk.swap(pending_);
    // The next lines go into a buffer of full size at once, not one grown by copies.
    if (!chunk.empty()) pending_.reserve(chunk.capacity());
  }
  if (!chunk.empty()) sink_->Write(chunk);
}

void AccessLog::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200),
                 [this] { return stop_ || pending_.size() >= 64 * 1024; });
    lock.unlock();
    Flush();
    lock.lock();
  }
}

}  // namespace tessera::log
