// proxy/upstream_connection.cpp — the origin side of an exchange.
#include "proxy/upstream_connection.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "proxy/log.h"
#include "proxy/net/tls/tls.h"
#include "proxy/worker.h"

namespace edged::proxy {

const char* failureName(UpstreamFailure f) {
  switch (f) {
    case UpstreamFailure::ConnectFailed: return "connect_failed";
    case UpstreamFailure::ConnectTimeout: return "connect_timeout";
    case UpstreamFailure::SendTimeout: return "send_timeout";
    case UpstreamFailure::ReadTimeout: return "read_timeout";
    case UpstreamFailure::Closed: return "upstream_closed";
    case UpstreamFailure::BadResponse: return "bad_response";
  }
  return "unknown";
}

// "host" of "host:port" or "[v6]:port": what TLS verifies (and sends as SNI when it is a name).
std::string upstreamHost(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    return std::string(address.substr(1, close == std::string_view::npos ? address.size() - 1 : close - 1));
  }
  return std::string(address.substr(0, address.rfind(':')));
}

UpstreamConnection::UpstreamConnection(Worker& worker, WorkerGen& gen, size_t upstream_index,
                                       upstream::Server& server, size_t slot)
    : worker_(worker), gen_(&gen), upstream_index_(upstream_index), server_(&server), slot_(slot), out_(this, onWriteDone) {
  gen.ref();
  transport_.open(worker.loop(), this);
  uv_timer_init(worker.loop(), &timer_);
  timer_.data = this;
  open_handles_ = 2;
  posted_flush_.owner = this;
  posted_flush_.fn = [](void* owner) {
    auto* self = static_cast<UpstreamConnection*>(owner);
    if (self->batch_deferred_ && self->handler_) self->readBatchDone(self->handler_, 0);
  };
  resetParser();
}

void UpstreamConnection::rebind(WorkerGen& gen, size_t upstream_index, upstream::Server& server) {
  if (gen_ == &gen) return;
  gen.ref();
  worker_.releaseGen(gen_);
  gen_ = &gen;
  upstream_index_ = upstream_index;
  server_ = &server;
}

void UpstreamConnection::resetParser() {
  llhttp_init(&parser_, HTTP_RESPONSE, http1::ResponseParser<UpstreamConnection>::settings());
  parser_.data = this;
  chunk_extension_fix_.reset();
  head_.reset();
  response_started_ = false;
  response_complete_ = false;
  no_body_ = false;
  leftover_ = false;
  interim_done_ = false;
  head_repair_ = false;
  head_repaired_ = false;
  if (!head_raw_.empty()) std::string().swap(head_raw_);
}

int UpstreamConnection::connect(UpstreamHandler* h) {
  handler_ = h;
  state_ = State::Connecting;
  last_activity_ = uv_now(worker_.loop());
  // https origin: TLS with the upstream's verification and SNI; the session toward the same
  // server is resumed when the context still has it. The connect timeout covers the handshake.
  const auto& upstream_tls = gen_->generation().upstream_tls;
  if (upstream_index_ < upstream_tls.size() && upstream_tls[upstream_index_]) {
    const std::string& address = server_->name();
    std::unique_ptr<net::tls::TlsEngine> engine = upstream_tls[upstream_index_]->newEngine(upstreamHost(address), address);
    if (!engine) {
      handler_ = nullptr;
      return UV_ENOMEM;
    }
    transport_.useTls(std::move(engine), this);
  }
  int rc = transport_.connect(&connect_req_, server_->config.address.sa(), this);
  if (rc != 0) {
    handler_ = nullptr;
    return rc;
  }
  armTimer();
  return 0;
}

