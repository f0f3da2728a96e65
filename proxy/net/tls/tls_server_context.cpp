// proxy/net/tls/tls_server_context.cpp — SSL_CTX setup for a listener and its callbacks.
#include "proxy/net/tls/tls_server_context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace edged::net::tls {

namespace {

std::string lowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A readable file gives a message with errno; OpenSSL's own message for it is cryptic.
bool readable(const std::string& path, std::string& why) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) {
    why = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::fclose(f);
  return true;
}

bool setProtocols(SSL_CTX* ctx, uint8_t protocols, TlsLoadError& error) {
  if ((protocols & (kTls12 | kTls13)) == 0) {
    error = {TlsSettingKind::Protocols, -1, "no protocol enabled (use TLSv1.2 and/or TLSv1.3)"};
    return false;
  }
  const int min = (protocols & kTls12) ? TLS1_2_VERSION : TLS1_3_VERSION;
  const int max = (protocols & kTls13) ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_max_proto_version(ctx, max);
  return true;
}

bool setTicketMacKey(EVP_MAC_CTX* mac, const TicketKey& key) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<uint8_t*>(key.hmac_key.data()),
                                        key.hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

}  // namespace

std::optional<std::string> alpnWireFormat(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255) return std::nullopt;
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

std::shared_ptr<TlsServerContext> TlsServerContext::create(const TlsServerSettings& settings,
                                                           TlsLoadError& error, std::time_t now,
                                                           std::shared_ptr<TicketKeyRing> ticket_keys) {
  ERR_clear_error();
  std::shared_ptr<TlsServerContext> self(new TlsServerContext());
  if (settings.certificates.empty()) {
    error = {TlsSettingKind::Certificate, -1, "no certificate configured"};
    return nullptr;
  }
  for (size_t i = 0; i < settings.certificates.size(); ++i) {
    auto certificate = TlsCertificate::load(settings.certificates[i], now, error);
    if (!certificate) {
      error.certificate = static_cast<int>(i);
      return nullptr;
    }
    self->certificates_.push_back(std::move(*certificate));
  }

  self->ctx_ = SSL_CTX_new(TLS_server_method());
  if (!self->ctx_) {
    error = {TlsSettingKind::Other, -1, "SSL_CTX_new: " + takeOpenSslError("failed")};
    return nullptr;
  }
  SSL_CTX* ctx = self->ctx_;
  SSL_CTX_set_app_data(ctx, self.get());
  if (!setProtocols(ctx, settings.protocols, error)) return nullptr;
  if (SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1) {
    error = {TlsSettingKind::Ciphers, -1,
             "no usable TLSv1.2 cipher in '" + settings.ciphers + "': " + takeOpenSslError("")};
    return nullptr;
  }
  // Client-initiated renegotiation is a CPU exhaustion lever and HTTP/1.1 never needs it.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               (settings.session_tickets ? 0 : SSL_OP_NO_TICKET));
  if (settings.release_buffers) SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // 0-RTT off: replayable requests are not worth one round trip on an edge proxy.
  SSL_CTX_set_max_early_data(ctx, 0);
  // One TLSv1.3 ticket per handshake instead of OpenSSL's two: a client resumes with one.
  SSL_CTX_set_num_tickets(ctx, 1);

  const TlsCertificate& first = self->certificates_.front();
  if (SSL_CTX_use_cert_and_key(ctx, first.leaf(), first.key(), first.chain(), 1) != 1) {
    error = {TlsSettingKind::Certificate, 0, first.certPath() + ": " + takeOpenSslError("unusable")};
    return nullptr;
  }
  SSL_CTX_set_tlsext_servername_callback(ctx, &TlsServerContext::onServerName);

  auto wire = alpnWireFormat(settings.alpn);
  if (!wire) {
    error = {TlsSettingKind::Other, -1, "ALPN protocol names must be 1..255 bytes"};
    return nullptr;
  }
  self->alpn_wire_ = std::move(*wire);
  SSL_CTX_set_alpn_select_cb(ctx, &TlsServerContext::onAlpn, nullptr);

  // The session cache is OpenSSL's, on the SSL_CTX every worker shares; OpenSSL guards it with
  // the context's own lock (ssl_sess.c takes session_ctx->lock around lookups and inserts).
  static constexpr unsigned char kSessionContext[] = "edged";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, static_cast<long>(settings.session_cache_size));
  SSL_CTX_set_timeout(ctx, static_cast<long>(settings.session_timeout.count()));
  if (settings.session_tickets) {
    if (!ticket_keys) {
      // Keys older than the session timeout can only decrypt tickets that expired anyway.
      const auto rotation = settings.ticket_key_rotation.count() > 0 ? settings.ticket_key_rotation
                                                                       : std::chrono::seconds(3600);
      const size_t keep = static_cast<size_t>(settings.session_timeout / rotation) + 2;
      ticket_keys = std::make_shared<TicketKeyRing>(rotation, keep);
    }
    self->ticket_keys_ = std::move(ticket_keys);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TlsServerContext::onTicketKey);
  }

  if (!settings.client_ca.empty()) {
    std::string why;
    if (!readable(settings.client_ca, why)) {
      error = {TlsSettingKind::ClientCa, -1, why};
      return nullptr;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca.c_str());
    if (!names || SSL_CTX_load_verify_locations(ctx, settings.client_ca.c_str(), nullptr) != 1) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      error = {TlsSettingKind::ClientCa, -1,
               settings.client_ca + ": no PEM certificate found"};
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  ERR_clear_error();
  error = TlsLoadError{};
  return self;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsEngine> TlsServerContext::newEngine() {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  return std::make_unique<TlsEngine>(ssl, true, shared_from_this());
}

const TlsCertificate& TlsServerContext::certificateFor(std::string_view host) const {
  for (const TlsCertificate& c : certificates_) {
    if (c.matchesExactly(host)) return c;
  }
  for (const TlsCertificate& c : certificates_) {
    if (c.matchesWildcard(host)) return c;
  }
  return certificates_.front();
}

int64_t TlsServerContext::secondsUntilExpiry(size_t index, std::time_t now) const {
  return static_cast<int64_t>(certificates_.at(index).notAfter()) - static_cast<int64_t>(now);
}

int TlsServerContext::onServerName(SSL* ssl, int* alert, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_NOACK;
  auto* self = static_cast<TlsServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const TlsCertificate& chosen = self->certificateFor(lowerAscii(name));
  if (&chosen != &self->certificates_.front()) {
    // Clear first: an ECDSA certificate set beside the default RSA one would leave OpenSSL free to
    // pick the RSA one (for another name) by the client's signature algorithms.
    SSL_certs_clear(ssl);
    if (SSL_use_cert_and_key(ssl, chosen.leaf(), chosen.key(), chosen.chain(), 1) != 1) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

int TlsServerContext::onAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                             const unsigned char* in, unsigned int in_length, void*) {
  auto* self = static_cast<TlsServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  unsigned char* selected = nullptr;
  // Server order decides; a client that offers nothing we speak gets the RFC 7301
  // no_application_protocol alert (as nginx does) rather than a protocol it did not ask for.
  if (SSL_select_next_proto(&selected, out_length,
                            reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
                            static_cast<unsigned int>(self->alpn_wire_.size()), in,
                            in_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

int TlsServerContext::onTicketKey(SSL* ssl, unsigned char* name, unsigned char* iv,
                                  EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  auto* self = static_cast<TlsServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (encrypt) {
    TicketKey key = self->ticket_keys_->current();
    std::memcpy(name, key.name.data(), key.name.size());
    const int iv_length = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
    const bool ok = RAND_bytes(iv, iv_length) == 1 &&
                    EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv) == 1 &&
                    setTicketMacKey(mac, key);
    OPENSSL_cleanse(&key, sizeof key);
    return ok ? 1 : -1;
  }
  bool is_current = false;
  auto key = self->ticket_keys_->find(name, &is_current);
  if (!key) return 0;  // unknown or retired key: a full handshake, and a new ticket
  const bool ok = setTicketMacKey(mac, *key) &&
                  EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv) == 1;
  OPENSSL_cleanse(&*key, sizeof *key);
  if (!ok) return -1;
  return is_current ? 1 : 2;  // 2: valid, but issue a ticket under the current key
}

}  // namespace edged::net::tls
