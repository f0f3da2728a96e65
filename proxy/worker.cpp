// proxy/worker.cpp — a worker's loop, listeners and drain.
#include "proxy/worker.h"

#include <sys/socket.h>

#include <unistd.h>

#include <bit>
#include <ctime>
#include <random>

#include "proxy/background_exchange.h"
#include "proxy/client_connection.h"
#include "proxy/log.h"
#include "proxy/upstream_connection.h"

namespace edged::proxy {

Generation::Generation(std::shared_ptr<const conf::Config> cfg, const Generation* previous)
    : number(previous ? previous->number + 1 : 1), config(std::move(cfg)) {
  for (const auto& u : config->upstreams) {
    const upstream::UpstreamGroup* before = nullptr;
    if (previous) {
      for (const auto& g : previous->groups) {
        if (g->name() == u.name) before = g.get();
      }
    }
    groups.push_back(std::make_unique<upstream::UpstreamGroup>(u, upstream::steadyClock(), before));
  }
  metrics_layout = std::make_unique<metrics::Layout>(*config, previous ? previous->metrics_layout.get() : nullptr);
  if (config->real_ip)
    for (const std::string& cidr : config->real_ip->from) real_ip_from.add(cidr);
  for (const auto& r : config->routes) route_access.emplace_back(r.access);
  by_slot.resize(metrics_layout->serverCapacity());
  for (size_t u = 0; u < groups.size(); ++u) {
    for (const auto& server : groups[u]->servers()) {
      by_slot[metrics_layout->serverSlot(u, server->index)] = {u, server.get()};
    }
  }
  buildTls(previous);
}

void Generation::buildTls(const Generation* previous) {
  tls_by_listener.resize(metrics_layout->listenerCapacity());
  redirect_https_by_listener.resize(metrics_layout->listenerCapacity());
  for (size_t i = 0; i < config->listeners.size(); ++i) {
    const conf::ListenerConfig& l = config->listeners[i];
    const size_t slot = metrics_layout->listenerSlot(i);
    redirect_https_by_listener[slot] = l.redirect_https;
    if (!l.tls) continue;
    std::shared_ptr<net::tls::TicketKeyRing> keys;
    if (net::tls::TlsServerContext* before = previous ? previous->tlsFor(slot) : nullptr) keys = before->sharedTicketKeys();
    net::tls::TlsLoadError error;
    tls_by_listener[slot] =
        net::tls::TlsServerContext::create(net::tls::serverSettingsFrom(*l.tls), error, std::time(nullptr), keys);
    if (!tls_by_listener[slot]) tls_errors.push_back("listen " + l.address.text + ": " + error.message);
  }
  for (const conf::UpstreamConfig& u : config->upstreams) {
    upstream_tls.emplace_back();
    if (!u.tls) continue;
    net::tls::TlsLoadError error;
    upstream_tls.back() = net::tls::TlsClientContext::create(net::tls::clientSettingsFrom(*u.tls), error);
    if (!upstream_tls.back()) tls_errors.push_back("upstream " + u.name + ": " + error.message);
  }
}

WorkerGen::WorkerGen(std::shared_ptr<const Generation> gen, const std::vector<FilterFactoryMaker>& filter_makers,
                     FilterEnv& env)
    : gen_(std::move(gen)), router_(gen_->config->routes) {
  for (const auto& g : gen_->groups) pickers_.push_back(g->makePicker());
  for (const FilterFactoryMaker& make : filter_makers) {
    if (std::unique_ptr<FilterFactory> f = make(*gen_->config, env)) {
      filter_list_.push_back(f.get());
      filters_.push_back(std::move(f));
    }
  }
}

Worker::Worker(int id, const SharedState& shared, std::vector<std::pair<size_t, int>> listen_fds,
               std::function<void()> on_exit)
    : id_(id),
      shared_(shared),
      listen_fds_(std::move(listen_fds)),
      on_exit_(std::move(on_exit)),
      metrics_(*shared.current->metrics_layout),
      pool_(*this),
      access_log_(shared.access_log.get(), shared.access_log_format) {
  gens_.push_back(std::make_unique<WorkerGen>(shared.current, shared.filter_makers, filter_env_));
  current_ = gens_.back().get();
  std::random_device rd;
  for (uint64_t& r : rng_) r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &stop_async_, [](uv_async_t* a) { static_cast<Worker*>(a->data)->beginDrain(); });
  stop_async_.data = this;
  uv_async_init(&loop_, &update_async_, [](uv_async_t* a) { static_cast<Worker*>(a->data)->applyUpdates(); });
  update_async_.data = this;
  uv_timer_init(&loop_, &grace_timer_);
  grace_timer_.data = this;
  uv_timer_init(&loop_, &tick_timer_);
  tick_timer_.data = this;
  uv_timer_init(&loop_, &resume_timer_);
  resume_timer_.data = this;
  uv_idle_init(&loop_, &posted_idle_);
  posted_idle_.data = this;
  mailbox_.init(&loop_);
}

