// tools/backend/pg_pool.cpp — never an unbounded queue: a request either gets a connection within
// the acquire timeout or a fast "no", so an overloaded or dead database turns into 503s, not into
// memory growth and latency collapse.
#include "tools/backend/pg_pool.h"

#include <algorithm>
#include <cstdio>

namespace edged::backend {

namespace {
// Connections destroyed from inside their own callback chain are freed from an idle handle on
// the next loop iteration instead (a connection never dies inside its own frame).
struct Graveyard {
  uv_idle_t idle;
  std::vector<std::unique_ptr<PgConnection>> dead;
};
}  // namespace

PgPool::PgPool(uv_loop_t* loop, std::string name, std::string dsn, PoolOptions options, PoolCells& cells)
    : loop_(loop), name_(std::move(name)), dsn_(std::move(dsn)), options_(options), cells_(cells) {
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_timer_start(timer_, onTimer, 100, 100);
  tick();
}

PgPool::~PgPool() { close(); }

void PgPool::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer_ = nullptr;
  failWaiters();
  idle_.clear();
  // A connection still connecting has no user: drop it through the posted queue.
  for (auto& c : connecting_) destroyLater(std::move(c));
  connecting_.clear();
  publish();
}

void PgPool::destroyLater(std::unique_ptr<PgConnection> conn) {
  auto* g = new Graveyard;
  g->dead.push_back(std::move(conn));
  uv_idle_init(loop_, &g->idle);
  g->idle.data = g;
  uv_idle_start(&g->idle, [](uv_idle_t* h) {
    auto* grave = static_cast<Graveyard*>(h->data);
    grave->dead.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* hh) { delete static_cast<Graveyard*>(hh->data); });
  });
}

void PgPool::publish() {
  cells_.size.store(static_cast<int64_t>(total()), std::memory_order_relaxed);
  cells_.idle.store(static_cast<int64_t>(idle_.size()), std::memory_order_relaxed);
  cells_.waiters.store(static_cast<int64_t>(waiters_.size()), std::memory_order_relaxed);
}

void PgPool::onTimer(uv_timer_t* t) { static_cast<PgPool*>(t->data)->tick(); }

void PgPool::tick() {
  if (closed_) return;
  const uint64_t now = uv_now(loop_);
  // Waiters past the acquire timeout get their "no" (oldest first: the queue is in order).
  while (!waiters_.empty() && now - waiters_.front().since_ms >= options_.acquire_timeout_ms) {
    auto done = std::move(waiters_.front().done);
    waiters_.pop_front();
    cells_.timeouts.fetch_add(1, std::memory_order_relaxed);
    publish();
    done(nullptr);
    if (closed_) return;
  }
  // Idle connections past the idle timeout close, down to min_idle; dead ones always.
  for (size_t i = 0; i < idle_.size();) {
    const bool expired = now - idle_[i]->lastUsedMs() >= options_.idle_timeout_ms && idle_.size() > options_.min_idle;
    if (idle_[i]->broken() || expired)
      idle_.erase(idle_.begin() + static_cast<long>(i));
    else
      ++i;
  }
  // Keep min_idle warm; an unreachable server is retried once per health interval.
  const bool may_connect = healthy_ || now - last_connect_fail_ms_ >= options_.health_interval_ms;
  if (may_connect && idle_.size() + connecting_.size() < options_.min_idle && total() < options_.max) startConnect();
  // Health check on the least recently used idle connection.
  if (!health_check_out_ && !idle_.empty() && now - last_health_ms_ >= options_.health_interval_ms) {
    last_health_ms_ = now;
    health_check_out_ = true;
    std::unique_ptr<PgConnection> conn = std::move(idle_.front());
    idle_.erase(idle_.begin());
    PgConnection* raw = conn.get();
    leases_.push_back(std::move(conn));
    ++leased_;
    raw->query("SELECT 1", [this, raw](PgResult r) {
      health_check_out_ = false;
      const bool ok = pgOk(r.get());
      if (!ok && healthy_) std::fprintf(stderr, "backend: [warn] pool %s: health check failed\n", name_.c_str());
      healthy_ = ok;
      release(raw);
    });
  }
  publish();
}

