// proxy/client_connection.cpp — the client side: input, parsing, timeouts, ordered output.
#include "proxy/client_connection.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "proxy/log.h"
#include "proxy/worker.h"

namespace edged::proxy {

namespace {
constexpr uint64_t kLingerMs = 2000;  // nginx lingering_timeout is 5s; a shorter wait suffices here

void formatAddress(const sockaddr_storage& ss, char* ip, size_t ip_len, char* full, size_t full_len) {
  uint16_t port = 0;
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, static_cast<socklen_t>(ip_len));
    port = ntohs(a->sin6_port);
    if (full) snprintf(full, full_len, "[%s]:%u", ip, port);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, static_cast<socklen_t>(ip_len));
    port = ntohs(a->sin_port);
    if (full) snprintf(full, full_len, "%s:%u", ip, port);
  }
}
}  // namespace

const llhttp_settings_t* ClientConnection::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t x;
    llhttp_settings_init(&x);
    x.on_message_begin = onMessageBegin;
    x.on_url = onUrl;
    x.on_header_field = onHeaderField;
    x.on_header_value = onHeaderValue;
    x.on_header_value_complete = onHeaderValueComplete;
    x.on_headers_complete = onHeadersComplete;
    x.on_body = onBody;
    x.on_message_complete = onMessageComplete;
    return x;
  }();
  return &s;
}

ClientConnection::ClientConnection(Worker& worker, size_t listener)
    : worker_(worker), listener_(listener), out_(this, onWriteDone), session_(*this) {
  llhttp_init(&parser_, HTTP_REQUEST, settings());
  parser_.data = this;
}

bool ClientConnection::accept(uv_stream_t* server) {
  uv_tcp_init(worker_.loop(), &tcp_);
  uv_timer_init(worker_.loop(), &timer_);
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&tcp_)) != 0) {
    close();
    return false;
  }
  return setUp();
}

bool ClientConnection::adopt(int fd) {
  uv_tcp_init(worker_.loop(), &tcp_);
  uv_timer_init(worker_.loop(), &timer_);
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
  if (uv_tcp_open(&tcp_, fd) != 0) {
    ::close(fd);
    close();
    return false;
  }
  return setUp();
}

bool ClientConnection::setUp() {
  worker_.metrics().connectionOpened(listener_);
  counted_ = true;
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    formatAddress(ss, client_ip_, sizeof client_ip_, nullptr, 0);
  phase_ = Phase::Idle;
  phase_start_ = last_read_ = last_write_ = uv_now(worker_.loop());
  startReading();
  armTimer();
  return true;
}

// Only an HTTP/1.0 request without Host needs it: no getsockname(2) per connection otherwise.
std::string_view ClientConnection::localAddress() {
  if (local_addr_[0] == '\0') {
    sockaddr_storage ss{};
    int len = sizeof ss;
    char ip[48];
    if (uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
      formatAddress(ss, ip, sizeof ip, local_addr_, sizeof local_addr_);
  }
  return local_addr_;
}

void ClientConnection::close() {
  if (phase_ == Phase::Closing && open_handles_ == 0) return;
  if (tcp_.data == nullptr) return;  // never opened
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_))) return;
  if (session_.active()) session_.abort(Termination::ClientClosed, 499);
  phase_ = Phase::Closing;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onClose);
}

void ClientConnection::onClose(uv_handle_t* h) {
  auto* self = static_cast<ClientConnection*>(h->data);
  if (--self->open_handles_ == 0) {
    if (self->counted_) self->worker_.metrics().connectionClosed(self->listener_);
    self->worker_.remove(self);
    delete self;
  }
}

void ClientConnection::drain() {
  draining_ = true;
  // Close keep-alive connections waiting for their next request; a connection that has not sent
  // its first one yet gets it answered (with Connection: close).
  if (served_ && !session_.active() && phase_ == Phase::Idle && out_.idle()) close();
}

// ---- reading -------------------------------------------------------------------------------

void ClientConnection::startReading() {
  if (reading_ || phase_ == Phase::Closing) return;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), onAlloc, onRead);
  reading_ = true;
}

