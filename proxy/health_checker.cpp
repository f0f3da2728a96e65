// proxy/health_checker.cpp — one connection per check (Connection: close), so a check never
// rides on, or disturbs, the workers' pooled connections; only the status line is read.
#include "proxy/health_checker.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "proxy/log.h"
#include "proxy/net/net.h"
#include "proxy/net/tls/tls.h"
#include "proxy/upstream_connection.h"

namespace edged::proxy {

namespace {

// Enough for a status line and any interim (1xx) heads before it; more means a broken origin.
constexpr size_t kMaxResponseHead = 8 * 1024;

// The status of the final response in `in`: > 0 when its status line is complete, 0 when more
// bytes are needed, -1 when the bytes are not an HTTP/1.x response.
int parseStatus(std::string_view in) {
  size_t pos = 0;
  for (;;) {
    const size_t eol = in.find('\n', pos);
    if (eol == std::string_view::npos) return in.size() > kMaxResponseHead ? -1 : 0;
    const std::string_view line = in.substr(pos, eol - pos);
    // "HTTP/1.x NNN" then " reason", or the end of the line.
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." ||
        !std::isdigit(static_cast<unsigned char>(line[7])) || line[8] != ' ')
      return -1;
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(line[i]))) return -1;
      status = status * 10 + (line[i] - '0');
    }
    if (line.size() > 12 && line[12] != ' ' && line[12] != '\r') return -1;
    if (status < 100 || status > 599) return -1;
    if (status >= 200 || status == 101) return status;
    // An interim response (100, 103): the verdict belongs to the final one after it.
    const size_t end = in.find("\r\n\r\n", pos);
    if (end == std::string_view::npos) return in.size() > kMaxResponseHead ? -1 : 0;
    pos = end + 4;
  }
}

std::string describeError(int status) {
  switch (status) {
    case UV_ECONNREFUSED: return "refused";
    case UV_ETIMEDOUT: return "timeout";
    case UV_EOF: return "closed";
    case UV_ECONNRESET: return "reset";
    default: return std::string("error ") + uv_err_name(status);
  }
}

}  // namespace

struct HealthChecker::Target {
  HealthChecker* checker;  // null once stopped: nothing is observed or logged after stop()
  upstream::UpstreamGroup& group;
  upstream::Server& server;
  const conf::HealthCheckConfig check;
  upstream::HealthState state;
  const std::string request;  // the bytes of every check; outlives each probe's write
  uv_timer_t interval{};
  uv_timer_t timeout{};
  Probe* probe = nullptr;  // the check in flight, if any
  net::tls::TlsClientContext* tls = nullptr;  // https upstream: checks speak TLS (kept by the checker)
  bool due = false;        // the interval elapsed while a check was still running
  int open = 0;            // open handles: both timers and every probe not yet closed
  std::string last;

  Target(HealthChecker* c, upstream::UpstreamGroup& g, upstream::Server& s,
         const conf::HealthCheckConfig& hc)
      : checker(c),
        group(g),
        server(s),
        check(hc),
        // From the server's flag, not the config: a server kept by a reload keeps its verdict.
        state(hc.rise, hc.fall, s.healthy()),
        request("GET " + hc.path + " HTTP/1.1\r\nHost: " + s.name() +
                "\r\nConnection: close\r\nUser-Agent: edged-health-check\r\n\r\n") {}

  void initTimers(uv_loop_t* loop) {
    uv_timer_init(loop, &interval);
    uv_timer_init(loop, &timeout);
    interval.data = timeout.data = this;
    open += 2;
  }

  void begin();
  void finish(bool ok, std::string result);
  void close();
  void released();  // one handle's close callback ran

  static void onInterval(uv_timer_t* t);
  static void onTimeout(uv_timer_t* t);
  static void onTimerClosed(uv_handle_t* h) { static_cast<Target*>(h->data)->released(); }
};

