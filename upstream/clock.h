// upstream/clock.h — the time source of the upstream module, injected so tests control time.
#pragma once

#include <cstdint>

namespace edged::upstream {

// Milliseconds on a monotonic clock. Shared by every worker: nowMs() must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t nowMs() const = 0;
};

// std::chrono::steady_clock in milliseconds; the default for UpstreamGroup.
const Clock& steadyClock();

}  // namespace edged::upstream
