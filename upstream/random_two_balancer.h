// upstream/random_two_balancer.h — power of two random choices, weighted.
#pragma once

#include "upstream/balancer.h"
#include "upstream/rng.h"

namespace edged::upstream {

// Picks two distinct candidates at random, each with probability proportional to its weight, and
// takes the one with fewer active requests relative to weight; on a tie the first drawn (Envoy
// least_request with choice_count 2, nginx random two least_conn). A single untried candidate is
// returned without drawing.
class RandomTwoBalancer final : public Balancer {
 public:
  explicit RandomTwoBalancer(Rng& rng) : rng_(rng) {}
  std::optional<size_t> pick(std::span<const Candidate> candidates, const TriedSet& tried,
                             std::string_view hash_key = {}) override;

 private:
  Rng& rng_;
};

}  // namespace edged::upstream
