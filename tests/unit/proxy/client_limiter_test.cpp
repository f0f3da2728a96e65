// tests/unit/proxy/client_limiter_test.cpp — the leaky bucket (rate, burst, drain), connection
// counts, per-client separation, the memory bound, and several threads on one table.
#include <doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "proxy/client_limiter.h"

namespace edged::proxy {
namespace {

IpAddress ip(const char* text) { return *parseIpAddress(text); }

TEST_SUITE("proxy/client_limiter") {

TEST_CASE("rate 10/s, burst 5: 1 + 5 at once, then one per 100 ms") {
  ClientLimits l;
  l.rate_per_second = 10;
  l.burst = 5;
  ClientLimiter lim(l);
  const IpAddress a = ip("192.0.2.1");
  int ok = 0;
  for (int i = 0; i < 20; ++i) ok += lim.allowRequest(a, 1000);
  CHECK(ok == 6);
  CHECK_FALSE(lim.allowRequest(a, 1050));  // half a request drained: not yet
  CHECK(lim.allowRequest(a, 1100));
  CHECK_FALSE(lim.allowRequest(a, 1100));
  // A long pause empties the bucket: a full burst again.
  ok = 0;
  for (int i = 0; i < 20; ++i) ok += lim.allowRequest(a, 60000);
  CHECK(ok == 6);
  // Another client has its own bucket.
  CHECK(lim.allowRequest(ip("192.0.2.2"), 1100));
}

TEST_CASE("rate 30/m: one per 2 s; Retry-After; a reload's new limits apply at once") {
  ClientLimits l;
  l.rate_per_minute = 30;
  ClientLimiter lim(l);
  const IpAddress a = ip("192.0.2.1");
  CHECK(lim.allowRequest(a, 1000));
  CHECK_FALSE(lim.allowRequest(a, 2000));
  CHECK(lim.allowRequest(a, 3000));
  CHECK(lim.retryAfterSeconds() == 2);
  l.rate_per_minute = 0;
  l.rate_per_second = 100;
  l.burst = 3;
  lim.update(l);
  CHECK(lim.retryAfterSeconds() == 1);
  int ok = 0;
  for (int i = 0; i < 10; ++i) ok += lim.allowRequest(a, 3000);
  CHECK(ok == 3);  // the bucket was empty at 3000 ms: burst 3 lets 3 through at one instant
  // Connections: counted while the limit is on, released after a reload turned it off.
  l.connections = 1;
  lim.update(l);
  CHECK(lim.acquireConnection(a));
  l.connections = 0;
  lim.update(l);
  lim.releaseConnection(a);
  l.connections = 1;
  lim.update(l);
  CHECK(lim.acquireConnection(a));
}

TEST_CASE("keyOf: header values as keys, apart from every IPv4 client") {
  const IpAddress k1 = ClientLimiter::keyOf("api-key-1");
  CHECK(k1 == ClientLimiter::keyOf("api-key-1"));
  CHECK_FALSE(k1 == ClientLimiter::keyOf("api-key-2"));
  CHECK_FALSE(k1.isV4());
  CHECK_FALSE(ClientLimiter::keyOf("").isV4());
}

TEST_CASE("burst 0: exactly the rate") {
  ClientLimits l;
  l.rate_per_second = 2;
  ClientLimiter lim(l);
  const IpAddress a = ip("2001:db8::1");
  CHECK(lim.allowRequest(a, 0));
  CHECK_FALSE(lim.allowRequest(a, 499));
  CHECK(lim.allowRequest(a, 500));
  CHECK_FALSE(lim.allowRequest(a, 600));
  CHECK(lim.allowRequest(a, 1000));
  // Refused requests add nothing: a client that hammers still gets the rate.
  int ok = 0;
  for (uint64_t t = 1000; t < 11000; t += 10) ok += lim.allowRequest(a, t);
  CHECK(ok == 19);  // 1500, 2000, ..., 10500
}

TEST_CASE("no rate: every request passes") {
  ClientLimiter lim(ClientLimits{});
  for (int i = 0; i < 1000; ++i) CHECK(lim.allowRequest(ip("192.0.2.1"), 0));
  CHECK(lim.trackedClients() == 0);
}

TEST_CASE("connections per client") {
  ClientLimits l;
  l.connections = 2;
  ClientLimiter lim(l);
  const IpAddress a = ip("192.0.2.1");
  CHECK(lim.acquireConnection(a));
  CHECK(lim.acquireConnection(a));
  CHECK_FALSE(lim.acquireConnection(a));
  CHECK(lim.acquireConnection(ip("192.0.2.9")));
  lim.releaseConnection(a);
  CHECK(lim.acquireConnection(a));
  lim.releaseConnection(ip("198.51.100.1"));  // never acquired: ignored
}

TEST_CASE("the table stays within max_clients; clients holding connections are kept") {
  ClientLimits l;
  l.rate_per_second = 1;
  l.burst = 0;
  l.connections = 1;
  l.max_clients = 64;  // one per shard
  ClientLimiter lim(l);
  const IpAddress keep = ip("10.0.0.1");
  REQUIRE(lim.acquireConnection(keep));
  for (int i = 0; i < 5000; ++i) {
    IpAddress a = ip("10.1.0.0");
    a.bytes[14] = static_cast<uint8_t>(i >> 8);
    a.bytes[15] = static_cast<uint8_t>(i);
    lim.allowRequest(a, static_cast<uint64_t>(i));
  }
  CHECK(lim.trackedClients() <= 64 + 1);
  CHECK_FALSE(lim.acquireConnection(keep));  // still counted
}

TEST_CASE("several threads: the total admitted equals the limit") {
  ClientLimits l;
  l.rate_per_second = 1;
  l.burst = 99;
  ClientLimiter lim(l);
  const IpAddress a = ip("192.0.2.1");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) ok += lim.allowRequest(a, 5);
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 100);
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::proxy
