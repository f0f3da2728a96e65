// tests/unit/net/tls/tls_threads_test.cpp — one server context (SSL_CTX, session cache, ticket
// key ring) used by several threads at once, as the workers will.
#include <doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "proxy/net/tls/tls.h"
#include "tests/unit/net/tls/tls_test_support.h"

namespace edged::net::tls {
namespace {

using namespace test;

TEST_CASE("tls threads: workers share a server context; tickets made on one resume on another") {
  TlsServerSettings settings = serverSettings({"ec", "rsa"});
  auto server = serverContext(settings);
  auto client = clientContext(clientSettings());
  constexpr int kThreads = 4;
  constexpr int kHandshakes = 10;
  std::atomic<int> open{0}, resumed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kHandshakes; ++i) {
        // Every thread resumes sessions made by whichever thread ran the previous handshake.
        EnginePair pair;
        pair.client = client->newEngine(i % 2 ? "rsa.example.com" : "ec.example.com", "shared:443");
        pair.server = server->newEngine();
        pair.client->start();
        for (int round = 0; round < 20 && (pair.client->hasOutput() || pair.server->hasOutput()); ++round) {
          std::string bytes;
          pair.client->takeOutput(bytes);
          if (!bytes.empty()) pair.server->feed(bytes, pair.server_plain);
          pair.server->takeOutput(bytes);
          if (!bytes.empty()) pair.client->feed(bytes, pair.client_plain);
        }
        if (pair.server->state() == TlsEngine::State::Open && pair.client->state() == TlsEngine::State::Open) {
          open.fetch_add(1);
          if (pair.server->info().resumed) resumed.fetch_add(1);
        }
        (void)t;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(open.load() == kThreads * kHandshakes);
  CHECK(resumed.load() > 0);
}

}  // namespace
}  // namespace edged::net::tls