void UpstreamConnection::onTransportConnected(int status) {
  if (state_ == State::Closing) return;
  if (status < 0) {
    if (const std::string tls_error = transport_.tlsError(); !tls_error.empty())
      LOG_WARN("TLS handshake with %s failed: %s", server_->name().c_str(), tls_error.c_str());
    else
      LOG_WARN("connect() to %s failed: %s", server_->name().c_str(), uv_strerror(status));
    fail(UpstreamFailure::ConnectFailed);
    return;
  }
  state_ = State::Active;
  transport_.setNoDelay(true);
  last_activity_ = uv_now(worker_.loop());
  startReading();
  armTimer();
  if (handler_) handler_->onUpstreamConnected();
}

void UpstreamConnection::attach(UpstreamHandler* h) {
  handler_ = h;
  state_ = State::Active;
  reused_ = true;
  resetParser();
  last_activity_ = uv_now(worker_.loop());
  if (read_paused_) resumeReading();
  armTimer();
}

void UpstreamConnection::release(bool reuse) {
  handler_ = nullptr;
  if (state_ == State::Closing) return;
  if (reuse && state_ == State::Active && out_.idle() && !read_paused_) {
    worker_.pool().put(this);
  } else {
    close();
  }
}

void UpstreamConnection::becomeIdle(uint64_t deadline_ms) {
  state_ = State::Idle;
  idle_deadline_ = deadline_ms;
  in_.reset();  // an idle connection holds no buffer
  armTimer();
}

void UpstreamConnection::close() {
  if (state_ == State::Closing) return;
  state_ = State::Closing;
  handler_ = nullptr;
  PostedFlushes::cancel(posted_flush_);
  transport_.close(this);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onClose);
}

void UpstreamConnection::closeAfterWrite() {
  handler_ = nullptr;
  if (state_ == State::Closing) return;
  close_after_write_ = true;
  // Bytes whose flush was deferred to the end of the read batch (a tunnel's last full read, then
  // the client's FIN in the same batch) go out too: nobody else flushes this queue any more.
  flush();
  if (state_ == State::Closing) return;
  if (out_.idle()) {
    close();
    return;
  }
  pauseReading();
}

void UpstreamConnection::onClose(uv_handle_t* h) { static_cast<UpstreamConnection*>(h->data)->onTransportClosed(); }

// Either handle's close callback (the socket's and the timer's): freed after the second.
void UpstreamConnection::onTransportClosed() {
  if (--open_handles_ == 0) {
    worker_.releaseGen(gen_);
    delete this;
  }
}

void UpstreamConnection::fail(UpstreamFailure f) {
  UpstreamHandler* h = handler_;
  handler_ = nullptr;
  if (h) {
    h->onUpstreamFailure(f);  // the session closes or releases us
  } else {
    close();
  }
}

void UpstreamConnection::flush() {
  if (state_ != State::Active) return;  // sent once connected
  int rc = out_.flush(transport_);
  if (rc != 0) {
    LOG_WARN("write to %s failed: %s", server_->name().c_str(), uv_strerror(rc));
    fail(UpstreamFailure::Closed);
    return;
  }
  armTimer();
}

void UpstreamConnection::onWriteDone(void* p, int status) {
  auto* self = static_cast<UpstreamConnection*>(p);
  if (self->state_ == State::Closing) return;
  if (status < 0) {
    self->fail(UpstreamFailure::Closed);
    return;
  }
  if (self->close_after_write_) {
    if (self->out_.idle()) self->close();
    else self->flush();  // what was queued behind the write that just completed
    return;
  }
  self->last_activity_ = uv_now(self->worker_.loop());
  self->armTimer();
  if (self->handler_) self->handler_->onUpstreamWritten();
}

void UpstreamConnection::armTimer() {
  const conf::Timeouts& t = gen_->config().timeouts;
  switch (state_) {
    case State::Connecting: deadline_ = last_activity_ + t.connect.count(); break;
    case State::Active:
      if (!out_.idle())
        deadline_ = last_activity_ + t.send.count();
      else if (tunnel_)
        deadline_ = 0;  // the client side applies tunnel_idle to both directions
      else if (!read_paused_)
        deadline_ = last_activity_ + t.read.count();
      else
        deadline_ = 0;
      break;
    case State::Idle: deadline_ = idle_deadline_; break;
    case State::Closing: return;
  }
  if (deadline_ == 0) return;
  if (timer_due_ == 0 || deadline_ < timer_due_) {
    const uint64_t now = uv_now(worker_.loop());
    timer_due_ = deadline_;
    uv_timer_start(&timer_, onTimer, deadline_ > now ? deadline_ - now : 0, 0);
  }
}