void ClientConnection::stopReading() {
  if (!reading_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
}

// Read while there is room: not when the origin side is backed up, not when a pipelined request
// waits with its buffer full, not after EOF or once we decided to close.
void ClientConnection::updateReading() {
  if (phase_ == Phase::Closing || close_after_write_) return;
  const bool parser_paused = llhttp_get_errno(&parser_) == HPE_PAUSED;
  const bool no_room = parser_paused && in_ && in_start_ < in_end_ && in_end_ + 4096 > in_->capacity;
  const bool want = !eof_ && !body_paused_ && !no_room;
  if (want)
    startReading();
  else
    stopReading();
}

void ClientConnection::pauseBodyReading() {
  body_paused_ = true;
  stopReading();
}

void ClientConnection::resumeBodyReading() {
  if (!body_paused_) return;
  body_paused_ = false;
  last_read_ = uv_now(worker_.loop());
  updateReading();
  armTimer();
}

void ClientConnection::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<ClientConnection*>(h->data);
  if (self->in_ && self->in_start_ < self->in_end_) {
    // Unparsed bytes wait (a pipelined request): append after them.
    buf->base = self->in_->data() + self->in_end_;
    buf->len = self->in_->capacity - self->in_end_;
    return;
  }
  if (!self->in_.unique()) self->in_ = BufRef(self->worker_.buffers().get());
  self->in_start_ = self->in_end_ = 0;
  buf->base = self->in_->data();
  buf->len = self->in_->capacity;
}

void ClientConnection::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
  auto* self = static_cast<ClientConnection*>(s->data);
  if (self->phase_ == Phase::Closing) return;
  if (nread > 0) {
    self->last_read_ = uv_now(self->worker_.loop());
    if (self->close_after_write_) {
      // Lingering close: the answer is out, the rest of the request is read and dropped.
      self->in_start_ = self->in_end_ = 0;
      return;
    }
    self->in_end_ += static_cast<size_t>(nread);
    if (self->phase_ == Phase::Tunnel) {
      self->forwardTunnelInput();
    } else {
      self->processInput();
    }
  } else if (nread < 0) {
    self->handleEof();
  }
  // An idle connection holds no buffer (10,000 idle clients cost no 64 KiB each).
  if (self->phase_ != Phase::Closing && self->in_start_ == self->in_end_ && self->in_.unique()) {
    self->in_.reset();
    self->in_start_ = self->in_end_ = 0;
  }
}

void ClientConnection::startTunnel() {
  phase_ = Phase::Tunnel;
  phase_start_ = uv_now(worker_.loop());
  // Bytes the client sent after its upgrade request are the first tunnel bytes.
  if (in_ && in_start_ < in_end_) forwardTunnelInput();
  flush();
  if (phase_ == Phase::Tunnel) {
    updateReading();
    armTimer();
  }
}

void ClientConnection::forwardTunnelInput() {
  if (in_start_ < in_end_) session_.onTunnelClientData(in_.get(), in_->data() + in_start_, in_end_ - in_start_);
  in_start_ = in_end_;
  if (phase_ == Phase::Tunnel) armTimer();
}

void ClientConnection::processInput() {
  if (in_process_input_) return;
  in_process_input_ = true;
  while (phase_ != Phase::Closing && !close_after_write_ && in_ && in_start_ < in_end_) {
    if (phase_ == Phase::Tunnel) break;
    const llhttp_errno_t state = llhttp_get_errno(&parser_);
    if (state == HPE_PAUSED || state == HPE_PAUSED_UPGRADE) {
      if (session_.active()) break;  // the current exchange is not done: later requests wait
      if (state == HPE_PAUSED) llhttp_resume(&parser_);
      else llhttp_resume_after_upgrade(&parser_);
    }
    const char* data = in_->data() + in_start_;
    const size_t n = in_end_ - in_start_;
    const llhttp_errno_t err = llhttp_execute(&parser_, data, n);
    if (err == HPE_OK) {
      in_start_ = in_end_;
    } else if (err == HPE_PAUSED) {
      in_start_ += static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    } else if (err == HPE_PAUSED_UPGRADE && !session_.active()) {
      // An upgrade the origin declined (or one edged does not tunnel): go on as HTTP.
      in_start_ += static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
      llhttp_resume_after_upgrade(&parser_);
    } else if (err == HPE_PAUSED_UPGRADE) {
      in_start_ += static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
      break;  // the exchange decides: tunnel or HTTP
    } else {
      int status = reject_status_ ? reject_status_ : 400;
      if (status == 400)
        LOG_INFO("client %s sent an invalid request: %s (%s)", client_ip_, llhttp_errno_name(err),
                 llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "");
      rejectRequest(status);
      break;
    }
  }
  in_process_input_ = false;
  if (phase_ == Phase::Closing) return;
  if (session_.active()) session_.onRequestBodyReadBatchDone();
  if (eof_ && !session_.active() && in_start_ == in_end_) closeAfterWrite();
  flush();
  updateReading();
  armTimer();
}

void ClientConnection::handleEof() {
  eof_ = true;
  stopReading();
  if (close_after_write_) {
    if (out_.idle()) close();
    return;
  }
  if (phase_ == Phase::Tunnel) {
    session_.onTunnelClientEnd();
    return;
  }
  if (session_.active()) {
    if (phase_ == Phase::Body || phase_ == Phase::Head) {
      session_.abort(Termination::ClientClosed, 499);  // the request never arrived whole
      close();
    }
    // Request complete: half-close is allowed, the response still goes out (HAProxy's default).
    return;
  }
  closeAfterWrite();
}

