// proxy/net/transport.h — one connected socket's bytes in and out, for every owner of a socket
// (client connections, origin connections, health checks, the admin server): TCP today, TLS as a
// mode of this same type next, so each owner gets TLS without code of its own.
//
// Owner callbacks are static: the owner is any type that models TransportHandler, and the
// Transport hands libuv callbacks instantiated for that type, which call the owner directly (no
// vtable in the owner, no function pointer in the Transport, no indirect call beyond libuv's
// own). The owner pointer lives in the socket handle's `data`, so the Transport is the uv_tcp_t
// and one byte of flags: embedded with [[no_unique_address]], the owner's small fields fill the
// padding after it and an idle keep-alive client connection is no larger than with a bare
// uv_tcp_t.
//
// How TLS plugs in (the memory-BIO engine of proxy/net/tls; the mode lives in tls_link.cpp):
// - The mode is chosen before the first byte: `useTls(engine, owner)` after open() and before
//   connect() or the first startReading(). It sets kTls in the flags and points the handle's
//   `data` at a TlsLink (the engine, the owner pointer and its callbacks as a small table of
//   function pointers): TCP connections pay nothing for it but a test of the flag on write.
// - Handshake: connect() reports onTransportConnected(0) only after the handshake completed
//   (a handshake failure reports its error there). On an accepted socket the handshake runs on
//   the first reads: the owner sees no onTransportRead until it is done, then plaintext only
//   (a failed handshake arrives as onTransportRead(<0), like a reset).
// - Reads: in TLS mode startReading() installs the TLS callbacks: ciphertext goes into the
//   engine's buffer, SSL_read fills the buffers the owner's onTransportAlloc gives, and the owner
//   sees plaintext in onTransportRead (nread 0 when a record is not complete yet). A read that
//   wants a write (renegotiation is off, but a TLS 1.3 key update or a session ticket needs one)
//   is written by the transport itself; the owner never sees it.
// - Writes: the pieces are encrypted in records of up to 16 KiB and written as one buffer.
//   tryWrite() encrypts and writes at once when nothing else is queued; when the socket took all
//   of the ciphertext it answers every plaintext byte taken. When it took only part (or none),
//   the rest of that ciphertext cannot be handed back as plaintext (its records are sealed), so
//   the link queues it itself and answers UV_EAGAIN: the owner's write() that must follow with
//   the same bytes (as WriteQueue::flush does) adopts that queued ciphertext instead of
//   encrypting again, and its callback runs once it left. write()'s callback runs once the
//   ciphertext left. Before the handshake ends write() fails (UV_ENOTCONN): owners write only
//   after onTransportConnected or a first read.
// - Plaintext the owner did not take because it stopped reading waits in the link and is handed
//   over after the next startReading(), from an idle callback (never from inside startReading).
// - shutdown(): close_notify (SSL_shutdown) after the pending writes, then the FIN. close() of a
//   healthy TLS connection with nothing pending sends close_notify first (best effort, no wait),
//   and frees the engine in the close callback, before onTransportClosed().
// - Connection info: peerAddress()/localAddress() as now; tlsEngine() is null for TCP.
// - A plain prefix (a PROXY protocol header before the ClientHello, as HAProxy's accept-proxy +
//   ssl): useTls(engine, owner, /*plain_first=*/true) makes the first reads go to the owner as
//   they came, until the owner calls startTls(rest) with the bytes it read behind its prefix;
//   those are the handshake's first bytes, fed from an idle callback (never from inside the
//   owner's read). A server-side engine only.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#include <cassert>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace edged::net {

namespace tls {
class TlsEngine;
}
class Listener;
class TlsLink;

// What a Transport's owner implements. The Transport calls these only on the loop's thread, and
// never again after onTransportClosed().
template <class H>
concept TransportHandler = requires(H& h, uv_buf_t* room, ssize_t nread, const uv_buf_t* got) {
  // Room for the next read: set room->base and room->len (the size libuv suggests is ignored).
  h.onTransportAlloc(room);
  // After a read into that room: nread > 0 bytes arrived in got->base; 0: nothing after all
  // (EAGAIN); < 0: the end (UV_EOF) or an error (a reset). Reading goes on until stopReading()
  // or close(); after the end nothing more comes.
  h.onTransportRead(nread, got);
  // The socket is closed and every pending request has called back: the owner may free itself.
  h.onTransportClosed();
};

