// upstream/smooth_weighted_round_robin.cpp — nginx's smooth WRR (ngx_http_upstream_get_peer).
#include "upstream/smooth_weighted_round_robin.h"

namespace edged::upstream {

std::optional<size_t> SmoothWeightedRoundRobin::pick(std::span<const Candidate> candidates,
                                                      const TriedSet& tried, std::string_view) {
  int64_t total = 0;
  std::optional<size_t> best;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Server* s = candidates[i].server;
    if (tried.contains(s->index)) continue;
    const int64_t w = candidates[i].weight;
    current_[s->index] += w;
    total += w;
    if (!best || current_[s->index] > current_[candidates[*best].server->index]) best = i;
  }
  if (best) current_[candidates[*best].server->index] -= total;
  return best;
}

}  // namespace edged::upstream
