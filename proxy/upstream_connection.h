// proxy/upstream_connection.h — one connection (a Transport) to one origin server: connect, send the
// request (WriteQueue), parse the response (llhttp, through http1::ResponseParser), keep-alive
// bookkeeping. Leased to one Session at a time, idle in the worker's ConnectionPool otherwise.
//
// libuv lifetime rules (they hold for every handle owner in proxy/):
// 1. A uv_*_t lives inside its owner on the heap and is freed only in its close callback.
// 2. One owner per level: Listener -> ClientConnection -> (borrowed) ActiveClient -> Session ->
//    leased UpstreamConnection; ConnectionPool owns idle connections, ActiveClientPool idle
//    ActiveClients (which own no handle).
// 3. Never destroy an object from inside its own callback: close(), then free when the last close
//    callback arrives.
// 4. A write request owns its buffers until its callback; after uv_close, pending writes call back
//    with UV_ECANCELED and must not touch a closing owner.
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <cstdint>

#include "proxy/http/http.h"
#include "proxy/http1/http1.h"
#include "proxy/net_names.h"
#include "proxy/origin_stream.h"
#include "upstream/upstream.h"

namespace edged::proxy {

class Worker;
class WorkerGen;

// "host" of "host:port" or "[v6]:port": the name TLS verifies (and sends as SNI when it is one).
std::string upstreamHost(std::string_view address);

class UpstreamConnection final : public OriginStream {
 public:
  // Holds a reference to `gen` (whose Server `server` is) until closed; `slot` is the server's
  // metrics slot, which names it across generations (the pool's key).
  UpstreamConnection(Worker& worker, WorkerGen& gen, size_t upstream_index, upstream::Server& server,
                     size_t slot);
  ~UpstreamConnection() { PostedFlushes::cancel(posted_flush_); }
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  // Starts connecting; the handler hears onUpstreamConnected or onUpstreamFailure.
  int connect(UpstreamHandler* h);  // 0, or a libuv error (no handler call then)
  // Lease a pooled (connected) connection to a handler for one request.
  void attach(UpstreamHandler* h);
  // The handler lets go: back to the pool when `reuse`, else closed.
  void release(bool reuse) override;
  // Close at once (from any state). No handler call follows.
  void close();
  // Close once everything queued is written (the handler is already detached).
  void closeAfterWrite() override;
  // After a 101: from now on bytes pass through unparsed.
  void startTunnel() override { tunnel_ = true; }

  WriteQueue& out() override { return out_; }
  void flush() override;
  void pauseReading() override;
  void resumeReading() override;
  bool connected() const { return state_ == State::Active || state_ == State::Idle; }
  bool reused() const override { return reused_; }
  bool responseStarted() const override { return response_started_; }
  size_t upstreamIndex() const { return upstream_index_; }
  upstream::Server& server() { return *server_; }
  size_t slot() const { return slot_; }
  WorkerGen& gen() { return *gen_; }
  // Move to another generation's Server object for the same slot (a reload kept the server).
  void rebind(WorkerGen& gen, size_t upstream_index, upstream::Server& server);
  uint64_t idleDeadline() const { return idle_deadline_; }
  // The origin's "Keep-Alive: timeout=N" in ms (0: none); the pool sizes the idle budget by it.
  uint64_t keepaliveHintMs() const { return keepalive_hint_ms_; }

  // Pool-side.
  void becomeIdle(uint64_t deadline_ms);
  bool closing() const { return state_ == State::Closing; }

  // The response parser's calls (http1::ResponseParser<UpstreamConnection>, inside llhttp).
  ResponseHead& parsedResponse() { return head_; }
  int onResponseHead(llhttp_t* p);
  int onResponseBodyData(const char* at, size_t n);
  int onResponseEnd(llhttp_t* p);
  http1::ChunkExtensionFix& chunkExtensionFix() { return chunk_extension_fix_; }
  size_t maxResponseHeadBytes() const;
  int onResponseHeadTooLarge();

  // TransportHandler: called by transport_ only.
  void onTransportConnected(int status);
  void onTransportAlloc(uv_buf_t* buf);
  void onTransportRead(ssize_t nread, const uv_buf_t* buf);
  void onTransportClosed();

 private:
  enum class State : uint8_t { Connecting, Active, Idle, Closing };
  static void onTimer(uv_timer_t* t);
  static void onClose(uv_handle_t* h);
  // The response's version, reason phrase and transfer codings are ones edged can forward
  // (else the response is invalid: 502).
  bool headForwardable(int status) const;
  static void onWriteDone(void* self, int status);

  void fail(UpstreamFailure f);
  void armTimer();
  void startReading();
  void handleRead(const char* data, size_t n);
  void handleEof();
  void readBatchDone(UpstreamHandler* h, size_t n);
  void resetParser();
  bool startHeadRepair(const char* data, size_t n);
  size_t takeRepairedHead(const char* data, size_t n, llhttp_errno_t& err);

  Worker& worker_;
  WorkerGen* gen_;
  size_t upstream_index_;
  upstream::Server* server_;
  size_t slot_;
  UpstreamHandler* handler_ = nullptr;
  State state_ = State::Connecting;
  Transport transport_;
  uv_timer_t timer_{};
  uv_connect_t connect_req_{};
  int open_handles_ = 0;
  WriteQueue out_;
  llhttp_t parser_{};
  http1::ChunkExtensionFix chunk_extension_fix_;
  ResponseHead head_;
  BufRef in_;
  bool batch_deferred_ = false;  // a full read's flush waits for the read libuv makes next
  PostedFlushes::Entry posted_flush_;  // ... or for the end of this loop iteration's I/O
  bool read_paused_ = false;
  bool reused_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool no_body_ = false;
  bool leftover_ = false;
  bool interim_done_ = false;   // a 1xx ended: llhttp paused after it
  bool head_repair_ = false;    // gathering a refused head to parse it repaired
  bool head_repaired_ = false;  // tried once for this response
  std::string head_raw_;        // the response head's bytes while it spans reads
  bool tunnel_ = false;
  bool close_after_write_ = false;
  uint64_t last_activity_ = 0;   // uv_now of the last read or write progress
  uint64_t deadline_ = 0;        // current timeout deadline (uv_now ms), 0 = none
  uint64_t timer_due_ = 0;       // when the running timer fires, 0 = not running
  uint64_t idle_deadline_ = 0;
  uint64_t keepalive_hint_ms_ = 0;  // origin's "Keep-Alive: timeout=N"
};

}  // namespace edged::proxy
