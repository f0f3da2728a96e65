// proxy/client_connection.cpp — the client side: input, parsing, timeouts, ordered output.
#include "proxy/client_connection.h"

#include <arpa/inet.h>
#include <algorithm>
#include <cstring>

#include "proxy/log.h"
#include "proxy/net/tls/tls.h"
#include "proxy/proxy_protocol.h"
#include "proxy/request_checks.h"
#include "proxy/worker.h"

namespace edged::proxy {

namespace {
constexpr uint64_t kLingerMs = 2000;  // nginx lingering_timeout is 5s; a shorter wait suffices here

// "a.b.c.d" without printf (once per connection).
void formatIpv4(const uint8_t a[4], char* out) {
  char* p = out;
  for (int i = 0; i < 4; ++i) {
    const unsigned v = a[i];
    if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
    if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
    *p++ = static_cast<char>('0' + v % 10);
    if (i < 3) *p++ = '.';
  }
  *p = '\0';
}

void formatAddress(const sockaddr_storage& ss, char* full, size_t full_len) {
  char ip[48];
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    snprintf(full, full_len, "[%s]:%u", ip, ntohs(a->sin6_port));
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(full, full_len, "%s:%u", ip, ntohs(a->sin_port));
  }
}
}  // namespace

ClientConnection::ClientConnection(Worker& worker, size_t listener)
    : listener_(static_cast<uint16_t>(listener)), worker_(worker) {}

bool ClientConnection::accept(Listener& listener) {
  transport_.open(worker_.loop(), this);
  if (transport_.accept(listener) != 0) {
    close();
    return false;
  }
  return setUp();
}

bool ClientConnection::adopt(int fd) {
  transport_.open(worker_.loop(), this);
  if (transport_.adopt(fd) != 0) {
    close();
    return false;
  }
  return setUp();
}

bool ClientConnection::setUp() {
  worker_.metrics().connectionOpened(listener_);
  counted_ = true;
  // TLS listener: the current generation's context (a reload changes it for new connections
  // only; this engine keeps its context alive).
  const bool tls = setUpTls();
  if (tls && closing_) return false;
  sockaddr_storage ss{};
  if (transport_.peerAddress(ss) == 0) {
    if (ss.ss_family == AF_INET) {
      formatIpv4(reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr), peer_);
      peer_family_ = AF_INET;
    } else if (ss.ss_family == AF_INET6) {
      std::memcpy(peer_, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, 16);
      peer_family_ = AF_INET6;
    }
  }
  if (!proxy_pending_) acquireClientSlot();
  startReading();
  // Until its first request the connection waits like an idle keep-alive one; a TLS handshake
  // is bounded by client_header (nginx: client_header_timeout covers the handshake).
  const conf::Timeouts& t = worker_.config().timeouts;
  worker_.clientTimers().addIdle(this, uv_now(worker_.loop()), (tls ? t.client_header : t.keepalive).count());
  return true;
}

bool ClientConnection::setUpTls() {
  net::tls::TlsServerContext* context = worker_.gen().generation().tlsFor(listener_);
  if (!context) return false;
  std::unique_ptr<net::tls::TlsEngine> engine = context->newEngine();
  if (!engine) {
    close();
    return true;
  }
  // With proxy_protocol the PROXY header comes in plain before the ClientHello (takeProxyHeader
  // starts the handshake).
  transport_.useTls(std::move(engine), this, /*plain_first=*/proxy_pending_);
  return true;
}

Downstream::TlsFacts ClientConnection::tlsFacts(std::string& subject) const {
  Downstream::TlsFacts facts;
  const net::tls::TlsEngine* engine = transport_.tlsEngine();
  if (!engine || !engine->handshakeDone()) return facts;
  SSL* ssl = engine->ssl();
  facts.version = SSL_get_version(ssl);
  if (const char* cipher = SSL_get_cipher_name(ssl)) facts.cipher = cipher;
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) facts.server_name = name;
  if (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) {  // mutual TLS only: plain TLS pays nothing
    if (subject.empty()) subject = engine->info().peer_subject;
    facts.client_subject = subject;
  }
  return facts;
}

