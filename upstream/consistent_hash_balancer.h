// upstream/consistent_hash_balancer.h — consistent hashing on a request key over a HashRing.
#pragma once

#include <vector>

#include "upstream/balancer.h"
#include "upstream/hash_ring.h"

namespace edged::upstream {

// The key's hash finds a point on the ring; the first point from there (clockwise) whose server is
// a candidate and not tried wins. So a down, unusable or tried server's keys go to the next point
// on the ring, and only those keys move. An empty key hashes like any other string.
class ConsistentHashBalancer final : public Balancer {
 public:
  // `ring` must outlive the balancer; `server_count` is the group's size (Server::index bound).
  ConsistentHashBalancer(const HashRing& ring, size_t server_count) : ring_(ring), slot_(server_count, -1) {}
  std::optional<size_t> pick(std::span<const Candidate> candidates, const TriedSet& tried,
                             std::string_view hash_key) override;

 private:
  const HashRing& ring_;
  std::vector<int32_t> slot_;  // Server::index -> index into candidates, -1 when not eligible
};

}  // namespace edged::upstream