void UpstreamConnection::onTimer(uv_timer_t* t) {
  auto* self = static_cast<UpstreamConnection*>(t->data);
  self->timer_due_ = 0;
  const uint64_t now = uv_now(self->worker_.loop());
  if (self->deadline_ == 0 || now < self->deadline_) {
    self->armTimer();
    return;
  }
  switch (self->state_) {
    case State::Connecting:
      LOG_WARN("connect() to %s timed out", self->server_->name().c_str());
      self->fail(UpstreamFailure::ConnectTimeout);
      break;
    case State::Active:
      LOG_WARN("upstream %s timed out (%s)", self->server_->name().c_str(),
               self->out_.idle() ? "read" : "send");
      self->fail(self->out_.idle() ? UpstreamFailure::ReadTimeout : UpstreamFailure::SendTimeout);
      break;
    case State::Idle:
      self->worker_.pool().forget(self);
      self->close();
      break;
    case State::Closing: break;
  }
}

void UpstreamConnection::startReading() { transport_.startReading(this); }

void UpstreamConnection::pauseReading() {
  if (read_paused_ || state_ == State::Closing) return;
  read_paused_ = true;
  transport_.stopReading();
}

void UpstreamConnection::resumeReading() {
  if (!read_paused_ || state_ == State::Closing) return;
  read_paused_ = false;
  last_activity_ = uv_now(worker_.loop());
  if (state_ != State::Connecting) startReading();
  armTimer();
}

void UpstreamConnection::onTransportAlloc(uv_buf_t* buf) {
  // Reuse our buffer when nobody else still references bytes in it.
  if (!in_.unique()) in_ = BufRef(worker_.buffers().get());
  buf->base = in_->data();
  buf->len = in_->capacity;
}

void UpstreamConnection::onTransportRead(ssize_t nread, const uv_buf_t* buf) {
  if (state_ == State::Closing) return;
  if (nread > 0) {
    handleRead(buf->base, static_cast<size_t>(nread));
  } else if (nread < 0) {
    handleEof();
  } else if (batch_deferred_ && handler_) {
    readBatchDone(handler_, 0);  // the read after a full one found nothing (EAGAIN)
  }
  if (state_ == State::Idle && in_.unique()) in_.reset();
}

