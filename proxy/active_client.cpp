// proxy/active_client.cpp — the request parser's callbacks, and what the Session asks of its
// connection, passed on to the ClientConnection being served.
#include "proxy/active_client.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "proxy/client_connection.h"
#include "proxy/log.h"
#include "proxy/real_ip.h"
#include "proxy/request_checks.h"
#include "proxy/worker.h"

namespace edged::proxy {

ActiveClient::ActiveClient(Worker& worker) : worker_(worker), out_(this, onWriteDone), session_(*this, worker) {
  llhttp_init(&parser_, HTTP_REQUEST, http1::RequestParser<ActiveClient>::settings());
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
  tls_subject_.clear();  // another connection's client certificate next time
  state.phase = ClientPhase::Idle;
  PostedFlushes::cancel(posted_flush_);
  state.body_paused = state.eof = state.close_after_write = state.shutdown_sent = false;
  state.in_process_input = state.in_full_read = state.head_paused = false;
  upstream_flush_deferred_ = false;
  resp_framing_ = BodyFraming::None;
  state.message_complete = true;
  state.depth = 0;
  state.reject_status = 0;
  state.parsed_tail = 0;
  state.version_pending = false;
  state.phase_start = state.request_start = state.last_read = state.last_write = state.deadline = 0;
  head_start_ns_ = 0;
  state.client_ip[0] = '\0';
  state.peer_ip[0] = '\0';
  forwarded_for_.clear();
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
Downstream::TlsFacts ActiveClient::tls() { return state.conn->tlsFacts(tls_subject_); }
bool ActiveClient::redirectHttps() { return state.conn->redirectHttps(); }

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
  o.raw_fields = meta.raw_fields;
  o.raw_has_date = meta.raw_has_date;
  if (status >= 200) o.date = httpDateNow();  // RFC 9110 §6.6.1; cached per worker, per second
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

// ---- the request parser's calls ------------------------------------------------------------

void ActiveClient::onRequestBegin() {
  chunk_extension_fix_.reset();
  state.reject_status = 0;
  state.version_pending = false;
  state.message_complete = false;
  state.phase = ClientPhase::Head;
  state.phase_start = uv_now(worker_.loop());
  head_start_ns_ = uv_hrtime();
}

size_t ActiveClient::maxHeadBytes() { return worker_.config().limits.max_header_bytes; }

// llhttp takes "GET /\r\n" for HTTP/0.9 and waits for the byte after the line: refuse at once.
int ActiveClient::checkTarget(const char* at, size_t n) {
  char* const begin = state.in->data();
  const char* const end = begin + state.in_end;
  if (urlEndsWithoutVersion(at, n, end)) return 400;
  // "HTTP/1.2" is read as HTTP/1.1 (RFC 9110 §2.5): the version is still ahead of llhttp. When
  // the read ended with the target, the version waits in the buffer until it is all there.
  state.version_pending = at + n == end;
  if (at + n < end) readMinorVersionAsOne(begin + (at + n - begin), end);
  return 0;
}

bool ActiveClient::settlePendingVersion(char* data, size_t n) {
  if (!versionAfterTargetReady(data, n)) return false;
  state.version_pending = false;  // if the target goes on, checkTarget looks again where it ends
  return true;
}

void ActiveClient::noteParsed(const char* data, size_t n) {
  for (size_t i = n; i-- > 0;) {
    if (data[i] != ' ' && data[i] != '\t') {
      state.parsed_tail = data[i];
      return;
    }
  }
}

// obs-fold: 400 (RFC 9112 §5.2).
int ActiveClient::checkFieldValue(const char* at, size_t n) {
  return valueContinuesFoldedLine(at, n, state.in->data(), state.parsed_tail) ? 400 : 0;
}

int ActiveClient::onRequestHead() {
  state.phase = ClientPhase::Body;
  state.last_read = state.request_start = uv_now(worker_.loop());
  if (request_.fields.size() > worker_.config().limits.max_headers) {
    LOG_INFO("client %s sent %zu header fields (limits.max_headers %u)", state.peer_ip, request_.fields.size(),
             worker_.config().limits.max_headers);
    state.reject_status = 431;
    return -1;
  }
  resolveClientAddress();
  request_.secure = state.conn->secure();
  const int result = session_.onRequestHead();
  if (result == Session::kWaiting) {
    state.head_paused = true;
    return HPE_PAUSED;  // parsing goes on when the exchange resumes (resumeRequest)
  }
  if (result > 0) {
    state.reject_status = result;
    return -1;
  }
  return 0;
}

int ActiveClient::onRequestBodyData(const char* at, size_t n) {
  if (const int status = session_.onRequestBody(state.in.get(), at, n); status != 0) {
    state.reject_status = status;
    return -1;
  }
  return 0;
}

int ActiveClient::onRequestChunkHeader(uint64_t size) {
  if (const int status = session_.onRequestChunk(size); status != 0) {
    state.reject_status = status;
    return -1;
  }
  return 0;
}

int ActiveClient::onRequestEnd() {
  state.message_complete = true;
  state.phase = session_.active() ? ClientPhase::Waiting : ClientPhase::Idle;
  if (session_.active()) session_.onRequestComplete();
  return HPE_PAUSED;  // one exchange at a time: pipelined requests are parsed when it ends
}

bool ActiveClient::overConnectionLimit() const { return state.conn->overConnectionLimit(); }

void ActiveClient::resolveClientAddress() {
  forwarded_for_.clear();
  std::memcpy(state.client_ip, state.peer_ip, sizeof state.client_ip);
  const Generation& g = worker_.gen().generation();
  if (!g.config->real_ip) return;
  const conf::RealIpConfig& cfg = *g.config->real_ip;
  // The header's lines, the last kMaxLines of them (the walk starts at the right).
  constexpr size_t kMaxLines = 16;
  std::string_view lines[kMaxLines];
  size_t n = 0;
  const ParsedHead& head = request_.fields;
  for (size_t i = 0; i < head.size(); ++i) {
    if (!equalsIgnoreCase(head.name(i), cfg.header)) continue;
    if (n == kMaxLines) {
      std::copy(lines + 1, lines + kMaxLines, lines);
      --n;
    }
    lines[n++] = head.value(i);
  }
  const std::string_view peer = state.peer_ip;
  const std::string_view client = realClientIp(peer, {lines, n}, g.real_ip_from, cfg.recursive);
  if (client.data() != peer.data()) {
    // The verified part: from the client's item to the end of the list.
    for (size_t i = 0; i < n; ++i) {
      const char* b = lines[i].data();
      const char* e = b + lines[i].size();
      if (!forwarded_for_.empty()) {
        if (!lines[i].empty()) forwarded_for_.append(", ").append(lines[i]);
      } else if (client.data() >= b && client.data() < e) {
        forwarded_for_.append(client.data(), static_cast<size_t>(e - client.data()));
      }
    }
    forwarded_for_.append(", ");
    const size_t len = std::min(client.size(), sizeof state.client_ip - 1);
    std::memcpy(state.client_ip, client.data(), len);
    state.client_ip[len] = '\0';
  }
  forwarded_for_.append(peer);
}

void ActiveClient::takeRequestLine() { http1::takeRequestLine(parser_, request_); }

}  // namespace edged::proxy
