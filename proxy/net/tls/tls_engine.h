// proxy/net/tls/tls_engine.h — one TLS connection (either side) run over memory: ciphertext in
// from the caller's socket reads, plaintext out to the caller, and ciphertext for the caller to
// write. No socket, no event loop: the Transport drives it.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace edged::net::tls {

class TlsServerContext;
class TlsClientContext;

// What a finished handshake agreed on. Empty strings when not applicable.
struct TlsConnectionInfo {
  std::string protocol;         // "TLSv1.3"
  std::string cipher;           // "TLS_AES_128_GCM_SHA256"
  std::string server_name;      // SNI the client sent (server side) / asked for (client side)
  std::string alpn;             // "http/1.1", or empty when none was negotiated
  bool resumed = false;         // abbreviated handshake (ticket or session cache)
  std::string peer_subject;     // verified peer certificate subject, RFC 2253 ("CN=x,O=y")
  bool peer_verified = false;   // a peer certificate was presented and verified
};

// Where feed() puts plaintext: OpenSSL decrypts straight into the buffers the caller hands out,
// so a read copies no plaintext on its way to the caller.
class PlaintextSink {
 public:
  // A buffer for the next plaintext: its address, and its size in `size` (at least 1).
  virtual char* room(size_t& size) = 0;
  // `n` bytes arrived at the start of the last room (0: none after all). The caller may call the
  // engine's write() or shutdown() from here; feed() goes on reading afterwards.
  virtual void filled(char* room, size_t n) = 0;

 protected:
  ~PlaintextSink() = default;
};

class TlsEngine {
 public:
  enum class State : uint8_t {
    Handshaking,
    Open,        // handshake done: application data flows
    PeerClosed,  // the peer sent close_notify: a clean end of its data
    Failed,      // see error(); the caller sends pendingOutput() (maybe an alert) and closes
  };

  // Why the engine failed, for the caller's decision on what to answer.
  enum class Failure : uint8_t {
    None,
    PlainHttp,    // server: an HTTP request arrived on the TLS port -> kPlainHttpOnTlsPortResponse
    NotTls,       // server: the first bytes are neither TLS nor HTTP -> close
    Handshake,    // protocol, certificate, ALPN or version failure during the handshake
    Truncated,    // the stream ended without close_notify
    Protocol,     // a TLS error after the handshake (bad record MAC, unexpected message)
  };

  // Engines are made by the contexts (TlsServerContext::newEngine, TlsClientContext::newEngine).
  TlsEngine(SSL* ssl, bool server, std::shared_ptr<const void> context_keepalive);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  // Client: produces the ClientHello into pendingOutput(). Server: nothing to do (waits for feed).
  State start();

  // Takes every ciphertext byte the socket read (nothing is kept back: the caller may reuse its
  // read buffer at once), advances the handshake and appends all decrypted plaintext to
  // `plaintext`. Afterwards pendingOutput() may hold bytes to send even when the caller wrote
  // nothing (handshake messages, alerts, tickets, key updates): always drain it.
  State feed(std::string_view ciphertext, std::string& plaintext);
  // The same, the plaintext going into `sink`'s buffers. A room is asked for only when bytes are
  // buffered (in the ciphertext or in OpenSSL): a feed that completes no record asks for none.
  State feed(std::string_view ciphertext, PlaintextSink& sink);
  // The socket read returned EOF. Open/Handshaking become Failed(Truncated) unless the peer's
  // close_notify came first (then PeerClosed stays).
  State feedEof();

  // Encrypts all of `plaintext` into pendingOutput(). Only when Open (or PeerClosed: a half-closed
  // peer may still read); false otherwise or on error.
  bool write(std::string_view plaintext);
  // Queues close_notify. After it, write() fails; feed() still reads until the peer's close_notify.
  void shutdown();

  // Ciphertext waiting to be sent. The view stays valid until the next feed/write/shutdown/start
  // or consumeOutput; after a synchronous socket write the caller consumes what went out.
  std::string_view pendingOutput() const { return output_; }
  void consumeOutput(size_t n);
  // For asynchronous writes: swaps the whole pending output into `buffer` (whose old contents are
  // dropped, its capacity reused) so it stays owned by the write request, with no copy.
  void takeOutput(std::string& buffer);
  bool hasOutput() const { return !output_.empty(); }
  // Lends `buffer`'s storage to the engine's output while it is empty, so that encrypting into it
  // allocates nothing; takeOutput(buffer) gives it back with the ciphertext. No-op otherwise.
  void lendOutput(std::string& buffer) {
    if (!output_.empty()) return;
    buffer.clear();
    output_.swap(buffer);
  }
  // Frees the output's storage once it is drained (an idle connection holds none).
  void dropOutputStorage() {
    if (output_.empty()) std::string().swap(output_);
  }

  State state() const { return state_; }
  bool handshakeDone() const { return handshake_done_; }
  Failure failure() const { return failure_; }
  const std::string& error() const { return error_; }
  bool closeNotifySent() const { return close_notify_sent_; }
  bool closeNotifyReceived() const { return close_notify_received_; }
  bool isServer() const { return server_; }

  TlsConnectionInfo info() const;
  // Frees the record buffers now (they come back on the next read or write). With
  // SSL_MODE_RELEASE_BUFFERS on the context OpenSSL already does it whenever they are empty.
  void releaseBuffers();
  // With SSL_MODE_RELEASE_BUFFERS on the context (release_buffers): true keeps the record buffers
  // between records while the connection is busy (no free and malloc of ~17 KiB each way per
  // request on a keep-alive connection); false frees them now and after every record again, as
  // an idle connection should. No-op when the context keeps its buffers anyway.
  void keepBuffers(bool keep);

  SSL* ssl() const { return ssl_; }
  // Client: the slot of TlsClientContext's session cache that a new session goes to.
  void setSessionKey(std::string key) { session_key_ = std::move(key); }
  const std::string& sessionKey() const { return session_key_; }

  // Internal: the BIO callbacks.
  int bioRead(char* out, int size);
  void bioWrite(const char* data, int size);

 private:
  State fail(Failure failure, std::string message);
  State afterSslCall(int result, bool reading);
  State pump(PlaintextSink& sink);

  SSL* ssl_ = nullptr;
  std::shared_ptr<const void> context_keepalive_;  // the context's callbacks outlive the SSL
  std::string_view input_;   // the bytes of the current feed() not yet read by OpenSSL
  bool input_eof_ = false;
  std::string held_;         // server: first bytes kept until they show TLS or plain HTTP
  std::string output_;
  std::string session_key_;  // client: which server's session cache slot this is
  std::string error_;
  State state_ = State::Handshaking;
  Failure failure_ = Failure::None;
  bool server_ = false;
  bool release_when_idle_ = false;  // the context set SSL_MODE_RELEASE_BUFFERS
  bool sniffed_ = false;        // server: the first bytes were checked for plain HTTP
  bool handshake_done_ = false;
  bool close_notify_sent_ = false;
  bool close_notify_received_ = false;
};

}  // namespace edged::net::tls
