// proxy/worker.h — one worker thread: its uv loop, its SO_REUSEPORT listeners, its client
// connections, its idle upstream connections, its buffers and its access log. Nothing here is
// touched by another thread except requestStop().
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "conf/config.h"
#include "proxy/access_log.h"
#include "proxy/active_client_pool.h"
#include "proxy/client_timers.h"
#include "proxy/connection_pool.h"
#include "proxy/filter.h"
#include "proxy/metrics/metrics.h"
#include "proxy/net_names.h"
#include "proxy/proxy.h"
#include "upstream/upstream.h"

namespace edged::proxy {

class ClientConnection;

// One loaded configuration and what the process builds from it once (a "generation"): the
// upstream groups (their Servers' runtime is carried over from the previous generation for
// servers that stay) and the metrics layout. Immutable after construction but for Server atomics;
// shared by the workers, which each hold it for as long as a request, tunnel or connection
// started under it lives.
struct Generation {
  uint64_t number = 1;
  std::shared_ptr<const conf::Config> config;
  std::vector<std::unique_ptr<upstream::UpstreamGroup>> groups;  // parallel to config->upstreams
  std::unique_ptr<metrics::Layout> metrics_layout;
  struct ServerRef {
    size_t upstream = 0;
    upstream::Server* server = nullptr;  // null: no server has this slot in this generation
  };
  std::vector<ServerRef> by_slot;  // indexed by metrics server slot

  // `previous`: the generation this one replaces (null at start-up).
  Generation(std::shared_ptr<const conf::Config> config, const Generation* previous);
  const ServerRef* serverAt(size_t slot) const {
    return slot < by_slot.size() && by_slot[slot].server ? &by_slot[slot] : nullptr;
  }
};

// What all workers share.
struct SharedState {
  // The running generation. Read and replaced on the main thread only (admin, reload); workers
  // receive theirs through Worker::update().
  std::shared_ptr<const Generation> current;
  int access_log_fd = -1;  // -1: off
  conf::AccessLogFormat access_log_format = conf::AccessLogFormat::Combined;
  // The process's access log writer thread (null: off); outlives the workers.
  std::unique_ptr<AccessLogSink> access_log;
  std::function<std::unique_ptr<FilterFactory>(const conf::Config&)> make_filters;
};

// One worker's state for one generation: the router, balancer state (pickers) and response
// filters. Sessions and upstream connections hold a reference (a plain count: it never leaves
// the worker's thread); a generation that is no longer current is freed once unreferenced.
class WorkerGen {
 public:
  WorkerGen(std::shared_ptr<const Generation> gen,
            const std::function<std::unique_ptr<FilterFactory>(const conf::Config&)>& make_filters);
  const Generation& generation() const { return *gen_; }
  const conf::Config& config() const { return *gen_->config; }
  const metrics::Layout& layout() const { return *gen_->metrics_layout; }
  const Router& router() const { return router_; }
  upstream::UpstreamPicker& picker(size_t upstream_index) { return *pickers_[upstream_index]; }
  FilterFactory* filters() { return filters_.get(); }

  void ref() { ++refs_; }
  void unref() { --refs_; }
  bool unused() const { return refs_ == 0; }

 private:
  std::shared_ptr<const Generation> gen_;
  Router router_;
  std::vector<std::unique_ptr<upstream::UpstreamPicker>> pickers_;
  std::unique_ptr<FilterFactory> filters_;
  uint32_t refs_ = 0;
};

// A new generation for a worker, and its listener changes (by metrics listener slot).
struct WorkerUpdate {
  std::shared_ptr<const Generation> gen;
  std::vector<std::pair<size_t, int>> add_listeners;  // (slot, listening fd) — the worker owns the fd
  std::vector<size_t> remove_listeners;               // slots
};

class Worker {
 public:
  // `listen_fds`: (listener slot, fd), one SO_REUSEPORT socket per listener for this worker.
  Worker(int id, const SharedState& shared, std::vector<std::pair<size_t, int>> listen_fds,
         std::function<void()> on_exit);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void requestStop();  // thread-safe
  // Switch to a new generation (reload); thread-safe, applied on the worker's loop soon after.
  void update(WorkerUpdate u);
  void join();

  int id() const { return id_; }
  uv_loop_t* loop() { return &loop_; }
  // The current generation: what new requests use.
  WorkerGen& gen() { return *current_; }
  const conf::Config& config() const { return current_->config(); }
  // A counted reference to the current generation (acquire / release pair).
  WorkerGen* acquireGen() {
    current_->ref();
    return current_;
  }
  void releaseGen(WorkerGen* g);
  ConnectionPool& pool() { return pool_; }
  BufferPool& buffers() { return buffers_; }
  ActiveClientPool& activeClients() { return active_clients_; }
  ClientTimers& clientTimers() { return client_timers_; }
  PostedFlushes& postedFlushes() { return posted_flushes_; }
  AccessLog& accessLog() { return access_log_; }
  metrics::WorkerMetrics& metrics() { return metrics_; }
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
  struct ClientListener {
    Listener listener;
    Worker* worker;
    size_t slot;  // metrics listener slot: stable across reloads for one address
  };
  void run();
  void openListener(size_t slot, int fd);
  void closeListener(ClientListener& l);  // takes what waits in its accept queue first
  void applyUpdates();
  void apply(WorkerUpdate& u);
  void freeUnusedGens();
  void beginDrain();
  void maybeFinish();
  void forceCloseAll();
  static void onConnection(void* owner, Listener& listener, int status);

  int id_;
  const SharedState& shared_;
  std::vector<std::pair<size_t, int>> listen_fds_;
  std::function<void()> on_exit_;
  uv_loop_t loop_{};
  uv_async_t stop_async_{};
  uv_async_t update_async_{};
  std::mutex update_mu_;
  std::vector<WorkerUpdate> updates_;  // guarded by update_mu_
  uv_timer_t grace_timer_{};
  uv_timer_t tick_timer_{};
  std::vector<std::unique_ptr<ClientListener>> listeners_;
  // Every generation still referenced, the current one last.
  std::vector<std::unique_ptr<WorkerGen>> gens_;
  WorkerGen* current_ = nullptr;
  metrics::WorkerMetrics metrics_;  // before pool_: the pool records into it until destroyed
  BufferPool buffers_;
  ActiveClientPool active_clients_;
  ClientTimers client_timers_{&loop_};
  PostedFlushes posted_flushes_{&loop_};
  ConnectionPool pool_;
  AccessLog access_log_;
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