bool ClientConnection::secure() const { return transport_.secure(); }

bool ClientConnection::redirectHttps() { return !transport_.secure() && worker_.gen().generation().redirectHttps(listener_); }

bool ClientConnection::peerAddress(IpAddress& out) const {
  if (peer_family_ == AF_INET6) {
    std::memcpy(out.bytes.data(), peer_, 16);
    return true;
  }
  if (peer_family_ != AF_INET) return false;
  const auto a = parseIpAddress(peer_);
  if (a) out = *a;
  return a.has_value();
}

void ClientConnection::acquireClientSlot() {
  ClientLimiter* limiter = worker_.clientLimiter();
  IpAddress a;
  if (!limiter || !limiter->limitsConnections() || !peerAddress(a) || worker_.gen().generation().real_ip_from.contains(a)) return;
  if (limiter->acquireConnection(a))
    client_slot_ = true;
  else
    over_limit_ = true;
}

bool ClientConnection::takeProxyHeader() {
  ActiveClient* x = x_;
  ProxyHeader h;
  const std::string_view bytes(x->state.in->data() + x->state.in_start, x->state.in_end - x->state.in_start);
  switch (parseProxyHeader(bytes, h)) {
    case ProxyHeaderResult::NeedMore:
      armTimer();
      return false;
    case ProxyHeaderResult::Invalid:
      LOG_INFO("client %s: no valid PROXY protocol header: closing", x->state.peer_ip);
      close();
      return false;
    case ProxyHeaderResult::Done: break;
  }
  proxy_pending_ = false;
  x->state.in_start += h.length;
  if (transport_.secure()) {
    // TLS behind the PROXY header: what was read after it is the start of the handshake.
    const std::string_view rest(x->state.in->data() + x->state.in_start, x->state.in_end - x->state.in_start);
    x->state.in_start = x->state.in_end;
    if (transport_.startTls(rest) != 0) {
      close();
      return false;
    }
  }
  if (h.has_addresses) {
    if (h.source.isV4()) {
      formatIpv4(h.source.bytes.data() + 12, peer_);
      peer_family_ = AF_INET;
    } else {
      std::memcpy(peer_, h.source.bytes.data(), 16);
      peer_family_ = AF_INET6;
    }
    clientIpText(x->state.peer_ip, sizeof x->state.peer_ip);
    std::memcpy(x->state.client_ip, x->state.peer_ip, sizeof x->state.client_ip);
  }
  acquireClientSlot();
  return true;
}

void ClientConnection::clientIpText(char* out, size_t len) const {
  static_assert(sizeof peer_ <= sizeof ClientState::client_ip);
  if (peer_family_ == AF_INET)
    std::memcpy(out, peer_, sizeof peer_);
  else if (peer_family_ != AF_INET6 || !inet_ntop(AF_INET6, peer_, out, static_cast<socklen_t>(len)))
    out[0] = '\0';
}

// Only an HTTP/1.0 request without Host needs it: no getsockname(2) per connection otherwise.
std::string_view ClientConnection::localAddress(char* buf, size_t len) {
  if (buf[0] == '\0') {
    sockaddr_storage ss{};
    if (transport_.localAddress(ss) == 0) formatAddress(ss, buf, len);
  }
  return buf;
}

void ClientConnection::close() {
  if (closing_) return;
  closing_ = true;
  ClientTimers& timers = worker_.clientTimers();
  timers.removeIdle(this);
  if (ActiveClient* x = x_) {
    timers.removeQuiet(x);
    timers.cancel(x->state.timer);
    if (x->session().active()) x->session().abort(Termination::ClientClosed, 499);
  }
  transport_.close(this);
}

