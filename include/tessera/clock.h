// Clock: the source of "now", injected so that tests never read the wall clock.
#pragma once

#include <atomic>
#include <cstdint>

namespace tessera {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual int64_t NowSeconds() const = 0;
  // Milliseconds since the Unix epoch, for what whole seconds would round too coarsely (the
  // refresh grace window). Agrees with NowSeconds: NowMillis() / 1000 == NowSeconds() at any one
  // moment.
  virtual int64_t NowMillis() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  int64_t NowSeconds() const override;
  int64_t NowMillis() const override;
  static const SystemClock& Instance();
};

// A clock that only moves when told to. Thread-safe. It keeps milliseconds; the seconds-based
// setters count whole seconds.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_seconds) : now_ms_(now_seconds * 1000) {}
  int64_t NowSeconds() const override { return FloorDiv(NowMillis(), 1000); }
  int64_t NowMillis() const override { return now_ms_.load(std::memory_order_relaxed); }
  void Set(int64_t now_seconds) { SetMillis(now_seconds * 1000); }
  void SetMillis(int64_t now_ms) { now_ms_.store(now_ms, std::memory_order_relaxed); }
  void Advance(int64_t seconds) { AdvanceMillis(seconds * 1000); }
  void AdvanceMillis(int64_t ms) { now_ms_.fetch_add(ms, std::memory_order_relaxed); }

 private:
  static int64_t FloorDiv(int64_t a, int64_t b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
  }
  std::atomic<int64_t> now_ms_;
};

}  // namespace tessera
