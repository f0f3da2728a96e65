// upstream/health_state.h — the active-check verdict as a pure state machine (rise / fall).
#pragma once

#include <cstdint>

#include "conf/config.h"

namespace edged::upstream {

// Healthy or not, from consecutive check results (HAProxy rise/fall, Pingora HealthObserve):
// `fall` consecutive failures make a healthy server unhealthy, `rise` consecutive successes make
// an unhealthy one healthy; a result agreeing with the current state resets the streak. Owned by
// the health checker, one per server; not thread-safe.
class HealthState {
 public:
  HealthState(uint32_t rise, uint32_t fall, bool initially_healthy);
  explicit HealthState(const conf::HealthCheckConfig& check)
      : HealthState(check.rise, check.fall, check.initially_healthy) {}

  // One check result. Returns true when healthy() flipped with it.
  bool observe(bool ok);
  bool healthy() const { return healthy_; }

 private:
  uint32_t rise_, fall_;  // >= 1
  bool healthy_;
  uint32_t streak_ = 0;   // consecutive results disagreeing with healthy_
};

}  // namespace edged::upstream
