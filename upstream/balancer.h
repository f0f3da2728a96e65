// upstream/balancer.h — the Balancer interface: chooses one server among usable candidates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "upstream/server.h"
#include "upstream/tried_set.h"

namespace edged::upstream {

// A usable server and the weight to balance it by (slow start applied).
struct Candidate {
  Server* server;
  uint32_t weight;  // >= 1
};

// Chooses among candidates the picker already filtered (health, drain, max_conns): balancers
// never see health. One instance per worker per tier: state needs no locks; pick() allocates
// nothing.
class Balancer {
 public:
  virtual ~Balancer() = default;
  // Index into `candidates`, or nullopt when every candidate is in `tried`. `hash_key` is used
  // only by key-based balancers.
  virtual std::optional<size_t> pick(std::span<const Candidate> candidates, const TriedSet& tried,
                                     std::string_view hash_key) = 0;
};

}  // namespace edged::upstream
