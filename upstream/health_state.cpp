// upstream/health_state.cpp — rise/fall counting.
#include "upstream/health_state.h"

#include <algorithm>

namespace edged::upstream {

HealthState::HealthState(uint32_t rise, uint32_t fall, bool initially_healthy)
    : rise_(std::max(rise, 1u)), fall_(std::max(fall, 1u)), healthy_(initially_healthy) {}

bool HealthState::observe(bool ok) {
  if (ok == healthy_) {
    streak_ = 0;
    return false;
  }
  if (++streak_ < (healthy_ ? fall_ : rise_)) return false;
  healthy_ = ok;
  streak_ = 0;
  return true;
}

}  // namespace edged::upstream
