// proxy/metrics/worker_metrics.h — one worker's counters, gauges and histogram buckets, in one
// flat array sized from a Layout and allocated once.
//
// Contract: only the owning worker thread calls the recording methods. Each cell is a
// std::atomic<uint64_t> written with a relaxed load + store (no locked read-modify-write: there
// is a single writer), so the admin thread may read any cell at any time with a relaxed load and
// sees a value that was current at some recent moment. Gauges are stored as uint64 and updated
// with modular arithmetic; render() sums them over workers and reads the sum as int64.
//
// Recording methods never allocate, lock or look anything up; an index outside the layout is a
// caller bug (asserted) and is ignored in release builds rather than written out of bounds.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "proxy/metrics/histogram_buckets.h"
#include "proxy/metrics/labels.h"
#include "proxy/metrics/layout.h"

namespace edged::metrics {

class WorkerMetrics {
 public:
  // Sized from the Layout's slot capacities; only sizes are copied, so the Layout need not
  // outlive this object.
  explicit WorkerMetrics(const Layout& layout);
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // A reload gave labels new slots: grow to the layout's capacities, keeping every count. Only
  // the owning worker calls it (no recording can run meanwhile); readers are excluded by the lock
  // that lockForRead() takes.
  void adopt(const Layout& layout);
  // Held by the reader (render) while it reads cells, so adopt() cannot free them under it.
  std::unique_lock<std::mutex> lockForRead() const { return std::unique_lock<std::mutex>(mu_); }

  // Recording takes stable slots (Layout::routeSlot, serverSlot, upstreamSlot, listenerSlot).
  // One finished client request. `route` is a route slot (Layout::routeSlot of a position or of
  // unmatchedRoute()); `status` is what the client got (see codeClassIndex for out-of-range
  // values); `duration_ns` from the first byte of the request head to the last byte of the
  // response.
  void request(size_t route, Method m, int status, uint64_t duration_ns, uint64_t request_bytes,
               uint64_t response_bytes) {
    if (!check(route < route_slots_)) return;
    add(off_.requests + (route * kMethodCount + static_cast<size_t>(m) % kMethodCount) *
                            kCodeClassCount + codeClassIndex(status),
        1);
    observe(off_.duration + route * kHistogramCells, duration_ns);
    add(off_.request_bytes + route, request_bytes);
    add(off_.response_bytes + route, response_bytes);
  }

  // A response head arrived from the server in `slot` after `head_ns` (request sent to head parsed).
  void upstreamResponse(size_t slot, int status, uint64_t head_ns) {
    if (!check(slot < servers_)) return;
    add(off_.upstream_requests + slot * kCodeClassCount + codeClassIndex(status), 1);
    observe(off_.upstream_response + slot * kHistogramCells, head_ns);
  }

  // A new connection to the server in `slot` was established after `ns`.
  void upstreamConnect(size_t slot, uint64_t ns) {
    if (!check(slot < servers_)) return;
    observe(off_.upstream_connect + slot * kHistogramCells, ns);
  }

  void upstreamFailure(size_t slot, FailureReason r) {
    if (!check(slot < servers_)) return;
    add(off_.upstream_failures + slot * kFailureReasonCount +
            static_cast<size_t>(r) % kFailureReasonCount,
        1);
  }

  // One more try of a request on another server of the upstream in `upstream_slot`.
  void retry(size_t upstream_slot) {
    if (!check(upstream_slot < upstreams_)) return;
    add(off_.retries + upstream_slot, 1);
  }

  // A pick in the upstream in `upstream_slot` found no usable server and tried one that health
  // holds out (panic routing).
  void panic(size_t upstream_slot) {
    if (!check(upstream_slot < upstreams_)) return;
    add(off_.panics + upstream_slot, 1);
  }

  // This worker's idle pool for the server in `slot` grew (+1) or shrank (-1).
  void poolIdle(size_t slot, int delta) {
    if (!check(slot < servers_)) return;
    add(off_.pool_idle + slot, static_cast<uint64_t>(static_cast<int64_t>(delta)));
  }

  // Every opened connection must be closed exactly once, on the same worker, with the same slot.
  void connectionOpened(size_t listener_slot) {
    if (!check(listener_slot < listeners_)) return;
    add(off_.connections_active + listener_slot, 1);
    add(off_.connections_total + listener_slot, 1);
  }
  void connectionClosed(size_t listener_slot) {
    if (!check(listener_slot < listeners_)) return;
    add(off_.connections_active + listener_slot, static_cast<uint64_t>(-1));
  }

  // A request refused with 429 by the per-client limits (limits.per_client).
  enum class LimitReason : uint8_t { Rate, Connections };
  static constexpr size_t kLimitReasonCount = 2;
  void limited(LimitReason r) { add(off_.limited + static_cast<size_t>(r) % kLimitReasonCount, 1); }
  uint64_t limitedCount(LimitReason r) const { return get(off_.limited + static_cast<size_t>(r) % kLimitReasonCount); }

  void tunnelOpened() { add(off_.tunnels_active, 1); }
  void tunnelClosed() { add(off_.tunnels_active, static_cast<uint64_t>(-1)); }

