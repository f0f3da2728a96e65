// tools/backend/worker.cpp — each worker binds its own SO_REUSEPORT socket on the port the
// supervisor holds, so the kernel spreads connections evenly and a restarted worker just binds
// again (libuv 1.44 has no UV_TCP_REUSEPORT: the socket is made here and handed to uv_tcp_open).
#include "tools/backend/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

namespace edged::backend {

Worker::Worker(const BackendOptions& options, SharedMetrics& metrics, size_t slot)
    : options_(options), shared_(metrics), metrics_(metrics.slot(slot)) {
  uv_loop_init(&loop_);
  metrics_.pid.store(getpid());
}

Worker::~Worker() {
  api_.reset();
  purger_.reset();
  redis_.reset();
  db_.reset();
  uv_run(&loop_, UV_RUN_DEFAULT);  // close callbacks of what the resets closed
  if (uv_loop_close(&loop_) != 0) std::fprintf(stderr, "backend: [error] handles left open at exit\n");
}

int Worker::run(int port) {
  http_.loop = &loop_;
  http_.limits = options_.http;
  db_ = std::make_unique<Database>(&loop_, options_.db, metrics_);
  UsersApi* api_raw = nullptr;
  if (options_.redis_enabled) {
    redis_ = std::make_unique<RedisCache>(
        &loop_, options_.redis, metrics_, [&api_raw](std::string_view keys) { if (api_raw) api_raw->invalidateLocal(keys); },
        [&api_raw](bool live) { if (api_raw) api_raw->setL1Enabled(live); });
  }
  ApiOptions api_options = options_.api;
  api_options.replicas = static_cast<int>(options_.db.replica_dsns.size());
  if (!options_.edged_purge.host.empty()) purger_ = std::make_unique<EdgedPurger>(&loop_, options_.edged_purge, metrics_);
  api_ = std::make_unique<UsersApi>(&loop_, api_options, *db_, redis_.get(), shared_, metrics_, purger_.get());
  api_raw = api_.get();
  if (!options_.redis_enabled) api_->setL1Enabled(true);  // no other process to hear from... but
  // with more than one process and no Redis nobody hears invalidations: L1 stays off then.
  if (!options_.redis_enabled && options_.processes > 1) api_->setL1Enabled(false);
  http_.handler = [this](const HttpConnectionPtr& c) { api_->handle(c); };
  http_.on_response = [this](int status) {
    if (status >= 500) metrics_.responses_5xx.fetch_add(1, std::memory_order_relaxed);
    else if (status >= 400) metrics_.responses_4xx.fetch_add(1, std::memory_order_relaxed);
  };

  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, options_.host.c_str(), &addr.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 1024) != 0) {
    std::perror("backend: [error] worker bind/listen");
    ::close(fd);
    return 1;
  }
  if (listener_.open(&loop_, fd) != 0 || listener_.listen(1024, onConnection, this) != 0) {
    std::perror("backend: [error] worker listen");
    listener_.close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    return 1;
  }

  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  uv_signal_start(&sigterm_, onSignal, SIGTERM);
  uv_signal_start(&sigint_, onSignal, SIGINT);
  uv_timer_init(&loop_, &sweep_);
  sweep_.data = this;
  uv_timer_start(&sweep_, onSweep, 1000, 1000);

  uv_run(&loop_, UV_RUN_DEFAULT);
  return 0;
}

void Worker::onConnection(void* owner, net::Listener& listener, int status) {
  auto* self = static_cast<Worker*>(owner);
  if (status < 0 || self->shutting_down_) return;
  HttpConnection::accept(listener, self->http_);
}

void Worker::onSignal(uv_signal_t* s, int) { static_cast<Worker*>(s->data)->beginShutdown(); }

void Worker::beginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  http_.draining = true;
  shutdown_deadline_ms_ = uv_now(&loop_) + options_.shutdown_grace_ms;
  listener_.close();
  uv_timer_start(&sweep_, onSweep, 0, 20);
}

void Worker::onSweep(uv_timer_t* t) {
  auto* self = static_cast<Worker*>(t->data);
  const uint64_t now = uv_now(&self->loop_);
  std::vector<HttpConnectionPtr> to_close;
  for (const HttpConnectionPtr& c : self->http_.open) {
    if (c->closed()) continue;
    const bool idle = !c->busy();
    if ((self->shutting_down_ && (idle || now >= self->shutdown_deadline_ms_)) ||
        (idle && now - c->lastActiveMs() >= self->options_.http.idle_timeout_ms))
      to_close.push_back(c);
  }
  for (const HttpConnectionPtr& c : to_close) c->close();
  if (self->shutting_down_ && self->http_.in_flight == 0 && !self->finished_) self->finishShutdown();
}

void Worker::finishShutdown() {
  finished_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  if (redis_) redis_->close();
  if (purger_) purger_->closeAll();
  db_->close();
  metrics_.pid.store(0);
}

}  // namespace edged::backend