void PgPool::startConnect() {
  auto conn = std::make_unique<PgConnection>(loop_);
  PgConnection* raw = conn.get();
  connecting_.push_back(std::move(conn));
  publish();
  raw->connect(dsn_, [this, raw](bool ok) { onConnected(raw, ok); });
}

void PgPool::onConnected(PgConnection* raw, bool ok) {
  auto it = std::find_if(connecting_.begin(), connecting_.end(), [raw](const auto& c) { return c.get() == raw; });
  if (it == connecting_.end()) return;
  std::unique_ptr<PgConnection> conn = std::move(*it);
  connecting_.erase(it);
  if (!ok) {
    cells_.connect_failures.fetch_add(1, std::memory_order_relaxed);
    if (healthy_) std::fprintf(stderr, "backend: [warn] pool %s: connect failed: %s\n", name_.c_str(), conn->errorMessage().c_str());
    healthy_ = false;
    last_connect_fail_ms_ = uv_now(loop_);
    destroyLater(std::move(conn));
    // Nobody is going to come back with a connection soon: fail the waiters now.
    if (leased_ == 0 && connecting_.empty()) failWaiters();
    publish();
    return;
  }
  healthy_ = true;
  conn->touch(uv_now(loop_));
  idle_.push_back(std::move(conn));
  if (!waiters_.empty()) {
    PgConnection* c = idle_.back().release();
    idle_.pop_back();
    handOut(c);
  }
  publish();
}

void PgPool::handOut(PgConnection* conn) {
  leases_.emplace_back(conn);
  ++leased_;
  Waiter w = std::move(waiters_.front());
  waiters_.pop_front();
  const uint64_t waited = uv_now(loop_) - w.since_ms;
  cells_.wait_us.fetch_add(waited * 1000, std::memory_order_relaxed);
  publish();
  w.done(conn);
}

void PgPool::failWaiters() {
  std::deque<Waiter> failed;
  failed.swap(waiters_);
  cells_.rejected.fetch_add(failed.size(), std::memory_order_relaxed);
  publish();
  for (Waiter& w : failed) w.done(nullptr);
}

void PgPool::acquire(AcquireDone done) {
  cells_.acquires.fetch_add(1, std::memory_order_relaxed);
  if (closed_) return done(nullptr);
  while (!idle_.empty()) {
    std::unique_ptr<PgConnection> conn = std::move(idle_.back());
    idle_.pop_back();
    if (conn->broken()) continue;
    PgConnection* raw = conn.get();
    leases_.push_back(std::move(conn));
    ++leased_;
    publish();
    return done(raw);
  }
  const uint64_t now = uv_now(loop_);
  if (!healthy_ && now - last_connect_fail_ms_ < options_.health_interval_ms && leased_ == 0) {
    // Known down and nothing will come back: fail fast so the caller can fall back.
    cells_.rejected.fetch_add(1, std::memory_order_relaxed);
    return done(nullptr);
  }
  if (waiters_.size() >= options_.max_waiters) {
    cells_.rejected.fetch_add(1, std::memory_order_relaxed);
    return done(nullptr);
  }
  cells_.waits.fetch_add(1, std::memory_order_relaxed);
  waiters_.push_back({std::move(done), now});
  if (total() < options_.max) startConnect();
  publish();
}

void PgPool::release(PgConnection* conn) {
  auto it = std::find_if(leases_.begin(), leases_.end(), [conn](const auto& c) { return c.get() == conn; });
  if (it == leases_.end()) return;
  std::unique_ptr<PgConnection> owned = std::move(*it);
  *it = std::move(leases_.back());
  leases_.pop_back();
  --leased_;
  // release() is often called from the connection's own query callback: free it later.
  if (closed_ || owned->broken() || owned->busy()) {
    destroyLater(std::move(owned));
    if (!closed_ && total() < options_.max && !waiters_.empty()) startConnect();
    publish();
    return;
  }
  owned->touch(uv_now(loop_));
  if (!waiters_.empty()) return handOut(owned.release());
  idle_.push_back(std::move(owned));
  publish();
}

}  // namespace edged::backend
