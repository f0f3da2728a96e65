// proxy/session.h — one request/response exchange, in named phases: onRequestHead (checks,
// route, request filters), pickServer, connect, send (head + streamed body), response head
// (response filters), response body (through the body filters), and ONE exit, end(), on every
// path. It sees the client only as a Downstream and the origin only as an OriginStream, both
// protocol-neutral. Embedded in an ActiveClient (the busy part of a client connection) and reused
// for its next request, so neither a keep-alive request nor a new connection allocates here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/downstream.h"
#include "proxy/http/http.h"
#include "proxy/origin_stream.h"
#include "proxy/session_services.h"
#include "upstream/upstream.h"

namespace edged::conf {
struct Config;
struct RouteConfig;
}  // namespace edged::conf

namespace edged::proxy {

class WorkerGen;

class Session final : public UpstreamHandler, private Resumer {
 public:
  // onRequestHead's answer when a request filter waits: the protocol side stops parsing until
  // Downstream::resumeRequest().
  static constexpr int kWaiting = -1;
  static constexpr size_t kMaxFilters = 8;

  Session(Downstream& client, SessionServices& services);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  bool active() const { return active_; }
  // The configuration this exchange runs on (the worker's current one between exchanges): the
  // client-side timeouts of a request in flight come from here, not from a newer reload.
  const conf::Config& config();
  // Before the owning object is recycled: drops what the last exchange held and string capacity
  // above `keep`.
  void recycle(size_t keep);

  // ---- from the client side ----
  // The request head is complete. Returns 0 to go on, kWaiting, or a status the protocol side
  // must reject the request with (then it calls reject()).
  int onRequestHead();
  // A protocol error found by the connection (or a status onRequestHead/onRequestBody returned):
  // the answer is queued and the exchange ends; the connection closes after writing it.
  void reject(int status, Termination why);
  // Returns 0, or a status to reject the request with (413).
  int onRequestBody(IoBuf* buf, const char* p, size_t n);
  // A chunk of `size` bytes is announced: 0, or 413 when it cannot fit in the body limit.
  int onRequestChunk(uint64_t size);
  void onRequestComplete();
  void onRequestBodyReadBatchDone();  // after each client read: flush toward the origin
  // The client went away or timed out mid-exchange: abandon the origin side, log, end. The
  // connection closes itself.
  void abort(Termination why, int status_for_log);
  // The request's total deadline (timeouts.request) passed.
  void timeout();
  // The client side drained below the low watermark: the origin may send more.
  void onClientDrained();
  bool responseStarted() const { return response_head_sent_; }
  int status() const { return status_; }

  // Tunnel (after a 101): bytes from the client, and the client's end.
  bool tunneling() const { return tunnel_; }
  void onTunnelClientData(IoBuf* buf, const char* p, size_t n);
  void onTunnelClientEnd();

  // ---- UpstreamHandler ----
  void onUpstreamConnected() override;
  void onUpstreamFailure(UpstreamFailure f) override;
  bool onUpstreamHead(const ResponseHead& head) override;
  void onUpstreamBody(IoBuf* buf, const char* p, size_t n) override;
  void onUpstreamComplete(bool reusable) override;
  void onUpstreamReadBatchDone() override;
  bool mayDeferReadBatch() override;
  void onUpstreamWritten() override;
  void onUpstreamTunnelData(IoBuf* buf, const char* p, size_t n) override;
  void onUpstreamTunnelEnd() override;

  // The posted continuation of resume() (from the worker's queue; not for other callers).
  void onResumedTask();

 private:
  // How the client connection goes on after end().
  enum class ClientNext : uint8_t {
    Done,          // exchangeDone(keep_alive_)
    CloseAfterWrite,
    Nothing,       // the connection is closing (or rejecting) by itself
  };
  // A body filter's output goes to the next body filter toward the client, or to the client.
  struct Stage final : FilterSink {
    Session* session = nullptr;
    uint8_t next = 0;
    void append(std::string_view bytes) override { session->pushBody(next, bytes, false); }
  };

