// tools/backend/worker.h — one worker process: its uv loop, its SO_REUSEPORT listener, its pools,
// its Redis clients and L1, and the drain on SIGTERM (stop accepting, finish requests within the
// grace period, close pools and clients, run the loop to the end).
#pragma once

#include <uv.h>

#include "proxy/net/net.h"

#include <memory>

#include "tools/backend/backend.h"
#include "tools/backend/http_connection.h"
#include "tools/backend/metrics.h"

namespace edged::backend {

class Worker {
 public:
  Worker(const BackendOptions& options, SharedMetrics& metrics, size_t slot);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();
  // Runs until drained after SIGTERM/SIGINT; the process exit code.
  int run(int port);

 private:
  static void onConnection(void* owner, net::Listener& listener, int status);
  static void onSignal(uv_signal_t* s, int signum);
  static void onSweep(uv_timer_t* t);
  void beginShutdown();
  void finishShutdown();

  const BackendOptions& options_;
  SharedMetrics& shared_;
  MetricsSlot& metrics_;
  uv_loop_t loop_{};
  net::Listener listener_;
  uv_signal_t sigterm_{}, sigint_{};
  uv_timer_t sweep_{};
  HttpServerContext http_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<RedisCache> redis_;
  std::unique_ptr<EdgedPurger> purger_;
  std::unique_ptr<UsersApi> api_;
  bool shutting_down_ = false;
  bool finished_ = false;
  uint64_t shutdown_deadline_ms_ = 0;
};

}  // namespace edged::backend
