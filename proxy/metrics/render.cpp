#include <array>
#include <cassert>
#include <vector>
#include <utility>

#include "proxy/metrics/exposition_writer.h"
#include "proxy/metrics/metrics.h"
#include "proxy/metrics/process_stats.h"

namespace edged::metrics {

namespace {

constexpr std::array<Method, kMethodCount> kMethods = {
    Method::Get,   Method::Head,    Method::Post,  Method::Put,
    Method::Delete, Method::Patch, Method::Options, Method::Other};
constexpr std::array<FailureReason, kFailureReasonCount> kReasons = {
    FailureReason::ConnectFailed, FailureReason::ConnectTimeout, FailureReason::SendTimeout,
    FailureReason::ReadTimeout,   FailureReason::UpstreamClosed, FailureReason::BadResponse};
constexpr std::array<Algorithm, kAlgorithmCount> kAlgorithms = {Algorithm::Gzip,
                                                                Algorithm::Brotli, Algorithm::Zstd};

// Sum of `read(worker)` over every worker.
template <typename Read>
uint64_t sum(std::span<const WorkerMetrics* const> workers, Read read) {
  uint64_t total = 0;
  for (const WorkerMetrics* w : workers) total += read(*w);
  return total;
}

// Bucket counts and sum of one histogram, merged over workers.
template <typename Bucket, typename Sum>
void mergeHistogram(std::span<const WorkerMetrics* const> workers, Bucket bucket, Sum sum_ns,
                    std::array<uint64_t, kBucketCount>& buckets, uint64_t& total_ns) {
  buckets.fill(0);
  total_ns = 0;
  for (const WorkerMetrics* w : workers) {
    for (size_t b = 0; b < kBucketCount; ++b) buckets[b] += bucket(*w, b);
    total_ns += sum_ns(*w);
  }
}

// Per-(upstream, server) loop with the two label values at hand.
template <typename Fn>
void forEachServer(const Layout& layout, Fn fn) {
  for (size_t u = 0; u < layout.upstreamCount(); ++u) {
    for (size_t s = 0; s < layout.serverCount(u); ++s) {
      fn(layout.upstreamLabel(u), layout.serverLabel(u, s), layout.serverSlot(u, s));
    }
  }
}

}  // namespace

void render(const Layout& layout, std::span<const WorkerMetrics* const> all_workers,
            std::span<const ServerGauge> servers, const ProcessState& state, std::string& out) {
  // Slots beyond a worker's capacity read 0 (it has not adopted this layout yet); the locks keep
  // a worker from growing its cells while they are read.
  std::vector<const WorkerMetrics*> present;
  std::vector<std::unique_lock<std::mutex>> locks;
  present.reserve(all_workers.size());
  locks.reserve(all_workers.size());
  for (const WorkerMetrics* w : all_workers) {
    if (w == nullptr) continue;
    present.push_back(w);
    locks.push_back(w->lockForRead());
  }
  const std::span<const WorkerMetrics* const> workers(present);

  ExpositionWriter w(out);
  std::array<uint64_t, kBucketCount> buckets{};
  uint64_t sum_ns = 0;

  // --- Client side, per route ---
  w.family("edged_requests_total", "Client requests answered, by route, method and status class.",
           MetricType::Counter);
  for (size_t r = 0; r < layout.routeSlots(); ++r) {
    const size_t slot = layout.routeSlot(r);
    for (const Method m : kMethods) {
      for (size_t c = 0; c < kCodeClassCount; ++c) {
        w.sample("edged_requests_total",
                 {{"route", layout.routeLabel(r)}, {"method", methodLabel(m)},
                  {"code_class", codeClassLabel(c)}},
                 sum(workers, [&](const WorkerMetrics& x) { return x.requests(slot, m, c); }));
      }
    }
  }

  w.family("edged_request_duration_seconds",
           "Time from the first byte of a client request to the last byte of its response.",
           MetricType::Histogram);
  for (size_t r = 0; r < layout.routeSlots(); ++r) {
    const size_t slot = layout.routeSlot(r);
    mergeHistogram(
        workers, [&](const WorkerMetrics& x, size_t b) { return x.durationBucket(slot, b); },
        [&](const WorkerMetrics& x) { return x.durationSumNs(slot); }, buckets, sum_ns);
    w.histogram("edged_request_duration_seconds", {{"route", layout.routeLabel(r)}},
                buckets.data(), sum_ns);
  }

  w.family("edged_request_bytes_total", "Bytes received from clients (head and body), by route.",
           MetricType::Counter);
  for (size_t r = 0; r < layout.routeSlots(); ++r) {
    w.sample("edged_request_bytes_total", {{"route", layout.routeLabel(r)}},
             sum(workers, [&](const WorkerMetrics& x) { return x.requestBytes(layout.routeSlot(r)); }));
  }
  w.family("edged_response_bytes_total", "Bytes sent to clients (head and body), by route.",
           MetricType::Counter);
  for (size_t r = 0; r < layout.routeSlots(); ++r) {
    w.sample("edged_response_bytes_total", {{"route", layout.routeLabel(r)}},
             sum(workers, [&](const WorkerMetrics& x) { return x.responseBytes(layout.routeSlot(r)); }));
  }

  // --- Upstream side, per server ---
  w.family("edged_upstream_requests_total",
           "Response heads received from upstream servers, by status class.",
           MetricType::Counter);
  forEachServer(layout, [&](const std::string& u, const std::string& s, size_t slot) {
    for (size_t c = 0; c < kCodeClassCount; ++c) {
      w.sample("edged_upstream_requests_total",
               {{"upstream", u}, {"server", s}, {"code_class", codeClassLabel(c)}},
               sum(workers, [&](const WorkerMetrics& x) { return x.upstreamRequests(slot, c); }));
    }
  });

  w.family("edged_upstream_response_seconds",
           "Time from sending a request upstream to receiving its response head.",
           MetricType::Histogram);
  forEachServer(layout, [&](const std::string& u, const std::string& s, size_t slot) {
    mergeHistogram(
        workers, [&](const WorkerMetrics& x, size_t b) { return x.upstreamResponseBucket(slot, b); },
        [&](const WorkerMetrics& x) { return x.upstreamResponseSumNs(slot); }, buckets, sum_ns);
    w.histogram("edged_upstream_response_seconds", {{"upstream", u}, {"server", s}},
                buckets.data(), sum_ns);
  });

  w.family("edged_upstream_connect_seconds", "Time to establish a new upstream connection.",
           MetricType::Histogram);
  forEachServer(layout, [&](const std::string& u, const std::string& s, size_t slot) {
    mergeHistogram(
        workers, [&](const WorkerMetrics& x, size_t b) { return x.upstreamConnectBucket(slot, b); },
        [&](const WorkerMetrics& x) { return x.upstreamConnectSumNs(slot); }, buckets, sum_ns);
    w.histogram("edged_upstream_connect_seconds", {{"upstream", u}, {"server", s}},
                buckets.data(), sum_ns);
  });

  w.family("edged_upstream_failures_total", "Failed upstream attempts, by reason.",
           MetricType::Counter);
  forEachServer(layout, [&](const std::string& u, const std::string& s, size_t slot) {
    for (const FailureReason reason : kReasons) {
      w.sample(
          "edged_upstream_failures_total",
          {{"upstream", u}, {"server", s}, {"reason", failureReasonLabel(reason)}},
          sum(workers, [&](const WorkerMetrics& x) { return x.upstreamFailures(slot, reason); }));
    }
  });

  w.family("edged_retries_total", "Requests tried again on another server, by upstream.",
           MetricType::Counter);
  for (size_t u = 0; u < layout.upstreamCount(); ++u) {
    w.sample("edged_retries_total", {{"upstream", layout.upstreamLabel(u)}},
             sum(workers, [&](const WorkerMetrics& x) { return x.retries(layout.upstreamSlot(u)); }));
  }

  w.family("edged_upstream_panic_total",
           "Picks that found no usable server and tried one that health holds out, by upstream.",
           MetricType::Counter);
  for (size_t u = 0; u < layout.upstreamCount(); ++u) {
    w.sample("edged_upstream_panic_total", {{"upstream", layout.upstreamLabel(u)}},
             sum(workers, [&](const WorkerMetrics& x) { return x.panics(layout.upstreamSlot(u)); }));
  }

  // Server gauges come from the caller; a server listed twice is reported once (the last entry),
  // and entries outside the layout are ignored.
  std::vector<const ServerGauge*> by_slot(layout.serverCapacity(), nullptr);
  for (const ServerGauge& g : servers) {
    if (g.upstream < layout.upstreamCount() && g.server < layout.serverCount(g.upstream)) {
      by_slot[layout.serverSlot(g.upstream, g.server)] = &g;
    }
  }
  w.family("edged_upstream_server_up",
           "1 when the server is healthy and may be picked, 0 when it is marked down.",
           MetricType::Gauge);
  forEachServer(layout, [&](const std::string& u, const std::string& s, size_t slot) {
    if (const ServerGauge* g = by_slot[slot]) {
      w.sample("edged_upstream_server_up", {{"upstream", u}, {"server", s}},
               uint64_t{g->up ? 1u : 0u});
    }
  });
  w.family("edged_upstream_active_requests", "Requests in flight to the server, all workers.",
           MetricType::Gauge);
  forEachServer(layout, [&](const std::string& u, const std::string& s, size_t slot) {
    if (const ServerGauge* g = by_slot[slot]) {
      w.sample("edged_upstream_active_requests", {{"upstream", u}, {"server", s}}, g->active);
    }
  });

  w.family("edged_upstream_pool_idle_connections",
           "Idle keep-alive connections to the server, summed over workers.", MetricType::Gauge);
  forEachServer(layout, [&](const std::string& u, const std::string& s, size_t slot) {
    w.sample("edged_upstream_pool_idle_connections", {{"upstream", u}, {"server", s}},
             static_cast<int64_t>(
                 sum(workers, [&](const WorkerMetrics& x) { return x.poolIdleRaw(slot); })));
  });

  // --- Connections, tunnels, compression ---
  w.family("edged_connections_active", "Open client connections, by listener.", MetricType::Gauge);
  for (size_t l = 0; l < layout.listenerCount(); ++l) {
    w.sample("edged_connections_active", {{"listener", layout.listenerLabel(l)}},
             static_cast<int64_t>(
                 sum(workers, [&](const WorkerMetrics& x) { return x.connectionsActiveRaw(layout.listenerSlot(l)); })));
  }
  w.family("edged_connections_total", "Client connections accepted, by listener.",
           MetricType::Counter);
  for (size_t l = 0; l < layout.listenerCount(); ++l) {
    w.sample("edged_connections_total", {{"listener", layout.listenerLabel(l)}},
             sum(workers, [&](const WorkerMetrics& x) { return x.connectionsTotal(layout.listenerSlot(l)); }));
  }

  w.family("edged_client_limited_total",
           "Requests refused with 429 by the per-client limits, by limit (rate, connections).",
           MetricType::Counter);
  // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
  for (const auto& limit : {std::pair{WorkerMetrics::LimitReason::Rate, "rate"},
                            std::pair{WorkerMetrics::LimitReason::Connections, "connections"}}) {
    const WorkerMetrics::LimitReason reason = limit.first;
    w.sample("edged_client_limited_total", {{"limit", limit.second}},
             sum(workers, [&](const WorkerMetrics& x) { return x.limitedCount(reason); }));
  }

  w.family("edged_websocket_tunnels_active", "Upgraded (WebSocket) tunnels currently open.",
           MetricType::Gauge);
  w.sample("edged_websocket_tunnels_active", {},
           static_cast<int64_t>(
               sum(workers, [](const WorkerMetrics& x) { return x.tunnelsActiveRaw(); })));

  w.family("edged_compression_bytes_in_total", "Bytes fed to response compressors, by algorithm.",
           MetricType::Counter);
  for (const Algorithm a : kAlgorithms) {
    w.sample("edged_compression_bytes_in_total", {{"algorithm", algorithmLabel(a)}},
             sum(workers, [&](const WorkerMetrics& x) { return x.compressionIn(a); }));
  }
  w.family("edged_compression_bytes_out_total",
           "Bytes produced by response compressors, by algorithm.", MetricType::Counter);
  for (const Algorithm a : kAlgorithms) {
    w.sample("edged_compression_bytes_out_total", {{"algorithm", algorithmLabel(a)}},
             sum(workers, [&](const WorkerMetrics& x) { return x.compressionOut(a); }));
  }

  // --- Daemon state ---
  w.family("edged_config_reloads_total", "Configuration reloads attempted, by result.",
           MetricType::Counter);
  w.sample("edged_config_reloads_total", {{"result", "success"}}, state.reloads_ok);
  w.sample("edged_config_reloads_total", {{"result", "failure"}}, state.reloads_failed);
  w.family("edged_config_last_reload_success_timestamp_seconds",
           "Unix time of the last successful configuration load.", MetricType::Gauge);
  w.sample("edged_config_last_reload_success_timestamp_seconds", {},
           state.last_reload_success_unix);
  w.family("edged_config_generation",
           "The running configuration: 1 at start, one more per successful reload.",
           MetricType::Gauge);
  w.sample("edged_config_generation", {}, state.generation);
  w.family("edged_build_info", "Always 1; the version label names the running build.",
           MetricType::Gauge);
  w.sample("edged_build_info", {{"version", state.version}}, uint64_t{1});

  // --- Process (client-library standard names); a value that could not be read is left out ---
  const ProcessStats p = readProcessStats();
  w.family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
           MetricType::Counter);
  if (p.cpu_seconds) w.sample("process_cpu_seconds_total", {}, *p.cpu_seconds);
  w.family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge);
  if (p.resident_bytes) w.sample("process_resident_memory_bytes", {}, *p.resident_bytes);
  w.family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge);
  if (p.virtual_bytes) w.sample("process_virtual_memory_bytes", {}, *p.virtual_bytes);
  w.family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge);
  if (p.open_fds) w.sample("process_open_fds", {}, *p.open_fds);
  w.family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge);
  if (p.max_fds) w.sample("process_max_fds", {}, *p.max_fds);
  w.family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
           MetricType::Gauge);
  if (p.start_time_seconds) w.sample("process_start_time_seconds", {}, *p.start_time_seconds);
}

}  // namespace edged::metrics
