// proxy/admin_routes.h — the admin API's endpoints over the process's shared state.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "proxy/admin_server.h"
#include "upstream/upstream.h"

namespace edged::proxy {

struct SharedState;

struct AdminSources {
  const SharedState* shared = nullptr;
  // Last active-check result of a server ("" when none or no checker).
  std::function<std::string(const upstream::Server&)> last_check;
  // The Prometheus exposition (empty function: /metrics answers 404).
  std::function<std::string()> metrics;
  // Re-reads the config file (as SIGHUP does) and says how it went (empty: no /reload).
  struct ReloadOutcome {
    bool ok = false;
    uint64_t generation = 0;          // the running generation afterwards
    std::vector<std::string> errors;  // "FILE:LINE:COL: ..." when !ok
  };
  std::function<ReloadOutcome()> reload;
};

// GET /healthz, /readyz, /upstreams, /config, /metrics; POST /upstreams/<name>/servers/<addr>/drain
// and /undrain; POST /reload.
void installAdminRoutes(AdminServer& admin, AdminSources sources);

}  // namespace edged::proxy