// Write requests still pending were called back (UV_ECANCELED) before this: the ActiveClient's
// queue holds nothing libuv uses any more, so it goes back to the pool here.
void ClientConnection::onTransportClosed() {
  if (x_) detach();
  if (client_slot_) {
    IpAddress a;
    if (ClientLimiter* limiter = worker_.clientLimiter(); limiter && peerAddress(a)) limiter->releaseConnection(a);
  }
  if (counted_) worker_.metrics().connectionClosed(listener_);
  worker_.remove(this);
  delete this;
}

void ClientConnection::drain() {
  draining_ = true;
  // Close keep-alive connections waiting for their next request; a connection that has not sent
  // its first one yet gets it answered (with Connection: close).
  if (closing_ || !served_) return;
  if (!x_ || (!x_->session().active() && x_->state.phase == Phase::Idle && x_->out().idle())) close();
}

// ---- busy and idle -------------------------------------------------------------------------

void ClientConnection::attach() {
  ClientTimers& timers = worker_.clientTimers();
  timers.removeIdle(this);
  ActiveClient* x = worker_.activeClients().acquire(worker_);
  x_ = x;
  x->state.conn = this;
  // Until a request begins, the keep-alive timeout still runs from when the connection went idle.
  x->state.phase_start = idle.since;
  x->state.last_read = x->state.last_write = uv_now(worker_.loop());
  clientIpText(x->state.peer_ip, sizeof x->state.peer_ip);
  std::memcpy(x->state.client_ip, x->state.peer_ip, sizeof x->state.client_ip);
  transport_.tlsKeepBuffers(true);  // busy: OpenSSL keeps its record buffers until park()
}

void ClientConnection::detach() {
  ActiveClient* x = x_;
  x_ = nullptr;
  ClientTimers& timers = worker_.clientTimers();
  timers.removeQuiet(x);
  timers.cancel(x->state.timer);
  worker_.activeClients().release(x);
}

bool ClientConnection::quiet() const {
  const ActiveClient* x = x_;
  return x && !closing_ && x->state.depth == 0 && !x->state.in_process_input && x->state.phase == Phase::Idle &&
         x->state.message_complete && !x->session().active() && x->out().idle() && !x->state.close_after_write &&
         !x->state.shutdown_sent && !x->state.eof && !x->state.body_paused && x->state.in_start == x->state.in_end;
}

void ClientConnection::settle() {
  if (!quiet()) return;
  if (draining_ && served_) {
    close();
    return;
  }
  startReading();
  worker_.clientTimers().addQuiet(x_, uv_now(worker_.loop()));
}

void ClientConnection::onQuietExpired() {
  if (quiet()) park();
}

// Gives the ActiveClient back: the connection waits for its next request on the keep-alive
// list, its timeout still counted from when its last exchange ended.
void ClientConnection::park() {
  const uint64_t since = x_->state.phase_start;
  transport_.tlsKeepBuffers(false);  // idle: OpenSSL's record buffers go now
  detach();
  worker_.clientTimers().addIdle(this, since, worker_.config().timeouts.keepalive.count());
}

// ---- reading -------------------------------------------------------------------------------

void ClientConnection::startReading() {
  if (closing_) return;
  transport_.startReading(this);
}

void ClientConnection::stopReading() { transport_.stopReading(); }

// Read while there is room: not when the origin side is backed up, not when a pipelined request
// waits with its buffer full, not after EOF or once we decided to close.
void ClientConnection::updateReading() {
  ActiveClient* x = x_;
  if (closing_ || x->state.close_after_write) return;
  const bool parser_paused = llhttp_get_errno(&x->parser()) == HPE_PAUSED;
  const bool no_room =
      parser_paused && x->state.in && x->state.in_start < x->state.in_end && x->state.in_end + 4096 > x->state.in->capacity;
  const bool want = !x->state.eof && !x->state.body_paused && !no_room;
  if (want)
    startReading();
  else
    stopReading();
}

void ClientConnection::pauseBodyReading() {
  x_->state.body_paused = true;
  stopReading();
}

void ClientConnection::resumeBodyReading() {
  ActiveClient* x = x_;
  if (!x->state.body_paused) return;
  x->state.body_paused = false;
  x->state.last_read = uv_now(worker_.loop());
  updateReading();
  armTimer();
}

