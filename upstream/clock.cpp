// upstream/clock.cpp — the steady clock used when no clock is injected.
#include "upstream/clock.h"

#include <chrono>

namespace edged::upstream {
namespace {

class SteadyClock final : public Clock {
 public:
  uint64_t nowMs() const override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }
};

}  // namespace

const Clock& steadyClock() {
  static const SteadyClock clock;
  return clock;
}

}  // namespace edged::upstream
