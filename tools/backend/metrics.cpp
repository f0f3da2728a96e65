// tools/backend/metrics.cpp — shared slots and their exposition.
#include "tools/backend/metrics.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <new>

namespace edged::backend {

SharedMetrics* SharedMetrics::create(size_t slots) {
  void* mem = mmap(nullptr, sizeof(MetricsSlot) * slots, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  auto* m = new SharedMetrics();
  m->slots_ = static_cast<MetricsSlot*>(mem);
  for (size_t i = 0; i < slots; ++i) new (&m->slots_[i]) MetricsSlot();
  m->count_ = slots;
  return m;
}

SharedMetrics::~SharedMetrics() {
  if (slots_) munmap(slots_, sizeof(MetricsSlot) * count_);
}

namespace {
template <typename F>
uint64_t sum(const MetricsSlot* s, size_t n, F f) {
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += static_cast<uint64_t>(f(s[i]));
  return total;
}
void line(std::string& out, const char* name, const char* labels, double v) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s%s %.17g\n", name, labels, v);
  out += buf;
}
void head(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}
}  // namespace

std::string SharedMetrics::render(int replicas) const {
  std::string out;
  const MetricsSlot* s = slots_;
  const size_t n = count_;
#define SUM(field) static_cast<double>(sum(s, n, [](const MetricsSlot& x) { return x.field.load(std::memory_order_relaxed); }))
  head(out, "backend_requests_total", "counter", "HTTP requests handled");
  line(out, "backend_requests_total", "", SUM(requests));
  head(out, "backend_responses_total", "counter", "error responses by class");
  line(out, "backend_responses_total", "{class=\"4xx\"}", SUM(responses_4xx));
  line(out, "backend_responses_total", "{class=\"5xx\"}", SUM(responses_5xx));

  head(out, "backend_cache_requests_total", "counter", "user cache lookups by level and result");
  const double l1h = SUM(l1_hits), l1m = SUM(l1_misses), l2h = SUM(l2_hits), l2m = SUM(l2_misses);
  line(out, "backend_cache_requests_total", "{level=\"l1\",result=\"hit\"}", l1h);
  line(out, "backend_cache_requests_total", "{level=\"l1\",result=\"miss\"}", l1m);
  line(out, "backend_cache_requests_total", "{level=\"l2\",result=\"hit\"}", l2h);
  line(out, "backend_cache_requests_total", "{level=\"l2\",result=\"miss\"}", l2m);
  head(out, "backend_cache_hit_ratio", "gauge", "hits over lookups since start (L1 then L2)");
  line(out, "backend_cache_hit_ratio", "{level=\"l1\"}", l1h + l1m > 0 ? l1h / (l1h + l1m) : 0);
  line(out, "backend_cache_hit_ratio", "{level=\"l2\"}", l2h + l2m > 0 ? l2h / (l2h + l2m) : 0);
  head(out, "backend_cache_evictions_total", "counter", "L1 LRU evictions");
  line(out, "backend_cache_evictions_total", "", SUM(l1_evictions));
  head(out, "backend_cache_invalidations_received_total", "counter", "pub/sub invalidation messages applied to L1");
  line(out, "backend_cache_invalidations_received_total", "", SUM(invalidations_received));

  head(out, "backend_redis_errors_total", "counter", "Redis calls that failed or were refused by the breaker");
  line(out, "backend_redis_errors_total", "", SUM(redis_errors));
  head(out, "backend_redis_breaker_opens_total", "counter", "times the Redis circuit breaker opened");
  line(out, "backend_redis_breaker_opens_total", "", SUM(breaker_opens));
  head(out, "backend_redis_breaker_open", "gauge", "processes whose Redis breaker is not closed");
  line(out, "backend_redis_breaker_open", "", static_cast<double>(sum(s, n, [](const MetricsSlot& x) { return x.pid.load() != 0 && x.breaker_state.load() != 0 ? 1 : 0; })));

  head(out, "backend_edged_purges_total", "counter", "tag purges sent to edged's admin API, by result");
  line(out, "backend_edged_purges_total", "{result=\"ok\"}", SUM(edged_purges));
  line(out, "backend_edged_purges_total", "{result=\"failed\"}", SUM(edged_purge_failures));

  head(out, "backend_reads_total", "counter", "database reads by target");
  line(out, "backend_reads_total", "{target=\"replica\"}", SUM(reads_replica));
  line(out, "backend_reads_total", "{target=\"primary\"}", SUM(reads_primary));
  line(out, "backend_reads_total", "{target=\"primary\",reason=\"lsn\"}", SUM(reads_primary_for_lsn));
  line(out, "backend_reads_total", "{target=\"primary\",reason=\"replica_failed\"}", SUM(replica_fallbacks));
  head(out, "backend_slow_queries_total", "counter", "queries over the slow query threshold");
  line(out, "backend_slow_queries_total", "", SUM(slow_queries));

  head(out, "backend_query_duration_seconds", "histogram", "database query latency");
  uint64_t cumulative = 0;
  for (int b = 0; b < kLatencyBuckets; ++b) {
    for (size_t i = 0; i < n; ++i) cumulative += s[i].query_buckets[b].load(std::memory_order_relaxed);
    char labels[48];
    if (b < kLatencyBuckets - 1)
      std::snprintf(labels, sizeof labels, "{le=\"%g\"}", kLatencyBounds[b]);
    else
      std::snprintf(labels, sizeof labels, "{le=\"+Inf\"}");
    line(out, "backend_query_duration_seconds_bucket", labels, static_cast<double>(cumulative));
  }
  line(out, "backend_query_duration_seconds_sum", "", SUM(query_us) / 1e6);
  line(out, "backend_query_duration_seconds_count", "", SUM(query_count));

  head(out, "backend_replica_lag_bytes", "gauge", "WAL bytes the replica has not replayed (max over processes)");
  head(out, "backend_replica_up", "gauge", "processes that see the replica usable");
  for (int r = 0; r < replicas && r < kMaxReplicas; ++r) {
    int64_t lag = 0, up = 0;
    for (size_t i = 0; i < n; ++i) {
      if (s[i].pid.load() == 0) continue;
      lag = std::max<int64_t>(lag, s[i].replica_lag_bytes[r].load());
      up += s[i].replica_up[r].load();
    }
    char labels[48];
    std::snprintf(labels, sizeof labels, "{replica=\"replica%d\"}", r + 1);
    line(out, "backend_replica_lag_bytes", labels, static_cast<double>(lag));
    line(out, "backend_replica_up", labels, static_cast<double>(up));
  }

  head(out, "backend_pool_connections", "gauge", "pooled database connections by state");
  head(out, "backend_pool_acquires_total", "counter", "connection acquisitions");
  head(out, "backend_pool_waits_total", "counter", "acquisitions that had to wait");
  head(out, "backend_pool_wait_seconds_total", "counter", "time spent waiting for a connection");
  head(out, "backend_pool_timeouts_total", "counter", "acquisitions that timed out or were refused (503)");
  auto pool = [&](const char* name, auto cells) {
    int64_t size = 0, idle = 0, waiters = 0;
    uint64_t acq = 0, waits = 0, wait_us = 0, timeouts = 0;
    for (size_t i = 0; i < n; ++i) {
      const PoolCells& c = cells(s[i]);
      size += c.size.load(); idle += c.idle.load(); waiters += c.waiters.load();
      acq += c.acquires.load(); waits += c.waits.load(); wait_us += c.wait_us.load();
      timeouts += c.timeouts.load() + c.rejected.load();
    }
    char labels[80];
    std::snprintf(labels, sizeof labels, "{pool=\"%s\",state=\"total\"}", name);
    line(out, "backend_pool_connections", labels, static_cast<double>(size));
    std::snprintf(labels, sizeof labels, "{pool=\"%s\",state=\"idle\"}", name);
    line(out, "backend_pool_connections", labels, static_cast<double>(idle));
    std::snprintf(labels, sizeof labels, "{pool=\"%s\",state=\"waiting_requests\"}", name);
    line(out, "backend_pool_connections", labels, static_cast<double>(waiters));
    std::snprintf(labels, sizeof labels, "{pool=\"%s\"}", name);
    line(out, "backend_pool_acquires_total", labels, static_cast<double>(acq));
    line(out, "backend_pool_waits_total", labels, static_cast<double>(waits));
    line(out, "backend_pool_wait_seconds_total", labels, static_cast<double>(wait_us) / 1e6);
    line(out, "backend_pool_timeouts_total", labels, static_cast<double>(timeouts));
  };
  pool("primary", [](const MetricsSlot& x) -> const PoolCells& { return x.primary_pool; });
  if (replicas >= 1) pool("replica1", [](const MetricsSlot& x) -> const PoolCells& { return x.replica_pool[0]; });
  if (replicas >= 2) pool("replica2", [](const MetricsSlot& x) -> const PoolCells& { return x.replica_pool[1]; });
#undef SUM
  return out;
}

}  // namespace edged::backend