// An idle connection borrows its ActiveClient here, when bytes are about to be read.
void ClientConnection::onTransportAlloc(uv_buf_t* buf) {
  if (!x_) attach();
  else worker_.clientTimers().removeQuiet(x_);  // busy again within its grace
  ActiveClient* x = x_;
  if (x->state.in && x->state.in_start < x->state.in_end) {
    // Unparsed bytes wait (a pipelined request): append after them.
    buf->base = x->state.in->data() + x->state.in_end;
    buf->len = x->state.in->capacity - x->state.in_end;
    return;
  }
  if (!x->state.in.unique()) x->state.in = BufRef(worker_.buffers().get());
  x->state.in_start = x->state.in_end = 0;
  buf->base = x->state.in->data();
  buf->len = x->state.in->capacity;
}

void ClientConnection::onTransportRead(ssize_t nread, const uv_buf_t* buf) {
  if (closing_) return;
  ActiveClient* x = x_;
  if (!x) {  // no onTransportAlloc before: an error reported without a read
    if (nread < 0) close();
    return;
  }
  if (nread < 0 && quiet()) {
    // EOF (or a reset) between requests: nothing to answer, nothing to finish.
    detach();
    close();
    return;
  }
  {
    InUse in_use(x);
    const bool full = nread > 0 && static_cast<size_t>(nread) == buf->len;
    x->state.in_full_read = full;
    if (nread > 0) {
      x->state.last_read = uv_now(worker_.loop());
      if (x->state.close_after_write) {
        // Lingering close: the answer is out, the rest of the request is read and dropped.
        x->state.in_start = x->state.in_end = 0;
        return;
      }
      x->state.in_end += static_cast<size_t>(nread);
      if (proxy_pending_ && !takeProxyHeader()) {
        // Waiting for the rest of the PROXY header, or closed.
      } else if (x->state.phase == Phase::Tunnel) {
        forwardTunnelInput();
      } else {
        processInput();
      }
    } else if (nread < 0) {
      handleEof();
    }
    x->state.in_full_read = false;
    // A flush a full read left waiting goes out with the first read that is not full (or at the
    // end of this iteration's I/O, posted).
    if (!full && !closing_) x->flushDeferredUpstream();
    // A connection waiting for more holds no buffer (10,000 idle clients cost no 64 KiB each).
    if (!closing_ && x->state.in_start == x->state.in_end && x->state.in.unique()) {
      x->state.in.reset();
      x->state.in_start = x->state.in_end = 0;
    }
  }
  settle();
}

void ClientConnection::startTunnel() {
  ActiveClient* x = x_;
  x->state.phase = Phase::Tunnel;
  x->state.phase_start = uv_now(worker_.loop());
  // Bytes the client sent after its upgrade request are the first tunnel bytes.
  if (x->state.in && x->state.in_start < x->state.in_end) forwardTunnelInput();
  flush();
  if (!closing_ && x->state.phase == Phase::Tunnel) {
    updateReading();
    armTimer();
  }
}

void ClientConnection::forwardTunnelInput() {
  ActiveClient* x = x_;
  if (x->state.in_start < x->state.in_end)
    x->session().onTunnelClientData(x->state.in.get(), x->state.in->data() + x->state.in_start, x->state.in_end - x->state.in_start);
  x->state.in_start = x->state.in_end;
  if (x->state.phase == Phase::Tunnel) armTimer();
}

