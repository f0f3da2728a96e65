// proxy/daemon.cpp — process start-up and shutdown: listening sockets (one SO_REUSEPORT socket
// per worker per listener), worker threads, signals.
#include <fcntl.h>
#include <netinet/in.h>
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
#include "proxy/proxy.h"
#include "proxy/worker.h"

#ifndef EDGED_VERSION_STRING
#define EDGED_VERSION_STRING "0.1.0"
#endif

namespace edged::proxy {

namespace {

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
  std::unique_ptr<AdminServer> admin;
  std::unique_ptr<HealthChecker> checker;
  uv_signal_t sigterm{}, sigint{}, sighup{}, sigusr1{};
  AccessLogSink* access_log = nullptr;
  uv_async_t workers_done{};
  std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  std::atomic<size_t> finished{0};
  bool stopping = false;
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

}  // namespace

int runDaemon(std::shared_ptr<const conf::Config> config, const DaemonOptions& options) {
  setLogLevel(config->log_level);
  signal(SIGPIPE, SIG_IGN);
  uint32_t n = options.workers_override ? options.workers_override : config->workers;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());

  SharedState shared;
  shared.config = config;
  for (const auto& u : config->upstreams) shared.groups.push_back(std::make_unique<upstream::UpstreamGroup>(u));
  shared.metrics_layout = std::make_unique<metrics::Layout>(*config);
  shared.make_filters = options.make_filters;
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

  std::vector<std::vector<int>> fds(n);
  for (const auto& l : config->listeners) {
    sockaddr_storage addr = l.address.storage;
    for (uint32_t w = 0; w < n; ++w) {
      std::string err;
      int fd = openListener(addr, l.address.length, l.backlog, err);
      if (fd < 0) {
        LOG_ERROR("cannot listen on %s: %s", l.address.text.c_str(), err.c_str());
        for (auto& v : fds)
          for (int f : v) ::close(f);
        return 1;
      }
      fds[w].push_back(fd);
    }
    LOG_INFO("listening on %s (port %u)", l.address.text.c_str(), portOf(addr));
  }

  MainLoop m;
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
  uv_signal_start(&m.sighup, [](uv_signal_t*, int) { LOG_WARN("SIGHUP: configuration reload is not supported yet"); }, SIGHUP);

  {
    std::vector<upstream::UpstreamGroup*> groups;
    for (auto& g : shared.groups) groups.push_back(g.get());
    m.checker = std::make_unique<HealthChecker>(&m.loop, std::move(groups));
  }
  if (config->admin) {
    m.admin = std::make_unique<AdminServer>(&m.loop);
    AdminSources sources;
    sources.shared = &shared;
    sources.last_check = [&m](const upstream::Server& s) { return m.checker->lastResult(s); };
    sources.metrics = [&shared, &workers, start = static_cast<double>(time(nullptr))] {
      std::vector<const metrics::WorkerMetrics*> ws;
      for (const auto& w : workers) ws.push_back(&w->metrics());
      std::vector<metrics::ServerGauge> gauges;
      for (size_t u = 0; u < shared.groups.size(); ++u) {
        const auto& g = *shared.groups[u];
        const uint64_t now = g.nowMs();
        for (const auto& s : g.servers())
          gauges.push_back({u, s->index, s->available(now), s->active.load(std::memory_order_relaxed)});
      }
      metrics::ProcessState ps;
      ps.version = EDGED_VERSION_STRING;
      ps.reloads_ok = 1;
      ps.last_reload_success_unix = start;
      std::string out;
      metrics::render(*shared.metrics_layout, ws, gauges, ps, out);
      return out;
    };
    installAdminRoutes(*m.admin, std::move(sources));
    std::string err;
    if (!m.admin->listen(config->admin->address, err)) {
      LOG_ERROR("cannot listen on admin address %s: %s", config->admin->address.text.c_str(), err.c_str());
      m.admin->close();
      m.checker->stop();
      for (uv_signal_t* sig : {&m.sigterm, &m.sigint, &m.sighup, &m.sigusr1}) uv_close(reinterpret_cast<uv_handle_t*>(sig), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&m.workers_done), nullptr);
      uv_run(&m.loop, UV_RUN_DEFAULT);
      uv_loop_close(&m.loop);
      for (auto& v : fds)
        for (int f : v) ::close(f);
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
