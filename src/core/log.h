// Structured logs: the audit trail (security events, docs/design.md "An audit trail") and the access
// log. Both are NDJSON: one JSON object per line, so a user-controlled string (a username with a
// newline, a hostile User-Agent) is always escaped inside its field and can never forge a line
// (OWASP ASVS 7.3.1 / 16.4.1). Callers never pass secrets: passwords, cookies, tokens and hashes
// have no field here; sessions appear by their public handle only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "tessera/clock.h"
#include "tessera/result.h"

namespace tessera::log {

// Where lines go: stdout ("-") or a file opened for appending (created mode 0600). Each line is
// written with one write(2) on an O_APPEND descriptor, so lines from several threads, or several
// processes appending to the same file (the server and the CLI), never interleave.
class LineSink {
 public:
  static Result<std::unique_ptr<LineSink>> Open(const std::string& target);
  ~LineSink();
  LineSink(const LineSink&) = delete;
  LineSink& operator=(const LineSink&) = delete;

  // Writes `lines` (each ending in '\n') as one write. Thread-safe. A failed write is reported on
  // stderr once; logging never stops the server.
  void Write(std::string_view lines);

  // Opens the file's path again (after logrotate moved it away) and writes there from now on;
  // the descriptor number stays the same (dup2), so a write in progress finishes in the old file
  // and the next one goes to the new. Ok and nothing done for stdout. Thread-safe.
  Status Reopen();

 private:
  LineSink(int fd, std::string path);
  int fd_;
  std::string path_;  // empty: stdout, not ours to close or reopen
  std::mutex mu_;
  bool reported_ = false;  // GUARDED_BY(mu_)
};

// Reopen() on every log file this process has open (the audit trail, the access log): what
// `tessera serve` does on SIGHUP. Returns the first failure; the others are still reopened, and a
// file that cannot be reopened keeps being written where it was.
Status ReopenLogFiles();

// RFC 3339 UTC with milliseconds, e.g. "2026-11-27T05:20:01.123Z".
std::string Timestamp(std::chrono::system_clock::time_point t);

// Appends `s` to `out` as the inside of a JSON string: quotes, backslashes and control characters
// escaped, bytes that are not valid UTF-8 replaced by \ufffd, so a hostile path or User-Agent can
// neither break the line nor forge fields. For hot paths that build lines by hand.
void AppendJsonEscaped(std::string& out, std::string_view s);

// Serialises `j` as one line; invalid UTF-8 in a string becomes U+FFFD instead of an exception.
std::string ToLine(const nlohmann::json& j);

// The audit trail: one line per security event, written at once (not buffered), so an event is on
// disk before the answer that reports it leaves.
class AuditLog {
 public:
  // `target`: "-" stdout, else a file path.
  // `clock` stamps each event (tests move a FakeClock); it must outlive the log.
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& target,
                                                const Clock* clock = &SystemClock::Instance());
  // A log that writes nowhere (tests, tools that are not given an audit path).
  static std::unique_ptr<AuditLog> Discard();

  // Writes {"ts","log":"audit","event":event, ...fields}. `fields` must be an object whose values
  // are never secrets. Thread-safe.
  void Record(std::string_view event, nlohmann::json fields = nlohmann::json::object());

 private:
  AuditLog(std::unique_ptr<LineSink> sink, const Clock* clock)
      : sink_(std::move(sink)), clock_(clock) {}
  std::unique_ptr<LineSink> sink_;  // null: discard
  const Clock* clock_;
};

// The access log: one line per request, buffered and written by a background thread every
// 200 ms (or when 64 KiB are waiting), so the request path pays for formatting and a short lock,
// never for a system call.
class AccessLog {
 public:
  // `target`: "-" stdout, "off" nothing (returns null), else a file path.
  static Result<std::unique_ptr<AccessLog>> Open(const std::string& target);
  ~AccessLog();  // flushes
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Queues one line (without the newline). Thread-safe.
  void Append(std::string_view line);
  void Flush();

 private:
  explicit AccessLog(std::unique_ptr<LineSink> sink);
  void Loop();

  std::unique_ptr<LineSink> sink_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;  // GUARDED_BY(mu_)
  bool stop_ = false;    // GUARDED_BY(mu_)
  std::mutex write_mu_;  // keeps flushed chunks in order
  std::thread flusher_;
};

}  // namespace tessera::log
