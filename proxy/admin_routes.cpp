// proxy/admin_routes.cpp — JSON is written by hand: the shapes are small and fixed.
#include "proxy/admin_routes.h"

#include <cstdio>

#include "proxy/log.h"
#include "proxy/worker.h"

namespace edged::proxy {

namespace {
void jsonString(std::string& out, std::string_view v) {
  out.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          snprintf(esc, sizeof esc, "\\u%04x", c);
          out.append(esc);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

using Response = AdminServer::Response;

Response json(std::string body, int status = 200) {
  return {status, "application/json", std::move(body)};
}

// "/upstreams/<name>/servers/<address>/<action>"
bool splitServerPath(std::string_view path, std::string_view& name, std::string_view& address,
                     std::string_view& action) {
  constexpr std::string_view kPrefix = "/upstreams/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return false;
  path.remove_prefix(kPrefix.size());
  const size_t a = path.find("/servers/");
  if (a == std::string_view::npos) return false;
  name = path.substr(0, a);
  path.remove_prefix(a + 9);
  const size_t b = path.rfind('/');
  if (b == std::string_view::npos) return false;
  address = path.substr(0, b);
  action = path.substr(b + 1);
  return !name.empty() && !address.empty();
}
}  // namespace

void installAdminRoutes(AdminServer& admin, AdminSources src) {
  const SharedState* shared = src.shared;
  admin.route("GET", "/healthz", [](const AdminServer::Request&) { return Response{200, "text/plain; charset=utf-8", "ok\n"}; });

  admin.route("GET", "/readyz", [shared](const AdminServer::Request&) {
    std::string reasons;
    for (const auto& g : shared->groups) {
      const uint64_t now = g->nowMs();
      bool any = false;
      for (const auto& s : g->servers()) any |= s->available(now) && !s->atMaxConns();
      if (!any) reasons.append("upstream \"").append(g->name()).append("\" has no usable server\n");
    }
    if (reasons.empty()) return Response{200, "text/plain; charset=utf-8", "ready\n"};
    return Response{503, "text/plain; charset=utf-8", reasons};
  });

  admin.route("GET", "/upstreams", [shared, last = src.last_check](const AdminServer::Request&) {
    std::string out = "{\"upstreams\":[";
    bool first_group = true;
    for (const auto& g : shared->groups) {
      const uint64_t now = g->nowMs();
      if (!first_group) out.push_back(',');
      first_group = false;
      out.append("{\"name\":");
      jsonString(out, g->name());
      out.append(",\"servers\":[");
      bool first = true;
      for (const auto& s : g->servers()) {
        if (!first) out.push_back(',');
        first = false;
        char num[256];
        out.append("{\"address\":");
        jsonString(out, s->name());
        snprintf(num, sizeof num,
                 ",\"weight\":%u,\"effective_weight\":%u,\"backup\":%s,\"state\":\"%s\","
                 "\"active_requests\":%d,\"total_requests\":%llu,\"fails\":%llu,\"last_check\":",
                 s->weight(), s->effectiveWeight(now), s->config.backup ? "true" : "false",
                 upstream::stateName(s->state(now)), s->active.load(std::memory_order_relaxed),
                 static_cast<unsigned long long>(s->requests.load(std::memory_order_relaxed)),
                 static_cast<unsigned long long>(s->failures.load(std::memory_order_relaxed)));
        out.append(num);
        if (last) {
          std::string r = last(*s);
          if (r.empty()) out.append("null"); else jsonString(out, r);
        } else {
          out.append("null");
        }
        out.push_back('}');
      }
      out.append("]}");
    }
    out.append("]}\n");
    return json(std::move(out));
  });

  admin.route("POST", "/upstreams/*", [shared](const AdminServer::Request& r) {
    std::string_view name, address, action;
    if (!splitServerPath(r.path, name, address, action) || (action != "drain" && action != "undrain"))
      return Response{404, "text/plain; charset=utf-8", "not found\n"};
    for (const auto& g : shared->groups) {
      if (g->name() != name) continue;
      for (const auto& s : g->servers()) {
        if (s->name() != address) continue;
        s->setDraining(action == "drain");
        LOG_INFO("admin: upstream \"%s\" server %s %s", g->name().c_str(), s->name().c_str(),
                 action == "drain" ? "draining" : "undrained");
        std::string out = "{\"upstream\":";
        jsonString(out, g->name());
        out.append(",\"server\":");
        jsonString(out, s->name());
        out.append(",\"state\":\"").append(upstream::stateName(s->state(g->nowMs()))).append("\"}\n");
        return json(std::move(out));
      }
      return Response{404, "text/plain; charset=utf-8", "no such server\n"};
    }
    return Response{404, "text/plain; charset=utf-8", "no such upstream\n"};
  });

  if (src.metrics) {
    admin.route("GET", "/metrics", [m = src.metrics](const AdminServer::Request&) {
      return Response{200, "text/plain; version=0.0.4; charset=utf-8", m()};
    });
  }
}

}  // namespace edged::proxy