  void reset();
  // The exchange's X-Request-Id: the client's, or one generated on first use.
  std::string_view requestId();
  // Request phase: run the filters from `from` on; then connect.
  void runRequestFilters(size_t from);
  void resume(FilterAction action) override;  // Resumer
  std::string_view clientAddress() override { return client_.clientIp(); }  // Resumer
  bool startBackground(std::string_view method) override;                  // Resumer
  void buildRequestHead();
  // Sends a complete response edged (or a filter) made, then end()s.
  void respond(const LocalResponse& r, Termination why, bool close, ClientNext next);
  void answer(int status, Termination why, bool close);
  // An origin failure's answer: a filter's (onUpstreamError), else answer().
  void answerUpstreamError(int status, Termination why, bool close);
  void redirectToHttps(std::string_view host, std::string_view target);
  // The route's allow/deny rules and limits.per_client: false after answering 403 or 429.
  bool admitted(size_t route);
  bool pickAndConnect();
  std::string_view hashKey() const;
  bool connectTo(upstream::Server& server, bool allow_pooled);
  void notePanic(const upstream::Server& server);
  void flushUpstream();
  // How much response data may wait toward the client before the origin is paused.
  size_t responseMark() const;
  // The one place a try's outcome is judged: true when the exchange was retried elsewhere.
  bool retried(upstream::FailureKind kind, int http_status, upstream::RetryDecision& d);
  void pushBody(uint8_t stage, std::string_view bytes, bool end_of_body);
  bool flushFilters();
  void releaseUpstream(bool reuse);
  // The ONE exit of every exchange: filters' onFinish, origin connection pooled or closed, server
  // released, the access log line, the generation let go, the client told.
  void end(Termination why, ClientNext next);
  void logAccess(Termination why);
  WorkerGen& gen();
  size_t serverSlot() const;
  size_t routeIndex() const;

  Downstream& client_;
  SessionServices& services_;
  WorkerGen* gen_ = nullptr;
  bool active_ = false;
  // Request
  const conf::RouteConfig* route_ = nullptr;
  upstream::UpstreamPicker* picker_ = nullptr;
  upstream::TriedSet tried_;
  uint64_t req_body_bytes_ = 0;
  bool req_complete_ = false;
  bool upgrade_ = false;       // a WebSocket upgrade forwarded to the origin
  bool tunnel_ = false;        // the origin said 101: bytes pass through both ways
  bool waiting_ = false;       // a request filter said Wait
  uint32_t tries_ = 0;
  uint64_t first_try_ms_ = 0;     // group clock, for retry_timeout
  bool head_written_ = false;     // this try's head reached the origin's socket
  bool counted_ = false;
  std::string upstream_head_;  // the head sent to the origin, kept for a retry on a fresh connection
  std::string_view forward_target_;
  std::string target_storage_;  // the forwarded target when edged had to rewrite it (rare)
  bool default_host_ = false;   // the request had no Host
  bool host_from_target_ = false;  // an absolute-form target: its authority is the origin's Host
  std::string_view route_host_;
  long max_forwards_ = -1;      // an OPTIONS request's Max-Forwards, -1: none
  // Filters, in chain order; body_ are those that asked for the body, in response order.
  std::array<ExchangeFilter*, kMaxFilters> filters_{};
  uint8_t filter_count_ = 0;
  uint8_t next_filter_ = 0;       // the request filter to run next (after a Wait)
  std::array<ExchangeFilter*, kMaxFilters> body_{};
  std::array<Stage, kMaxFilters + 1> stages_{};
  uint8_t body_count_ = 0;
  FilterAction resumed_action_ = FilterAction::Continue;
  PostedTask resume_task_;
  LocalResponse local_;
  // Upstream
  upstream::Server* server_ = nullptr;
  OriginStream* up_ = nullptr;
  bool stale_retry_done_ = false;
  bool upstream_paused_ = false;
  bool origin_reuse_ = false;
  // Response
  int status_ = 0;
  bool response_head_sent_ = false;
  bool keep_alive_ = true;
  bool body_failed_ = false;
  uint64_t resp_body_bytes_ = 0;
  uint64_t out_mark_ = 0;
  uint64_t start_ns_ = 0;
  uint64_t upstream_start_ns_ = 0;
  uint64_t upstream_head_ns_ = 0;
  // The response body's length toward the client (responseMark()), kUnknownLength when not known.
  static constexpr uint64_t kUnknownLength = UINT64_MAX;
  uint64_t resp_length_ = kUnknownLength;
  char request_id_buf_[32] = {};
  std::string_view request_id_;   // the client's valid X-Request-Id, or one generated here
  bool request_id_due_ = false;   // one is to be generated when first asked for (requestId())
};

}  // namespace edged::proxy
