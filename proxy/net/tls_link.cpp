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
// Plaintext pieces of one write, gathered into records.
thread_local std::string tl_stage;
// Ciphertext of one tryWrite(), lent to the engine: the usual write allocates nothing.
thread_local std::string tl_sealed;
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

void Transport::enableTls(tls::TlsEngine* engine, const TransportCalls* calls, void* owner, bool plain_first) {
  assert(!(flags_ & kTls));
  auto* link = new TlsLink(*this, engine, calls, owner);
  if (plain_first) link->expectPlainPrefix();
  tcp_.data = link;
  flags_ |= kTls;
}

int Transport::startTls(std::string_view rest) {
  if (!(flags_ & kTls)) return UV_EINVAL;
  return link()->startTls(rest);
}

void* Transport::ownerPointer() const { return (flags_ & kTls) ? link()->owner() : tcp_.data; }

const tls::TlsEngine* Transport::tlsEngine() const { return (flags_ & kTls) ? &link()->engine() : nullptr; }

std::string Transport::tlsError() const {
  if (!(flags_ & kTls)) return {};
  return link()->engine().error();
}

void Transport::tlsKeepBuffers(bool keep) {
  if (flags_ & kTls) link()->engine().keepBuffers(keep);
}

int Transport::tlsStartReading() {
  flags_ |= kReading;
  return link()->startReading();
}

void Transport::tlsStopReading() { link()->stopReading(); }

int Transport::tlsWrite(uv_write_t* req, const uv_buf_t* iov, unsigned n, uv_write_cb done) {
  return link()->write(req, iov, n, done);
}

int Transport::tlsTryWrite(const uv_buf_t* iov, unsigned n) { return link()->tryWrite(iov, n); }

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

int TlsLink::startTls(std::string_view rest) {
  if (!plain_prefix_) return UV_EINVAL;
  plain_prefix_ = false;
  if (!rest.empty()) {
    prefix_rest_.assign(rest);
    scheduleDelivery();
  }
  return 0;
}

void TlsLink::onIdle(uv_idle_t* h) {
  auto* self = static_cast<TlsLink*>(h->data);
  uv_idle_stop(h);
  if (!self->prefix_rest_.empty() && !self->closing()) {
    // The first handshake bytes, read with the plain prefix: as if the socket read them now.
    std::string rest;
    rest.swap(self->prefix_rest_);
    uv_buf_t b = uv_buf_init(rest.data(), static_cast<unsigned>(rest.size()));
    onRead(self->stream(), static_cast<ssize_t>(rest.size()), &b);
  }
  if (self->closing() || !self->owner_reading_) return;
  std::string plain;
  plain.swap(self->pending_);
  self->deliver(plain, 0);
  if (self->pending_.empty() && !self->closing()) self->deliverEnd();
}

void TlsLink::onAlloc(uv_handle_t* h, size_t, uv_buf_t* room) {
  auto* self = static_cast<TlsLink*>(h->data);
  if (self->plain_prefix_) {
    self->calls_->alloc(self->owner_, room);
    return;
  }
  *room = uv_buf_init(tl_cipher, sizeof tl_cipher);
}

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

// Plaintext of a read goes straight into the owner's buffers while the owner takes it: from a
// connection whose handshake was done before this read (a client's owner also heard connected),
// with nothing older waiting. Otherwise (the read that ends a handshake, an owner that stopped
// reading, older plaintext waiting) it is kept in pending_ and handed over after.
class TlsLink::OwnerSink final : public tls::PlaintextSink {
 public:
  OwnerSink(TlsLink& link, bool direct) : link_(link), direct_(direct) {}
  char* room(size_t& size) override {
    if (direct_ && link_.pending_.empty() && !link_.closing() && link_.owner_reading_) {
      room_ = uv_buf_init(nullptr, 0);
      link_.calls_->alloc(link_.owner_, &room_);
      if (room_.len > 0 && room_.base != nullptr) {
        to_owner_ = true;
        size = room_.len;
        return room_.base;
      }
      no_room_ = true;  // the owner has no room: the rest waits, the owner hears UV_ENOBUFS
      direct_ = false;
    }
    to_owner_ = false;
    at_ = link_.pending_.size();
    size = kRecord;
    link_.pending_.resize(at_ + size);
    return link_.pending_.data() + at_;
  }
  void filled(char*, size_t n) override {
    if (to_owner_) {
      link_.calls_->read(link_.owner_, static_cast<ssize_t>(n), &room_);
      return;
    }
    link_.pending_.resize(at_ + n);
  }
  bool noRoom() const { return no_room_; }

 private:
  TlsLink& link_;
  bool direct_;
  bool to_owner_ = false;
  bool no_room_ = false;
  size_t at_ = 0;
  uv_buf_t room_{};
};

