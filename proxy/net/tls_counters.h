// proxy/net/tls_counters.h — the process's TLS handshake counters (every Transport in TLS mode
// counts into them), for the metrics exposition.
#pragma once

#include <atomic>
#include <cstdint>

namespace edged::net {

// Handshakes of every Transport in the process, by side (0 server, 1 client). Relaxed atomics:
// one increment per handshake, summed at scrape.
struct TlsHandshakeCounters {
  enum Failure : uint8_t { kPlainHttp, kNotTls, kHandshake, kClosed, kFailureCount };
  enum Version : uint8_t { kTls12, kTls13, kOtherVersion, kVersionCount };
  std::atomic<uint64_t> full[2]{};
  std::atomic<uint64_t> resumed[2]{};
  std::atomic<uint64_t> failed[2][kFailureCount]{};
  std::atomic<uint64_t> version[2][kVersionCount]{};
};
TlsHandshakeCounters& tlsHandshakeCounters();
const char* tlsFailureName(int failure);  // "plain_http", "not_tls", "handshake", "closed"

}  // namespace edged::net
