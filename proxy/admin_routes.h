// proxy/admin_routes.h — the admin API's endpoints over the process's shared state.
#pragma once

#include <functional>
#include <string>

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
};

// GET /healthz, /readyz, /upstreams, /config, /metrics; POST /upstreams/<name>/servers/<addr>/drain
// and /undrain.
void installAdminRoutes(AdminServer& admin, AdminSources sources);

}  // namespace edged::proxy
