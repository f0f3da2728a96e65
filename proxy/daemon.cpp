// proxy/daemon.cpp — process start-up and shutdown: listening sockets (one SO_REUSEPORT socket
// per worker per listener), worker threads, signals.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "proxy/admin_routes.h"
#include "proxy/admin_server.h"
#include "proxy/health_checker.h"
#include "proxy/log.h"
#include "proxy/net/net.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"

#ifndef EDGED_VERSION_STRING
#define EDGED_VERSION_STRING "0.1.0"
#endif

namespace edged::proxy {

namespace {

// Slow readers: the kernel grows a client socket's send buffer up to tcp_wmem's maximum (4 MiB
// by default), so a client that asks for a big response and reads nothing takes ~2.8 MB into
// edged's socket at once (edged reads it from the origin and copies it there), and 200 of them
// ~560 MB, in their first second: normal clients' p99 went from ~25 ms to 0.6-1.5 s in
// tools/slow-clients. TCP_NOTSENT_LOWAT bounds only the bytes not yet sent: what is in flight
// toward a fast client (its congestion window) is not limited, so throughput is not, while a
// reader that does not read holds at most this much plus its receive window (then edged's
// backpressure stops reading its origin). Set on the listening socket; accepted sockets
// inherit it.
constexpr int kClientSendLowat = 128 * 1024;

void setClientSendLowat(int fd) {
  const int lowat = kClientSendLowat;
  setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
}

// libuv 1.44 has no UV_TCP_REUSEPORT: create, set the option, bind, listen; uv_tcp_open later.
int openListener(sockaddr_storage& addr, socklen_t len, int backlog, std::string& err) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (addr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  setClientSendLowat(fd);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, backlog) != 0) {
    err = strerror(errno);
    ::close(fd);
    return -1;
  }
  // Port 0: the first socket chose a port; the other workers bind the same one.
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen) == 0) {
    if (addr.ss_family == AF_INET)
      reinterpret_cast<sockaddr_in*>(&addr)->sin_port = reinterpret_cast<sockaddr_in*>(&bound)->sin_port;
    else
      reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port;
  }
  return fd;
}

uint16_t portOf(const sockaddr_storage& a) {
  return ntohs(a.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&a)->sin_port
                                      : reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
}

struct MainLoop {
  uv_loop_t loop{};
  SharedState* shared = nullptr;
  std::string config_path;
  bool workers_overridden = false;
  std::unique_ptr<AdminServer> admin;
  std::unique_ptr<HealthChecker> checker;
  uv_signal_t sigterm{}, sigint{}, sighup{}, sigusr1{};
  AccessLogSink* access_log = nullptr;
  uv_async_t workers_done{};
  std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  std::atomic<size_t> finished{0};
  bool stopping = false;
  uint64_t reloads_ok = 1;  // the start-up load counts
  uint64_t reloads_failed = 0;
  double last_reload_success = 0;
};

void onStopSignal(uv_signal_t* s, int signum) {
  auto* m = static_cast<MainLoop*>(s->data);
  if (m->stopping) {
    LOG_WARN("signal %d again: exiting now", signum);
    _exit(0);
  }
  m->stopping = true;
  LOG_INFO("signal %d: graceful shutdown", signum);
  for (auto& w : *m->workers) w->requestStop();
}

// logrotate's convention: the file was renamed; open the path again. The writer thread does it
// before its next write (the lines the workers still hold go to the new file).
void onReopenSignal(uv_signal_t* s, int) {
  auto* m = static_cast<MainLoop*>(s->data);
  if (!m->access_log) {
    LOG_INFO("SIGUSR1: the access log is off");
  } else if (!m->access_log->requestReopen()) {
    LOG_INFO("SIGUSR1: the access log is not a file; nothing to reopen");
  }
}

