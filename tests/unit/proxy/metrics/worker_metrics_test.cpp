// tests/unit/proxy/metrics/worker_metrics_test.cpp — Layout label resolution and one worker's
// recording into its flat arrays.
#include <doctest.h>

#include <cstdint>

#include "proxy/metrics/layout.h"
#include "proxy/metrics/worker_metrics.h"
#include "tests/unit/proxy/metrics/test_config.h"

namespace edged::metrics {
namespace {

TEST_SUITE("metrics/layout") {
  TEST_CASE("labels come from the config: host + prefix, upstream name, address text") {
    const Layout layout(test::sampleConfig());
    REQUIRE(layout.routeCount() == 3);
    CHECK(layout.routeSlots() == 4);
    CHECK(layout.routeLabel(0) == "/");
    CHECK(layout.routeLabel(1) == "www.example.com/");
    CHECK(layout.routeLabel(2) == "/api/");
    CHECK(layout.unmatchedRoute() == 3);
    CHECK(layout.routeLabel(layout.unmatchedRoute()) == "unmatched");

    REQUIRE(layout.upstreamCount() == 2);
    CHECK(layout.upstreamLabel(0) == "web");
    CHECK(layout.upstreamLabel(1) == "api");
    CHECK(layout.serverCount(0) == 2);
    CHECK(layout.serverCount(1) == 1);
    CHECK(layout.totalServers() == 3);
    CHECK(layout.serverLabel(0, 1) == "10.0.0.2:80");
    CHECK(layout.serverLabel(1, 0) == "127.0.0.1:9000");
    CHECK(layout.serverSlot(0, 0) == 0);
    CHECK(layout.serverSlot(0, 1) == 1);
    CHECK(layout.serverSlot(1, 0) == 2);

    REQUIRE(layout.listenerCount() == 2);
    CHECK(layout.listenerLabel(1) == "[::1]:8443");
  }

  TEST_CASE("the layout keeps its own copies of the labels") {
    auto config = std::make_unique<conf::Config>(test::sampleConfig());
    const Layout layout(*config);
    config.reset();
    CHECK(layout.routeLabel(2) == "/api/");
    CHECK(layout.serverLabel(0, 0) == "10.0.0.1:80");
  }

  TEST_CASE("labels repeated in a hand-built config are made unique") {
    conf::Config c = test::sampleConfig();
    c.routes.push_back(c.routes[2]);
    c.upstreams[0].servers.push_back(c.upstreams[0].servers[0]);
    const Layout layout(c);
    CHECK(layout.routeLabel(2) == "/api/");
    CHECK(layout.routeLabel(3) == "/api/#3");
    CHECK(layout.serverLabel(0, 2) == "10.0.0.1:80#2");
    CHECK(layout.serverLabel(1, 0) == "127.0.0.1:9000");  // other upstream: its own label space
  }

  TEST_CASE("an empty config still has the unmatched route") {
    const Layout layout(conf::Config{});
    CHECK(layout.routeSlots() == 1);
    CHECK(layout.upstreamCount() == 0);
    CHECK(layout.totalServers() == 0);
    CHECK(layout.listenerCount() == 0);
  }
}

TEST_SUITE("metrics/worker_metrics") {
  TEST_CASE("a fresh worker reads zero everywhere") {
    const Layout layout(test::sampleConfig());
    const WorkerMetrics w(layout);
    CHECK(w.routeSlots() == 4);
    CHECK(w.totalServers() == 3);
    for (size_t r = 0; r < layout.routeSlots(); ++r) {
      CHECK(w.requests(r, Method::Get, 1) == 0);
      CHECK(w.durationSumNs(r) == 0);
      for (size_t b = 0; b < kBucketCount; ++b) CHECK(w.durationBucket(r, b) == 0);
    }
    CHECK(w.tunnelsActiveRaw() == 0);
  }

  TEST_CASE("request: counter by route/method/class, duration bucket and sum, bytes") {
    const Layout layout(test::sampleConfig());
    WorkerMetrics w(layout);
    w.request(2, Method::Post, 201, 3'000'000, 100, 2000);
    w.request(2, Method::Post, 204, 20'000'000, 50, 0);
    w.request(2, Method::Get, 503, 40'000'000'000, 10, 20);
    w.request(layout.unmatchedRoute(), Method::Other, 404, 100, 5, 6);

    CHECK(w.requests(2, Method::Post, 1) == 2);
    CHECK(w.requests(2, Method::Get, 4) == 1);
    CHECK(w.requests(2, Method::Get, 1) == 0);
    CHECK(w.requests(0, Method::Post, 1) == 0);
    CHECK(w.requests(3, Method::Other, 3) == 1);
    CHECK(w.durationBucket(2, 2) == 1);   // 3 ms -> le 0.005
    CHECK(w.durationBucket(2, 4) == 1);   // 20 ms -> le 0.025
    CHECK(w.durationBucket(2, 14) == 1);  // 40 s -> +Inf
    CHECK(w.durationSumNs(2) == 40'023'000'000);
    CHECK(w.requestBytes(2) == 160);
    CHECK(w.responseBytes(2) == 2020);
    CHECK(w.requestBytes(3) == 5);
  }

  TEST_CASE("upstream records land on the right server slot") {
    const Layout layout(test::sampleConfig());
    WorkerMetrics w(layout);
    w.upstreamResponse(layout.serverSlot(0, 1), 200, 2'000'000);
    w.upstreamResponse(layout.serverSlot(1, 0), 502, 1);
    w.upstreamConnect(layout.serverSlot(0, 1), 500'000);
    w.upstreamFailure(layout.serverSlot(0, 0), FailureReason::ReadTimeout);
    w.upstreamFailure(layout.serverSlot(0, 0), FailureReason::ReadTimeout);
    w.retry(1);
    w.panic(0);
    w.poolIdle(layout.serverSlot(0, 1), +1);
    w.poolIdle(layout.serverSlot(0, 1), +1);
    w.poolIdle(layout.serverSlot(0, 1), -1);

    const size_t s01 = layout.serverSlot(0, 1), s10 = layout.serverSlot(1, 0);
    CHECK(w.upstreamRequests(s01, 1) == 1);
    CHECK(w.upstreamRequests(s10, 4) == 1);
    CHECK(w.upstreamResponseBucket(s01, 1) == 1);
    CHECK(w.upstreamResponseSumNs(s01) == 2'000'000);
    CHECK(w.upstreamConnectBucket(s01, 0) == 1);
    CHECK(w.upstreamConnectSumNs(s01) == 500'000);
    CHECK(w.upstreamFailures(layout.serverSlot(0, 0), FailureReason::ReadTimeout) == 2);
    CHECK(w.upstreamFailures(layout.serverSlot(0, 0), FailureReason::ConnectFailed) == 0);
    CHECK(w.retries(1) == 1);
    CHECK(w.retries(0) == 0);
    CHECK(w.panics(0) == 1);
    CHECK(w.panics(1) == 0);
    CHECK(static_cast<int64_t>(w.poolIdleRaw(s01)) == 1);
  }

  TEST_CASE("gauges go below zero in modular form; counters only grow") {
    const Layout layout(test::sampleConfig());
    WorkerMetrics w(layout);
    w.connectionOpened(1);
    w.connectionOpened(1);
    w.connectionClosed(1);
    CHECK(static_cast<int64_t>(w.connectionsActiveRaw(1)) == 1);
    CHECK(w.connectionsTotal(1) == 2);
    w.tunnelClosed();  // another worker would have the matching open: the sum is what counts
    CHECK(static_cast<int64_t>(w.tunnelsActiveRaw()) == -1);
    w.tunnelOpened();
    w.tunnelOpened();
    CHECK(static_cast<int64_t>(w.tunnelsActiveRaw()) == 1);
    w.compression(Algorithm::Brotli, 1000, 300);
    w.compression(Algorithm::Brotli, 10, 5);
    CHECK(w.compressionIn(Algorithm::Brotli) == 1010);
    CHECK(w.compressionOut(Algorithm::Brotli) == 305);
    CHECK(w.compressionIn(Algorithm::Gzip) == 0);
  }

  TEST_CASE("an upstream with no servers and a config with no listeners are fine") {
    conf::Config c = test::sampleConfig();
    c.upstreams[0].servers.clear();
    c.listeners.clear();
    const Layout layout(c);
    WorkerMetrics w(layout);
    w.upstreamResponse(layout.serverSlot(1, 0), 200, 1);
    CHECK(w.upstreamRequests(layout.serverSlot(1, 0), 1) == 1);
  }
}

}  // namespace
}  // namespace edged::metrics

namespace edged::metrics {
namespace {

TEST_SUITE("metrics/reload") {
  TEST_CASE("a layout built on its predecessor keeps the slots of labels that stay") {
    const Layout first(test::sampleConfig());
    conf::Config next = test::sampleConfig();
    // Drop route "/" and server 10.0.0.1; add route "/new/", server 10.0.0.3 and a listener.
    next.routes.erase(next.routes.begin());
    conf::RouteConfig added;
    added.prefix = "/new/";
    added.upstream = "api";
    added.upstream_index = 1;
    next.routes.push_back(added);
    next.upstreams[0].servers.erase(next.upstreams[0].servers.begin());
    next.upstreams[0].servers.push_back(conf::ServerConfig{test::address("10.0.0.3:80")});
    next.listeners.push_back({test::address("127.0.0.1:9999"), 511});
    const Layout second(next, &first);

    // "www.example.com/" was route 1, now route 0; "/api/" was 2, now 1: same slots.
    CHECK(second.routeSlot(0) == first.routeSlot(1));
    CHECK(second.routeSlot(1) == first.routeSlot(2));
    CHECK(second.routeSlot(2) == 4);  // new: after the 3 routes and "unmatched"
    CHECK(second.routeSlot(second.unmatchedRoute()) == first.routeSlot(first.unmatchedRoute()));
    CHECK(second.routeCapacity() == 5);
    // web's 10.0.0.2 moved from position 1 to 0 and keeps its slot; 10.0.0.3 is new.
    CHECK(second.serverSlot(0, 0) == first.serverSlot(0, 1));
    CHECK(second.serverSlot(0, 1) == 3);
    CHECK(second.serverSlot(1, 0) == first.serverSlot(1, 0));
    CHECK(second.serverCapacity() == 4);
    CHECK(second.listenerSlot(2) == 2);
    CHECK(second.upstreamSlot(1) == first.upstreamSlot(1));

    // A label that comes back gets its old slot again (its counts continue).
    const Layout third(test::sampleConfig(), &second);
    CHECK(third.routeSlot(0) == first.routeSlot(0));
    CHECK(third.serverSlot(0, 0) == first.serverSlot(0, 0));
    CHECK(third.routeCapacity() == 5);
  }

  TEST_CASE("a server keeps its slot only within its upstream") {
    const Layout first(test::sampleConfig());
    conf::Config next = test::sampleConfig();
    next.upstreams[1].name = "api2";  // same address, another upstream: another series
    const Layout second(next, &first);
    CHECK(second.serverSlot(1, 0) != first.serverSlot(1, 0));
    CHECK(second.upstreamSlot(1) == 2);
  }

  TEST_CASE("adopt grows the cells and keeps every count; slots beyond a worker read 0") {
    const Layout first(test::sampleConfig());
    WorkerMetrics w(first);
    w.request(first.routeSlot(2), Method::Get, 200, 1000, 10, 20);
    w.upstreamResponse(first.serverSlot(0, 1), 200, 5);
    w.retry(first.upstreamSlot(1));
    w.panic(first.upstreamSlot(1));
    w.connectionOpened(first.listenerSlot(1));
    w.poolIdle(first.serverSlot(1, 0), +1);
    w.tunnelOpened();
    w.compression(Algorithm::Gzip, 7, 3);

    conf::Config next = test::sampleConfig();
    next.upstreams[0].servers.push_back(conf::ServerConfig{test::address("10.0.0.9:80")});
    conf::RouteConfig added;
    added.prefix = "/x/";
    next.routes.push_back(added);
    next.listeners.push_back({test::address("127.0.0.1:1"), 511});
    const Layout second(next, &first);
    const size_t new_server = second.serverSlot(0, 2);
    CHECK(w.upstreamRequests(new_server, 1) == 0);  // not adopted yet: reads 0, no overflow
    w.adopt(second);
    CHECK(w.routeSlots() == second.routeCapacity());
    CHECK(w.totalServers() == second.serverCapacity());
    CHECK(w.requests(first.routeSlot(2), Method::Get, 1) == 1);
    CHECK(w.requestBytes(first.routeSlot(2)) == 10);
    CHECK(w.upstreamRequests(first.serverSlot(0, 1), 1) == 1);
    CHECK(w.upstreamResponseSumNs(first.serverSlot(0, 1)) == 5);
    CHECK(w.retries(first.upstreamSlot(1)) == 1);
    CHECK(w.panics(first.upstreamSlot(1)) == 1);
    CHECK(w.connectionsTotal(first.listenerSlot(1)) == 1);
    CHECK(static_cast<int64_t>(w.poolIdleRaw(first.serverSlot(1, 0))) == 1);
    CHECK(static_cast<int64_t>(w.tunnelsActiveRaw()) == 1);
    CHECK(w.compressionIn(Algorithm::Gzip) == 7);
    w.upstreamResponse(new_server, 503, 1);
    CHECK(w.upstreamRequests(new_server, 4) == 1);
    w.connectionOpened(second.listenerSlot(2));
    CHECK(w.connectionsTotal(second.listenerSlot(2)) == 1);
    w.adopt(first);  // never shrinks
    CHECK(w.upstreamRequests(new_server, 4) == 1);
  }
}

}  // namespace
}  // namespace edged::metrics

namespace edged::metrics {
namespace {
TEST_SUITE("metrics/reload") {
  TEST_CASE("labels are read by position whatever the slots") {
    const Layout first(test::sampleConfig());
    conf::Config next = test::sampleConfig();
    next.upstreams.erase(next.upstreams.begin());  // "api" is now upstream 0, slot 1
    next.routes.erase(next.routes.begin(), next.routes.begin() + 2);
    next.routes[0].upstream_index = 0;
    const Layout second(next, &first);
    CHECK(second.upstreamLabel(0) == "api");
    CHECK(second.serverLabel(0, 0) == "127.0.0.1:9000");
    CHECK(second.serverSlot(0, 0) == 2);
    CHECK(second.routeLabel(0) == "/api/");
    CHECK(second.routeLabel(second.unmatchedRoute()) == "unmatched");
  }
}
}  // namespace
}  // namespace edged::metrics