// An owner that connects out also hears when the connection is ready for its first byte.
template <class H>
concept ConnectingTransportHandler = TransportHandler<H> && requires(H& h, int status) {
  // 0: connected (in TLS mode: and the handshake done); < 0: a libuv error, UV_ECANCELED after
  // close(). Called once.
  h.onTransportConnected(status);
};

// The owner's callbacks as plain function pointers, for the TLS mode (which is not a template).
struct TransportCalls {
  void (*alloc)(void* owner, uv_buf_t* room);
  void (*read)(void* owner, ssize_t nread, const uv_buf_t* got);
  void (*connected)(void* owner, int status);  // null for an owner that never connects
  void (*closed)(void* owner);
};

template <class H>
inline constexpr TransportCalls kTransportCalls = {
    [](void* o, uv_buf_t* room) { static_cast<H*>(o)->onTransportAlloc(room); },
    [](void* o, ssize_t nread, const uv_buf_t* got) { static_cast<H*>(o)->onTransportRead(nread, got); },
    [] {
      if constexpr (ConnectingTransportHandler<H>) {
        return +[](void* o, int status) { static_cast<H*>(o)->onTransportConnected(status); };
      } else {
        return static_cast<void (*)(void*, int)>(nullptr);
      }
    }(),
    [](void* o) { static_cast<H*>(o)->onTransportClosed(); },
};

class Transport {
 public:
  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Creates the socket handle on `loop` for `owner`. Once it returned 0 the Transport must be
  // closed with close() (also when accept(), adopt() or connect() fail) before it is freed.
  template <TransportHandler H>
  int open(uv_loop_t* loop, H* owner) {
    const int rc = uv_tcp_init(loop, &tcp_);
    tcp_.data = owner;
    return rc;
  }
  // TLS from the first byte (see the top of this file): after open(), before connect() or the
  // first startReading(). The Transport owns the engine from then on.
  template <TransportHandler H>
  void useTls(std::unique_ptr<tls::TlsEngine> engine, H* owner, bool plain_first = false) {
    assert(tcp_.data == owner);
    enableTls(engine.release(), &kTransportCalls<H>, owner, plain_first);
  }
  // After useTls(..., plain_first): the plain prefix ended; `rest` (copied) is what the owner read
  // behind it. 0, or a libuv error.
  int startTls(std::string_view rest);
  bool secure() const { return flags_ & kTls; }
  // The TLS connection (negotiated version, cipher, SNI), or null for TCP.
  const tls::TlsEngine* tlsEngine() const;
  // Why the handshake failed (a connect or read reported UV_EPROTO), "" if it did not.
  std::string tlsError() const;
  // TLS: a connection in use keeps OpenSSL's record buffers from one record to the next (true);
  // an idle one frees them now and after each record again (false; the default). No-op for TCP.
  void tlsKeepBuffers(bool keep);

  // One of these, once, after open(): take a connection from `listener`'s accept queue; take an
  // already accepted socket (the fd is the Transport's from then on, also on failure); connect
  // to `to` (the owner hears onTransportConnected; `req` must live until then).
  int accept(Listener& listener);
  int adopt(int fd);
  template <ConnectingTransportHandler H>
  int connect(uv_connect_t* req, const sockaddr* to, H* owner) {
    assert(ownerPointer() == owner);
    (void)owner;
    if (flags_ & kTls) return uv_tcp_connect(req, &tcp_, to, &tlsConnectCb);
    return uv_tcp_connect(req, &tcp_, to, &onConnectCb<H>);
  }

