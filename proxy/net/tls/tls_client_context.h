// proxy/net/tls/tls_client_context.h — the client side of TLS toward one upstream (https
// origins, health checks): trust, SNI, host name verification and session reuse per server.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/net/tls/tls_engine.h"
#include "proxy/net/tls/tls_settings.h"

namespace edged::net::tls {

class TlsClientContext : public std::enable_shared_from_this<TlsClientContext> {
 public:
  static std::shared_ptr<TlsClientContext> create(const TlsClientSettings& settings,
                                                  TlsLoadError& error);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // A client engine toward `host` (a DNS name or an IP literal). The name sent as SNI and
  // verified against the certificate is settings.sni when set, else `host` (IP literals are
  // verified as addresses and send no SNI). `server_key` (e.g. "10.0.0.5:443") picks the session
  // to resume: the last one that server gave us for that name; empty = no resumption. Callable
  // from any thread.
  std::unique_ptr<TlsEngine> newEngine(std::string_view host, std::string_view server_key);

  size_t cachedSessions() const;
  void forgetSessions();
  SSL_CTX* sslContext() const { return ctx_; }

 private:
  TlsClientContext() = default;
  static int onNewSession(SSL* ssl, SSL_SESSION* session);

  SSL_CTX* ctx_ = nullptr;
  std::string sni_;
  bool verify_ = true;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, SSL_SESSION*> sessions_;  // owned references
};

}  // namespace edged::net::tls
