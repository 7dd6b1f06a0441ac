// Prometheus metrics (text exposition format 0.0.4) for GET /metrics: lock-free counters that the
// request path bumps with relaxed atomic adds, rendered on scrape.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace tessera::server {

// Routes, as a fixed label set (a path from the request would let clients create series).
enum class Route : uint8_t {
  kAuth, kLogin, kLogout, kMe, kSessions, kUsers, kAdmin, kWeb, kHealth, kMetrics, kToken,
  kOAuth, kWellKnown, kOther, kCount_
};
const char* RouteName(Route r);

enum class LoginOutcome : uint8_t {
  kSuccess,      // a session was created
  kFailure,      // wrong password or unknown user
  kThrottled,    // refused by the brute-force throttle (429)
  kBusy,         // the password pool was full (503)
  kUnavailable,  // a store could not answer (503)
  kInvalid,      // refused before any password work: malformed (400/415) or cross-site (403)
  kMfaRequired,  // the password was right; a second factor is asked for (401 mfa_required)
  kCount_
};

enum class AuthOutcome : uint8_t { kAllowed, kDenied, kUnavailable, kCount_ };

// What a POST /v1/token did (RefreshOutcome, plus refusals before the store).
enum class RefreshMetric : uint8_t { kRotated, kGraceReplay, kReuseDetected, kInvalid, kCount_ };

class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    2.5};

  void Login(LoginOutcome o) { Add(logins_[static_cast<size_t>(o)]); }
  void AuthCheck(AuthOutcome o) { Add(auth_checks_[static_cast<size_t>(o)]); }
  void Registration(bool created) { Add(registrations_[created ? 0 : 1]); }
  void Refresh(RefreshMetric o) { Add(refreshes_[static_cast<size_t>(o)]); }
  void Request(Route route, int status, int64_t nanoseconds);
  // An answer sent before any route ran (a request refused as malformed or too large): its
  // status class only.
  void Response(int status);

  // Values read at scrape time from their owners.
  struct Gauges {
    int64_t active_sessions = -1;  // -1: the store could not answer
    size_t password_queue_depth = 0;
    size_t password_queue_capacity = 0;
    size_t password_workers = 0;
    int64_t revoked_sessions = -1;  // entries in the revocation list; -1: token mode off
    int64_t verify_cache_hits = -1;
    int64_t verify_cache_misses = -1;
  };
  std::string Render(const Gauges& g) const;

  // Sessions alive: counted in the store every 15 s by the maintenance thread (so that a scrape
  // does no store work), and moved as this process's sessions come and go in between (expiries
  // and other processes' changes show at the next count). -1 when the store could not answer.
  void SetActiveSessions(int64_t n) { active_sessions_.store(n, std::memory_order_relaxed); }
  void SessionStarted() { AdjustActiveSessions(1); }
  void SessionEnded() { AdjustActiveSessions(-1); }
  int64_t active_sessions() const { return active_sessions_.load(std::memory_order_relaxed); }

 private:
  static void Add(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
  void AdjustActiveSessions(int64_t delta) {
    int64_t n = active_sessions_.load(std::memory_order_relaxed);
    while (n >= 0 && !active_sessions_.compare_exchange_weak(n, std::max<int64_t>(0, n + delta),
                                                             std::memory_order_relaxed)) {
    }
  }

  struct Histogram {
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};  // last: +Inf
    std::atomic<uint64_t> sum_ns{0};
  };

  std::array<std::atomic<uint64_t>, static_cast<size_t>(LoginOutcome::kCount_)> logins_{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(AuthOutcome::kCount_)> auth_checks_{};
  std::array<std::atomic<uint64_t>, 2> registrations_{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(RefreshMetric::kCount_)> refreshes_{};
  std::array<std::atomic<uint64_t>, 5> responses_{};  // 1xx..5xx
  std::array<Histogram, static_cast<size_t>(Route::kCount_)> latency_{};
  std::atomic<int64_t> active_sessions_{-1};
};

}  // namespace tessera::server
