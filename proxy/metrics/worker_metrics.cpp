#include "proxy/metrics/worker_metrics.h"

namespace edged::metrics {

namespace {
constexpr size_t kPadCells = 64 / sizeof(uint64_t);
}

WorkerMetrics::WorkerMetrics(const Layout& layout)
    : route_slots_(layout.routeSlots()),
      upstreams_(layout.upstreamCount()),
      servers_(layout.totalServers()),
      listeners_(layout.listenerCount()),
      server_base_(new size_t[layout.upstreamCount() + 1]) {
  for (size_t u = 0; u < upstreams_; ++u) server_base_[u] = layout.serverSlot(u, 0);
  server_base_[upstreams_] = servers_;

  size_t n = 0;
  auto take = [&n](size_t cells) {
    const size_t at = n;
    n += cells;
    return at;
  };
  off_.requests = take(route_slots_ * kMethodCount * kCodeClassCount);
  off_.duration = take(route_slots_ * kHistogramCells);
  off_.request_bytes = take(route_slots_);
  off_.response_bytes = take(route_slots_);
  off_.upstream_requests = take(servers_ * kCodeClassCount);
  off_.upstream_response = take(servers_ * kHistogramCells);
  off_.upstream_connect = take(servers_ * kHistogramCells);
  off_.upstream_failures = take(servers_ * kFailureReasonCount);
  off_.retries = take(upstreams_);
  off_.pool_idle = take(servers_);
  off_.connections_active = take(listeners_);
  off_.connections_total = take(listeners_);
  off_.tunnels_active = take(1);
  off_.compression_in = take(kAlgorithmCount);
  off_.compression_out = take(kAlgorithmCount);
  off_.end = n;

  // Value-initialised: every std::atomic<uint64_t> starts at zero.
  storage_.reset(new std::atomic<uint64_t>[n + 2 * kPadCells]());
  cells_ = storage_.get() + kPadCells;
}

bool WorkerMetrics::matches(const Layout& layout) const {
  if (route_slots_ != layout.routeSlots() || upstreams_ != layout.upstreamCount() ||
      servers_ != layout.totalServers() || listeners_ != layout.listenerCount()) {
    return false;
  }
  for (size_t u = 0; u < upstreams_; ++u) {
    if (server_base_[u] != layout.serverSlot(u, 0)) return false;
  }
  return true;
}

}  // namespace edged::metrics