void UpstreamConnection::handleRead(const char* data, size_t n) {
  if (state_ == State::Idle) {
    // An idle origin connection has nothing to say: bytes or EOF mean it is unusable.
    worker_.pool().forget(this);
    close();
    return;
  }
  last_activity_ = uv_now(worker_.loop());
  batch_deferred_ = false;  // this read ends in a flush, a completion or a new deferral
  if (tunnel_) {
    UpstreamHandler* h = handler_;
    h->onUpstreamTunnelData(in_.get(), data, n);
    readBatchDone(h, n);
    return;
  }
  const size_t read_size = n;
  llhttp_errno_t err = HPE_OK;
  const char* stop = nullptr;  // where llhttp paused, inside data
  if (head_repair_) {
    // A faulty head is gathered whole, repaired, and parsed; the rest of the read follows it.
    const size_t rest = takeRepairedHead(data, n, err);
    if (state_ == State::Closing || !handler_) return;
    if (rest == SIZE_MAX) {  // the head is not all here yet
      armTimer();
      return;
    }
    data += n - rest;
    n = rest;
    stop = data;  // a head that ends the response (or opens a tunnel) leaves the whole rest
    if (err == HPE_PAUSED && interim_done_) {  // a repaired 1xx: the next head starts the rest
      interim_done_ = false;
      llhttp_resume(&parser_);
      err = HPE_OK;
    }
  }
  if (err == HPE_OK) {
    const char* const end = data + n;
    err = llhttp_execute(&parser_, data, n);
    while (err == HPE_PAUSED && state_ != State::Closing && handler_) {
      if (chunk_extension_fix_.takeRefeed()) {
        // llhttp stepped over a chunk extension's ';': parse again from it (chunk_extension_fix.h)
        const char* from = llhttp_get_error_pos(&parser_) - 1;
        llhttp_resume(&parser_);
        err = llhttp_execute(&parser_, from, static_cast<size_t>(end - from));
      } else if (interim_done_) {
        // A 1xx ended (and went to the client): the next head is judged, and repaired, on its own.
        interim_done_ = false;
        data = llhttp_get_error_pos(&parser_);
        n = static_cast<size_t>(end - data);
        head_repaired_ = false;
        head_raw_.clear();
        llhttp_resume(&parser_);
        err = llhttp_execute(&parser_, data, n);
      } else {
        break;
      }
    }
    stop = llhttp_get_error_pos(&parser_);
  }
  if (state_ == State::Closing || !handler_) return;
  if (tunnel_) {
    // The 101 head ended inside this read: what follows it is the origin's first tunnel bytes.
    UpstreamHandler* h = handler_;
    if (err == HPE_PAUSED_UPGRADE || err == HPE_PAUSED) {
      if (stop && stop < data + n) h->onUpstreamTunnelData(in_.get(), stop, static_cast<size_t>(data + n - stop));
    }
    readBatchDone(h, read_size);
    return;
  }
  if (err == HPE_OK && !response_started_ && !head_repaired_) {
    // The head goes on in the next read: its bytes are kept in case it needs repair.
    if (head_raw_.size() + n <= maxResponseHeadBytes()) head_raw_.append(data, n);
    else head_repaired_ = true;  // (too long to keep: never repaired)
  } else if (!head_raw_.empty() && response_started_) {
    std::string().swap(head_raw_);
  }
  if (err == HPE_PAUSED) {
    leftover_ = stop < data + n;
  } else if (err != HPE_OK) {
    if (startHeadRepair(data, n)) {
      handleRead(data, n);  // again, gathered and repaired this time
      return;
    }
    LOG_WARN("upstream %s sent an invalid response: %s", server_->name().c_str(), llhttp_errno_name(err));
    handler_->onUpstreamReadBatchDone();
    if (handler_) fail(UpstreamFailure::BadResponse);
    return;
  }
  armTimer();
  UpstreamHandler* h = handler_;
  if (response_complete_) {
    // The end is here: finishing covers what a batch-end flush would do (a compressor is
    // finished once instead of flushed, then finished).
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; the
    // connection is closed after it, whatever its Connection field says.
    const bool faulty_framing =
        parser_.http_major == 1 && parser_.http_minor == 0 && (parser_.flags & F_TRANSFER_ENCODING);
    h->onUpstreamComplete(!leftover_ && !faulty_framing && llhttp_should_keep_alive(&parser_));
    return;
  }
  readBatchDone(h, read_size);
}

// RFC 9112 §2.2 / §5.1: a head that llhttp refused for a bare LF or for whitespace before a
// colon is parsed again, repaired (http1/head_repair.h), once per head (a 1xx's and the final
// one's), and only when the bytes show one of the two faults; anything else refused stays a 502.
// `data`: this read from where the head began.
bool UpstreamConnection::startHeadRepair(const char* data, size_t n) {
  if (head_repaired_ || response_started_) return false;
  // A bare LF, "name :", or a field line that so far is a name and whitespace (the colon may be
  // in the next read: llhttp refuses at the space).
  bool fault = false;
  bool status_line = true, colon = false;
  size_t line_length = 0;
  char before = '\0';
  auto scan = [&](std::string_view bytes) {
    for (size_t i = 0; i < bytes.size() && !fault; before = bytes[i++]) {
      const char c = bytes[i];
      if (c == '\n') {
        fault = before != '\r';
        status_line = colon = false;
        line_length = 0;
        continue;
      }
      if (c == ':' && !colon) fault = !status_line && (before == ' ' || before == '\t');
      colon = colon || c == ':';
      ++line_length;
    }
  };
  scan(head_raw_);
  scan(std::string_view(data, n));
  const bool name_then_space = !status_line && !colon && line_length > 1 && (before == ' ' || before == '\t');
  if (!fault && !name_then_space) return false;
  std::string gathered = std::move(head_raw_);
  resetParser();  // what llhttp parsed of the head is forgotten
  head_raw_ = std::move(gathered);
  head_repair_ = true;
  head_repaired_ = true;
  return true;
}

