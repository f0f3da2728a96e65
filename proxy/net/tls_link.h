// proxy/net/tls_link.h — what a Transport in TLS mode holds beside its socket: the engine, the
// owner and its callbacks, plaintext the owner has not taken yet. Private to proxy/net; the
// handle's `data` points here instead of at the owner. Process-wide handshake counters too.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "proxy/net/tls_counters.h"
#include "proxy/net/transport.h"
#include "proxy/net/tls/tls_engine.h"

namespace edged::net {

class TlsLink {
 public:
  TlsLink(Transport& transport, tls::TlsEngine* engine, const TransportCalls* calls, void* owner)
      : transport_(transport), engine_(engine), calls_(calls), owner_(owner) {}
  TlsLink(const TlsLink&) = delete;
  TlsLink& operator=(const TlsLink&) = delete;

  void* owner() const { return owner_; }
  tls::TlsEngine& engine() { return *engine_; }

  int startReading();
  void stopReading();
  int write(uv_write_t* req, const uv_buf_t* iov, unsigned n, uv_write_cb done);
  int tryWrite(const uv_buf_t* iov, unsigned n);
  // Plain prefix (see transport.h): reads go to the owner untouched until startTls().
  void expectPlainPrefix() { plain_prefix_ = true; }
  int startTls(std::string_view rest);
  int shutdown();  // queues close_notify; the caller sends the FIN
  void close();

  static void onConnect(uv_connect_t* req, int status);

 private:
  struct CipherWrite;
  class OwnerSink;

  uv_stream_t* stream() { return transport_.stream(); }
  bool closing() const { return transport_.closing(); }
  int startSocketReading();
  void stopSocketReading();
  // Writes what the engine produced on its own (handshake, alerts, tickets, close_notify).
  void flushEngineOutput();
  int writeCiphertext(std::string&& bytes, uv_write_t* user_req, uv_write_cb user_cb);
  // Encrypts iov[0..n) into the engine's output, pieces gathered into full records.
  bool encrypt(const uv_buf_t* iov, unsigned n);
  // Nothing of ours waits in libuv's queue: a synchronous write cannot overtake anything.
  bool socketIdle() { return writes_in_flight_ == 0 && stream()->write_queue_size == 0; }
  void afterHandshake();
  void countFailure();
  // Hands `plain` from `offset` to the owner while it reads; keeps the rest in pending_.
  void deliver(std::string& plain, size_t offset);
  void deliverEnd();
  void scheduleDelivery();

  static void onAlloc(uv_handle_t* h, size_t, uv_buf_t* room);
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* got);
  static void onIdle(uv_idle_t* h);
  static void onClosed(uv_handle_t* h);
  static void onCipherWritten(uv_write_t* req, int status);

  Transport& transport_;
  std::unique_ptr<tls::TlsEngine> engine_;
  const TransportCalls* calls_;
  void* owner_;
  std::string pending_;           // plaintext the owner did not take yet
  uv_idle_t* idle_ = nullptr;     // hands pending_ over after startReading(); made when first needed
  int end_status_ = 0;            // < 0: the end (EOF, error) to report after pending_
  uint32_t writes_in_flight_ = 0;
  // tryWrite's ciphertext the socket did not take, queued without a callback: the write() of the
  // same `adopt_bytes_` plaintext bytes that follows takes it over (see transport.h).
  CipherWrite* adopt_ = nullptr;
  size_t adopt_bytes_ = 0;
  bool owner_reading_ = false;
  bool socket_reading_ = false;
  bool tcp_connected_ = false;    // client: the TCP connect completed
  bool connect_reported_ = false; // client: the owner heard onTransportConnected
  bool handshake_counted_ = false;
  bool end_reported_ = false;     // the owner heard the end: nothing more comes
  bool plain_prefix_ = false;     // reads still go to the owner as they are (before startTls)
  std::string prefix_rest_;       // handshake bytes read behind the prefix, fed from onIdle
};

}  // namespace edged::net
