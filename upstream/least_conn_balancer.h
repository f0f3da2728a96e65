// upstream/least_conn_balancer.h — fewest in-flight requests relative to weight.
#pragma once

#include <vector>

#include "upstream/balancer.h"

namespace edged::upstream {

// nginx least_conn: the candidate with the fewest active requests relative to its weight
// (a.active * b.weight vs b.active * a.weight, no division); ties go to the smooth weighted
// round robin among the tied candidates. Active counts are the shared atomics, so this sees every
// worker's requests.
class LeastConnBalancer final : public Balancer {
 public:
  explicit LeastConnBalancer(size_t server_count) : current_(server_count, 0) {}
  std::optional<size_t> pick(std::span<const Candidate> candidates, const TriedSet& tried,
                             std::string_view hash_key = {}) override;

 private:
  std::vector<int64_t> current_;  // the smooth WRR cursor, indexed by Server::index
};

}  // namespace edged::upstream
