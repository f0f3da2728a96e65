// proxy/net/tls/tls_engine.cpp — the SSL state machine over a BIO that reads straight from the
// caller's bytes and writes into one std::string.
//
// Why not a BIO pair or two mem BIOs: a mem BIO copies every input byte once more (socket buffer
// -> BIO -> SSL record buffer) and keeps its BUF_MEM allocated on an idle connection; this BIO
// hands OpenSSL the caller's bytes directly, and holds nothing between calls (feed() leaves no
// input behind, the output string is empty once drained).
#include "proxy/net/tls/tls_engine.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "proxy/net/tls/first_bytes.h"
#include "proxy/net/tls/tls_certificate.h"

namespace edged::net::tls {

namespace {

TlsEngine* engineOf(BIO* bio) { return static_cast<TlsEngine*>(BIO_get_data(bio)); }

int bioWriteCallback(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  engineOf(bio)->bioWrite(data, size);
  return size;
}

int bioReadCallback(BIO* bio, char* out, int size) {
  BIO_clear_retry_flags(bio);
  const int n = engineOf(bio)->bioRead(out, size);
  if (n < 0) BIO_set_retry_read(bio);
  return n;
}

long bioCtrlCallback(BIO*, int cmd, long, void*) {
  // SSL flushes after each flight; the output string needs no flushing.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bioCreateCallback(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* bioMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "edged-tls-engine");
    BIO_meth_set_write(m, bioWriteCallback);
    BIO_meth_set_read(m, bioReadCallback);
    BIO_meth_set_ctrl(m, bioCtrlCallback);
    BIO_meth_set_create(m, bioCreateCallback);
    return m;
  }();
  return method;
}

// Appends to a string (feedEof, the string feed, the tests).
class StringSink final : public PlaintextSink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  char* room(size_t& size) override {
    at_ = out_.size();
    size = 16384;
    out_.resize(at_ + size);
    return out_.data() + at_;
  }
  void filled(char*, size_t n) override { out_.resize(at_ + n); }

 private:
  std::string& out_;
  size_t at_ = 0;
};

// Empties this thread's OpenSSL error queue before an SSL call (SSL_get_error reads it). Only when
// something is queued: ERR_clear_error itself walks all 16 slots (~400 instructions), twice per
// request on a keep-alive connection otherwise.
inline void clearErrors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// The most specific reason for a failed SSL call: the certificate check's own message when it
// failed, else the last queued OpenSSL error.
std::string sslFailureReason(SSL* ssl, std::string_view fallback) {
  const long verify = SSL_get_verify_result(ssl);
  const unsigned long code = ERR_peek_last_error();
  if (verify != X509_V_OK && ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    ERR_clear_error();
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  return takeOpenSslError(fallback);
}

}  // namespace

TlsEngine::TlsEngine(SSL* ssl, bool server, std::shared_ptr<const void> context_keepalive)
    : ssl_(ssl), context_keepalive_(std::move(context_keepalive)), server_(server) {
  BIO* bio = BIO_new(bioMethod());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // the same BIO both ways: SSL takes the one reference
  SSL_set_app_data(ssl_, this);
  release_when_idle_ = (SSL_get_mode(ssl_) & SSL_MODE_RELEASE_BUFFERS) != 0;
  if (server_) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
}

TlsEngine::~TlsEngine() {
  // OpenSSL makes the session of a connection freed without close_notify unresumable (and drops
  // it from the server cache). That is right after a failure, but a connection we simply close
  // (idle keep-alive, shutdown grace) must stay resumable, as nginx does on its quiet shutdowns.
  if (handshake_done_ && state_ != State::Failed) {
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  SSL_free(ssl_);
}

int TlsEngine::bioRead(char* out, int size) {
  if (input_.empty()) return input_eof_ ? 0 : -1;
  const size_t n = std::min(input_.size(), static_cast<size_t>(size));
  std::memcpy(out, input_.data(), n);
  input_.remove_prefix(n);
  return static_cast<int>(n);
}

void TlsEngine::bioWrite(const char* data, int size) { output_.append(data, static_cast<size_t>(size)); }

TlsEngine::State TlsEngine::fail(Failure failure, std::string message) {
  if (state_ != State::Failed) {
    state_ = State::Failed;
    failure_ = failure;
    error_ = std::move(message);
  }
  ERR_clear_error();
  return state_;
}

TlsEngine::State TlsEngine::start() {
  if (server_ || state_ != State::Handshaking) return state_;
  std::string none;
  StringSink sink(none);
  return pump(sink);
}

TlsEngine::State TlsEngine::pump(PlaintextSink& sink) {
  if (!handshake_done_) {
    ERR_clear_error();
    const int result = SSL_do_handshake(ssl_);
    if (result != 1) {
      const int code = SSL_get_error(ssl_, result);
      if (code == SSL_ERROR_WANT_READ && !input_eof_) return state_;
      if (input_eof_ && ERR_peek_last_error() == 0) {
        return fail(Failure::Truncated, "connection closed during the TLS handshake");
      }
      return fail(Failure::Handshake, sslFailureReason(ssl_, "handshake failed"));
    }
    handshake_done_ = true;
    state_ = State::Open;
  }
  // Read until OpenSSL wants more bytes: every record this feed completed becomes plaintext, and
  // post-handshake messages (tickets, key updates) are processed on the way.
  for (;;) {
    // Nothing left in this feed nor inside OpenSSL (read-ahead is off: it holds at most a part
    // of one record): no record can complete, so no room is asked for.
    if (input_.empty() && !input_eof_ && SSL_has_pending(ssl_) == 0) return state_;
    size_t size = 0;
    char* room = sink.room(size);
    // Records (up to 16 KiB each) are gathered into the room while more are buffered, so that a
    // big read fills the caller's buffer as a socket read would (owners treat a full read as
    // "more follows at once").
    size_t used = 0;
    int result = 0;
    for (;;) {
      clearErrors();
      size_t n = 0;
      result = SSL_read_ex(ssl_, room + used, size - used, &n);
      if (result != 1) break;
      used += n;
      if (used == size || (input_.empty() && SSL_has_pending(ssl_) == 0)) break;
    }
    if (result == 1) {
      sink.filled(room, used);
      if (state_ == State::Failed) return state_;  // the sink wrote, and that failed
      continue;
    }
    // The room goes back (with what was gathered before, maybe nothing) after the outcome is
    // read: the sink may call into OpenSSL.
    const int code = SSL_get_error(ssl_, result);
    switch (code) {
      case SSL_ERROR_WANT_READ:  // at EOF our BIO reports 0, which OpenSSL turns into an error
        break;
      case SSL_ERROR_ZERO_RETURN:
        close_notify_received_ = true;
        state_ = State::PeerClosed;
        break;
      case SSL_ERROR_SYSCALL:
        fail(Failure::Truncated, "peer closed the connection without close_notify");
        break;
      default:
        if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
          fail(Failure::Truncated, "peer closed the connection without close_notify");
        } else {
          fail(Failure::Protocol, sslFailureReason(ssl_, "TLS error"));
        }
        break;
    }
    sink.filled(room, used);
    return state_;
  }
}