// TLS (issue 14): handshakes by side and result, failures by reason, versions, and the seconds
// each served certificate has left, so that an alert can fire before one expires.
void appendTlsMetrics(const Generation& gen, std::string& out) {
  using metrics::MetricType;
  metrics::ExpositionWriter w(out);
  net::TlsHandshakeCounters& c = net::tlsHandshakeCounters();
  static constexpr std::string_view kSide[2] = {"server", "client"};
  w.family("edged_tls_handshakes_total",
           "Completed TLS handshakes; side server: with clients, client: with origins.", MetricType::Counter);
  for (int s = 0; s < 2; ++s) {
    w.sample("edged_tls_handshakes_total", {{"side", kSide[s]}, {"result", "full"}}, c.full[s].load());
    w.sample("edged_tls_handshakes_total", {{"side", kSide[s]}, {"result", "resumed"}}, c.resumed[s].load());
  }
  w.family("edged_tls_handshake_failures_total",
           "TLS handshakes that failed, by reason: plain_http (an HTTP request on a TLS port), "
           "not_tls, handshake (protocol, version, cipher or certificate), closed (peer left).",
           MetricType::Counter);
  for (int s = 0; s < 2; ++s)
    for (int r = 0; r < net::TlsHandshakeCounters::kFailureCount; ++r)
      w.sample("edged_tls_handshake_failures_total", {{"side", kSide[s]}, {"reason", net::tlsFailureName(r)}},
               c.failed[s][r].load());
  static constexpr std::string_view kVersion[] = {"TLSv1.2", "TLSv1.3", "other"};
  w.family("edged_tls_handshakes_by_version_total", "Completed TLS handshakes by protocol version.",
           MetricType::Counter);
  for (int s = 0; s < 2; ++s)
    for (int v = 0; v < net::TlsHandshakeCounters::kVersionCount; ++v)
      w.sample("edged_tls_handshakes_by_version_total", {{"side", kSide[s]}, {"version", kVersion[v]}},
               c.version[s][v].load());
  w.family("edged_tls_certificate_expiry_seconds",
           "Seconds until a served certificate expires (negative once expired).", MetricType::Gauge);
  const conf::Config& config = *gen.config;
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const conf::ListenerConfig& l = config.listeners[i];
    const net::tls::TlsServerContext* ctx = gen.tlsFor(gen.metrics_layout->listenerSlot(i));
    if (!l.tls || !ctx) continue;
    for (size_t k = 0; k < ctx->certificates().size() && k < l.tls->certificates.size(); ++k)
      w.sample("edged_tls_certificate_expiry_seconds",
               {{"listener", l.address.text}, {"certificate", l.tls->certificates[k].cert}},
               ctx->secondsUntilExpiry(k));
  }
}

void closeAll(std::vector<std::vector<std::pair<size_t, int>>>& fds) {
  for (auto& v : fds)
    for (auto [slot, fd] : v) ::close(fd);
  fds.clear();
}

// Re-reads the config file. Invalid: every error logged (warn), nothing changes. Valid: a new
// generation goes to every worker (new requests use it; what is in flight keeps its own), new
// listener addresses get sockets, removed ones close, the health checker restarts on the new
// groups (servers that stay keep their verdicts). What cannot change without a restart is said.
ClientLimits clientLimits(const conf::Config& c) {
  ClientLimits l;
  l.rate_per_minute = c.limits.per_client.rate_per_minute;
  l.burst = c.limits.per_client.burst;
  l.connections = c.limits.per_client.connections;
  return l;
}