void ClientConnection::processInput() {
  ActiveClient* x = x_;
  if (x->state.in_process_input) return;
  x->state.in_process_input = true;
  llhttp_t* parser = &x->parser();
  while (!closing_ && !x->state.close_after_write && x->state.in && x->state.in_start < x->state.in_end) {
    if (x->state.phase == Phase::Tunnel) break;
    const llhttp_errno_t state = llhttp_get_errno(parser);
    if (state == HPE_PAUSED || state == HPE_PAUSED_UPGRADE) {
      if (x->session().active()) break;  // the current exchange is not done: later requests wait
      x->state.head_paused = false;
      if (state == HPE_PAUSED) llhttp_resume(parser);
      else llhttp_resume_after_upgrade(parser);
    }
    char* const data = x->state.in->data() + x->state.in_start;
    const size_t n = x->state.in_end - x->state.in_start;
    if (x->state.version_pending && !x->settlePendingVersion(data, n)) break;  // the rest of " HTTP/1.x" first
    const llhttp_errno_t err = llhttp_execute(parser, data, n);
    x->noteParsed(data, err == HPE_OK ? n : static_cast<size_t>(llhttp_get_error_pos(parser) - data));
    if (err == HPE_OK) {
      x->state.in_start = x->state.in_end;
    } else if (err == HPE_PAUSED && x->chunkExtensionFix().takeRefeed()) {
      // llhttp stepped over a chunk extension's ';': parse again from it (chunk_extension_fix.h)
      x->state.in_start += static_cast<size_t>(llhttp_get_error_pos(parser) - data) - 1;
      llhttp_resume(parser);
    } else if (err == HPE_PAUSED) {
      x->state.in_start += static_cast<size_t>(llhttp_get_error_pos(parser) - data);
    } else if (err == HPE_PAUSED_UPGRADE && !x->session().active()) {
      // An upgrade the origin declined (or one edged does not tunnel): go on as HTTP.
      x->state.in_start += static_cast<size_t>(llhttp_get_error_pos(parser) - data);
      llhttp_resume_after_upgrade(parser);
    } else if (err == HPE_PAUSED_UPGRADE) {
      x->state.in_start += static_cast<size_t>(llhttp_get_error_pos(parser) - data);
      break;  // the exchange decides: tunnel or HTTP
    } else {
      int status = x->state.reject_status ? x->state.reject_status : 400;
      // A method llhttp does not know but that is a token: not implemented (RFC 9110 §9.1). While
      // the read ends inside the name, the bytes stay unparsed and the verdict waits for more
      // (llhttp keeps its error: the next execute returns it at once, error_pos unmoved).
      if (status == 400 && err == HPE_INVALID_METHOD) {
        status = unknownMethodStatus(llhttp_get_error_pos(parser), data + n);
        if (status == 0) break;
      }
      if (status == 400)
        LOG_INFO("client %s sent an invalid request: %s (%s)", x->state.client_ip, llhttp_errno_name(err),
                 llhttp_get_error_reason(parser) ? llhttp_get_error_reason(parser) : "");
      rejectRequest(status);
      break;
    }
  }
  x->state.in_process_input = false;
  if (closing_) return;
  if (x->session().active()) x->session().onRequestBodyReadBatchDone();
  if (x->state.eof && !x->session().active() && x->state.in_start == x->state.in_end) closeAfterWrite();
  flush();
  updateReading();
  armTimer();
}

// The exchange whose head paused the parser (a filter's Wait) goes on: its body, then any
// pipelined request, are parsed now.
void ClientConnection::resumeRequest() {
  ActiveClient* x = x_;
  if (closing_ || !x || !x->state.head_paused) return;
  x->state.head_paused = false;
  if (llhttp_get_errno(&x->parser()) != HPE_PAUSED) return;
  llhttp_resume(&x->parser());
  if (x->state.in_process_input) return;  // the parse loop goes on by itself
  {
    InUse in_use(x);
    // The pause came at the head's last byte: what llhttp does without more input (the end of a
    // body-less request) happens now, not at the next read.
    if (!x->state.in || x->state.in_start == x->state.in_end) {
      static const char kNothing = 0;
      const llhttp_errno_t err = llhttp_execute(&x->parser(), &kNothing, 0);
      if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
        rejectRequest(x->state.reject_status ? x->state.reject_status : 400);
        return;
      }
    }
    processInput();
  }
  settle();
}

