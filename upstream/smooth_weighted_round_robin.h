// upstream/smooth_weighted_round_robin.h — nginx's smooth weighted round robin balancer.
#pragma once

#include <vector>

#include "upstream/balancer.h"

namespace edged::upstream {

// nginx's smooth weighted round robin: weights {5,1,1} give a a b a c a a, every cycle; equal
// weights rotate.
class SmoothWeightedRoundRobin final : public Balancer {
 public:
  explicit SmoothWeightedRoundRobin(size_t server_count) : current_(server_count, 0) {}
  std::optional<size_t> pick(std::span<const Candidate> candidates, const TriedSet& tried,
                             std::string_view hash_key = {}) override;

 private:
  std::vector<int64_t> current_;  // indexed by Server::index
};

}  // namespace edged::upstream
