// proxy/worker.h — one worker thread: its uv loop, its SO_REUSEPORT listeners, its client
// connections, its idle upstream connections, its buffers and its access log. Nothing here is
// touched by another thread except requestStop().
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "conf/config.h"
#include "proxy/access_log.h"
#include "proxy/active_client_pool.h"
#include "proxy/client_limiter.h"
#include "proxy/client_timers.h"
#include "proxy/connection_pool.h"
#include "proxy/loop_mailbox.h"
#include "proxy/metrics/metrics.h"
#include "proxy/net_names.h"
#include "proxy/proxy.h"
#include "proxy/session_services.h"
#include "proxy/worker_gen.h"
#include "upstream/upstream.h"

namespace edged::proxy {

class BackgroundExchange;
class ClientConnection;

// What all workers share.
struct SharedState {
  // The running generation. Read and replaced on the main thread only (admin, reload); workers
  // receive theirs through Worker::update().
  std::shared_ptr<const Generation> current;
  int access_log_fd = -1;  // -1: off
  conf::AccessLogFormat access_log_format = conf::AccessLogFormat::Combined;
  // The process's access log writer thread (null: off); outlives the workers.
  std::unique_ptr<AccessLogSink> access_log;
  std::vector<FilterFactoryMaker> filter_makers;
  // limits.per_client, kept across reloads (update() takes the new numbers); null when off at start.
  std::unique_ptr<ClientLimiter> client_limiter;
  // Open client connections per listener slot, all workers (limits.max_connections). A slot past
  // the end is not limited.
  static constexpr size_t kCountedListeners = 256;
  std::array<std::atomic<uint32_t>, kCountedListeners> listener_connections{};
};

// A new generation for a worker, and its listener changes (by metrics listener slot).
struct WorkerUpdate {
  std::shared_ptr<const Generation> gen;
  std::vector<std::pair<size_t, int>> add_listeners;  // (slot, listening fd) — the worker owns the fd
  std::vector<size_t> remove_listeners;               // slots
};

class Worker final : public SessionServices {
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
  ConnectionPool& pool() { return pool_; }
  BufferPool& buffers() { return buffers_; }
  ActiveClientPool& activeClients() { return active_clients_; }
  ClientTimers& clientTimers() { return client_timers_; }
  PostedFlushes& postedFlushes() { return posted_flushes_; }
  const metrics::WorkerMetrics& metrics() const { return metrics_; }

  // SessionServices
  WorkerGen* acquireGen() override {
    current_->ref();
    return current_;
  }
  void releaseGen(WorkerGen* g) override;
  WorkerGen& currentGen() override { return *current_; }
  OriginStream* openOrigin(WorkerGen& gen, size_t upstream_index, upstream::Server& server, size_t slot,
                           bool allow_pooled, UpstreamHandler* handler, int* error) override;
  metrics::WorkerMetrics& metrics() override { return metrics_; }
  AccessLog& accessLog() override { return access_log_; }
  // xoshiro256** seeded from the OS per worker.
  void newRequestId(char out[32]) override;
  bool draining() const override { return draining_; }
  uint64_t nowNs() override { return uv_hrtime(); }
  void post(PostedTask& t) override;
  std::vector<Header>& headerScratch() override { return header_scratch_; }
  std::vector<Header>& requestHeaderScratch() override { return request_header_scratch_; }
  std::string& textScratch() override { return text_scratch_; }
  ClientLimiter* clientLimiter() override { return shared_.client_limiter.get(); }
  // At most kMaxBackground at a time per worker; none once draining.
  bool startBackground(const RequestHead& request, std::string_view method, std::string_view client_ip,
                       std::string_view forwarded_for) override;
  static constexpr size_t kMaxBackground = 256;

  void add(ClientConnection* c);
  void remove(ClientConnection* c);  // from the connection's close callback

 private:
  struct ClientListener {
    Listener listener;
    Worker* worker;
    size_t slot;  // metrics listener slot: stable across reloads for one address
  };
  // limits.max_connections: whether a new connection on `l` may be taken now; counts it if so.
  bool admitConnection(ClientListener& l);
  void connectionGone(size_t slot);
  void resumeListeners();
  uint32_t maxConnections(size_t slot) const;
  bool proxyProtocol(size_t slot);  // the listener in `slot` expects a PROXY header
  void run();
  void openListener(size_t slot, int fd);
  void closeListener(ClientListener& l);  // takes what waits in its accept queue first
  void applyUpdates();
  void apply(WorkerUpdate& u);
  void freeUnusedGens();
  void beginDrain();
  void maybeFinish();
  void forceCloseAll();
  void runPosted();
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
  // Retries listeners paused at limits.max_connections: a connection closing on another worker
  // frees a place that this worker hears of no other way.
  uv_timer_t resume_timer_{};
  size_t paused_listeners_ = 0;
  std::vector<std::unique_ptr<ClientListener>> listeners_;
  // Every generation still referenced, the current one last.
  std::vector<std::unique_ptr<WorkerGen>> gens_;
  WorkerGen* current_ = nullptr;
  metrics::WorkerMetrics metrics_;  // before pool_: the pool records into it until destroyed
  LoopMailbox mailbox_;  // cross-thread posts for filters (cache collapsing)
  FilterEnv filter_env_{metrics_, &loop_, &mailbox_};
  BufferPool buffers_;
  static constexpr size_t kWarmBuffers = 64;  // 4 MiB of the pool's 64 free buffers, touched at start
  ActiveClientPool active_clients_;
  ClientTimers client_timers_{&loop_};
  PostedFlushes posted_flushes_{&loop_};
  // Resumed exchanges (PostedTask), run from an idle handle: the loop does not sleep while any wait.
  uv_idle_t posted_idle_{};
  PostedTask* posted_ = nullptr;
  bool posted_idle_active_ = false;
  ConnectionPool pool_;
  AccessLog access_log_;
  uint64_t rng_[4] = {};
  std::vector<Header> header_scratch_;
  std::vector<Header> request_header_scratch_;
  std::string text_scratch_;
  ClientConnection* clients_ = nullptr;  // intrusive list
  // Background exchanges (cache refreshes) running: intrusive list, owned here.
  BackgroundExchange* background_ = nullptr;
  size_t background_count_ = 0;
  static void backgroundDone(void* self, BackgroundExchange* x);
  void abortBackground();
  size_t client_count_ = 0;
  bool draining_ = false;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace edged::proxy
