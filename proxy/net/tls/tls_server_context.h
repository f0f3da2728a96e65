// proxy/net/tls/tls_server_context.h — the server side of TLS for one listener: certificates
// picked by SNI, protocols and ciphers, ALPN, session tickets and the session cache. One instance
// is shared by every worker thread (SSL_CTX and the ticket key ring are thread-safe).
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/net/tls/ticket_key_ring.h"
#include "proxy/net/tls/tls_certificate.h"
#include "proxy/net/tls/tls_engine.h"
#include "proxy/net/tls/tls_settings.h"

namespace edged::net::tls {

class TlsServerContext : public std::enable_shared_from_this<TlsServerContext> {
 public:
  // Loads every certificate and checks every setting; null with `error` set on the first failure.
  // `now` decides expiry (injected for tests). `ticket_keys` may be shared by several contexts;
  // by default each context makes its own ring, rotated every settings.ticket_key_rotation.
  static std::shared_ptr<TlsServerContext> create(const TlsServerSettings& settings,
                                                  TlsLoadError& error,
                                                  std::time_t now = std::time(nullptr),
                                                  std::shared_ptr<TicketKeyRing> ticket_keys = {});
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // A server engine for one accepted connection. Callable from any thread.
  std::unique_ptr<TlsEngine> newEngine();

  // SNI: the certificate with `host` (lower case) among its names, else one whose wildcard
  // covers it, else the first.
  const TlsCertificate& certificateFor(std::string_view host) const;
  const std::vector<TlsCertificate>& certificates() const { return certificates_; }
  // Seconds until certificate `index` expires (negative once expired), for metrics.
  int64_t secondsUntilExpiry(size_t index, std::time_t now = std::time(nullptr)) const;

  TicketKeyRing& ticketKeys() { return *ticket_keys_; }
  // The ring itself (null with session_tickets off), for the next generation's context.
  std::shared_ptr<TicketKeyRing> sharedTicketKeys() const { return ticket_keys_; }
  SSL_CTX* sslContext() const { return ctx_; }

 private:
  TlsServerContext() = default;
  static int onServerName(SSL* ssl, int* alert, void* arg);
  static int onAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                    const unsigned char* in, unsigned int in_length, void* arg);
  static int onTicketKey(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac, int encrypt);

  SSL_CTX* ctx_ = nullptr;
  std::vector<TlsCertificate> certificates_;
  std::string alpn_wire_;  // the server's ALPN list in wire format (length-prefixed)
  std::shared_ptr<TicketKeyRing> ticket_keys_;
};

// The same helper for the client side and the server side: a list of protocol names in ALPN's
// wire format, or nullopt if a name is empty or longer than 255 bytes.
std::optional<std::string> alpnWireFormat(const std::vector<std::string>& protocols);

}  // namespace edged::net::tls