  // Reading into the owner's buffers; both are no-ops when already in that state.
  template <TransportHandler H>
  int startReading(H* owner) {
    assert(ownerPointer() == owner);
    (void)owner;
    if (flags_ & kReading) return 0;
    if (flags_ & kTls) return tlsStartReading();
    const int rc = uv_read_start(stream(), &onAllocCb<H>, &onReadCb<H>);
    if (rc == 0) flags_ |= kReading;
    return rc;
  }
  void stopReading() {
    if (!(flags_ & kReading)) return;
    flags_ &= static_cast<uint8_t>(~kReading);
    if (flags_ & kTls) {
      tlsStopReading();
      return;
    }
    uv_read_stop(stream());
  }
  bool reading() const { return flags_ & kReading; }

  // Writes as much of iov[0..n) as the socket takes now, without waiting: the bytes taken (> 0),
  // UV_EAGAIN when none (always while a write() is pending), or another libuv error.
  // TLS: all of them or UV_EAGAIN, and after UV_EAGAIN the next write() must be of the same
  // bytes (see the top of this file).
  int tryWrite(const uv_buf_t* iov, unsigned n) {
    if (flags_ & kTls) return tlsTryWrite(iov, n);
    return uv_try_write(stream(), iov, n);
  }
  // Writes all of iov[0..n) after what is pending; `done(req, status)` runs when they left
  // (status 0) or failed, UV_ECANCELED after close(). `req` and the bytes must live until then.
  // 0, or a libuv error (then `done` is not called).
  int write(uv_write_t* req, const uv_buf_t* iov, unsigned n, uv_write_cb done) {
    if (flags_ & kTls) return tlsWrite(req, iov, n, done);
    return uv_write(req, stream(), iov, n, done);
  }
  // Graceful close of the sending side once every pending write went out: a FIN (TLS: close_notify
  // first). Reading goes on (lingering close). 0, or a libuv error.
  int shutdown();
  // Nagle off (on: true).
  int setNoDelay(bool on) { return uv_tcp_nodelay(&tcp_, on ? 1 : 0); }

  // Closes the socket; pending writes and a pending connect call back with UV_ECANCELED first,
  // then the owner hears onTransportClosed(). Not again once closing().
  template <TransportHandler H>
  void close(H* owner) {
    assert(ownerPointer() == owner);
    (void)owner;
    flags_ &= static_cast<uint8_t>(~kReading);
    if (flags_ & kTls) {
      tlsClose();
      return;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &onCloseCb<H>);
  }
  bool closing() const { return uv_is_closing(reinterpret_cast<const uv_handle_t*>(&tcp_)) != 0; }

  // Connection info: 0 and the address, or a libuv error.
  int peerAddress(sockaddr_storage& out) const;
  int localAddress(sockaddr_storage& out) const;

 private:
  friend class TlsLink;
  static constexpr uint8_t kReading = 1;
  static constexpr uint8_t kTls = 2;

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  TlsLink* link() const { return static_cast<TlsLink*>(tcp_.data); }
  void* ownerPointer() const;

  // The TLS mode (tls_link.cpp).
  void enableTls(tls::TlsEngine* engine, const TransportCalls* calls, void* owner, bool plain_first);
  int tlsStartReading();
  void tlsStopReading();
  int tlsWrite(uv_write_t* req, const uv_buf_t* iov, unsigned n, uv_write_cb done);
  int tlsTryWrite(const uv_buf_t* iov, unsigned n);
  void tlsClose();
  static void tlsConnectCb(uv_connect_t* req, int status);

  template <class H>
  static void onAllocCb(uv_handle_t* h, size_t, uv_buf_t* room) {
    static_cast<H*>(h->data)->onTransportAlloc(room);
  }
  template <class H>
  static void onReadCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* got) {
    static_cast<H*>(s->data)->onTransportRead(nread, got);
  }
  template <class H>
  static void onConnectCb(uv_connect_t* req, int status) {
    static_cast<H*>(req->handle->data)->onTransportConnected(status);
  }
  template <class H>
  static void onCloseCb(uv_handle_t* h) {
    static_cast<H*>(h->data)->onTransportClosed();
  }

  uv_tcp_t tcp_{};
  uint8_t flags_ = 0;
};

}  // namespace edged::net
