// proxy/net/tls/tls_certificate.h — one loaded certificate chain with its private key, the DNS
// names it serves (SAN, else CN) and its expiry.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/net/tls/tls_settings.h"

namespace edged::net::tls {

class TlsCertificate {
 public:
  // Reads the chain (leaf first) and the key; checks that they match and that the leaf has not
  // expired at `now`. Errors name the file and what is wrong.
  static std::optional<TlsCertificate> load(const TlsCertificateFiles& files, std::time_t now,
                                            TlsLoadError& error);

  TlsCertificate(TlsCertificate&&) noexcept;
  TlsCertificate& operator=(TlsCertificate&&) = delete;
  ~TlsCertificate();

  X509* leaf() const { return leaf_; }
  STACK_OF(X509)* chain() const { return chain_; }
  EVP_PKEY* key() const { return key_; }
  // Lower case DNS names; wildcards kept as "*.example.com".
  const std::vector<std::string>& names() const { return names_; }
  std::time_t notAfter() const { return not_after_; }
  const std::string& certPath() const { return cert_path_; }
  // True when `host` (lower case) is one of names() exactly / through a one-label wildcard.
  bool matchesExactly(std::string_view host) const;
  bool matchesWildcard(std::string_view host) const;

 private:
  TlsCertificate() = default;
  X509* leaf_ = nullptr;
  STACK_OF(X509)* chain_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  std::vector<std::string> names_;
  std::time_t not_after_ = 0;
  std::string cert_path_;
};

// The first queued OpenSSL error as text, then clears the queue; `fallback` when there is none.
std::string takeOpenSslError(std::string_view fallback);

}  // namespace edged::net::tls
