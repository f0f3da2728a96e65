// upstream/least_conn_balancer.cpp — nginx ngx_http_upstream_get_least_conn_peer.
#include "upstream/least_conn_balancer.h"

namespace edged::upstream {
namespace {

// Load as a fraction active/weight, compared by cross-multiplying: <0 when a is less loaded.
int compareLoad(const Candidate& a, int64_t a_active, const Candidate& b, int64_t b_active) {
  const int64_t l = a_active * b.weight, r = b_active * a.weight;
  return l < r ? -1 : (l > r ? 1 : 0);
}

}  // namespace

std::optional<size_t> LeastConnBalancer::pick(std::span<const Candidate> candidates, const TriedSet& tried,
                                              std::string_view) {
  // Snapshot each count once per pass would need a buffer; reading twice is fine: another worker
  // changing a count between the passes only changes which of two near-equal servers wins.
  std::optional<size_t> best;
  int64_t best_active = 0;
  bool many = false;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (tried.contains(candidates[i].server->index)) continue;
    const int64_t a = candidates[i].server->active.load(std::memory_order_relaxed);
    if (!best) {
      best = i, best_active = a;
      continue;
    }
    const int c = compareLoad(candidates[i], a, candidates[*best], best_active);
    if (c < 0) {
      best = i, best_active = a, many = false;
    } else if (c == 0) {
      many = true;
    }
  }
  if (!best || !many) return best;

  // Ties: smooth weighted round robin among the equally loaded.
  const Candidate lead = candidates[*best];
  std::optional<size_t> chosen;
  int64_t total = 0;
  for (size_t i = *best; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    if (tried.contains(c.server->index)) continue;
    const int64_t a = c.server->active.load(std::memory_order_relaxed);
    if (i != *best && compareLoad(c, a, lead, best_active) != 0) continue;
    current_[c.server->index] += c.weight;
    total += c.weight;
    if (!chosen || current_[c.server->index] > current_[candidates[*chosen].server->index]) chosen = i;
  }
  current_[candidates[*chosen].server->index] -= total;
  return chosen;
}

}  // namespace edged::upstream