AdminSources::ReloadOutcome reload(MainLoop& m, const char* trigger) {
  AdminSources::ReloadOutcome out;
  const std::shared_ptr<const Generation> old = m.shared->current;
  out.generation = old->number;
  if (m.stopping) {
    out.errors.push_back("shutting down");
    LOG_WARN("reload (%s): ignored during shutdown", trigger);
    return out;
  }
  const conf::LoadResult r = conf::loadConfigFile(m.config_path);
  if (!r.ok()) {
    for (const auto& e : r.errors) {
      out.errors.push_back(e.str());
      LOG_WARN("reload: %s", out.errors.back().c_str());
    }
    ++m.reloads_failed;
    LOG_WARN("reload failed (%s): %zu error%s in %s; keeping generation %llu", trigger, r.errors.size(),
             r.errors.size() == 1 ? "" : "s", m.config_path.c_str(), static_cast<unsigned long long>(old->number));
    return out;
  }
  // TLS: certificates, keys and CAs load now, or the running ones stay (issue 14).
  if (std::vector<conf::ConfigError> tls_errors = net::tls::validateTlsConfig(*r.config); !tls_errors.empty()) {
    for (const auto& e : tls_errors) {
      out.errors.push_back(e.str());
      LOG_WARN("reload: %s", out.errors.back().c_str());
    }
    ++m.reloads_failed;
    LOG_WARN("reload failed (%s): %zu TLS error%s in %s; keeping generation %llu", trigger, tls_errors.size(),
             tls_errors.size() == 1 ? "" : "s", m.config_path.c_str(), static_cast<unsigned long long>(old->number));
    return out;
  }
  const conf::Config& nc = *r.config;
  const conf::Config& oc = *old->config;
  auto gen = std::make_shared<Generation>(r.config, old.get());
  const size_t n = m.workers->size();

  // Listeners: an address in both configs keeps its sockets (never closed and reopened).
  auto has = [](const conf::Config& c, const std::string& text) {
    for (const auto& l : c.listeners)
      if (l.address.text == text) return true;
    return false;
  };
  std::vector<std::vector<std::pair<size_t, int>>> add(n);
  size_t added = 0;
  for (size_t i = 0; i < nc.listeners.size(); ++i) {
    const conf::ListenerConfig& l = nc.listeners[i];
    if (has(oc, l.address.text)) continue;
    sockaddr_storage addr = l.address.storage;
    for (size_t w = 0; w < n; ++w) {
      std::string err;
      const int fd = openListener(addr, l.address.length, l.backlog, err);
      if (fd < 0) {
        out.errors.push_back("cannot listen on " + l.address.text + ": " + err);
        LOG_WARN("reload failed (%s): cannot listen on %s: %s; keeping generation %llu", trigger,
                 l.address.text.c_str(), err.c_str(), static_cast<unsigned long long>(old->number));
        closeAll(add);
        ++m.reloads_failed;
        return out;
      }
      add[w].emplace_back(gen->metrics_layout->listenerSlot(i), fd);
    }
    ++added;
    LOG_INFO("listening on %s (port %u)", l.address.text.c_str(), portOf(addr));
  }
  std::vector<size_t> removed;
  for (size_t i = 0; i < oc.listeners.size(); ++i) {
    if (has(nc, oc.listeners[i].address.text)) continue;
    removed.push_back(old->metrics_layout->listenerSlot(i));
    LOG_INFO("no longer listening on %s", oc.listeners[i].address.text.c_str());
  }

  if (!m.workers_overridden && nc.workers != oc.workers)
    LOG_WARN("reload: workers changed (%u -> %u): that needs a restart; still running %zu", oc.workers, nc.workers, n);
  const std::string old_admin = oc.admin ? oc.admin->address.text : "off";
  const std::string new_admin = nc.admin ? nc.admin->address.text : "off";
  if (old_admin != new_admin)
    LOG_WARN("reload: admin listener changed (%s -> %s): that needs a restart; still %s", old_admin.c_str(),
             new_admin.c_str(), old_admin.c_str());
  if (nc.access_log.path != oc.access_log.path || nc.access_log.format != oc.access_log.format)
    LOG_WARN("reload: access_log changed: that needs a restart; still writing %s", oc.access_log.path.c_str());

  m.shared->client_limiter->update(clientLimits(nc));
  for (size_t w = 0; w < n; ++w) (*m.workers)[w]->update({gen, std::move(add[w]), removed});
  m.shared->current = gen;
  // admin.tls: new admin handshakes get the reloaded certificate (validated above, so a bad one
  // already failed the reload and the running one stays).
  if (m.admin && nc.admin && nc.admin->tls) {
    std::string err;
    if (!m.admin->swapTls(*nc.admin->tls, err)) LOG_WARN("reload (%s): %s", trigger, err.c_str());
  } else if (m.admin && oc.admin && oc.admin->tls) {
    LOG_WARN("reload: admin.tls removed: that needs a restart; the admin listener stays HTTPS");
  }
  if (m.checker) m.checker->stop();  // its handles close on this loop; it touches no Server after stop()
  {
    std::vector<upstream::UpstreamGroup*> groups;
    for (auto& g : gen->groups) groups.push_back(g.get());
    m.checker = std::make_unique<HealthChecker>(&m.loop, std::move(groups), gen->upstream_tls);
    m.checker->start();
  }
  setLogLevel(nc.log_level);
  ++m.reloads_ok;
  m.last_reload_success = static_cast<double>(time(nullptr));
  out.ok = true;
  out.generation = gen->number;
  LOG_INFO("reload: generation %llu (%s) from %s: %zu route%s, %zu upstream%s, %zu listener%s (%zu new, %zu removed)",
           static_cast<unsigned long long>(gen->number), trigger, m.config_path.c_str(), nc.routes.size(),
           nc.routes.size() == 1 ? "" : "s", nc.upstreams.size(), nc.upstreams.size() == 1 ? "" : "s",
           nc.listeners.size(), nc.listeners.size() == 1 ? "" : "s", added, removed.size());
  return out;
}

}  // namespace

