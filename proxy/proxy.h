// proxy/proxy.h — the face of the proxy core: the daemon entry point main.cpp calls, with the
// filter chain it assembles. Everything else of proxy/ is internal to the core.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "proxy/http/filter.h"

struct uv_loop_s;

namespace edged::metrics {
class WorkerMetrics;
}

namespace edged::proxy {

// What a filter factory may use of its worker (counters live in the worker's metrics cells).
struct FilterEnv {
  metrics::WorkerMetrics& metrics;
  uv_loop_s* loop;  // the worker's loop, for a filter's own timers (closed by the filter)
};

// Builds one worker's filter for one configuration generation; null when it has nothing to do
// under that configuration.
using FilterFactoryMaker = std::function<std::unique_ptr<FilterFactory>(const conf::Config&, FilterEnv&)>;

struct DaemonOptions {
  std::string config_path;
  uint32_t workers_override = 0;  // --workers N; 0 = from the config
  // The filter chain, in request order (the response phases run it in reverse).
  std::vector<FilterFactoryMaker> filters;
};
// Binds every listener, runs the workers until SIGTERM/SIGINT, drains, returns the exit code.
int runDaemon(std::shared_ptr<const conf::Config> config, const DaemonOptions& options);

// The edged command line (proxy/main.cpp): --config, --check, --workers, --version. The filter
// chain is compression, then `extra_filters` (a test binary adds its own).
int edgedMain(int argc, char** argv, const std::vector<FilterFactoryMaker>& extra_filters);

}  // namespace edged::proxy
