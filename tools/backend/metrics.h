// tools/backend/metrics.h — the backend's counters, one slot per worker process in one shared
// anonymous mapping made by the supervisor before it forks, so that any process answering
// /metrics can sum every process's cells (Prometheus text).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace edged::backend {

inline constexpr int kMaxReplicas = 2;
inline constexpr int kLatencyBuckets = 12;
inline constexpr double kLatencyBounds[kLatencyBuckets - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

struct PoolCells {
  std::atomic<int64_t> size{0}, idle{0}, waiters{0};
  std::atomic<uint64_t> acquires{0}, waits{0}, wait_us{0}, timeouts{0}, rejected{0}, connect_failures{0};
};

struct MetricsSlot {
  std::atomic<int64_t> pid{0};
  std::atomic<uint64_t> requests{0}, responses_4xx{0}, responses_5xx{0};
  std::atomic<uint64_t> l1_hits{0}, l1_misses{0}, l2_hits{0}, l2_misses{0}, l1_evictions{0};
  std::atomic<uint64_t> redis_errors{0}, breaker_opens{0}, invalidations_received{0};
  std::atomic<int64_t> breaker_state{0};  // 0 closed, 1 open, 2 half-open
  std::atomic<uint64_t> reads_replica{0}, reads_primary{0}, reads_primary_for_lsn{0}, replica_fallbacks{0};
  std::atomic<uint64_t> slow_queries{0};
  std::atomic<uint64_t> edged_purges{0}, edged_purge_failures{0};
  std::atomic<uint64_t> query_buckets[kLatencyBuckets]{};
  std::atomic<uint64_t> query_count{0}, query_us{0};
  std::atomic<int64_t> replica_lag_bytes[kMaxReplicas]{};
  std::atomic<int64_t> replica_up[kMaxReplicas]{};
  PoolCells primary_pool;
  PoolCells replica_pool[kMaxReplicas];

  void observeQuery(uint64_t us) {
    int b = 0;
    while (b < kLatencyBuckets - 1 && static_cast<double>(us) / 1e6 > kLatencyBounds[b]) ++b;
    query_buckets[b].fetch_add(1, std::memory_order_relaxed);
    query_count.fetch_add(1, std::memory_order_relaxed);
    query_us.fetch_add(us, std::memory_order_relaxed);
  }
};

class SharedMetrics {
 public:
  // Maps `slots` zeroed slots shared with every process forked afterwards.
  static SharedMetrics* create(size_t slots);
  ~SharedMetrics();
  MetricsSlot& slot(size_t i) { return slots_[i]; }
  size_t slots() const { return count_; }
  // The Prometheus text exposition of every slot, summed (gauges: summed; lag: the maximum).
  std::string render(int replicas) const;

 private:
  MetricsSlot* slots_ = nullptr;
  size_t count_ = 0;
};

}  // namespace edged::backend
