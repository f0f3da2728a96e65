// proxy/net/tls/tls_settings.h — what a TLS context is built from (plain values, no OpenSSL), and
// the error value a failed load returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace edged::net::tls {

// Protocol versions as a bit mask. TLSv1.0 and TLSv1.1 are not representable on purpose.
enum TlsProtocol : uint8_t {
  kTls12 = 1u << 0,
  kTls13 = 1u << 1,
};

// Mozilla "intermediate": ECDHE key exchange and AEAD ciphers only. TLSv1.3 suites are OpenSSL's
// defaults (all AEAD).
inline constexpr const char* kDefaultTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct TlsCertificateFiles {
  std::string cert;  // PEM: the leaf first, then its intermediates
  std::string key;   // PEM private key (RSA or EC), unencrypted
};

struct TlsServerSettings {
  std::vector<TlsCertificateFiles> certificates;  // at least one; the first is the default
  uint8_t protocols = kTls12 | kTls13;
  std::string ciphers = kDefaultTls12Ciphers;  // TLSv1.2 list, OpenSSL syntax
  bool session_tickets = true;
  std::chrono::seconds session_timeout{300};   // nginx ssl_session_timeout default
  std::chrono::seconds ticket_key_rotation{3600};
  size_t session_cache_size = 20480;           // sessions kept by the shared server-side cache
  std::string client_ca;                       // PEM bundle; non-empty = mutual TLS required
  // Offered by preference; "h2" joins this list when HTTP/2 lands.
  std::vector<std::string> alpn{"http/1.1"};
  // SSL_MODE_RELEASE_BUFFERS: an idle connection frees its record buffers.
  bool release_buffers = true;
};

struct TlsClientSettings {
  bool verify = true;
  std::string ca_file;   // empty = the system's default trust store
  std::string sni;       // empty = the host the engine is created for
  uint8_t protocols = kTls12 | kTls13;
  std::string ciphers = kDefaultTls12Ciphers;
  std::vector<std::string> alpn{"http/1.1"};
  std::string client_cert;  // optional client certificate (mutual TLS toward the origin)
  std::string client_key;
};

// Which setting a load failure is about, so that callers can point at it (conf positions).
enum class TlsSettingKind : uint8_t { Certificate, Key, ClientCa, Ciphers, Protocols, CaFile, Other };

struct TlsLoadError {
  TlsSettingKind kind = TlsSettingKind::Other;
  int certificate = -1;  // index into TlsServerSettings::certificates, or -1
  std::string message;
};

}  // namespace edged::net::tls