void Worker::post(PostedTask& t) {
  if (t.posted() || finished_) return;
  // Appended at the tail: tasks run in the order they were posted.
  PostedTask** tail = &posted_;
  while (*tail) tail = &(*tail)->next;
  t.next = nullptr;
  t.pprev = tail;
  *tail = &t;
  if (!posted_idle_active_) {
    posted_idle_active_ = true;
    uv_idle_start(&posted_idle_, [](uv_idle_t* h) { static_cast<Worker*>(h->data)->runPosted(); });
  }
}

// Only the tasks posted before this pass run in it: one posted while running waits for the next
// loop iteration, so I/O is never starved.
void Worker::runPosted() {
  PostedTask* batch = posted_;
  if (batch) batch->pprev = &batch;
  posted_ = nullptr;
  while (PostedTask* t = batch) {
    cancel(*t);
    t->fn(t->owner);
  }
  if (!posted_) {
    uv_idle_stop(&posted_idle_);
    posted_idle_active_ = false;
  }
}

OriginStream* Worker::openOrigin(WorkerGen& gen, size_t upstream_index, upstream::Server& server, size_t slot,
                                 bool allow_pooled, UpstreamHandler* handler, int* error) {
  if (allow_pooled) {
    if (UpstreamConnection* conn = pool_.take(slot, uv_now(&loop_))) {
      conn->rebind(gen, upstream_index, server);
      conn->attach(handler);
      return conn;
    }
  }
  auto* conn = new UpstreamConnection(*this, gen, upstream_index, server, slot);
  if (int rc = conn->connect(handler); rc != 0) {
    *error = rc;
    conn->close();
    return nullptr;
  }
  return conn;
}

Worker::~Worker() { join(); }

// ---- background exchanges ------------------------------------------------------------------

bool Worker::startBackground(const RequestHead& request, std::string_view method, std::string_view client_ip,
                             std::string_view forwarded_for) {
  if (draining_ || finished_ || background_count_ >= kMaxBackground) return false;
  auto* x = new BackgroundExchange(*this, request, method, client_ip, forwarded_for);
  x->next = background_;
  if (background_) background_->prev = x;
  background_ = x;
  ++background_count_;
  x->start(&Worker::backgroundDone, this);
  return true;
}

void Worker::backgroundDone(void* self, BackgroundExchange* x) {
  auto* w = static_cast<Worker*>(self);
  if (x->prev) x->prev->next = x->next;
  else w->background_ = x->next;
  if (x->next) x->next->prev = x->prev;
  --w->background_count_;
  delete x;
}

