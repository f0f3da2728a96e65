// proxy/client_connection.h — one accepted client socket: reads and parses requests (llhttp,
// strict), writes responses in request order through its WriteQueue, applies the client-side
// timeouts, and drives one Session at a time (pipelined requests wait, parsed later, in order).
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <cstdint>
#include <string>

#include "proxy/io_buffer.h"
#include "proxy/parsed_head.h"
#include "proxy/session.h"
#include "proxy/write_queue.h"

namespace edged::proxy {

class Worker;

class ClientConnection {
 public:
  static constexpr size_t kHighWater = 64 * 1024;
  static constexpr size_t kLowWater = 16 * 1024;

  ClientConnection(Worker& worker, size_t listener);
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Accepts from `server`; returns false (and closes) on failure.
  bool accept(uv_stream_t* server);
  // Same, for a socket already accepted (the accept queue drained at shutdown).
  bool adopt(int fd);
  void close();
  // Worker is draining: close now when idle, else after the current response.
  void drain();

  Worker& worker() { return worker_; }
  WriteQueue& out() { return out_; }
  void flush();
  const ParsedHead& request() const { return head_; }
  llhttp_t& parser() { return parser_; }
  std::string_view clientIp() const { return client_ip_; }
  std::string_view localAddress();
  bool http10() const { return parser_.http_major == 1 && parser_.http_minor == 0; }

  // Session -> connection.
  void pauseBodyReading();
  void resumeBodyReading();
  void sessionFinished(bool keep_alive);
  void closeAfterWrite();
  // The origin accepted an upgrade: from now on bytes pass through both ways.
  void startTunnel();

  ClientConnection* prev = nullptr;  // Worker's intrusive list
  ClientConnection* next = nullptr;

 private:
  enum class Phase : uint8_t { Idle, Head, Body, Waiting, Tunnel, Closing };
  static void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void onTimer(uv_timer_t* t);
  static void onClose(uv_handle_t* h);
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

  void processInput();
  void forwardTunnelInput();
  void handleEof();
  void rejectRequest(int status, Termination why = Termination::BadRequest);  // answer, close
  void armTimer();
  bool setUp();
  void startReading();
  void stopReading();
  void updateReading();

  Worker& worker_;
  size_t listener_;
  bool counted_ = false;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  int open_handles_ = 0;
  Phase phase_ = Phase::Idle;
  WriteQueue out_;
  llhttp_t parser_{};
  ParsedHead head_;
  Session session_;
  // Input: bytes [in_start_, in_end_) of in_ are received but not yet parsed (pipelining).
  BufRef in_;
  size_t in_start_ = 0;
  size_t in_end_ = 0;
  bool reading_ = false;
  bool body_paused_ = false;      // by the session, for backpressure toward the origin
  bool eof_ = false;
  bool close_after_write_ = false;
  bool shutdown_sent_ = false;
  bool draining_ = false;
  bool served_ = false;
  bool message_complete_ = true;  // the last request was read to its end (none started: true)
  bool nodelay_ = false;
  uint32_t flushes_ = 0;           // finished at least one exchange (so idle means keep-alive idle)
  bool in_process_input_ = false;
  int reject_status_ = 0;         // set by a parser callback that refuses the request
  uint64_t phase_start_ = 0;      // uv_now when the current phase began
  uint64_t head_start_ns_ = 0;    // uv_hrtime at the request's first byte
  uint64_t request_start_ = 0;    // uv_now when the current request's head was complete
  uint64_t last_read_ = 0;
  uint64_t last_write_ = 0;
  uint64_t deadline_ = 0;
  uint64_t timer_due_ = 0;
  char client_ip_[48] = {};
  char local_addr_[56] = {};
  friend class Session;
};

}  // namespace edged::proxy
