// upstream/consistent_hash_balancer.cpp — ring walk from the key's point.
#include "upstream/consistent_hash_balancer.h"

namespace edged::upstream {

std::optional<size_t> ConsistentHashBalancer::pick(std::span<const Candidate> candidates, const TriedSet& tried,
                                                   std::string_view hash_key) {
  bool any = false;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const size_t idx = candidates[i].server->index;
    if (tried.contains(idx)) continue;
    slot_[idx] = static_cast<int32_t>(i);
    any = true;
  }
  std::optional<size_t> chosen;
  const auto points = ring_.points();
  if (any && !points.empty()) {
    size_t p = ring_.firstAtOrAfter(hash64(hash_key));
    for (size_t n = 0; n < points.size(); ++n, p = p + 1 == points.size() ? 0 : p + 1) {
      const int32_t slot = slot_[points[p].server];
      if (slot >= 0) {
        chosen = static_cast<size_t>(slot);
        break;
      }
    }
  }
  for (const Candidate& c : candidates) slot_[c.server->index] = -1;
  return chosen;
}

}  // namespace edged::upstream
