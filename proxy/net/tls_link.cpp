// proxy/net/tls_link.cpp — the TLS mode of Transport: socket reads feed the engine, the owner
// gets plaintext in the buffers it allocates, writes are encrypted before they reach libuv.
#include "proxy/net/tls_link.h"

#include <algorithm>
#include <cstring>

#include "proxy/net/tls/first_bytes.h"

namespace edged::net {

namespace {
constexpr size_t kRecord = 16 * 1024;
// Ciphertext is read into one buffer per thread: every byte of it is fed to the engine inside
// the read callback, so no connection holds a read buffer of its own.
thread_local char tl_cipher[64 * 1024];
// Plaintext of one read, handed to the owner before the callback returns.
thread_local std::string tl_plain;
// Plaintext pieces of one write, gathered into records.
thread_local std::string tl_stage;
}  // namespace

TlsHandshakeCounters& tlsHandshakeCounters() {
  static TlsHandshakeCounters counters;
  return counters;
}

const char* tlsFailureName(int failure) {
  switch (failure) {
    case TlsHandshakeCounters::kPlainHttp: return "plain_http";
    case TlsHandshakeCounters::kNotTls: return "not_tls";
    case TlsHandshakeCounters::kHandshake: return "handshake";
    default: return "closed";
  }
}

struct TlsLink::CipherWrite {
  uv_write_t req{};
  std::string bytes;
  uv_write_t* user_req = nullptr;
  uv_write_cb user_cb = nullptr;
  TlsLink* link = nullptr;
};

// ---- Transport's TLS entry points ------------------------------------------------------------

void Transport::enableTls(tls::TlsEngine* engine, const TransportCalls* calls, void* owner) {
  assert(!(flags_ & kTls));
  tcp_.data = new TlsLink(*this, engine, calls, owner);
  flags_ |= kTls;
}

void* Transport::ownerPointer() const { return (flags_ & kTls) ? link()->owner() : tcp_.data; }

const tls::TlsEngine* Transport::tlsEngine() const { return (flags_ & kTls) ? &link()->engine() : nullptr; }

std::string Transport::tlsError() const {
  if (!(flags_ & kTls)) return {};
  return link()->engine().error();
}

int Transport::tlsStartReading() {
  flags_ |= kReading;
  return link()->startReading();
}

void Transport::tlsStopReading() { link()->stopReading(); }

int Transport::tlsWrite(uv_write_t* req, const uv_buf_t* iov, unsigned n, uv_write_cb done) {
  return link()->write(req, iov, n, done);
}

void Transport::tlsClose() { link()->close(); }

void Transport::tlsConnectCb(uv_connect_t* req, int status) { TlsLink::onConnect(req, status); }

// ---- reading ---------------------------------------------------------------------------------

int TlsLink::startSocketReading() {
  if (socket_reading_ || end_reported_) return 0;
  const int rc = uv_read_start(stream(), &onAlloc, &onRead);
  if (rc == 0) socket_reading_ = true;
  return rc;
}

void TlsLink::stopSocketReading() {
  if (!socket_reading_) return;
  uv_read_stop(stream());
  socket_reading_ = false;
}

int TlsLink::startReading() {
  owner_reading_ = true;
  if (!pending_.empty() || end_status_ < 0) scheduleDelivery();
  // A client still in its handshake reads already; a server reads from the first startReading.
  return startSocketReading();
}

void TlsLink::stopReading() {
  owner_reading_ = false;
  if (idle_) uv_idle_stop(idle_);
  // The handshake of a client goes on whatever the owner wants: it has not even heard connected.
  if (engine_->isServer() || connect_reported_) stopSocketReading();
}

void TlsLink::scheduleDelivery() {
  if (!idle_) {
    idle_ = new uv_idle_t;
    uv_idle_init(stream()->loop, idle_);
    idle_->data = this;
  }
  uv_idle_start(idle_, &onIdle);
}

void TlsLink::onIdle(uv_idle_t* h) {
  auto* self = static_cast<TlsLink*>(h->data);
  uv_idle_stop(h);
  if (self->closing() || !self->owner_reading_) return;
  std::string plain;
  plain.swap(self->pending_);
  self->deliver(plain, 0);
  if (self->pending_.empty() && !self->closing()) self->deliverEnd();
}

void TlsLink::onAlloc(uv_handle_t*, size_t, uv_buf_t* room) { *room = uv_buf_init(tl_cipher, sizeof tl_cipher); }

void TlsLink::deliver(std::string& plain, size_t offset) {
  while (offset < plain.size()) {
    if (closing() || !owner_reading_) {
      pending_.assign(plain, offset, std::string::npos);
      return;
    }
    uv_buf_t room = uv_buf_init(nullptr, 0);
    calls_->alloc(owner_, &room);
    if (room.len == 0 || room.base == nullptr) {
      pending_.assign(plain, offset, std::string::npos);
      calls_->read(owner_, UV_ENOBUFS, &room);
      return;
    }
    const size_t n = std::min(plain.size() - offset, static_cast<size_t>(room.len));
    std::memcpy(room.base, plain.data() + offset, n);
    offset += n;
    calls_->read(owner_, static_cast<ssize_t>(n), &room);
  }
}

// The end (EOF, close_notify, an error) once the owner has every plaintext byte before it.
void TlsLink::deliverEnd() {
  if (end_status_ >= 0 || end_reported_ || closing() || !owner_reading_) return;
  end_reported_ = true;
  stopSocketReading();
  uv_buf_t none = uv_buf_init(nullptr, 0);
  calls_->read(owner_, end_status_, &none);
}

void TlsLink::countFailure() {
  if (handshake_counted_) return;
  handshake_counted_ = true;
  const int side = engine_->isServer() ? 0 : 1;
  int reason = TlsHandshakeCounters::kClosed;
  switch (engine_->failure()) {
    case tls::TlsEngine::Failure::PlainHttp: reason = TlsHandshakeCounters::kPlainHttp; break;
    case tls::TlsEngine::Failure::NotTls: reason = TlsHandshakeCounters::kNotTls; break;
    case tls::TlsEngine::Failure::Handshake: reason = TlsHandshakeCounters::kHandshake; break;
    default: break;
  }
  tlsHandshakeCounters().failed[side][reason].fetch_add(1, std::memory_order_relaxed);
}

void TlsLink::afterHandshake() {
  if (handshake_counted_) return;
  handshake_counted_ = true;
  const int side = engine_->isServer() ? 0 : 1;
  TlsHandshakeCounters& c = tlsHandshakeCounters();
  SSL* ssl = engine_->ssl();
  (SSL_session_reused(ssl) == 1 ? c.resumed : c.full)[side].fetch_add(1, std::memory_order_relaxed);
  const int version = SSL_version(ssl);
  const int v = version == TLS1_3_VERSION   ? TlsHandshakeCounters::kTls13
                : version == TLS1_2_VERSION ? TlsHandshakeCounters::kTls12
                                            : TlsHandshakeCounters::kOtherVersion;
  c.version[side][v].fetch_add(1, std::memory_order_relaxed);
}

void TlsLink::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* got) {
  auto* self = static_cast<TlsLink*>(s->data);
  if (nread == 0 || self->closing()) return;
  tls::TlsEngine& engine = *self->engine_;
  const bool was_done = engine.handshakeDone();
  std::string plain;
  plain.swap(tl_plain);
  plain.clear();
  tls::TlsEngine::State state;
  if (nread > 0) {
    state = engine.feed(std::string_view(got->base, static_cast<size_t>(nread)), plain);
  } else {
    state = engine.feedEof();
  }
  using State = tls::TlsEngine::State;
  if (state == State::Failed && engine.failure() == tls::TlsEngine::Failure::PlainHttp) {
    // nginx's short answer, written at once (it fits any socket buffer), then the end.
    uv_buf_t b = uv_buf_init(const_cast<char*>(tls::kPlainHttpOnTlsPortResponse.data()),
                             static_cast<unsigned>(tls::kPlainHttpOnTlsPortResponse.size()));
    uv_try_write(s, &b, 1);
  } else {
    self->flushEngineOutput();  // handshake flights, alerts, tickets, key updates
  }
  if (!was_done && engine.handshakeDone()) self->afterHandshake();
  if (state == State::Failed && !engine.handshakeDone()) self->countFailure();

  const bool client = !engine.isServer();
  if (client && !self->connect_reported_) {
    if (state == State::Failed || nread < 0) {
      // The handshake did not complete: the owner hears a failed connect.
      self->connect_reported_ = true;
      self->end_reported_ = true;
      self->stopSocketReading();
      tl_plain.swap(plain);
      self->calls_->connected(self->owner_, state == State::Failed ? UV_EPROTO : static_cast<int>(nread));
      return;
    }
    if (!engine.handshakeDone()) {
      tl_plain.swap(plain);
      return;
    }
    self->connect_reported_ = true;
    self->calls_->connected(self->owner_, 0);
    if (self->closing()) {
      tl_plain.swap(plain);
      return;
    }
    if (!self->owner_reading_) self->stopSocketReading();
  }

  if (nread < 0) {
    self->end_status_ = static_cast<int>(nread);
  } else if (state == State::Failed) {
    self->end_status_ = UV_EPROTO;
  } else if (state == State::PeerClosed) {
    self->end_status_ = UV_EOF;
  }
  if (self->end_status_ < 0) self->stopSocketReading();

  if (!self->pending_.empty()) {
    // Older plaintext waits: the new bytes go after it.
    self->pending_.append(plain);
    plain.clear();
    if (self->owner_reading_) self->scheduleDelivery();
  } else {
    self->deliver(plain, 0);
  }
  plain.clear();
  if (plain.capacity() <= 64 * 1024) tl_plain.swap(plain);
  if (self->pending_.empty()) self->deliverEnd();
}