  // `in` bytes entered the compressor for `a` and `out` bytes left it.
  void compression(Algorithm a, uint64_t in, uint64_t out) {
    const size_t i = static_cast<size_t>(a) % kAlgorithmCount;
    add(off_.compression_in + i, in);
    add(off_.compression_out + i, out);
  }

  // --- Read side, for render() and tests: relaxed loads, callable from any thread that holds
  // lockForRead() (or is the owner). A slot beyond this worker's capacity reads 0 (the worker has
  // not adopted the layout that gave it yet). ---
  // Per-bucket (non-cumulative) histogram cells followed by the sum in nanoseconds.
  static constexpr size_t kHistogramCells = kBucketCount + 1;

  size_t routeSlots() const { return route_slots_; }
  size_t upstreamCount() const { return upstreams_; }
  size_t totalServers() const { return servers_; }
  size_t listenerCount() const { return listeners_; }

  uint64_t requests(size_t route, Method m, size_t code_class) const {
    if (route >= route_slots_) return 0;
    return get(off_.requests +
               (route * kMethodCount + static_cast<size_t>(m)) * kCodeClassCount + code_class);
  }
  uint64_t durationBucket(size_t route, size_t bucket) const {
    return route < route_slots_ ? get(off_.duration + route * kHistogramCells + bucket) : 0;
  }
  uint64_t durationSumNs(size_t route) const {
    return route < route_slots_ ? get(off_.duration + route * kHistogramCells + kBucketCount) : 0;
  }
  uint64_t requestBytes(size_t route) const {
    return route < route_slots_ ? get(off_.request_bytes + route) : 0;
  }
  uint64_t responseBytes(size_t route) const {
    return route < route_slots_ ? get(off_.response_bytes + route) : 0;
  }
  // `slot` is Layout::serverSlot(upstream, server).
  uint64_t upstreamRequests(size_t slot, size_t code_class) const {
    return slot < servers_ ? get(off_.upstream_requests + slot * kCodeClassCount + code_class) : 0;
  }
  uint64_t upstreamResponseBucket(size_t slot, size_t bucket) const {
    return slot < servers_ ? get(off_.upstream_response + slot * kHistogramCells + bucket) : 0;
  }
  uint64_t upstreamResponseSumNs(size_t slot) const {
    return slot < servers_ ? get(off_.upstream_response + slot * kHistogramCells + kBucketCount) : 0;
  }
  uint64_t upstreamConnectBucket(size_t slot, size_t bucket) const {
    return slot < servers_ ? get(off_.upstream_connect + slot * kHistogramCells + bucket) : 0;
  }
  uint64_t upstreamConnectSumNs(size_t slot) const {
    return slot < servers_ ? get(off_.upstream_connect + slot * kHistogramCells + kBucketCount) : 0;
  }
  uint64_t upstreamFailures(size_t slot, FailureReason r) const {
    return slot < servers_
               ? get(off_.upstream_failures + slot * kFailureReasonCount + static_cast<size_t>(r))
               : 0;
  }
  uint64_t retries(size_t upstream) const { return upstream < upstreams_ ? get(off_.retries + upstream) : 0; }
  uint64_t panics(size_t upstream) const { return upstream < upstreams_ ? get(off_.panics + upstream) : 0; }
  // Gauges in modular form: sum over workers, then cast to int64_t.
  uint64_t poolIdleRaw(size_t slot) const { return slot < servers_ ? get(off_.pool_idle + slot) : 0; }
  uint64_t connectionsActiveRaw(size_t listener) const {
    return listener < listeners_ ? get(off_.connections_active + listener) : 0;
  }
  uint64_t connectionsTotal(size_t listener) const {
    return listener < listeners_ ? get(off_.connections_total + listener) : 0;
  }
  uint64_t tunnelsActiveRaw() const { return get(off_.tunnels_active); }
  uint64_t compressionIn(Algorithm a) const {
    return get(off_.compression_in + static_cast<size_t>(a));
  }
  uint64_t compressionOut(Algorithm a) const {
    return get(off_.compression_out + static_cast<size_t>(a));
  }

 private:
  struct Offsets {
    size_t requests, duration, request_bytes, response_bytes;
    size_t upstream_requests, upstream_response, upstream_connect, upstream_failures;
    size_t retries, pool_idle, connections_active, connections_total, tunnels_active;
    size_t compression_in, compression_out;
    size_t panics;
    size_t limited;
    size_t end;
  };
  static Offsets offsetsFor(size_t routes, size_t upstreams, size_t servers, size_t listeners);

  static bool check(bool ok) {
    assert(ok && "metrics index outside the layout");
    return ok;
  }
  // Single writer: a plain load + store is enough and avoids a locked instruction per update.
  void add(size_t i, uint64_t v) {
    std::atomic<uint64_t>& c = cells_[i];
    c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
  }
  void observe(size_t base, uint64_t ns) {
    add(base + bucketIndex(ns), 1);
    add(base + kBucketCount, ns);
  }
  uint64_t get(size_t i) const { return cells_[i].load(std::memory_order_relaxed); }

  size_t route_slots_, upstreams_, servers_, listeners_;
  Offsets off_{};
  // Padded by a cache line at each end so two workers' arrays never share a line.
  std::unique_ptr<std::atomic<uint64_t>[]> storage_;
  std::atomic<uint64_t>* cells_ = nullptr;
  mutable std::mutex mu_;
};

}  // namespace edged::metrics
