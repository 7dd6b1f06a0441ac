#include "tessera/clock.h"

#include <chrono>

namespace tessera {

int64_t SystemClock::NowSeconds() const { return NowMillis() / 1000; }

int64_t SystemClock::NowMillis() const {
  // One reading for both: seconds are derived from it, so the two never disagree.
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const SystemClock& SystemClock::Instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace tessera