void ClientConnection::handleEof() {
  ActiveClient* x = x_;
  x->state.eof = true;
  if (proxy_pending_) {  // nothing to answer: the HTTP part never began
    close();
    return;
  }
  stopReading();
  if (x->state.close_after_write) {
    if (x->out().idle()) close();
    return;
  }
  if (x->state.phase == Phase::Tunnel) {
    x->session().onTunnelClientEnd();
    return;
  }
  if (x->session().active()) {
    if (x->state.phase == Phase::Body || x->state.phase == Phase::Head) {
      x->session().abort(Termination::ClientClosed, 499);  // the request never arrived whole
      close();
    }
    // Request complete: half-close is allowed, the response still goes out (HAProxy's default).
    return;
  }
  closeAfterWrite();
}

void ClientConnection::rejectRequest(int status, Termination why) {
  x_->takeRequestLine();
  x_->session().reject(status, why);
  flush();
  closeAfterWrite();
}

void ClientConnection::sessionFinished(bool keep_alive) {
  ActiveClient* x = x_;
  served_ = true;
  x->state.phase = Phase::Idle;
  x->state.phase_start = uv_now(worker_.loop());
  if (!keep_alive || draining_) {
    closeAfterWrite();
    return;
  }
  if (x->state.in_process_input) return;  // the parse loop goes on by itself
  {
    InUse in_use(x);
    processInput();
  }
  // Called from the origin's side with no frame of ours below, the connection may be idle now
  // (the response went out at once): give the ActiveClient back. Otherwise the outermost frame
  // of ours does it when it ends.
  settle();
}

void ClientConnection::closeAfterWrite() {
  ActiveClient* x = x_;
  if (closing_) return;
  x->state.close_after_write = true;
  stopReading();
  if (x->out().idle() && !x->out().writing() && !x->state.shutdown_sent) {
    // The request was read whole and nothing else waits unread: close() sends a plain FIN after
    // the response (nginx lingers only in this same doubt). Unread bytes would turn it into a
    // reset that can destroy the response in flight: then linger.
    const bool client_may_send = !x->state.message_complete || x->state.phase == Phase::Head ||
                                 x->state.phase == Phase::Body || (x->state.in && x->state.in_start < x->state.in_end);
    if (x->state.eof || !client_may_send) {
      close();
    } else {
      // Lingering close: FIN after the answer, then drain what the client still sends for a
      // moment, so a client mid-upload reads our 413 instead of a reset.
      x->state.phase_start = uv_now(worker_.loop());
      x->state.shutdown_sent = true;
      if (transport_.shutdown() != 0) {
        close();
        return;
      }
      if (!x->state.eof) {
        x->state.in.reset();
        x->state.in_start = x->state.in_end = 0;
        transport_.startReading(this);
      }
      armTimer();
    }
  }
}

// ---- writing -------------------------------------------------------------------------------

void ClientConnection::flush() {
  if (closing_) return;
  ActiveClient* x = x_;
  // Nagle only hurts from a connection's second write on (a response in several writes, or the
  // next keep-alive response): most Connection: close exchanges never pay for the setsockopt.
  if (!nodelay_ && x->out().queuedBytes() > 0) {
    if (flushed_) {
      transport_.setNoDelay(true);
      nodelay_ = true;
    }
    flushed_ = true;
  }
  if (!x->out().writing()) x->state.last_write = uv_now(worker_.loop());
  int rc = x->out().flush(transport_);
  if (rc != 0) {
    LOG_INFO("write to client %s failed: %s", x->state.client_ip, uv_strerror(rc));
    close();
    return;
  }
  // A write left in flight may never call back (a client that stops reading): client_send
  // must be armed now.
  if (!x->out().idle()) armTimer();
}