void ClientConnection::rejectRequest(int status, Termination why) {
  session_.reject(status, why);
  flush();
  closeAfterWrite();
}

void ClientConnection::sessionFinished(bool keep_alive) {
  served_ = true;
  phase_ = Phase::Idle;
  phase_start_ = uv_now(worker_.loop());
  if (!keep_alive || draining_) {
    closeAfterWrite();
    return;
  }
  if (in_process_input_) return;  // the parse loop goes on by itself
  processInput();
}

void ClientConnection::closeAfterWrite() {
  close_after_write_ = true;
  stopReading();
  if (out_.idle() && !out_.writing() && !shutdown_sent_) {
    // The request was read whole and nothing else waits unread: close() sends a plain FIN after
    // the response (nginx lingers only in this same doubt). Unread bytes would turn it into a
    // reset that can destroy the response in flight: then linger.
    const bool client_may_send = !message_complete_ || phase_ == Phase::Head || phase_ == Phase::Body ||
                                 (in_ && in_start_ < in_end_);
    if (eof_ || !client_may_send) {
      close();
    } else {
      // Lingering close: FIN after the answer, then drain what the client still sends for a
      // moment, so a client mid-upload reads our 413 instead of a reset.
      phase_start_ = uv_now(worker_.loop());
      shutdown_sent_ = true;
      uv_shutdown_t* req = new uv_shutdown_t;
      req->data = this;
      if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&tcp_), [](uv_shutdown_t* r, int) { delete r; }) != 0) {
        delete req;
        close();
        return;
      }
      if (!eof_) {
        in_.reset();
        in_start_ = in_end_ = 0;
        uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), onAlloc, onRead);
        reading_ = true;
      }
      armTimer();
    }
  }
}

// ---- writing -------------------------------------------------------------------------------

void ClientConnection::flush() {
  if (phase_ == Phase::Closing) return;
  // Nagle only hurts from a connection's second write on (a response in several writes, or the
  // next keep-alive response): most Connection: close exchanges never pay for the setsockopt.
  if (!nodelay_ && out_.queuedBytes() > 0 && ++flushes_ > 1) {
    uv_tcp_nodelay(&tcp_, 1);
    nodelay_ = true;
  }
  if (!out_.writing()) last_write_ = uv_now(worker_.loop());
  int rc = out_.flush(reinterpret_cast<uv_stream_t*>(&tcp_));
  if (rc != 0) {
    LOG_INFO("write to client %s failed: %s", client_ip_, uv_strerror(rc));
    close();
    return;
  }
  // A write left in flight may never call back (a client that stops reading): client_send
  // must be armed now.
  if (!out_.idle()) armTimer();
}

void ClientConnection::onWriteDone(void* p, int status) {
  auto* self = static_cast<ClientConnection*>(p);
  if (self->phase_ == Phase::Closing) return;
  if (status < 0) {
    if (self->session_.active()) self->session_.abort(Termination::ClientClosed, 499);
    self->close();
    return;
  }
  self->last_write_ = uv_now(self->worker_.loop());
  if (self->close_after_write_ && self->out_.idle()) {
    self->closeAfterWrite();
    return;
  }
  if (self->session_.active() && self->out_.queuedBytes() < kLowWater) self->session_.onClientDrained();
  if (self->draining_ && !self->session_.active() && self->out_.idle()) {
    self->closeAfterWrite();
    return;
  }
  self->armTimer();
}

// ---- timeouts ------------------------------------------------------------------------------

void ClientConnection::armTimer() {
  if (phase_ == Phase::Closing) return;
  const conf::Timeouts& t = worker_.config().timeouts;
  uint64_t d = 0;
  auto consider = [&d](uint64_t v) {
    if (d == 0 || v < d) d = v;
  };
  if (!out_.idle()) consider(last_write_ + t.client_send.count());
  if (t.request.count() > 0 && session_.active() && phase_ != Phase::Tunnel)
    consider(request_start_ + t.request.count());
  if (close_after_write_) {
    if (out_.idle()) consider(phase_start_ + kLingerMs);
  } else {
    switch (phase_) {
      case Phase::Idle: if (!session_.active()) consider(phase_start_ + t.keepalive.count()); break;
      case Phase::Head: consider(phase_start_ + t.client_header.count()); break;
      case Phase::Body: if (!body_paused_) consider(last_read_ + t.client_body.count()); break;
      case Phase::Tunnel: consider(std::max(last_read_, last_write_) + t.tunnel_idle.count()); break;
      case Phase::Waiting: case Phase::Closing: break;
    }
  }
  deadline_ = d;
  if (d == 0) return;
  if (timer_due_ == 0 || d < timer_due_) {
    const uint64_t now = uv_now(worker_.loop());
    timer_due_ = d;
    uv_timer_start(&timer_, onTimer, d > now ? d - now : 0, 0);
  }
}

