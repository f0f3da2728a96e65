// proxy/metrics/metrics.h — the module's face: label enums, Layout, WorkerMetrics, and render(),
// which merges every worker's cells at scrape time into Prometheus text format 0.0.4.
//
// Hot path: each worker records into its own WorkerMetrics (flat arrays indexed by route /
// server / listener indices resolved at config load; no lock, no map lookup, no allocation).
// Scrape: render() runs on the admin thread and sums the workers with relaxed loads.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "proxy/metrics/labels.h"
#include "proxy/metrics/layout.h"
#include "proxy/metrics/exposition_writer.h"
#include "proxy/metrics/worker_metrics.h"

namespace edged::metrics {

// Values that live outside the workers (upstream Server atomics), one per server to report.
// Servers left out of the span get no edged_upstream_server_up / _active_requests sample.
struct ServerGauge {
  size_t upstream, server;
  bool up;
  int64_t active;
};

// Process-wide values owned by the daemon.
struct ProcessState {
  std::string version;
  uint64_t reloads_ok = 0, reloads_failed = 0;
  double last_reload_success_unix = 0;  // the initial load counts as a successful reload
  uint64_t generation = 1;              // the running configuration: 1 at start, +1 per reload
};

// Appends the whole exposition to `out` (content type "text/plain; version=0.0.4").
// `layout` is the running configuration's; workers' cells are read at its slots (a worker that has
// not adopted it yet reads 0 for slots it does not have). Every family is written with
// # HELP and # TYPE, and every series whose labels come from the config or from the closed enums
// is written even at zero, so rate() sees the first increment.
void render(const Layout& layout, std::span<const WorkerMetrics* const> workers,
            std::span<const ServerGauge> servers, const ProcessState& state, std::string& out);

}  // namespace edged::metrics
