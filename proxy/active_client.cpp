// proxy/active_client.cpp — the request parser's callbacks, and what the Session asks of its
// connection, passed on to the ClientConnection being served.
#include "proxy/active_client.h"

#include <cassert>

#include "proxy/client_connection.h"
#include "proxy/worker.h"

namespace edged::proxy {

const llhttp_settings_t* ActiveClient::settings() {
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

ActiveClient::ActiveClient(Worker& worker) : worker_(worker), out_(this, onWriteDone), session_(*this, worker) {
  llhttp_init(&parser_, HTTP_REQUEST, settings());
  parser_.data = this;
  state.timer.owner = this;
  posted_flush_.owner = this;
  posted_flush_.fn = [](void* owner) { static_cast<ActiveClient*>(owner)->flushDeferredUpstream(); };
}

void ActiveClient::deferUpstreamFlush() {
  upstream_flush_deferred_ = true;
  worker_.postedFlushes().post(posted_flush_);
}

void ActiveClient::flushDeferredUpstream() {
  if (!upstream_flush_deferred_) return;
  upstream_flush_deferred_ = false;
  if (session_.active()) session_.onRequestBodyReadBatchDone();
}

void ActiveClient::recycle() {
  // Taken off every list first; libuv holds no write request of ours.
  assert(!state.timer.scheduled() && !quiet.prev && !quiet.next && !out_.writing());
  session_.recycle(kKeepBytes);
  out_.reset(kKeepBytes);
  request_.reset();
  request_.fields.releaseExcess(kKeepBytes);
  llhttp_reset(&parser_);
  state.in.reset();
  state.in_start = state.in_end = 0;
  state.conn = nullptr;
  state.phase = ClientPhase::Idle;
  PostedFlushes::cancel(posted_flush_);
  state.body_paused = state.eof = state.close_after_write = state.shutdown_sent = false;
  state.in_process_input = state.in_full_read = state.head_paused = false;
  upstream_flush_deferred_ = false;
  resp_framing_ = BodyFraming::None;
  state.message_complete = true;
  state.depth = 0;
  state.reject_status = 0;
  state.phase_start = state.request_start = state.last_read = state.last_write = state.deadline = 0;
  head_start_ns_ = 0;
  state.client_ip[0] = '\0';
  local_addr_[0] = '\0';
}

// ---- Downstream: the Session's view of its connection ---------------------------------------

void ActiveClient::flush() { state.conn->flush(); }
void ActiveClient::pauseRequestBody() { state.conn->pauseBodyReading(); }
void ActiveClient::resumeRequestBody() { state.conn->resumeBodyReading(); }
void ActiveClient::exchangeDone(bool keep_alive) { state.conn->sessionFinished(keep_alive); }
void ActiveClient::closeAfterWrite() { state.conn->closeAfterWrite(); }
void ActiveClient::startTunnel() { state.conn->startTunnel(); }
void ActiveClient::resumeRequest() { state.conn->resumeRequest(); }
std::string_view ActiveClient::localAddress() { return state.conn->localAddress(local_addr_, sizeof local_addr_); }

void ActiveClient::onWriteDone(void* p, int status) { static_cast<ActiveClient*>(p)->state.conn->onWriteDone(status); }

void ActiveClient::sendInterim(int status, std::string_view reason, const std::vector<Header>& headers) {
  if (request_.http10()) return;  // HTTP/1.0 has no interim responses
  ClientResponseOptions o;
  o.body = BodyFraming::None;
  o.keep_alive = true;  // no Connection field on an interim response
  out_.appendBuilt([&](std::string& out) { buildClientResponseHead(status, reason, headers, o, out); });
}

bool ActiveClient::sendHead(int status, std::string_view reason, const std::vector<Header>& headers,
                            const ResponseMeta& meta) {
  ClientResponseOptions o;
  o.client_http10 = request_.http10();
  o.request_id = meta.request_id;
  o.upgrade = meta.upgrade;
  BodyFraming framing = meta.body;
  // HTTP/1.0 has no chunked coding: a body of unknown length ends with the connection.
  if (framing == BodyFraming::Chunked && o.client_http10) framing = BodyFraming::UntilClose;
  if (!meta.upgrade.empty()) framing = BodyFraming::None;
  resp_framing_ = framing;
  o.body = framing;
  o.keep_alive = meta.upgrade.empty() && request_.keep_alive && !meta.must_close &&
                 framing != BodyFraming::UntilClose && !worker_.draining();
  out_.appendBuilt([&](std::string& out) { buildClientResponseHead(status, reason, headers, o, out); });
  return o.keep_alive;
}

void ActiveClient::sendBody(IoBuf* buf, const char* p, size_t n) {
  const bool chunked = resp_framing_ == BodyFraming::Chunked;
  if (chunked) {
    char hdr[20];
    out_.appendCopy({hdr, writeChunkHeader(n, hdr)});
  }
  if (buf)
    out_.append(buf, p, n);
  else
    out_.appendCopy({p, n});
  if (chunked) out_.appendCopy(kChunkTrailer);
}

void ActiveClient::endBody() {
  if (resp_framing_ == BodyFraming::Chunked) out_.appendCopy(kLastChunk);
  resp_framing_ = BodyFraming::None;
}

// ---- llhttp callbacks ----------------------------------------------------------------------

int ActiveClient::onMessageBegin(llhttp_t* p) {
  auto* self = static_cast<ActiveClient*>(p->data);
  self->request_.reset();
  self->state.reject_status = 0;
  self->state.message_complete = false;
  self->state.phase = ClientPhase::Head;
  self->state.phase_start = uv_now(self->worker_.loop());
  self->head_start_ns_ = uv_hrtime();
  return 0;
}

// The head has grown to `bytes`: past limits.max_header_bytes the request is refused with
// `status` (414 for the target, 431 for the header lines) and parsing stops.
int ActiveClient::limitHead(size_t bytes, int status) {
  if (bytes <= worker_.config().limits.max_header_bytes) return 0;
  state.reject_status = status;
  return -1;
}

int ActiveClient::onUrl(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<ActiveClient*>(p->data);
  return self->limitHead(self->request_.fields.addTarget(at, n), 414);
}

int ActiveClient::onHeaderField(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<ActiveClient*>(p->data);
  return self->limitHead(self->request_.fields.addField(at, n), 431);
}

int ActiveClient::onHeaderValue(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<ActiveClient*>(p->data);
  return self->limitHead(self->request_.fields.addValue(at, n), 431);
}

int ActiveClient::onHeaderValueComplete(llhttp_t* p) {
  static_cast<ActiveClient*>(p->data)->request_.fields.endValue();
  return 0;
}

int ActiveClient::onHeadersComplete(llhttp_t* p) {
  auto* self = static_cast<ActiveClient*>(p->data);
  self->state.phase = ClientPhase::Body;
  self->state.last_read = self->state.request_start = uv_now(self->worker_.loop());
  RequestHead& r = self->request_;
  self->takeRequestLine();
  r.keep_alive = llhttp_should_keep_alive(p) != 0;
  r.upgrade = p->upgrade != 0;
  if (p->flags & F_CHUNKED) {
    r.framing = BodyFraming::Chunked;
  } else if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) {
    r.framing = BodyFraming::ContentLength;
    r.content_length = p->content_length;
  }
  r.complete = true;
  const int result = self->session_.onRequestHead();
  if (result == Session::kWaiting) {
    self->state.head_paused = true;
    return HPE_PAUSED;  // parsing goes on when the exchange resumes (resumeRequest)
  }
  if (result > 0) {
    self->state.reject_status = result;
    return -1;
  }
  return 0;
}

int ActiveClient::onBody(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<ActiveClient*>(p->data);
  if (const int status = self->session_.onRequestBody(self->state.in.get(), at, n); status != 0) {
    self->state.reject_status = status;
    return -1;
  }
  return 0;
}

int ActiveClient::onMessageComplete(llhttp_t* p) {
  auto* self = static_cast<ActiveClient*>(p->data);
  self->state.message_complete = true;
  self->state.phase = self->session_.active() ? ClientPhase::Waiting : ClientPhase::Idle;
  if (self->session_.active()) self->session_.onRequestComplete();
  return HPE_PAUSED;  // one exchange at a time: pipelined requests are parsed when it ends
}

}  // namespace edged::proxy

namespace edged::proxy {
void ActiveClient::takeRequestLine() {
  if (parser_.http_major == 0 || !request_.method.empty()) return;
  const auto m = static_cast<llhttp_method_t>(parser_.method);
  request_.method = llhttp_method_name(m);
  request_.method_id = methodFromName(request_.method);
  request_.version_major = parser_.http_major;
  request_.version_minor = parser_.http_minor;
}
}  // namespace edged::proxy
