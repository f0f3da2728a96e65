#include "proxy/metrics/worker_metrics.h"

#include <algorithm>

namespace edged::metrics {

namespace {
constexpr size_t kPadCells = 64 / sizeof(uint64_t);
}

WorkerMetrics::Offsets WorkerMetrics::offsetsFor(size_t routes, size_t upstreams, size_t servers,
                                                 size_t listeners) {
  Offsets o{};
  size_t n = 0;
  auto take = [&n](size_t cells) {
    const size_t at = n;
    n += cells;
    return at;
  };
  o.requests = take(routes * kMethodCount * kCodeClassCount);
  o.duration = take(routes * kHistogramCells);
  o.request_bytes = take(routes);
  o.response_bytes = take(routes);
  o.upstream_requests = take(servers * kCodeClassCount);
  o.upstream_response = take(servers * kHistogramCells);
  o.upstream_connect = take(servers * kHistogramCells);
  o.upstream_failures = take(servers * kFailureReasonCount);
  o.retries = take(upstreams);
  o.pool_idle = take(servers);
  o.connections_active = take(listeners);
  o.connections_total = take(listeners);
  o.tunnels_active = take(1);
  o.compression_in = take(kAlgorithmCount);
  o.compression_out = take(kAlgorithmCount);
  o.panics = take(upstreams);
  o.limited = take(kLimitReasonCount);
  o.end = n;
  return o;
}

WorkerMetrics::WorkerMetrics(const Layout& layout)
    : route_slots_(layout.routeCapacity()),
      upstreams_(layout.upstreamCapacity()),
      servers_(layout.serverCapacity()),
      listeners_(layout.listenerCapacity()) {
  off_ = offsetsFor(route_slots_, upstreams_, servers_, listeners_);
  // Value-initialised: every std::atomic<uint64_t> starts at zero.
  storage_.reset(new std::atomic<uint64_t>[off_.end + 2 * kPadCells]());
  cells_ = storage_.get() + kPadCells;
}

void WorkerMetrics::adopt(const Layout& layout) {
  const size_t routes = std::max(route_slots_, layout.routeCapacity());
  const size_t upstreams = std::max(upstreams_, layout.upstreamCapacity());
  const size_t servers = std::max(servers_, layout.serverCapacity());
  const size_t listeners = std::max(listeners_, layout.listenerCapacity());
  if (routes == route_slots_ && upstreams == upstreams_ && servers == servers_ && listeners == listeners_) return;
  const Offsets o = offsetsFor(routes, upstreams, servers, listeners);
  std::unique_ptr<std::atomic<uint64_t>[]> storage(new std::atomic<uint64_t>[o.end + 2 * kPadCells]());
  std::atomic<uint64_t>* cells = storage.get() + kPadCells;
  // Each family's cells are slot-major, so the old block is a prefix of the new one.
  auto copy = [&](size_t from, size_t to, size_t count) {
    for (size_t i = 0; i < count; ++i) cells[to + i].store(get(from + i), std::memory_order_relaxed);
  };
  copy(off_.requests, o.requests, route_slots_ * kMethodCount * kCodeClassCount);
  copy(off_.duration, o.duration, route_slots_ * kHistogramCells);
  copy(off_.request_bytes, o.request_bytes, route_slots_);
  copy(off_.response_bytes, o.response_bytes, route_slots_);
  copy(off_.upstream_requests, o.upstream_requests, servers_ * kCodeClassCount);
  copy(off_.upstream_response, o.upstream_response, servers_ * kHistogramCells);
  copy(off_.upstream_connect, o.upstream_connect, servers_ * kHistogramCells);
  copy(off_.upstream_failures, o.upstream_failures, servers_ * kFailureReasonCount);
  copy(off_.retries, o.retries, upstreams_);
  copy(off_.pool_idle, o.pool_idle, servers_);
  copy(off_.connections_active, o.connections_active, listeners_);
  copy(off_.connections_total, o.connections_total, listeners_);
  copy(off_.tunnels_active, o.tunnels_active, 1);
  copy(off_.compression_in, o.compression_in, kAlgorithmCount);
  copy(off_.compression_out, o.compression_out, kAlgorithmCount);
  copy(off_.panics, o.panics, upstreams_);
  copy(off_.limited, o.limited, kLimitReasonCount);
  std::lock_guard<std::mutex> lock(mu_);
  route_slots_ = routes;
  upstreams_ = upstreams;
  servers_ = servers;
  listeners_ = listeners;
  off_ = o;
  storage_ = std::move(storage);
  cells_ = cells;
}

}  // namespace edged::metrics