// The gathered head plus `data`: when the head is complete, parses its repaired form and returns
// how many bytes of `data` follow it (err: llhttp's result); SIZE_MAX while it is incomplete.
size_t UpstreamConnection::takeRepairedHead(const char* data, size_t n, llhttp_errno_t& err) {
  head_raw_.append(data, n);
  std::string fixed;
  const size_t used = http1::repairResponseHead(head_raw_, fixed);
  if (used == 0) {
    if (head_raw_.size() > maxResponseHeadBytes()) {
      onResponseHeadTooLarge();
      fail(UpstreamFailure::BadResponse);
    }
    return SIZE_MAX;
  }
  const size_t rest = head_raw_.size() - used;  // inside `data`: an earlier read held no head end
  if (rest > n) {  // (llhttp would have seen that end: never expected)
    fail(UpstreamFailure::BadResponse);
    return SIZE_MAX;
  }
  head_repair_ = false;
  std::string().swap(head_raw_);
  err = llhttp_execute(&parser_, fixed.data(), fixed.size());
  if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE && state_ != State::Closing && handler_) {
    LOG_WARN("upstream %s sent an invalid response: %s", server_->name().c_str(), llhttp_errno_name(err));
    handler_->onUpstreamReadBatchDone();
    if (handler_) fail(UpstreamFailure::BadResponse);
  }
  return rest;
}

// After a read's callbacks the handler flushes what they queued. A read that filled the buffer
// is usually followed at once by another read in the same pass (libuv's uv__read loops while
// reads come back full, up to 32 a pass), so its flush can wait for that read: a response a little
// over the buffer size goes out in one write, not two. That next read's callback — or libuv's
// nread 0 callback when it finds nothing (EAGAIN), or the EOF — flushes; and whatever libuv does,
// the worker's posted flushes run this iteration's leftovers right after its I/O callbacks, before
// the loop can sleep. The handler bounds what waits (its queue size).
void UpstreamConnection::readBatchDone(UpstreamHandler* h, size_t n) {
  if (handler_ != h) return;
  if (n == in_->capacity && transport_.reading() && h->mayDeferReadBatch()) {
    batch_deferred_ = true;
    worker_.postedFlushes().post(posted_flush_);
    return;
  }
  batch_deferred_ = false;
  h->onUpstreamReadBatchDone();
}

void UpstreamConnection::handleEof() {
  if (state_ == State::Idle) {
    worker_.pool().forget(this);
    close();
    return;
  }
  if (!handler_) {
    close();
    return;
  }
  if (batch_deferred_) {  // deliver what the last full read queued before the end is handled
    readBatchDone(handler_, 0);
    if (!handler_ || state_ == State::Closing) return;
  }
  if (tunnel_) {
    UpstreamHandler* h = handler_;
    handler_ = nullptr;
    h->onUpstreamTunnelEnd();
    return;
  }
  if (response_started_ && !response_complete_ && llhttp_message_needs_eof(&parser_)) {
    llhttp_finish(&parser_);  // completes a read-until-close body
  }
  if (response_complete_) {
    handler_->onUpstreamComplete(false);
    return;
  }
  fail(UpstreamFailure::Closed);
}