int runDaemon(std::shared_ptr<const conf::Config> config, const DaemonOptions& options) {
  setLogLevel(config->log_level);
  signal(SIGPIPE, SIG_IGN);
  uint32_t n = options.workers_override ? options.workers_override : config->workers;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());

  SharedState shared;
  shared.current = std::make_shared<Generation>(config, nullptr);
  shared.filter_makers = options.filters;
  shared.client_limiter = std::make_unique<ClientLimiter>(clientLimits(*config));
  const std::string& log_path = config->access_log.path;
  if (log_path == "off") {
    shared.access_log_fd = -1;
  } else if (log_path == "stdout") {
    shared.access_log_fd = STDOUT_FILENO;
  } else if (log_path == "stderr") {
    shared.access_log_fd = STDERR_FILENO;
  } else {
    shared.access_log_fd = ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (shared.access_log_fd < 0) {
      LOG_ERROR("cannot open access log %s: %s", log_path.c_str(), strerror(errno));
      return 1;
    }
  }
  shared.access_log_format = config->access_log.format;
  if (shared.access_log_fd >= 0) {
    const bool file = shared.access_log_fd > STDERR_FILENO;
    shared.access_log = std::make_unique<AccessLogSink>(shared.access_log_fd, file ? log_path : std::string(), file);
  }

  std::vector<std::vector<std::pair<size_t, int>>> fds(n);
  for (size_t i = 0; i < config->listeners.size(); ++i) {
    const auto& l = config->listeners[i];
    sockaddr_storage addr = l.address.storage;
    for (uint32_t w = 0; w < n; ++w) {
      std::string err;
      int fd = openListener(addr, l.address.length, l.backlog, err);
      if (fd < 0) {
        LOG_ERROR("cannot listen on %s: %s", l.address.text.c_str(), err.c_str());
        closeAll(fds);
        return 1;
      }
      fds[w].emplace_back(shared.current->metrics_layout->listenerSlot(i), fd);
    }
    LOG_INFO("listening on %s (port %u)", l.address.text.c_str(), portOf(addr));
  }

  MainLoop m;
  m.shared = &shared;
  m.config_path = options.config_path.empty() ? config->source_path : options.config_path;
  m.workers_overridden = options.workers_override != 0;
  m.last_reload_success = static_cast<double>(time(nullptr));
  uv_loop_init(&m.loop);
  std::vector<std::unique_ptr<Worker>> workers;
  m.workers = &workers;
  uv_async_init(&m.loop, &m.workers_done, [](uv_async_t* a) {
    auto* m = static_cast<MainLoop*>(a->data);
    if (m->finished.load() < m->workers->size()) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&m->sigterm), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&m->sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&m->sighup), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&m->sigusr1), nullptr);
    // Closing the handles restores the default actions: a second SIGTERM in the moment before the
    // process returns would kill it (exit -15) after a clean drain. Every worker is done: ignore.
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    uv_close(reinterpret_cast<uv_handle_t*>(&m->workers_done), nullptr);
    if (m->admin) m->admin->close();
    if (m->checker) m->checker->stop();
  });
  m.workers_done.data = &m;
  m.access_log = shared.access_log.get();
  for (uv_signal_t* s : {&m.sigterm, &m.sigint, &m.sighup, &m.sigusr1}) {
    uv_signal_init(&m.loop, s);
    s->data = &m;
  }
  uv_signal_start(&m.sigusr1, onReopenSignal, SIGUSR1);
  uv_signal_start(&m.sigterm, onStopSignal, SIGTERM);
  uv_signal_start(&m.sigint, onStopSignal, SIGINT);
  uv_signal_start(&m.sighup, [](uv_signal_t* s, int) { reload(*static_cast<MainLoop*>(s->data), "SIGHUP"); }, SIGHUP);

  {
    std::vector<upstream::UpstreamGroup*> groups;
    for (auto& g : shared.current->groups) groups.push_back(g.get());
    m.checker = std::make_unique<HealthChecker>(&m.loop, std::move(groups), shared.current->upstream_tls);
  }
  if (config->admin) {
    m.admin = std::make_unique<AdminServer>(&m.loop);
    AdminSources sources;
    sources.shared = &shared;
    sources.last_check = [&m](const upstream::Server& s) { return m.checker->lastResult(s); };
    sources.reload = [&m] { return reload(m, "POST /reload"); };
    sources.metrics = [&shared, &workers, &m, &options] {
      const Generation& gen = *shared.current;
      std::vector<const metrics::WorkerMetrics*> ws;
      for (const auto& w : workers) ws.push_back(&w->metrics());
      std::vector<metrics::ServerGauge> gauges;
      for (size_t u = 0; u < gen.groups.size(); ++u) {
        const auto& g = *gen.groups[u];
        const uint64_t now = g.nowMs();
        for (const auto& s : g.servers())
          gauges.push_back({u, s->index, s->available(now), s->active.load(std::memory_order_relaxed)});
      }
      metrics::ProcessState ps;
      ps.version = EDGED_VERSION_STRING;
      ps.reloads_ok = m.reloads_ok;
      ps.reloads_failed = m.reloads_failed;
      ps.last_reload_success_unix = m.last_reload_success;
      ps.generation = gen.number;
      std::string out;
      metrics::render(*gen.metrics_layout, ws, gauges, ps, out);
      appendTlsMetrics(gen, out);
      if (options.extra_metrics) options.extra_metrics(out);
      return out;
    };
    installAdminRoutes(*m.admin, std::move(sources));
    for (const AdminEndpoint& e : options.admin_endpoints) {
      m.admin->route(e.method, e.path, [h = e.handler](const AdminServer::Request& r) {
        AdminServer::Response resp;
        auto [status, body] = h(r.body);
        resp.status = status;
        resp.content_type = "application/json";
        resp.body = std::move(body);
        return resp;
      });
    }
    m.admin->requireToken([&shared] {
      const conf::Config& c = *shared.current->config;
      return c.admin ? c.admin->token : std::string();
    });
    std::string err;
    if (!m.admin->listen(config->admin->address, err, config->admin->tls ? &*config->admin->tls : nullptr)) {
      LOG_ERROR("cannot listen on admin address %s: %s", config->admin->address.text.c_str(), err.c_str());
      m.admin->close();
      m.checker->stop();
      for (uv_signal_t* sig : {&m.sigterm, &m.sigint, &m.sighup, &m.sigusr1}) uv_close(reinterpret_cast<uv_handle_t*>(sig), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&m.workers_done), nullptr);
      uv_run(&m.loop, UV_RUN_DEFAULT);
      uv_loop_close(&m.loop);
      closeAll(fds);
      return 1;
    }
    LOG_INFO("admin listener on %s", config->admin->address.text.c_str());
  }

  for (uint32_t w = 0; w < n; ++w) {
    workers.push_back(std::make_unique<Worker>(static_cast<int>(w), shared, fds[w], [&m] {
      m.finished.fetch_add(1);
      uv_async_send(&m.workers_done);
    }));
  }
  for (auto& w : workers) w->start();
  m.checker->start();
  LOG_INFO("edged started with %u worker%s", n, n == 1 ? "" : "s");
  uv_run(&m.loop, UV_RUN_DEFAULT);
  for (auto& w : workers) w->join();
  workers.clear();
  m.checker.reset();
  m.admin.reset();
  uv_loop_close(&m.loop);
  // The workers flushed at exit: write what is queued, join the writer, close the file.
  shared.access_log.reset();
  LOG_INFO("edged stopped");
  return 0;
}

}  // namespace edged::proxy
