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

// The effective configuration (defaults filled in) as JSON: durations in milliseconds, sizes in
// bytes, so tools need no unit parser.
std::string configJson(const conf::Config& c, uint64_t generation) {
  std::string o = "{\"generation\":" + std::to_string(generation);
  auto key = [&o](std::string_view k) {
    if (o.back() != '{' && o.back() != '[') o.push_back(',');
    jsonString(o, k);
    o.push_back(':');
  };
  auto num = [&o](uint64_t v) { o.append(std::to_string(v)); };
  auto str = [&o](std::string_view v) { jsonString(o, v); };
  auto boolean = [&o](bool v) { o.append(v ? "true" : "false"); };
  key("source_path"); str(c.source_path);
  key("workers"); num(c.workers);
  key("listen"); o.push_back('[');
  for (const auto& l : c.listeners) {
    if (o.back() != '[') o.push_back(',');
    o.push_back('{'); key("address"); str(l.address.text); key("backlog"); num(static_cast<uint64_t>(l.backlog)); o.push_back('}');
  }
  o.push_back(']');
  const auto& t = c.timeouts;
  key("timeouts_ms"); o.push_back('{');
  key("connect"); num(t.connect.count()); key("send"); num(t.send.count()); key("read"); num(t.read.count());
  key("client_header"); num(t.client_header.count()); key("client_body"); num(t.client_body.count());
  key("keepalive"); num(t.keepalive.count()); key("client_send"); num(t.client_send.count());
  key("request"); num(t.request.count()); key("tunnel_idle"); num(t.tunnel_idle.count());
  key("shutdown_grace"); num(t.shutdown_grace.count());
  o.push_back('}');
  key("limits"); o.push_back('{');
  key("max_header_bytes"); num(c.limits.max_header_bytes); key("max_body_bytes"); num(c.limits.max_body_bytes);
  key("max_response_header_bytes"); num(c.limits.max_response_header_bytes);
  o.push_back('}');
  static constexpr const char* kBalance[] = {"round_robin", "least_conn", "hash", "random_two"};
  key("upstreams"); o.push_back('{');
  for (const auto& u : c.upstreams) {
    key(u.name); o.push_back('{');
    key("balance"); str(kBalance[static_cast<int>(u.balance)]);
    key("hash_key"); str(u.hash_key);
    key("keepalive"); num(u.keepalive); key("retries"); num(u.retries);
    key("retry_on_mask"); num(u.retry_on); key("retry_timeout_ms"); num(u.retry_timeout.count());
    key("servers"); o.push_back('[');
    for (const auto& sv : u.servers) {
      if (o.back() != '[') o.push_back(',');
      o.push_back('{');
      key("address"); str(sv.address.text); key("weight"); num(sv.weight); key("max_conns"); num(sv.max_conns);
      key("backup"); boolean(sv.backup); key("down"); boolean(sv.down); key("slow_start_ms"); num(sv.slow_start.count());
      o.push_back('}');
    }
    o.push_back(']');
    key("health"); o.push_back('{');
    key("max_fails"); num(u.health.max_fails); key("fail_timeout_ms"); num(u.health.fail_timeout.count());
    if (u.health.check) {
      const auto& k = *u.health.check;
      key("check"); o.push_back('{');
      key("path"); str(k.path); key("interval_ms"); num(k.interval.count()); key("timeout_ms"); num(k.timeout.count());
      key("rise"); num(k.rise); key("fall"); num(k.fall);
      key("expect_status"); str(std::to_string(k.expect_status_min) + "-" + std::to_string(k.expect_status_max));
      key("initially"); str(k.initially_healthy ? "healthy" : "unhealthy");
      o.push_back('}');
    }
    o.append("}}");
  }
  o.push_back('}');
  key("routes"); o.push_back('[');
  for (const auto& r : c.routes) {
    if (o.back() != '[') o.push_back(',');
    o.push_back('{');
    key("prefix"); str(r.prefix); key("host"); str(r.host); key("upstream"); str(r.upstream);
    key("websocket"); boolean(r.websocket);
    key("compression"); boolean(c.compressionFor(r).enabled);
    o.push_back('}');
  }
  o.push_back(']');
  key("compression"); o.push_back('{');
  key("enabled"); boolean(c.compression.enabled); key("min_length"); num(c.compression.min_length);
  key("level"); o.push_back('{');
  key("gzip"); num(static_cast<uint64_t>(c.compression.gzip_level)); key("br"); num(static_cast<uint64_t>(c.compression.br_level));
  key("zstd"); num(static_cast<uint64_t>(c.compression.zstd_level));
  o.push_back('}');
  key("types"); o.push_back('[');
  for (const auto& ty : c.compression.types) {
    if (o.back() != '[') o.push_back(',');
    str(ty);
  }
  o.append("]}");
  if (c.admin) { key("admin"); o.push_back('{'); key("address"); str(c.admin->address.text); o.push_back('}'); }
  key("access_log"); o.push_back('{');
  key("path"); str(c.access_log.path); key("format"); str(c.access_log.format == conf::AccessLogFormat::Json ? "json" : "combined");
  o.push_back('}');
  static constexpr const char* kLevel[] = {"debug", "info", "warn", "error"};
  key("log_level"); str(kLevel[static_cast<int>(c.log_level)]);
  o.append("}\n");
  return o;
}

void installAdminRoutes(AdminServer& admin, AdminSources src) {
  const SharedState* shared = src.shared;
  admin.route("GET", "/healthz", [](const AdminServer::Request&) { return Response{200, "text/plain; charset=utf-8", "ok\n"}; });

  admin.route("GET", "/readyz", [shared](const AdminServer::Request&) {
    std::string reasons;
    for (const auto& g : shared->current->groups) {
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
    for (const auto& g : shared->current->groups) {
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
    for (const auto& g : shared->current->groups) {
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

  admin.route("GET", "/config", [shared](const AdminServer::Request&) {
    return json(configJson(*shared->current->config, shared->current->number));
  });

  if (src.reload) {
    admin.route("POST", "/reload", [reload = src.reload](const AdminServer::Request&) {
      const AdminSources::ReloadOutcome r = reload();
      std::string out = r.ok ? "{\"result\":\"success\"" : "{\"result\":\"failure\"";
      out.append(",\"generation\":").append(std::to_string(r.generation));
      if (!r.ok) {
        out.append(",\"errors\":[");
        for (size_t i = 0; i < r.errors.size(); ++i) {
          if (i) out.push_back(',');
          jsonString(out, r.errors[i]);
        }
        out.push_back(']');
      }
      out.append("}\n");
      return json(std::move(out), r.ok ? 200 : 400);
    });
  }

  if (src.metrics) {
    admin.route("GET", "/metrics", [m = src.metrics](const AdminServer::Request&) {
      return Response{200, "text/plain; version=0.0.4; charset=utf-8", m()};
    });
  }
}

}  // namespace edged::proxy
