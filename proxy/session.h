// proxy/session.h — one request/response exchange, in named phases: onRequestHead (route, checks,
// header rewrite), pickServer, connectUpstream, sendRequest (head + streamed body), onResponseHead,
// response body, finish (exactly once on every path). Embedded in an ActiveClient, the busy part of
// a client connection, and reused for the next request there (recycled from connection to
// connection), so neither a keep-alive request nor a new connection allocates anything here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/filter.h"
#include "proxy/parsed_head.h"
#include "proxy/proxy.h"
#include "proxy/upstream_connection.h"
#include "upstream/upstream.h"

namespace edged::proxy {

class ActiveClient;
class WorkerGen;

// Why an exchange ended other than normally (HAProxy's termination causes), for the access log.
enum class Termination : uint8_t {
  None, ClientClosed, ClientTimeout, NoServer, ConnectFailed, UpstreamTimeout, UpstreamClosed,
  BadRequest, Internal, RequestTimeout
};
const char* terminationName(Termination t);

class Session final : public UpstreamHandler, private FilterSink {
 public:
  explicit Session(ActiveClient& client);
  ~Session();

  bool active() const { return active_; }
  // The configuration this exchange runs on (the worker's current one between exchanges): the
  // client-side timeouts of a request in flight come from here, not from a newer reload.
  const conf::Config& config();
  // Before the owning ActiveClient goes back to its free list: drops what the last exchange
  // held (a filter, an upstream connection never released) and string capacity above `keep`.
  void recycle(size_t keep) {
    if (up_) up_->close();
    reset();
    active_ = false;
    if (up_head_.capacity() > keep) std::string().swap(up_head_);
    if (target_.capacity() > keep) std::string().swap(target_);
  }
  // The request head is parsed. Returns false when the session already answered by itself.
  void onRequestHead();
  // A protocol error found by the connection: answer `status`, close, log.
  void reject(int status, Termination why);
  void onRequestBody(IoBuf* buf, const char* p, size_t n);
  void onRequestComplete();
  void onRequestBodyReadBatchDone();  // after each client read: flush toward the origin
  // The client went away or timed out mid-exchange: abandon the origin side, log, end.
  void abort(Termination why, int status_for_log);
  // The request's total deadline (timeouts.request) passed.
  void timeout();
  // The client side drained below the low watermark: the origin may send more.
  void onClientDrained();

  bool responseStarted() const { return response_head_sent_; }
  bool wantsClientBodyPaused() const;
  int status() const { return status_; }

  // UpstreamHandler
  void onUpstreamConnected() override;
  void onUpstreamFailure(UpstreamFailure f) override;
  bool onUpstreamHead(int status, const ParsedHead& head, const llhttp_t& parser) override;
  void onUpstreamBody(IoBuf* buf, const char* p, size_t n) override;
  void onUpstreamComplete(bool reusable) override;
  void onUpstreamReadBatchDone() override;
  bool mayDeferReadBatch() override;
  void onUpstreamWritten() override;
  void onUpstreamTunnelData(IoBuf* buf, const char* p, size_t n) override;
  void onUpstreamTunnelEnd() override;

  // Tunnel (after a 101): bytes from the client, and the client's end.
  bool tunneling() const { return tunnel_; }
  void onTunnelClientData(IoBuf* buf, const char* p, size_t n);
  void onTunnelClientEnd();

 private:
  void reset();
  void answer(int status, Termination why, bool close);
  bool pickAndConnect();
  std::string_view hashKey() const;
  // One try failed (or answered a status retry_on names): retry elsewhere, or answer.
  void handleTryFailure(upstream::FailureKind kind, int http_status, Termination why);
  upstream::RetryContext retryContext(upstream::FailureKind kind, int http_status, uint64_t now) const;
  bool connectTo(upstream::Server& server, bool allow_pooled);
  void notePanic(const upstream::Server& server);
  void queueRequestHead();
  void flushUpstream();
  void failBeforeResponse(int status, Termination why);
  void finish(Termination why);
  void logAccess(Termination why);
  void endTunnel(Termination why);
  void append(std::string_view bytes) override;  // FilterSink: filtered body bytes to the client
  void endFilter(bool finish);
  void releaseUpstream(bool reuse);
  // The generation this exchange runs on: taken when its head is routed, let go at its end.
  WorkerGen& gen();
  void releaseGen();
  size_t serverSlot() const;

  ActiveClient& c_;
  WorkerGen* gen_ = nullptr;
  bool active_ = false;
  // Request
  const conf::RouteConfig* route_ = nullptr;
  upstream::UpstreamPicker* picker_ = nullptr;
  upstream::TriedSet tried_;
  BodyFraming req_framing_ = BodyFraming::None;
  uint64_t req_body_bytes_ = 0;
  bool req_complete_ = false;
  bool req_idempotent_ = false;
  bool req_keep_alive_ = false;
  uint32_t tries_ = 0;
  uint64_t first_try_ms_ = 0;     // group clock, for retry_timeout
  bool head_written_ = false;     // this try's head reached the origin's socket
  bool counted_ = false;
  bool head_request_ = false;
  bool upgrade_ = false;       // a WebSocket upgrade forwarded to the origin
  bool tunnel_ = false;        // the origin said 101: bytes pass through both ways
  std::string up_head_;  // the head sent to the origin, kept for a retry on a fresh connection
  // Upstream
  upstream::Server* server_ = nullptr;
  UpstreamConnection* up_ = nullptr;
  bool stale_retry_done_ = false;
  bool upstream_paused_ = false;
  // Response
  int status_ = 0;
  bool response_head_sent_ = false;
  BodyFraming resp_framing_ = BodyFraming::None;
  bool keep_alive_ = true;
  uint64_t resp_body_bytes_ = 0;
  uint64_t out_mark_ = 0;
  std::unique_ptr<BodyFilter> filter_;   // e.g. a compressor for this response
  uint64_t filter_in_ = 0;  // client queue's appendedTotal() when this exchange began
  uint64_t start_ns_ = 0;
  uint64_t upstream_start_ns_ = 0;
  uint64_t upstream_head_ns_ = 0;
  std::string target_;
  char request_id_buf_[32] = {};
  std::string_view request_id_;   // the client's valid X-Request-Id, or one generated here  // the forwarded target when edged had to rewrite it (rare)
};

}  // namespace edged::proxy