// Shutdown: nobody waits for a refresh; each ends now (its origin stream closes itself).
void Worker::abortBackground() {
  while (BackgroundExchange* x = background_) {
    background_ = x->next;
    x->abort();
    delete x;
  }
  background_count_ = 0;
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::requestStop() { uv_async_send(&stop_async_); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::update(WorkerUpdate u) {
  {
    std::lock_guard<std::mutex> lock(update_mu_);
    updates_.push_back(std::move(u));
  }
  uv_async_send(&update_async_);
}

void Worker::openListener(size_t slot, int fd) {
  auto l = std::make_unique<ClientListener>();
  l->worker = this;
  l->slot = slot;
  if (int rc = l->listener.openManual(&loop_, fd); rc != 0) {
    LOG_ERROR("worker %d: cannot use listening socket: %s", id_, uv_strerror(rc));
  } else if (int rc2 = l->listener.listen(511, onConnection, l.get()); rc2 != 0) {
    LOG_ERROR("worker %d: listen failed: %s", id_, uv_strerror(rc2));
  }
  listeners_.push_back(std::move(l));
}

void Worker::run() {
  for (auto [slot, fd] : listen_fds_) openListener(slot, fd);
  listen_fds_.clear();
  // Read buffers warm from the start (io_buffer.h): a burst of new exchanges finds them present.
  buffers_.prefill(kWarmBuffers);
  // The access log is handed to the writer thread at least once a second (never written here);
  // generations no longer used are freed at the same pace.
  uv_timer_start(&tick_timer_, [](uv_timer_t* t) {
    auto* w = static_cast<Worker*>(t->data);
    w->access_log_.flush();
    w->freeUnusedGens();
  }, 1000, 1000);
  uv_run(&loop_, UV_RUN_DEFAULT);
  access_log_.flush();
  {
    // Updates that arrived after the drain began: their sockets were never opened here.
    std::lock_guard<std::mutex> lock(update_mu_);
    for (auto& u : updates_)
      for (auto [slot, fd] : u.add_listeners) ::close(fd);
    updates_.clear();
  }
  if (int rc = uv_loop_close(&loop_); rc != 0) {
    LOG_ALERT("worker %d: handles still open at exit (%s)", id_, uv_strerror(rc));
    uv_walk(&loop_, [](uv_handle_t* h, void*) { LOG_ALERT("  open handle: %s", uv_handle_type_name(h->type)); }, nullptr);
  }
  on_exit_();
}

void Worker::onConnection(void* owner, Listener& listener, int status) {
  auto* l = static_cast<ClientListener*>(owner);
  Worker* w = l->worker;
  if (status < 0) {
    if (status == UV_EMFILE || status == UV_ENFILE)
      LOG_WARN("accept failed: %s: not accepting for %llu ms", uv_strerror(status),
               static_cast<unsigned long long>(Listener::kOutOfFdsPauseMs));
    else
      LOG_WARN("accept failed: %s", uv_strerror(status));
    return;
  }
  if (!w->admitConnection(*l)) {
    // Left in the listener: taken when a place frees up (resumeListeners).
    listener.pause();
    if (w->paused_listeners_++ == 0)
      uv_timer_start(&w->resume_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->resumeListeners(); }, 20, 20);
    return;
  }
  auto* c = new ClientConnection(*w, l->slot);
  w->add(c);
  if (w->proxyProtocol(l->slot)) c->expectProxyHeader();
  c->accept(listener);  // on failure it closes itself and leaves the list in its close callback
}

uint32_t Worker::maxConnections(size_t slot) const {
  return slot < SharedState::kCountedListeners ? config().limits.max_connections : 0;
}

bool Worker::proxyProtocol(size_t slot) {
  const conf::Config& c = config();
  for (size_t i = 0; i < c.listeners.size(); ++i)
    if (current_->layout().listenerSlot(i) == slot) return c.listeners[i].proxy_protocol;
  return false;
}

// Counted before the connection exists, so that workers racing for the last place cannot both
// take it.
bool Worker::admitConnection(ClientListener& l) {
  if (l.slot >= SharedState::kCountedListeners) return true;
  auto& count = const_cast<SharedState&>(shared_).listener_connections[l.slot];
  const uint32_t max = maxConnections(l.slot);
  uint32_t n = count.load(std::memory_order_relaxed);
  do {
    if (max != 0 && n >= max) return false;
  } while (!count.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  return true;
}

void Worker::connectionGone(size_t slot) {
  if (slot >= SharedState::kCountedListeners) return;
  const_cast<SharedState&>(shared_).listener_connections[slot].fetch_sub(1, std::memory_order_relaxed);
  if (paused_listeners_ > 0) resumeListeners();
}

void Worker::resumeListeners() {
  for (auto& l : listeners_) {
    if (!l->listener.paused() || l->listener.closing()) continue;
    --paused_listeners_;
    l->listener.resume();  // offers the held connection again: paused again if still full
  }
  if (paused_listeners_ == 0) uv_timer_stop(&resume_timer_);
}

void Worker::releaseGen(WorkerGen* g) {
  g->unref();
  // Freed later (freeUnusedGens), never inside the call chain that let go of it.
}

void Worker::freeUnusedGens() {
  for (size_t i = 0; i + 1 < gens_.size();) {
    if (gens_[i].get() != current_ && gens_[i]->unused()) {
      gens_.erase(gens_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

void Worker::applyUpdates() {
  std::vector<WorkerUpdate> updates;
  {
    std::lock_guard<std::mutex> lock(update_mu_);
    updates.swap(updates_);
  }
  for (auto& u : updates) apply(u);
}

void Worker::apply(WorkerUpdate& u) {
  if (draining_) {  // shutting down: the new generation is not needed, its sockets neither
    for (auto [slot, fd] : u.add_listeners) ::close(fd);
    return;
  }
  metrics_.adopt(*u.gen->metrics_layout);
  gens_.push_back(std::make_unique<WorkerGen>(u.gen, shared_.filter_makers, filter_env_));
  current_ = gens_.back().get();
  pool_.adopt(*current_);
  for (size_t slot : u.remove_listeners) {
    for (auto& l : listeners_) {
      if (l->slot == slot) closeListener(*l);
    }
  }
  for (auto [slot, fd] : u.add_listeners) openListener(slot, fd);
  freeUnusedGens();
}

void Worker::closeListener(ClientListener& l) {
  if (l.listener.closing()) return;
  // Connections the kernel already completed wait in the accept queue: closing the listener
  // would reset them. Take them first.
  if (l.listener.paused()) {
    --paused_listeners_;
    if (paused_listeners_ == 0) uv_timer_stop(&resume_timer_);
  }
  for (int n = 0; n < 4096; ++n) {
    const int c = l.listener.acceptFd();
    if (c < 0) break;
    if (l.slot < SharedState::kCountedListeners)
      const_cast<SharedState&>(shared_).listener_connections[l.slot].fetch_add(1, std::memory_order_relaxed);
    auto* conn = new ClientConnection(*this, l.slot);
    if (proxyProtocol(l.slot)) conn->expectProxyHeader();
    add(conn);
    conn->adopt(c);
  }
  l.listener.close();
}

void Worker::newRequestId(char out[32]) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int half = 0; half < 2; ++half) {
    // xoshiro256**
    const uint64_t result = std::rotl(rng_[1] * 5, 7) * 9;
    const uint64_t t = rng_[1] << 17;
    rng_[2] ^= rng_[0];
    rng_[3] ^= rng_[1];
    rng_[1] ^= rng_[2];
    rng_[0] ^= rng_[3];
    rng_[2] ^= t;
    rng_[3] = std::rotl(rng_[3], 45);
    for (int i = 0; i < 16; ++i) out[half * 16 + i] = kHex[(result >> (60 - 4 * i)) & 15];
  }
}

void Worker::add(ClientConnection* c) {
  c->prev = nullptr;
  c->next = clients_;
  if (clients_) clients_->prev = c;
  clients_ = c;
  ++client_count_;
}

void Worker::remove(ClientConnection* c) {
  if (c->prev) c->prev->next = c->next;
  else clients_ = c->next;
  if (c->next) c->next->prev = c->prev;
  --client_count_;
  connectionGone(c->listenerSlot());  // may accept a connection that waited for this place
  if (draining_) maybeFinish();
}

void Worker::beginDrain() {
  if (draining_) return;
  draining_ = true;
  // What waits in the accept queues is taken and answered with Connection: close (drain() below).
  for (auto& l : listeners_) closeListener(*l);
  abortBackground();
  pool_.closeAll();
  for (ClientConnection* c = clients_; c;) {
    ClientConnection* next = c->next;
    c->drain();
    c = next;
  }
  const uint64_t grace = static_cast<uint64_t>(config().timeouts.shutdown_grace.count());
  uv_timer_start(&grace_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->forceCloseAll(); }, grace, 0);
  maybeFinish();
}

void Worker::forceCloseAll() {
  if (client_count_ > 0) LOG_WARN("worker %d: closing %zu connections at the end of shutdown_grace", id_, client_count_);
  for (ClientConnection* c = clients_; c;) {
    ClientConnection* next = c->next;
    c->close();
    c = next;
  }
}

void Worker::maybeFinish() {
  if (finished_ || client_count_ > 0) return;
  finished_ = true;
  pool_.closeAll();
  client_timers_.close();
  posted_flushes_.close();
  while (posted_) cancel(*posted_);
  uv_close(reinterpret_cast<uv_handle_t*>(&posted_idle_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&resume_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&update_async_), nullptr);
  mailbox_.close();
  for (auto& g : gens_) g->closeFilterHandles();
}

}  // namespace edged::proxy
