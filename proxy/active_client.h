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

#include "proxy/client_timers.h"
#include "proxy/downstream.h"
#include "proxy/http/http.h"
#include "proxy/http1/http1.h"
#include "proxy/net_names.h"
#include "proxy/session.h"

namespace edged::proxy {

class ClientConnection;
class Worker;

// Where the connection's current request stands.
enum class ClientPhase : uint8_t { Idle, Head, Body, Waiting, Tunnel };

// What the two halves of one client connection share: the ClientConnection (socket, idle part)
// drives reading, parsing, writing and timeouts with it, the ActiveClient (busy part) keeps it
// across the requests of one busy spell and its parser callbacks update it. A plain struct rather
// than accessors: ClientConnection reads and writes nearly every field on every event, and a
// getter/setter pair per field would only hide that these are one object's state. Nobody else
// touches it.
struct ClientState {
  ClientConnection* conn = nullptr;  // the connection it serves; null in the pool's free list
  ClientPhase phase = ClientPhase::Idle;
  bool body_paused = false;       // by the session, for backpressure toward the origin
  bool eof = false;
  bool close_after_write = false;
  bool shutdown_sent = false;
  bool message_complete = true;   // the last request was read to its end (none started: true)
  bool in_process_input = false;
  bool in_full_read = false;      // see ActiveClient::mayDeferUpstreamFlush()
  uint8_t depth = 0;              // ClientConnection frames using the object (settle waits for 0)
  bool head_paused = false;       // the parser stopped after a head whose exchange waits (a filter's Wait)
  int reject_status = 0;          // set by a parser callback that refuses the request
  // Input: bytes [in_start, in_end) of in are received but not yet parsed (pipelining).
  BufRef in;
  size_t in_start = 0;
  size_t in_end = 0;
  // The last byte the parser took that is not SP/HTAB, from reads whose buffer is gone: an obs-fold
  // split across reads is still seen (ActiveClient::checkFieldValue).
  char parsed_tail = 0;
  // The request target reached the end of what was read: its version (" HTTP/1.2") is not parsed
  // until it is all here, so that it can still be read as HTTP/1.1 (ActiveClient::checkTarget).
  bool version_pending = false;
  uint64_t phase_start = 0;       // uv_now when the current phase began
  uint64_t request_start = 0;     // uv_now when the current request's head was complete
  uint64_t last_read = 0;
  uint64_t last_write = 0;
  uint64_t deadline = 0;          // the earliest timeout now, 0: none
  DeadlineNode timer;             // in the worker's ClientTimers (owner: the ActiveClient)
  char client_ip[48] = {};         // the real client (real_ip): logs, limits, hashing, X-Real-IP
  char peer_ip[48] = {};           // the connection's peer (or its PROXY header's source)
};

class ActiveClient final : public Downstream {
 public:
  explicit ActiveClient(Worker& worker);
  ~ActiveClient() { PostedFlushes::cancel(posted_flush_); }
  ActiveClient(const ActiveClient&) = delete;
  ActiveClient& operator=(const ActiveClient&) = delete;

  Worker& worker() { return worker_; }
  WriteQueue& out() { return out_; }
  const WriteQueue& out() const { return out_; }
  llhttp_t& parser() { return parser_; }
  Session& session() { return session_; }
  const Session& session() const { return session_; }
  ClientConnection* connection() const { return state.conn; }

  // Downstream: what the Session uses of its connection.
  const RequestHead& request() const override { return request_; }
  std::string_view clientIp() override { return state.client_ip; }
  std::string_view forwardedFor() override { return forwarded_for_; }
  bool overConnectionLimit() const override;
  std::string_view localAddress() override;
  uint64_t requestStartNs() const override { return head_start_ns_; }
  bool receivingHead() const override { return state.phase == ClientPhase::Head; }
  TlsFacts tls() override;
  bool redirectHttps() override;
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
  bool mayDeferUpstreamFlush() const override { return state.in_full_read; }
  void deferUpstreamFlush() override;
  void resumeRequest() override;
  void exchangeDone(bool keep_alive) override;
  void startTunnel() override;
  void sendTunnelData(IoBuf* buf, const char* p, size_t n) override { out_.append(buf, p, n); }
  void closeAfterWrite() override;

  // For its ClientConnection: the method and version llhttp has seen so far (the request line
  // may be all there is), for a request refused before its head ended.
  void takeRequestLine();
  // For its ClientConnection: sends a flush toward the origin that a full read left waiting.
  void flushDeferredUpstream();
  // For ActiveClientPool: back to the state of a new object, for the free list (capacity kept
  // up to kKeepBytes).
  void recycle();

  // The request parser's calls (http1::RequestParser<ActiveClient>, from inside llhttp_execute).
  RequestHead& parsedRequest() { return request_; }
  size_t maxHeadBytes();
  void onRequestBegin();
  void refuseHead(int status) { state.reject_status = status; }
  // RFC 9112 checks on pieces of the head as llhttp hands them (proxy/request_checks).
  int checkTarget(const char* at, size_t n);
  int checkFieldValue(const char* at, size_t n);
  // With state.version_pending: false while `data` (the unparsed `n` bytes) holds only part of the
  // request line's " HTTP/1.x"; then rewrites "HTTP/1.2".."HTTP/1.9" as HTTP/1.1 like checkTarget.
  bool settlePendingVersion(char* data, size_t n);
  // The parser took these bytes: keeps the last one that is not SP/HTAB (state.parsed_tail).
  void noteParsed(const char* data, size_t n);
  int onRequestHead();
  int onRequestBodyData(const char* at, size_t n);
  int onRequestChunkHeader(uint64_t size);
  int onRequestEnd();
  http1::ChunkExtensionFix& chunkExtensionFix() { return chunk_extension_fix_; }

  ClientState state;                     // the connection's, see ClientState
  ActiveClient* next_free = nullptr;     // ActiveClientPool's free list
  TimerFifoLink<ActiveClient> quiet;     // ClientTimers' quiet list

 private:
  // Capacity a recycled object keeps per string or vector; more is given back to the allocator.
  static constexpr size_t kKeepBytes = 8 * 1024;

  static void onWriteDone(void* self, int status);

  Worker& worker_;
  bool upstream_flush_deferred_ = false;
  BodyFraming resp_framing_ = BodyFraming::None;  // how the current response's body is framed
  uint64_t head_start_ns_ = 0;     // uv_hrtime at the request's first byte
  PostedFlushes::Entry posted_flush_;  // a deferred upstream flush, in the worker's PostedFlushes
  WriteQueue out_;
  llhttp_t parser_{};
  http1::ChunkExtensionFix chunk_extension_fix_;
  RequestHead request_;
  Session session_;
  char local_addr_[56] = {};
  // real_ip: client_ip from peer_ip and the request's header; the X-Forwarded-For to send.
  void resolveClientAddress();
  std::string forwarded_for_;
  std::string tls_subject_;  // mutual TLS: the client certificate's subject, once per busy spell
};

}  // namespace edged::proxy
