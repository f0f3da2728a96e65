// proxy/net/tls/tls_client_context.cpp — SSL_CTX setup toward origins and the last-session store.
#include "proxy/net/tls/tls_client_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "proxy/net/tls/tls_certificate.h"
#include "proxy/net/tls/tls_server_context.h"

namespace edged::net::tls {

namespace {

bool isIpLiteral(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

}  // namespace

std::shared_ptr<TlsClientContext> TlsClientContext::create(const TlsClientSettings& settings,
                                                           TlsLoadError& error) {
  ERR_clear_error();
  std::shared_ptr<TlsClientContext> self(new TlsClientContext());
  self->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!self->ctx_) {
    error = {TlsSettingKind::Other, -1, "SSL_CTX_new: " + takeOpenSslError("failed")};
    return nullptr;
  }
  SSL_CTX* ctx = self->ctx_;
  SSL_CTX_set_app_data(ctx, self.get());
  self->sni_ = settings.sni;
  self->verify_ = settings.verify;
  if ((settings.protocols & (kTls12 | kTls13)) == 0) {
    error = {TlsSettingKind::Protocols, -1, "no protocol enabled (use TLSv1.2 and/or TLSv1.3)"};
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, (settings.protocols & kTls12) ? TLS1_2_VERSION : TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, (settings.protocols & kTls13) ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1) {
    error = {TlsSettingKind::Ciphers, -1,
             "no usable TLSv1.2 cipher in '" + settings.ciphers + "': " + takeOpenSslError("")};
    return nullptr;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

  if (settings.verify) {
    if (!settings.ca_file.empty()) {
      FILE* f = std::fopen(settings.ca_file.c_str(), "re");
      if (!f) {
        error = {TlsSettingKind::CaFile, -1, "cannot read " + settings.ca_file + ": " + std::strerror(errno)};
        return nullptr;
      }
      std::fclose(f);
      if (SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr) != 1) {
        error = {TlsSettingKind::CaFile, -1,
                 settings.ca_file + ": no PEM certificate found"};
        return nullptr;
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      error = {TlsSettingKind::CaFile, -1, "cannot load the system trust store: " + takeOpenSslError("")};
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }

  if (!settings.client_cert.empty()) {
    auto certificate = TlsCertificate::load({settings.client_cert, settings.client_key},
                                            std::time(nullptr), error);
    if (!certificate) return nullptr;
    if (SSL_CTX_use_cert_and_key(ctx, certificate->leaf(), certificate->key(), certificate->chain(), 1) != 1) {
      error = {TlsSettingKind::Certificate, -1, settings.client_cert + ": " + takeOpenSslError("unusable")};
      return nullptr;
    }
  }

  auto wire = alpnWireFormat(settings.alpn);
  if (!wire) {
    error = {TlsSettingKind::Other, -1, "ALPN protocol names must be 1..255 bytes"};
    return nullptr;
  }
  // Note: SSL_CTX_set_alpn_protos returns 0 on success.
  if (!wire->empty() &&
      SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire->data()),
                              static_cast<unsigned int>(wire->size())) != 0) {
    error = {TlsSettingKind::Other, -1, "ALPN: " + takeOpenSslError("rejected")};
    return nullptr;
  }

  // Sessions are kept here, one per server, not in OpenSSL's client cache (which has no lookup
  // by server): the new-session callback stores, newEngine() offers it back.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &TlsClientContext::onNewSession);
  ERR_clear_error();
  error = TlsLoadError{};
  return self;
}

TlsClientContext::~TlsClientContext() {
  forgetSessions();
  SSL_CTX_free(ctx_);
}

std::unique_ptr<TlsEngine> TlsClientContext::newEngine(std::string_view host, std::string_view server_key) {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  auto engine = std::make_unique<TlsEngine>(ssl, false, shared_from_this());
  const std::string name = sni_.empty() ? std::string(host) : sni_;
  if (isIpLiteral(name)) {
    if (verify_) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, name.c_str());
    if (verify_) SSL_set1_host(ssl, name.c_str());
  }
  // A session belongs to a server and the name it was verified for: never offer one made for
  // another name (a resumed handshake sends no certificate to check the new name against).
  if (!server_key.empty()) engine->setSessionKey(std::string(server_key) + "|" + name);
  {
    std::lock_guard lock(mutex_);
    const auto it = sessions_.find(engine->sessionKey());
    if (it != sessions_.end()) SSL_set_session(ssl, it->second);
  }
  ERR_clear_error();
  return engine;
}

int TlsClientContext::onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* engine = static_cast<TlsEngine*>(SSL_get_app_data(ssl));
  if (!engine || engine->sessionKey().empty() || !SSL_SESSION_is_resumable(session)) return 0;
  std::lock_guard lock(self->mutex_);
  SSL_SESSION*& slot = self->sessions_[engine->sessionKey()];
  if (slot) SSL_SESSION_free(slot);
  slot = session;
  return 1;  // we keep the reference OpenSSL handed us
}

size_t TlsClientContext::cachedSessions() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void TlsClientContext::forgetSessions() {
  std::lock_guard lock(mutex_);
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
  sessions_.clear();
}

}  // namespace edged::net::tls