void TlsLink::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* got) {
  auto* self = static_cast<TlsLink*>(s->data);
  if (self->plain_prefix_) {  // the owner's own bytes, in the owner's buffer
    if (!self->closing()) self->calls_->read(self->owner_, nread, got);
    return;
  }
  if (nread == 0 || self->closing()) return;
  tls::TlsEngine& engine = *self->engine_;
  const bool was_done = engine.handshakeDone();
  const bool had_pending = !self->pending_.empty();
  const bool client = !engine.isServer();
  OwnerSink sink(*self, was_done && (!client || self->connect_reported_));
  tls::TlsEngine::State state;
  if (nread > 0) {
    state = engine.feed(std::string_view(got->base, static_cast<size_t>(nread)), sink);
  } else {
    state = engine.feedEof();
  }
  if (self->closing()) return;  // the owner closed while it read: nothing more to tell it
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

  if (client && !self->connect_reported_) {
    if (state == State::Failed || nread < 0) {
      // The handshake did not complete: the owner hears a failed connect.
      self->connect_reported_ = true;
      self->end_reported_ = true;
      self->stopSocketReading();
      self->calls_->connected(self->owner_, state == State::Failed ? UV_EPROTO : static_cast<int>(nread));
      return;
    }
    if (!engine.handshakeDone()) return;
    self->connect_reported_ = true;
    self->calls_->connected(self->owner_, 0);
    if (self->closing()) return;
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

  if (sink.noRoom()) {
    uv_buf_t none = uv_buf_init(nullptr, 0);
    self->calls_->read(self->owner_, UV_ENOBUFS, &none);
    return;
  }
  if (!self->pending_.empty()) {
    if (had_pending) {
      // Older plaintext waited: the new bytes went after it, handed over from the idle callback.
      if (self->owner_reading_) self->scheduleDelivery();
    } else {
      // This read's plaintext, kept while a handshake ended or the owner paused: hand it over now.
      std::string plain;
      plain.swap(self->pending_);
      self->deliver(plain, 0);
    }
  }
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
  if (w->link->adopt_ == w) w->link->adopt_ = nullptr;  // no write() adopted it: nobody to tell
  uv_write_t* user_req = w->user_req;
  uv_write_cb user_cb = w->user_cb;
  delete w;
  if (user_cb) user_cb(user_req, status);
}

void TlsLink::flushEngineOutput() {
  if (!engine_->hasOutput() || closing()) return;
  // At once when nothing of ours is queued and the socket takes it (a handshake flight, a
  // ticket): no write request, no deferred callback, no epoll_ctl.
  if (socketIdle()) {
    const std::string_view out = engine_->pendingOutput();
    uv_buf_t b = uv_buf_init(const_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
    const int rc = uv_try_write(stream(), &b, 1);
    if (rc > 0) engine_->consumeOutput(static_cast<size_t>(rc));
    if (!engine_->hasOutput()) {
      engine_->dropOutputStorage();
      return;
    }
  }
  std::string bytes;
  engine_->takeOutput(bytes);
  writeCiphertext(std::move(bytes), nullptr, nullptr);
}

int TlsLink::tryWrite(const uv_buf_t* iov, unsigned n) {
  if (adopt_ || !socketIdle() || closing() || engine_->hasOutput() || !engine_->handshakeDone() ||
      engine_->state() == tls::TlsEngine::State::Failed || engine_->closeNotifySent()) {
    return UV_EAGAIN;  // write() queues after what waits, or reports why it cannot write
  }
  size_t total = 0;
  for (unsigned i = 0; i < n; ++i) total += iov[i].len;
  if (total == 0) return UV_EAGAIN;
  std::string& sealed = tl_sealed;
  engine_->lendOutput(sealed);
  const bool ok = encrypt(iov, n);
  engine_->takeOutput(sealed);
  if (!ok) return UV_EPROTO;
  uv_buf_t b = uv_buf_init(sealed.data(), static_cast<unsigned>(sealed.size()));
  int rc = uv_try_write(stream(), &b, 1);
  if (rc < 0 && rc != UV_EAGAIN) return rc;
  const size_t sent = rc > 0 ? static_cast<size_t>(rc) : 0;
  if (sent == sealed.size()) {
    if (sealed.capacity() > 256 * 1024) std::string().swap(sealed);
    return static_cast<int>(total);
  }
  // The socket took part of it: the rest is sealed records, queued now; the write() that follows
  // with the same bytes adopts it.
  auto* w = new CipherWrite;
  w->bytes.assign(sealed, sent, std::string::npos);
  w->link = this;
  w->req.data = w;
  uv_buf_t rest = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  rc = uv_write(&w->req, stream(), &rest, 1, &onCipherWritten);
  if (rc != 0) {
    delete w;
    return rc;
  }
  ++writes_in_flight_;
  adopt_ = w;
  adopt_bytes_ = total;
  return UV_EAGAIN;
}

bool TlsLink::encrypt(const uv_buf_t* iov, unsigned n) {
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
        if (!engine_->write(std::string_view(p, whole))) return false;
        p += whole;
        left -= whole;
        continue;
      }
      const size_t take = std::min(left, kRecord - stage.size());
      stage.append(p, take);
      p += take;
      left -= take;
      if (stage.size() == kRecord) {
        if (!engine_->write(stage)) return false;
        stage.clear();
      }
    }
  }
  const bool ok = stage.empty() || engine_->write(stage);
  stage.clear();
  return ok;
}

int TlsLink::write(uv_write_t* req, const uv_buf_t* iov, unsigned n, uv_write_cb done) {
  if (adopt_) {
    // tryWrite() sealed these bytes and queued what the socket did not take.
    CipherWrite* w = adopt_;
    adopt_ = nullptr;
    size_t total = 0;
    for (unsigned i = 0; i < n; ++i) total += iov[i].len;
    assert(total == adopt_bytes_);
    (void)total;
    w->user_req = req;
    w->user_cb = done;
    if (req) req->handle = stream();
    return 0;
  }
  if (!engine_->handshakeDone()) return UV_ENOTCONN;
  if (engine_->state() == tls::TlsEngine::State::Failed || engine_->closeNotifySent()) return UV_EPIPE;
  if (!encrypt(iov, n)) return UV_EPROTO;
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