// ---- the response parser's calls -----------------------------------------------------------

int UpstreamConnection::onResponseHead(llhttp_t*) {
  if (!handler_) return -1;
  const int status = head_.status;
  // RFC 9110 §15: a status code is three digits, 100..599; anything else (llhttp takes "20" or
  // "099") is not HTTP to forward, nor an interim response to wait past: an invalid response.
  if (status < 100 || status > 599) {
    LOG_WARN("upstream %s sent status %d, outside 100..599", server_->name().c_str(), status);
    return -1;
  }
  if (!headForwardable(status)) return -1;
  if (status >= 200 || status == 101) response_started_ = true;
  // Node and others advertise how long they keep an idle connection: retire ours before that.
  std::string_view ka = head_.fields.find("keep-alive");
  if (auto pos = ka.find("timeout="); pos != std::string_view::npos)
    keepalive_hint_ms_ = std::strtoull(ka.data() + pos + 8, nullptr, 10) * 1000;
  const bool no_body = handler_->onUpstreamHead(head_);
  if (!handler_ || state_ == State::Closing) return -1;
  if (status == 101) return 2;
  return no_body && status >= 200 ? 1 : 0;
}

// RFC 9112 §2.3: an HTTP/1.1 connection carries HTTP/1.x responses; llhttp also takes
// "HTTP/2.0". RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ); llhttp passes
// other control bytes, which would reach the client in the status line. RFC 9112 §6.1: chunked is the only transfer coding edged decodes; any other one
// (gzip, or "gzip, chunked", whose content llhttp would hand over still gzip-coded while the
// field goes) cannot be forwarded as what it is: an invalid response, 502, as nginx does. 1xx,
// 204 and 304 have no body to decode.
bool UpstreamConnection::headForwardable(int status) const {
  if (head_.version_major != 1) {
    LOG_WARN("upstream %s answered in HTTP/%u.%u", server_->name().c_str(), unsigned{head_.version_major}, unsigned{head_.version_minor});
    return false;
  }
  for (const char c : head_.fields.target()) {  // the reason phrase
    const auto b = static_cast<unsigned char>(c);
    if ((b < 0x20 && b != '\t') || b == 0x7f) {
      LOG_WARN("upstream %s sent a control byte in its reason phrase", server_->name().c_str());
      return false;
    }
  }
  if (status < 200 || status == 204 || status == 304) return true;
  bool only_chunked = true;
  for (size_t i = 0; i < head_.fields.size(); ++i) {
    if (head_.fields.id(i) != HeaderId::TransferEncoding) continue;
    fields::forEachListElement(head_.fields.value(i), [&](std::string_view coding) {
      only_chunked = only_chunked && fields::iequals(coding, "chunked");
    });
  }
  if (!only_chunked) LOG_WARN("upstream %s sent a transfer coding other than chunked", server_->name().c_str());
  return only_chunked;
}

size_t UpstreamConnection::maxResponseHeadBytes() const { return gen_->config().limits.max_response_header_bytes; }

int UpstreamConnection::onResponseHeadTooLarge() {
  LOG_WARN("upstream %s sent a response head over limits.max_response_header_bytes (%zu)", server_->name().c_str(),
           maxResponseHeadBytes());
  return -1;
}

int UpstreamConnection::onResponseBodyData(const char* at, size_t n) {
  if (!handler_) return -1;
  handler_->onUpstreamBody(in_.get(), at, n);
  return handler_ ? 0 : -1;
}

int UpstreamConnection::onResponseEnd(llhttp_t* p) {
  const int status = llhttp_get_status_code(p);
  if (tunnel_) return 0;  // a 101 opened a tunnel: no message ends here
  if (status < 200 && status != 101) {  // interim response: the final one follows
    interim_done_ = true;  // paused, so that the next head's bytes are known (handleRead)
    return HPE_PAUSED;
  }
  response_complete_ = true;
  return HPE_PAUSED;
}

}  // namespace edged::proxy