struct HealthChecker::Probe {
  Target* target;
  net::Transport transport;
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  std::string in;
  bool done = false;  // the verdict is in (or the checker stopped): late callbacks do nothing

  explicit Probe(Target* t) : target(t) { write_req.data = this; }

  // Ends the check; the socket closes and this probe is freed in its close callback. Pending
  // connect/write requests call back with UV_ECANCELED before that, and find `done` set.
  void end() {
    done = true;
    transport.close(this);
  }

  // TransportHandler.
  void onTransportClosed() {
    Target* t = target;
    delete this;
    t->released();
  }

  void onTransportConnected(int status) {
    if (done) return;
    if (status < 0) {
      const std::string tls_error = transport.tlsError();
      target->finish(false, tls_error.empty() ? describeError(status) : "tls: " + tls_error);
      return;
    }
    transport.setNoDelay(true);
    const std::string& r = target->request;
    uv_buf_t b = uv_buf_init(const_cast<char*>(r.data()), static_cast<unsigned>(r.size()));
    int rc = transport.write(&write_req, &b, 1, onWrite);
    if (rc == 0) rc = transport.startReading(this);
    if (rc != 0) target->finish(false, describeError(rc));
  }

  static void onWrite(uv_write_t* req, int status) {
    auto* p = static_cast<Probe*>(req->data);
    if (p->done || status == 0) return;
    // EPIPE / ECONNRESET: the origin may still have answered (it can respond before reading
    // everything); the read side settles it, so only fail when nothing came back.
    if (p->in.empty()) p->target->finish(false, describeError(status));
  }

  void onTransportAlloc(uv_buf_t* buf) {
    static thread_local char scratch[4096];
    *buf = uv_buf_init(scratch, sizeof scratch);
  }

  void onTransportRead(ssize_t nread, const uv_buf_t* buf) {
    if (done || nread == 0) return;
    if (nread < 0) {
      const int status = parseStatus(in);
      if (status > 0) {
        settle(status);
      } else {
        target->finish(false, in.empty() ? describeError(static_cast<int>(nread)) : std::string("bad response"));
      }
      return;
    }
    in.append(buf->base, static_cast<size_t>(nread));
    const int status = parseStatus(in);
    if (status < 0)
      target->finish(false, "bad response");
    else if (status > 0)
      settle(status);
  }

  void settle(int status) {
    const conf::HealthCheckConfig& c = target->check;
    const bool ok = status >= c.expect_status_min && status <= c.expect_status_max;
    target->finish(ok, (ok ? "ok " : "status ") + std::to_string(status));
  }
};

void HealthChecker::Target::begin() {
  if (probe) {
    // A check outlasting the interval (timeout > interval): the next starts when it ends.
    due = true;
    return;
  }
  auto* p = new Probe(this);
  if (const int rc = p->transport.open(checker->loop_, p); rc != 0) {
    delete p;
    last = describeError(rc);
    return;
  }
  ++open;
  probe = p;
  if (tls) {
    std::unique_ptr<net::tls::TlsEngine> engine = tls->newEngine(upstreamHost(server.name()), server.name());
    if (!engine) {
      finish(false, "tls engine");
      return;
    }
    p->transport.useTls(std::move(engine), p);
  }
  const uint64_t timeout_ms = std::max<uint64_t>(1, static_cast<uint64_t>(check.timeout.count()));
  uv_timer_start(&timeout, onTimeout, timeout_ms, 0);
  const int rc = p->transport.connect(&p->connect_req, server.config.address.sa(), p);
  if (rc != 0) finish(false, describeError(rc));
}

