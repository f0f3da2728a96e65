// tests/unit/net/tls/tls_memory_test.cpp — heap bytes an idle, established server engine holds,
// with and without SSL_MODE_RELEASE_BUFFERS. A measurement, not a check: skipped by default (and
// meaningless under ASan, whose allocator mallinfo2 does not see); run it from a build without
// sanitizers with `-tc='tls memory*' --no-skip`.
#include <doctest.h>
#include <malloc.h>

#include <cstdio>
#include <string>
#include <vector>

#include "proxy/net/tls/tls.h"
#include "tests/unit/net/tls/tls_test_support.h"

namespace edged::net::tls {
namespace {

using namespace test;

size_t heapInUse() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

// Bytes per server engine left idle after a full handshake (client gone, its output drained).
double bytesPerIdleEngine(bool release_mode, bool call_release, int engines, uint8_t protocols,
                          long* cached_sessions) {
  TlsServerSettings settings = serverSettings({"ec"});
  settings.release_buffers = release_mode;
  settings.protocols = protocols;
  auto server = serverContext(settings);
  TlsClientSettings client_settings = clientSettings();
  client_settings.verify = false;
  auto client = clientContext(client_settings);
  std::vector<std::unique_ptr<TlsEngine>> idle;
  idle.reserve(static_cast<size_t>(engines));
  {  // warm up OpenSSL's lazily built tables so they are not charged to the engines
    EnginePair warm = connect(*client, *server, "ec.example.com", "");
  }
  const size_t before = heapInUse();
  for (int i = 0; i < engines; ++i) {
    EnginePair pair = connect(*client, *server, "ec.example.com", "");  // "": no client session kept
    REQUIRE(pair.server->state() == TlsEngine::State::Open);
    if (call_release) pair.server->releaseBuffers();
    idle.push_back(std::move(pair.server));
  }
  const size_t after = heapInUse();
  *cached_sessions = SSL_CTX_sess_number(server->sslContext());
  return (static_cast<double>(after) - static_cast<double>(before)) / engines;
}

TEST_CASE("tls memory: bytes per idle established server engine" * doctest::skip()) {
  constexpr int kEngines = 1000;
  for (uint8_t protocols : {uint8_t{kTls13}, uint8_t{kTls12}}) {
    const char* name = protocols == kTls13 ? "TLSv1.3" : "TLSv1.2";
    long cached = 0;
    const double released = bytesPerIdleEngine(true, false, kEngines, protocols, &cached);
    std::printf("%s SSL_MODE_RELEASE_BUFFERS on : %8.0f bytes/engine (server cache: %ld sessions)\n", name,
                released, cached);
    const double kept = bytesPerIdleEngine(false, false, kEngines, protocols, &cached);
    std::printf("%s SSL_MODE_RELEASE_BUFFERS off: %8.0f bytes/engine (server cache: %ld sessions)\n", name,
                kept, cached);
    const double explicit_release = bytesPerIdleEngine(false, true, kEngines, protocols, &cached);
    std::printf("%s off + releaseBuffers()      : %8.0f bytes/engine\n", name, explicit_release);
    CHECK(released < kept);
  }
}

}  // namespace
}  // namespace edged::net::tls
