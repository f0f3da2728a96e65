// tests/unit/net/tls/ticket_key_ring_test.cpp — rotation on schedule, how many keys stay, lookup.
#include <doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "proxy/net/tls/ticket_key_ring.h"

namespace edged::net::tls {
namespace {

using namespace std::chrono_literals;

TEST_CASE("ticket key ring: rotates when the current key is older than the period, keeps `keep`") {
  auto now = std::chrono::steady_clock::time_point{} + 1000h;
  TicketKeyRing ring(3600s, 3, [&] { return now; });
  const TicketKey first = ring.current();
  now += 59min;
  CHECK(ring.current().name == first.name);
  now += 1min;
  const TicketKey second = ring.current();
  CHECK(second.name != first.name);
  CHECK(second.aes_key != first.aes_key);
  CHECK(ring.size() == 2);
  bool is_current = true;
  REQUIRE(ring.find(first.name.data(), &is_current));
  CHECK_FALSE(is_current);
  REQUIRE(ring.find(second.name.data(), &is_current));
  CHECK(is_current);
  now += 1h;
  ring.current();
  now += 1h;
  ring.current();
  CHECK(ring.size() == 3);
  CHECK_FALSE(ring.find(first.name.data(), nullptr));  // retired after `keep` newer keys
}

TEST_CASE("ticket key ring: threads share one current key") {
  TicketKeyRing ring(3600s, 2);
  const auto name = ring.current().name;
  std::vector<std::thread> threads;
  std::atomic<int> same{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (ring.current().name == name) same.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(same.load() == 4000);
}

}  // namespace
}  // namespace edged::net::tls
