// proxy/active_client.h — the busy part of a client connection: request parser, parsed head,
// Session, write queue, input buffer and the per-request timestamps and flags. A ClientConnection
// borrows one from its worker's ActiveClientPool when a request's first bytes arrive and gives it
// back once it has been quiet for ClientTimers::kQuietMs (response written, nothing pipelined or
// unread, no tunnel), so an idle keep-alive connection holds none of this, and a recycled one
// keeps its strings' and vectors' capacity (a new connection allocates nothing here). Its
// Session sees the connection through it.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string_view>

#include "proxy/downstream.h"
#include "proxy/http/http.h"
#include "proxy/net_names.h"
#include "proxy/session.h"

namespace edged::proxy {

class ClientConnection;
class Worker;

// Where the connection's current request stands.
enum class ClientPhase : uint8_t { Idle, Head, Body, Waiting, Tunnel };

class ActiveClient final : public Downstream {
 public:
  explicit ActiveClient(Worker& worker);
  ~ActiveClient() { PostedFlushes::cancel(posted_flush_); }
  ActiveClient(const ActiveClient&) = delete;
  ActiveClient& operator=(const ActiveClient&) = delete;

  Worker& worker() { return worker_; }
  WriteQueue& out() { return out_; }
  llhttp_t& parser() { return parser_; }
  Session& session() { return session_; }

  // Downstream: what the Session uses of its connection.
  const RequestHead& request() const override { return request_; }
  std::string_view clientIp() override { return client_ip_; }
  std::string_view localAddress() override;
  uint64_t requestStartNs() const override { return head_start_ns_; }
  bool receivingHead() const override { return phase_ == ClientPhase::Head; }
  void sendInterim(int status, std::string_view reason, const std::vector<Header>& headers) override;
  bool sendHead(int status, std::string_view reason, const std::vector<Header>& headers,
                const ResponseMeta& meta) override;
  void sendBody(IoBuf* buf, const char* p, size_t n) override;
  void endBody() override;
  void flush() override;
  size_t queuedBytes() const override { return out_.queuedBytes(); }
  uint64_t bytesQueued() const override { return out_.appendedTotal(); }
  void pauseRequestBody() override;
  void resumeRequestBody() override;
  // True inside the callback of a read that filled its buffer: libuv usually reads again at once,
  // so the session may leave its flush toward the origin to that read (deferUpstreamFlush); the
  // next read that is not full, or else the worker's posted flushes after this iteration's I/O,
  // sends it. An upload or a tunnel then makes about half the writes.
  bool mayDeferUpstreamFlush() const override { return in_full_read_; }
  void deferUpstreamFlush() override;
  void resumeRequest() override;
  void exchangeDone(bool keep_alive) override;
  void startTunnel() override;
  void sendTunnelData(IoBuf* buf, const char* p, size_t n) override { out_.append(buf, p, n); }
  void closeAfterWrite() override;

 private:
  friend class ClientConnection;
  friend class ActiveClientPool;
  friend class ClientTimers;

  // Capacity a recycled object keeps per string or vector; more is given back to the allocator.
  static constexpr size_t kKeepBytes = 8 * 1024;

  static void onWriteDone(void* self, int status);
  static int onMessageBegin(llhttp_t* p);
  static int onUrl(llhttp_t* p, const char* at, size_t n);
  static int onHeaderField(llhttp_t* p, const char* at, size_t n);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t n);
  static int onHeaderValueComplete(llhttp_t* p);
  static int onHeadersComplete(llhttp_t* p);
  static int onBody(llhttp_t* p, const char* at, size_t n);
  static int onMessageComplete(llhttp_t* p);
  static const llhttp_settings_t* settings();
  int limitHead(size_t bytes, int status);
  // The method and version llhttp has seen so far (the request line may be all there is).
  void takeRequestLine();

  // Back to the state of a new object, for the free list (capacity kept up to kKeepBytes).
  void recycle();
  void flushDeferredUpstream();

  Worker& worker_;
  ClientConnection* conn_ = nullptr;  // the connection it serves; null in the free list
  ActiveClient* next_free_ = nullptr;  // ActiveClientPool's list
  ActiveClient* quiet_prev_ = nullptr;  // ClientTimers' quiet list
  ActiveClient* quiet_next_ = nullptr;
  uint64_t quiet_since_ = 0;
  ClientPhase phase_ = ClientPhase::Idle;
  bool body_paused_ = false;       // by the session, for backpressure toward the origin
  bool eof_ = false;
  bool close_after_write_ = false;
  bool shutdown_sent_ = false;
  bool message_complete_ = true;   // the last request was read to its end (none started: true)
  bool in_process_input_ = false;
  bool in_full_read_ = false;            // see mayDeferUpstreamFlush()
  bool upstream_flush_deferred_ = false;
  uint8_t depth_ = 0;              // ClientConnection frames using this object (settle waits for 0)
  bool head_paused_ = false;       // the parser stopped after a head whose exchange waits (a filter's Wait)
  BodyFraming resp_framing_ = BodyFraming::None;  // how the current response's body is framed
  int reject_status_ = 0;          // set by a parser callback that refuses the request
  // Input: bytes [in_start_, in_end_) of in_ are received but not yet parsed (pipelining).
  BufRef in_;
  size_t in_start_ = 0;
  size_t in_end_ = 0;
  uint64_t phase_start_ = 0;       // uv_now when the current phase began
  uint64_t head_start_ns_ = 0;     // uv_hrtime at the request's first byte
  uint64_t request_start_ = 0;     // uv_now when the current request's head was complete
  uint64_t last_read_ = 0;
  uint64_t last_write_ = 0;
  uint64_t deadline_ = 0;          // the earliest timeout now, 0: none
  DeadlineNode timer_;             // in the worker's ClientTimers
  PostedFlushes::Entry posted_flush_;  // a deferred upstream flush, in the worker's PostedFlushes
  WriteQueue out_;
  llhttp_t parser_{};
  RequestHead request_;
  Session session_;
  char client_ip_[48] = {};
  char local_addr_[56] = {};
};

}  // namespace edged::proxy
