// upstream/random_two_balancer.cpp — two weighted random draws, the less loaded wins.
#include "upstream/random_two_balancer.h"

namespace edged::upstream {
namespace {

// The candidate whose cumulative weight range holds `r` (0 <= r < total of the eligible).
size_t weightedAt(std::span<const Candidate> candidates, const TriedSet& tried, size_t skip, uint64_t r) {
  size_t last = skip;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (i == skip || tried.contains(candidates[i].server->index)) continue;
    last = i;
    if (r < candidates[i].weight) return i;
    r -= candidates[i].weight;
  }
  return last;
}

}  // namespace

std::optional<size_t> RandomTwoBalancer::pick(std::span<const Candidate> candidates, const TriedSet& tried,
                                              std::string_view) {
  uint64_t total = 0;
  size_t eligible = 0, only = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (tried.contains(candidates[i].server->index)) continue;
    total += candidates[i].weight;
    ++eligible;
    only = i;
  }
  if (eligible == 0) return std::nullopt;
  if (eligible == 1) return only;

  const size_t none = candidates.size();
  const size_t a = weightedAt(candidates, tried, none, rng_.next() % total);
  const size_t b = weightedAt(candidates, tried, a, rng_.next() % (total - candidates[a].weight));
  const int64_t a_active = candidates[a].server->active.load(std::memory_order_relaxed);
  const int64_t b_active = candidates[b].server->active.load(std::memory_order_relaxed);
  return b_active * candidates[a].weight < a_active * candidates[b].weight ? b : a;
}

}  // namespace edged::upstream