void ClientConnection::onWriteDone(int status) {
  if (closing_) return;
  ActiveClient* x = x_;
  {
    InUse in_use(x);
    if (status < 0) {
      if (x->session().active()) x->session().abort(Termination::ClientClosed, 499);
      close();
      return;
    }
    x->state.last_write = uv_now(worker_.loop());
    if (x->state.close_after_write && x->out().idle()) {
      closeAfterWrite();
      return;
    }
    if (x->session().active() && x->out().queuedBytes() < kLowWater) x->session().onClientDrained();
    if (draining_ && !x->session().active() && x->out().idle()) {
      closeAfterWrite();
      return;
    }
    armTimer();
  }
  settle();
}

// ---- timeouts ------------------------------------------------------------------------------

// The earliest of the deadlines that apply now, scheduled in the worker's ClientTimers.
void ClientConnection::armTimer() {
  if (closing_) return;
  ActiveClient* x = x_;
  const conf::Timeouts& t = x->session().config().timeouts;
  uint64_t d = 0;
  auto consider = [&d](uint64_t v) {
    if (d == 0 || v < d) d = v;
  };
  const bool out_idle = x->out().idle();
  const bool active = x->session().active();
  if (!out_idle) consider(x->state.last_write + t.client_send.count());
  if (t.request.count() > 0 && active && x->state.phase != Phase::Tunnel)
    consider(x->state.request_start + t.request.count());
  if (x->state.close_after_write) {
    if (out_idle) consider(x->state.phase_start + kLingerMs);
  } else {
    switch (x->state.phase) {
      case Phase::Idle: if (!active) consider(x->state.phase_start + t.keepalive.count()); break;
      case Phase::Head: consider(x->state.phase_start + t.client_header.count()); break;
      case Phase::Body: if (!x->state.body_paused) consider(x->state.last_read + t.client_body.count()); break;
      case Phase::Tunnel: consider(std::max(x->state.last_read, x->state.last_write) + t.tunnel_idle.count()); break;
      case Phase::Waiting: break;
    }
  }
  x->state.deadline = d;
  if (d != 0) worker_.clientTimers().schedule(x->state.timer, d);
}

void ClientConnection::onKeepaliveExpired() { close(); }  // nothing to say, nothing to log

void ClientConnection::onDeadline() {
  ActiveClient* x = x_;  // attached: the deadline node lives in it
  {
    InUse in_use(x);
    const uint64_t now = uv_now(worker_.loop());
    if (x->state.deadline == 0 || now < x->state.deadline) {
      armTimer();
      return;
    }
    const conf::Timeouts& to = x->session().config().timeouts;
    if (!x->out().idle() && now >= x->state.last_write + to.client_send.count()) {
      LOG_INFO("client %s timed out reading the response (client_send)", x->state.client_ip);
      if (x->session().active()) x->session().abort(Termination::ClientTimeout, 504);
      close();
      return;
    }
    if (to.request.count() > 0 && x->session().active() && x->state.phase != Phase::Tunnel &&
        now >= x->state.request_start + to.request.count()) {
      LOG_INFO("request from client %s exceeded the request timeout", x->state.client_ip);
      x->session().timeout();  // 504 before the response head, a cut connection after it
      if (!closing_) {
        flush();
        armTimer();
      }
      return;
    }
    if (x->state.close_after_write) {
      close();
      return;
    }
    switch (x->state.phase) {
      case Phase::Idle: close(); return;  // keepalive timeout: nothing to say
      case Phase::Head:
        LOG_INFO("client %s timed out sending the request head (client_header)", x->state.client_ip);
        rejectRequest(408, Termination::ClientTimeout);
        return;
      case Phase::Body:
        LOG_INFO("client %s timed out sending the request body (client_body)", x->state.client_ip);
        if (x->session().responseStarted()) {
          x->session().abort(Termination::ClientTimeout, 408);
          close();
        } else {
          rejectRequest(408, Termination::ClientTimeout);
        }
        return;
      case Phase::Tunnel:
        LOG_INFO("tunnel from client %s idle for tunnel_idle: closing", x->state.client_ip);
        x->session().abort(Termination::ClientTimeout, 101);
        close();
        return;
      case Phase::Waiting: break;
    }
    armTimer();
  }
  settle();
}

}  // namespace edged::proxy
