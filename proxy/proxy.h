// proxy/proxy.h — the face of the proxy core: the daemon entry point main.cpp calls, with the
// filter chain it assembles. Everything else of proxy/ is internal to the core.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/config.h"
#include "proxy/http/filter.h"

struct uv_loop_s;

namespace edged::metrics {
class WorkerMetrics;
}

namespace edged::proxy {

// A thread-safe way into one worker's loop: `fn(arg)` runs soon on that worker's thread, in
// post order. Posts after the worker stopped are dropped. Lives as long as the worker.
class WorkerMailbox {
 public:
  virtual void postFromAnyThread(void (*fn)(void*), void* arg) = 0;

 protected:
  ~WorkerMailbox() = default;
};

// What a filter factory may use of its worker (counters live in the worker's metrics cells).
struct FilterEnv {
  metrics::WorkerMetrics& metrics;
  uv_loop_s* loop;  // the worker's loop, for a filter's own timers (closed by the filter)
  WorkerMailbox* mailbox = nullptr;  // wake-ups from other threads (a cache fill's waiters)
};

// Builds one worker's filter for one configuration generation; null when it has nothing to do
// under that configuration.
using FilterFactoryMaker = std::function<std::unique_ptr<FilterFactory>(const conf::Config&, FilterEnv&)>;

// An admin endpoint of a module the core does not know (the cache's /cache), added by main.cpp.
// Runs on the main thread; gets the request body and returns (status, JSON body).
struct AdminEndpoint {
  std::string method, path;
  std::function<std::pair<int, std::string>(std::string_view body)> handler;
};

struct DaemonOptions {
  std::string config_path;
  uint32_t workers_override = 0;  // --workers N; 0 = from the config
  // The filter chain, in request order (the response phases run it in reverse).
  std::vector<FilterFactoryMaker> filters;
  // Admin endpoints of the filters' modules, and their Prometheus lines appended to /metrics.
  std::vector<AdminEndpoint> admin_endpoints;
  std::function<void(std::string&)> extra_metrics;
};
// Binds every listener, runs the workers until SIGTERM/SIGINT, drains, returns the exit code.
int runDaemon(std::shared_ptr<const conf::Config> config, const DaemonOptions& options);

// The edged command line (proxy/main.cpp): --config, --check, --workers, --version. The filter
// chain is compression, then `extra_filters` (a test binary adds its own).
int edgedMain(int argc, char** argv, const std::vector<FilterFactoryMaker>& extra_filters);

}  // namespace edged::proxy