void ClientConnection::onTimer(uv_timer_t* t) {
  auto* self = static_cast<ClientConnection*>(t->data);
  self->timer_due_ = 0;
  const uint64_t now = uv_now(self->worker_.loop());
  if (self->deadline_ == 0 || now < self->deadline_) {
    self->armTimer();
    return;
  }
  const conf::Timeouts& to = self->worker_.config().timeouts;
  if (!self->out_.idle() && now >= self->last_write_ + to.client_send.count()) {
    LOG_INFO("client %s timed out reading the response (client_send)", self->client_ip_);
    if (self->session_.active()) self->session_.abort(Termination::ClientTimeout, 504);
    self->close();
    return;
  }
  if (to.request.count() > 0 && self->session_.active() && self->phase_ != Phase::Tunnel &&
      now >= self->request_start_ + to.request.count()) {
    LOG_INFO("request from client %s exceeded the request timeout", self->client_ip_);
    self->session_.timeout();  // 504 before the response head, a cut connection after it
    if (self->phase_ != Phase::Closing) {
      self->flush();
      self->armTimer();
    }
    return;
  }
  if (self->close_after_write_) {
    self->close();
    return;
  }
  switch (self->phase_) {
    case Phase::Idle: self->close(); return;  // keepalive timeout: nothing to say
    case Phase::Head:
      LOG_INFO("client %s timed out sending the request head (client_header)", self->client_ip_);
      self->rejectRequest(408, Termination::ClientTimeout);
      return;
    case Phase::Body:
      LOG_INFO("client %s timed out sending the request body (client_body)", self->client_ip_);
      if (self->session_.responseStarted()) {
        self->session_.abort(Termination::ClientTimeout, 408);
        self->close();
      } else {
        self->rejectRequest(408, Termination::ClientTimeout);
      }
      return;
    case Phase::Tunnel:
      LOG_INFO("tunnel from client %s idle for tunnel_idle: closing", self->client_ip_);
      self->session_.abort(Termination::ClientTimeout, 101);
      self->close();
      return;
    case Phase::Waiting: case Phase::Closing: break;
  }
  self->armTimer();
}

// ---- llhttp callbacks ----------------------------------------------------------------------

int ClientConnection::onMessageBegin(llhttp_t* p) {
  auto* self = static_cast<ClientConnection*>(p->data);
  self->head_.reset();
  self->reject_status_ = 0;
  self->message_complete_ = false;
  self->phase_ = Phase::Head;
  self->phase_start_ = uv_now(self->worker_.loop());
  self->head_start_ns_ = uv_hrtime();
  return 0;
}

namespace {
inline int checkHeadSize(ClientConnection* c, size_t bytes, uint64_t limit, int* reject) {
  (void)c;
  if (bytes > limit) {
    *reject = 431;
    return -1;
  }
  return 0;
}
}  // namespace

int ClientConnection::onUrl(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<ClientConnection*>(p->data);
  const size_t bytes = self->head_.addTarget(at, n);
  if (bytes > self->worker_.config().limits.max_header_bytes) {
    self->reject_status_ = 414;
    return -1;
  }
  return 0;
}

int ClientConnection::onHeaderField(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<ClientConnection*>(p->data);
  return checkHeadSize(self, self->head_.addField(at, n), self->worker_.config().limits.max_header_bytes,
                       &self->reject_status_);
}

int ClientConnection::onHeaderValue(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<ClientConnection*>(p->data);
  return checkHeadSize(self, self->head_.addValue(at, n), self->worker_.config().limits.max_header_bytes,
                       &self->reject_status_);
}

int ClientConnection::onHeaderValueComplete(llhttp_t* p) {
  static_cast<ClientConnection*>(p->data)->head_.endValue();
  return 0;
}

int ClientConnection::onHeadersComplete(llhttp_t* p) {
  auto* self = static_cast<ClientConnection*>(p->data);
  self->phase_ = Phase::Body;
  self->last_read_ = self->request_start_ = uv_now(self->worker_.loop());
  self->session_.onRequestHead();
  if (self->reject_status_) return -1;
  return 0;
}

int ClientConnection::onBody(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<ClientConnection*>(p->data);
  self->session_.onRequestBody(self->in_.get(), at, n);
  return self->reject_status_ ? -1 : 0;
}

int ClientConnection::onMessageComplete(llhttp_t* p) {
  auto* self = static_cast<ClientConnection*>(p->data);
  self->message_complete_ = true;
  self->phase_ = self->session_.active() ? Phase::Waiting : Phase::Idle;
  if (self->session_.active()) self->session_.onRequestComplete();
  return HPE_PAUSED;  // one exchange at a time: pipelined requests are parsed when it ends
}

}  // namespace edged::proxy
