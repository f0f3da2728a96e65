// tools/backend/pg_pool.h — a bounded pool of PgConnections to one server: at most `max`
// connections, `min_idle` kept warm, idle ones closed after `idle_timeout_ms`, a bounded queue of
// waiters each failed after `acquire_timeout_ms` (the caller answers 503 + Retry-After), and a
// periodic `SELECT 1` on an idle connection. A pool that cannot connect is unhealthy and fails
// acquisitions at once (callers fall back to another pool).
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tools/backend/metrics.h"
#include "tools/backend/pg_connection.h"

namespace edged::backend {

struct PoolOptions {
  size_t max = 8;
  size_t min_idle = 1;
  uint64_t idle_timeout_ms = 30000;
  uint64_t acquire_timeout_ms = 1000;
  size_t max_waiters = 512;
  uint64_t health_interval_ms = 1000;
};

class PgPool {
 public:
  // A leased connection, or null: no connection within the timeout, the queue is full, or the
  // server is unreachable. A lease goes back through release() exactly once.
  using AcquireDone = std::function<void(PgConnection*)>;

  PgPool(uv_loop_t* loop, std::string name, std::string dsn, PoolOptions options, PoolCells& cells);
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;
  ~PgPool();

  void acquire(AcquireDone done);
  // Hands a lease back; a broken or busy connection is closed instead of pooled.
  void release(PgConnection* conn);
  // Stops the timer and closes idle connections; leases still out are closed as they come back.
  void close();

  bool healthy() const { return healthy_; }
  const std::string& name() const { return name_; }
  size_t leased() const { return leased_; }

 private:
  struct Waiter {
    AcquireDone done;
    uint64_t since_ms;
  };
  static void onTimer(uv_timer_t* t);
  void tick();
  void startConnect();
  void onConnected(PgConnection* conn, bool ok);
  void handOut(PgConnection* conn);
  void failWaiters();
  void destroyLater(std::unique_ptr<PgConnection> conn);
  void publish();
  size_t total() const { return idle_.size() + leased_ + connecting_.size(); }

  uv_loop_t* loop_;
  std::string name_;
  std::string dsn_;
  PoolOptions options_;
  PoolCells& cells_;
  uv_timer_t* timer_ = nullptr;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // most recently used last
  std::vector<std::unique_ptr<PgConnection>> connecting_;
  std::vector<std::unique_ptr<PgConnection>> leases_;
  size_t leased_ = 0;
  std::deque<Waiter> waiters_;
  bool healthy_ = true;
  bool closed_ = false;
  bool health_check_out_ = false;
  uint64_t last_health_ms_ = 0;
  uint64_t last_connect_fail_ms_ = 0;
};

}  // namespace edged::backend
