// proxy/worker.h — one worker thread: its uv loop, its SO_REUSEPORT listeners, its client
// connections, its idle upstream connections, its buffers and its access log. Nothing here is
// touched by another thread except requestStop().
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "conf/config.h"
#include "proxy/access_log.h"
#include "proxy/active_client_pool.h"
#include "proxy/client_timers.h"
#include "proxy/connection_pool.h"
#include "proxy/filter.h"
#include "proxy/io_buffer.h"
#include "proxy/metrics/metrics.h"
#include "proxy/proxy.h"
#include "upstream/upstream.h"

namespace edged::proxy {

class ClientConnection;

// What all workers share: immutable config and upstream groups (Server counters are atomic).
struct SharedState {
  std::shared_ptr<const conf::Config> config;
  std::vector<std::unique_ptr<upstream::UpstreamGroup>> groups;  // parallel to config->upstreams
  int access_log_fd = -1;  // -1: off
  conf::AccessLogFormat access_log_format = conf::AccessLogFormat::Combined;
  // The process's access log writer thread (null: off); outlives the workers.
  std::unique_ptr<AccessLogSink> access_log;
  std::unique_ptr<metrics::Layout> metrics_layout;
  std::function<std::unique_ptr<FilterFactory>(const conf::Config&)> make_filters;
};

class Worker {
 public:
  Worker(int id, const SharedState& shared, std::vector<int> listen_fds, std::function<void()> on_exit);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void requestStop();  // thread-safe
  void join();

  int id() const { return id_; }
  uv_loop_t* loop() { return &loop_; }
  const conf::Config& config() const { return *shared_.config; }
  const Router& router() const { return router_; }
  upstream::UpstreamPicker& picker(size_t upstream_index) { return *pickers_[upstream_index]; }
  ConnectionPool& pool() { return pool_; }
  BufferPool& buffers() { return buffers_; }
  ActiveClientPool& activeClients() { return active_clients_; }
  ClientTimers& clientTimers() { return client_timers_; }
  AccessLog& accessLog() { return access_log_; }
  metrics::WorkerMetrics& metrics() { return metrics_; }
  FilterFactory* filters() { return filters_.get(); }
  // 128 random bits as 32 hex digits (X-Request-Id); xoshiro256** seeded from the OS per worker.
  void newRequestId(char out[32]);
  // Scratch space for building a head, used and copied out within one call (never kept).
  std::vector<Header>& headerScratch() { return header_scratch_; }
  std::string& textScratch() { return text_scratch_; }
  std::vector<Header>& requestHeaderScratch() { return request_header_scratch_; }
  const metrics::WorkerMetrics& metrics() const { return metrics_; }
  bool draining() const { return draining_; }

  void add(ClientConnection* c);
  void remove(ClientConnection* c);  // from the connection's close callback

 private:
  struct Listener {
    uv_tcp_t handle;
    Worker* worker;
    size_t index;
  };
  void run();
  void beginDrain();
  void maybeFinish();
  void forceCloseAll();
  static void onConnection(uv_stream_t* server, int status);

  int id_;
  const SharedState& shared_;
  std::vector<int> listen_fds_;
  std::function<void()> on_exit_;
  uv_loop_t loop_{};
  uv_async_t stop_async_{};
  uv_timer_t grace_timer_{};
  uv_timer_t tick_timer_{};
  std::vector<std::unique_ptr<Listener>> listeners_;
  Router router_;
  std::vector<std::unique_ptr<upstream::UpstreamPicker>> pickers_;
  BufferPool buffers_;
  ActiveClientPool active_clients_;
  ClientTimers client_timers_{&loop_};
  ConnectionPool pool_;
  AccessLog access_log_;
  metrics::WorkerMetrics metrics_;
  std::unique_ptr<FilterFactory> filters_;
  uint64_t rng_[4] = {};
  std::vector<Header> header_scratch_;
  std::vector<Header> request_header_scratch_;
  std::string text_scratch_;
  ClientConnection* clients_ = nullptr;  // intrusive list
  size_t client_count_ = 0;
  bool draining_ = false;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace edged::proxy