TlsEngine::State TlsEngine::feed(std::string_view ciphertext, std::string& plaintext) {
  StringSink sink(plaintext);
  return feed(ciphertext, sink);
}

TlsEngine::State TlsEngine::feed(std::string_view ciphertext, PlaintextSink& sink) {
  if (state_ == State::Failed || state_ == State::PeerClosed) return state_;
  if (server_ && !sniffed_) {
    // Decide on the first bytes before OpenSSL sees them: an HTTP request gets its own answer
    // instead of a TLS alert the client would not understand.
    const bool holding = !held_.empty();
    if (holding) held_.append(ciphertext);
    const std::string_view first = holding ? std::string_view(held_) : ciphertext;
    switch (sniffFirstBytes(first)) {
      case FirstBytes::NeedMore:
        if (!holding) held_.assign(ciphertext);
        return state_;
      case FirstBytes::PlainHttp:
        held_.clear();
        return fail(Failure::PlainHttp, "plain HTTP request sent to the TLS port");
      case FirstBytes::Garbage:
        held_.clear();
        return fail(Failure::NotTls, "the first bytes are not a TLS handshake record");
      case FirstBytes::TlsHandshake:
        break;
    }
    sniffed_ = true;
    input_ = first;
    const State state = pump(sink);
    input_ = {};
    std::string().swap(held_);
    return state;
  }
  input_ = ciphertext;
  const State state = pump(sink);
  input_ = {};  // all of it was read, or the engine failed and the rest does not matter
  return state;
}

TlsEngine::State TlsEngine::feedEof() {
  if (state_ == State::Failed || state_ == State::PeerClosed) return state_;
  input_eof_ = true;
  std::string plaintext;
  StringSink sink(plaintext);
  return pump(sink);
}

bool TlsEngine::write(std::string_view plaintext) {
  if ((state_ != State::Open && state_ != State::PeerClosed) || close_notify_sent_) return false;
  while (!plaintext.empty()) {
    clearErrors();
    size_t written = 0;
    if (SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) != 1) {
      fail(Failure::Protocol, sslFailureReason(ssl_, "write failed"));
      return false;
    }
    plaintext.remove_prefix(written);
  }
  return true;
}

void TlsEngine::shutdown() {
  if (close_notify_sent_ || state_ == State::Failed || !handshake_done_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // 0: our close_notify is queued, the peer's is still to come; both fine
  ERR_clear_error();
  close_notify_sent_ = true;
}

void TlsEngine::consumeOutput(size_t n) {
  if (n >= output_.size()) {
    output_.clear();
  } else {
    output_.erase(0, n);
  }
}

void TlsEngine::takeOutput(std::string& buffer) {
  buffer.clear();
  output_.swap(buffer);
}

void TlsEngine::releaseBuffers() {
  SSL_free_buffers(ssl_);  // refuses (0) while a buffer holds data; nothing to do then
  ERR_clear_error();
  if (output_.empty()) std::string().swap(output_);
}

void TlsEngine::keepBuffers(bool keep) {
  if (!release_when_idle_) return;
  if (keep) {
    SSL_clear_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
    return;
  }
  SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  releaseBuffers();
}

TlsConnectionInfo TlsEngine::info() const {
  TlsConnectionInfo info;
  if (!handshake_done_) return info;
  info.protocol = SSL_get_version(ssl_);
  if (const char* cipher = SSL_get_cipher_name(ssl_)) info.cipher = cipher;
  if (const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) info.server_name = name;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_length = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_length);
  if (alpn) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
  info.resumed = SSL_session_reused(ssl_) == 1;
  if (X509* peer = SSL_get0_peer_certificate(ssl_)) {
    info.peer_verified = SSL_get_verify_result(ssl_) == X509_V_OK &&
                         (SSL_get_verify_mode(ssl_) & SSL_VERIFY_PEER) != 0;
    BIO* out = BIO_new(BIO_s_mem());
    if (out && X509_NAME_print_ex(out, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      const long length = BIO_get_mem_data(out, &data);
      if (length > 0) info.peer_subject.assign(data, static_cast<size_t>(length));
    }
    BIO_free(out);
  }
  return info;
}

}  // namespace edged::net::tls