// ---- connecting ------------------------------------------------------------------------------

void TlsLink::onConnect(uv_connect_t* req, int status) {
  auto* self = static_cast<TlsLink*>(req->handle->data);
  if (status < 0) {
    self->connect_reported_ = true;
    self->calls_->connected(self->owner_, status);
    return;
  }
  self->tcp_connected_ = true;
  self->engine_->start();  // the ClientHello
  self->flushEngineOutput();
  if (const int rc = self->startSocketReading(); rc != 0) {
    self->connect_reported_ = true;
    self->calls_->connected(self->owner_, rc);
  }
}

// ---- writing ---------------------------------------------------------------------------------

int TlsLink::writeCiphertext(std::string&& bytes, uv_write_t* user_req, uv_write_cb user_cb) {
  auto* w = new CipherWrite;
  w->bytes = std::move(bytes);
  w->user_req = user_req;
  w->user_cb = user_cb;
  w->link = this;
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  const int rc = uv_write(&w->req, stream(), &b, 1, &onCipherWritten);
  if (rc != 0) {
    delete w;
    return rc;
  }
  ++writes_in_flight_;
  if (user_req) user_req->handle = stream();
  return 0;
}

void TlsLink::onCipherWritten(uv_write_t* req, int status) {
  auto* w = static_cast<CipherWrite*>(req->data);
  --w->link->writes_in_flight_;
  uv_write_t* user_req = w->user_req;
  uv_write_cb user_cb = w->user_cb;
  delete w;
  if (user_cb) user_cb(user_req, status);
}