void HealthChecker::Target::finish(bool ok, std::string result) {
  Probe* p = probe;
  probe = nullptr;
  uv_timer_stop(&timeout);
  p->end();
  last = std::move(result);
  if (!checker) return;
  if (state.observe(ok)) {
    const bool healthy = state.healthy();
    server.setHealthy(healthy, group.nowMs());
    const uint32_t streak = healthy ? check.rise : check.fall;
    if (healthy) {
      LOG_INFO("upstream \"%s\" server %s is now healthy (%s; %u passed check%s in a row)",
               group.name().c_str(), server.name().c_str(), last.c_str(), streak, streak == 1 ? "" : "s");
    } else {
      LOG_WARN("upstream \"%s\" server %s is now unhealthy (%s; %u failed check%s in a row)",
               group.name().c_str(), server.name().c_str(), last.c_str(), streak, streak == 1 ? "" : "s");
    }
  }
  if (due) {
    due = false;
    begin();
  }
}

void HealthChecker::Target::onInterval(uv_timer_t* t) {
  auto* self = static_cast<Target*>(t->data);
  if (!self->checker) return;
  const uint64_t interval_ms = static_cast<uint64_t>(self->check.interval.count());
  uv_timer_start(&self->interval, onInterval, self->checker->jitteredInterval(interval_ms), 0);
  self->begin();
}

void HealthChecker::Target::onTimeout(uv_timer_t* t) {
  auto* self = static_cast<Target*>(t->data);
  if (self->probe) self->finish(false, "timeout");
}

void HealthChecker::Target::close() {
  checker = nullptr;
  due = false;
  if (probe) {
    Probe* p = probe;
    probe = nullptr;
    p->end();
  }
  if (open == 0) {  // never started: no handle was ever initialized
    delete this;
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&interval), onTimerClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timeout), onTimerClosed);
}

void HealthChecker::Target::released() {
  if (--open == 0 && !checker) delete this;
}

HealthChecker::HealthChecker(uv_loop_t* loop, std::vector<upstream::UpstreamGroup*> groups,
                             std::vector<std::shared_ptr<net::tls::TlsClientContext>> tls)
    : loop_(loop), groups_(std::move(groups)), tls_(std::move(tls)), rng_(std::random_device{}()) {
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    upstream::UpstreamGroup* g = groups_[gi];
    const auto& check = g->config().health.check;
    if (!check) continue;
    for (const auto& s : g->servers()) {
      if (s->config.down) continue;
      auto* t = new Target(this, *g, *s, *check);
      if (gi < tls_.size()) t->tls = tls_[gi].get();
      targets_.push_back(t);
      by_server_[s.get()] = t;
    }
  }
}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::start() {
  if (started_ || stopped_) return;
  started_ = true;
  for (Target* t : targets_) {
    // The Server's flag starts from the same configuration; make sure picker and state agree.
    t->server.setHealthy(t->state.healthy(), t->group.nowMs());
    t->initTimers(loop_);
    const uint64_t interval_ms = static_cast<uint64_t>(t->check.interval.count());
    uv_timer_start(&t->interval, Target::onInterval, firstDelay(interval_ms), 0);
  }
  if (!targets_.empty())
    LOG_INFO("active health checks on %zu server%s", targets_.size(), targets_.size() == 1 ? "" : "s");
}

void HealthChecker::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (Target* t : targets_) t->close();
  targets_.clear();
  by_server_.clear();
}

std::string HealthChecker::lastResult(const upstream::Server& s) const {
  const auto it = by_server_.find(&s);
  return it == by_server_.end() ? std::string() : it->second->last;
}

uint64_t HealthChecker::jitteredInterval(uint64_t interval_ms) {
  interval_ms = std::max<uint64_t>(1, interval_ms);
  const uint64_t spread = interval_ms / 10;
  if (spread == 0) return interval_ms;
  return interval_ms - spread + std::uniform_int_distribution<uint64_t>(0, 2 * spread)(rng_);
}

uint64_t HealthChecker::firstDelay(uint64_t interval_ms) {
  if (interval_ms <= 1) return 0;
  return std::uniform_int_distribution<uint64_t>(0, interval_ms - 1)(rng_);
}

}  // namespace edged::proxy