void TlsLink::flushEngineOutput() {
  if (!engine_->hasOutput() || closing()) return;
  std::string bytes;
  engine_->takeOutput(bytes);
  writeCiphertext(std::move(bytes), nullptr, nullptr);
}

int TlsLink::write(uv_write_t* req, const uv_buf_t* iov, unsigned n, uv_write_cb done) {
  if (!engine_->handshakeDone()) return UV_ENOTCONN;
  if (engine_->state() == tls::TlsEngine::State::Failed || engine_->closeNotifySent()) return UV_EPIPE;
  // Small pieces (a head, chunk framing) are gathered so that records are full: fewer records,
  // fewer bytes of overhead, fewer cipher calls.
  std::string& stage = tl_stage;
  stage.clear();
  for (unsigned i = 0; i < n; ++i) {
    const char* p = iov[i].base;
    size_t left = iov[i].len;
    while (left > 0) {
      if (stage.empty() && left >= kRecord) {
        const size_t whole = left - left % kRecord;
        if (!engine_->write(std::string_view(p, whole))) return UV_EPROTO;
        p += whole;
        left -= whole;
        continue;
      }
      const size_t take = std::min(left, kRecord - stage.size());
      stage.append(p, take);
      p += take;
      left -= take;
      if (stage.size() == kRecord) {
        if (!engine_->write(stage)) return UV_EPROTO;
        stage.clear();
      }
    }
  }
  if (!stage.empty() && !engine_->write(stage)) return UV_EPROTO;
  stage.clear();
  std::string bytes;
  engine_->takeOutput(bytes);
  return writeCiphertext(std::move(bytes), req, done);
}

int TlsLink::shutdown() {
  engine_->shutdown();
  flushEngineOutput();
  return 0;
}

int Transport::shutdown() {
  if (flags_ & kTls) link()->shutdown();
  auto* req = new uv_shutdown_t;
  const int rc = uv_shutdown(req, stream(), [](uv_shutdown_t* r, int) { delete r; });
  if (rc != 0) delete req;
  return rc;
}

// ---- closing ---------------------------------------------------------------------------------

void TlsLink::close() {
  if (idle_) {
    uv_close(reinterpret_cast<uv_handle_t*>(idle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
    idle_ = nullptr;
  }
  // A clean end says so (close_notify), as nginx does: only when nothing else is on its way, so
  // that the record cannot overtake queued ciphertext (best effort: no waiting for it).
  tls::TlsEngine& engine = *engine_;
  if (engine.handshakeDone() && engine.state() != tls::TlsEngine::State::Failed && !engine.closeNotifySent() &&
      writes_in_flight_ == 0 && stream()->write_queue_size == 0) {
    engine.shutdown();
    if (engine.hasOutput()) {
      const std::string_view out = engine.pendingOutput();
      uv_buf_t b = uv_buf_init(const_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
      uv_try_write(stream(), &b, 1);
      engine.consumeOutput(out.size());
    }
  }
  socket_reading_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(stream()), &onClosed);
}

void TlsLink::onClosed(uv_handle_t* h) {
  auto* self = static_cast<TlsLink*>(h->data);
  void* owner = self->owner_;
  const TransportCalls* calls = self->calls_;
  // A client whose TCP connect completed but whose handshake did not: its connect is cancelled.
  const bool cancel_connect = self->tcp_connected_ && !self->connect_reported_ && calls->connected;
  // Closed before its handshake ended (a client that vanished, a handshake timeout): "closed".
  if (!self->handshake_counted_ && (self->tcp_connected_ || self->engine_->isServer())) self->countFailure();
  delete self;
  if (cancel_connect) calls->connected(owner, UV_ECANCELED);
  calls->closed(owner);
}

}  // namespace edged::net
