// tests/unit/proxy/metrics/render_test.cpp — the whole scrape: every family with HELP and TYPE,
// output that parses, histogram invariants, merging of several workers, monotonic counters.
#include <doctest.h>

#include <atomic>
#include <cmath>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy/metrics/metrics.h"
#include "tests/unit/proxy/metrics/exposition_parser.h"
#include "tests/unit/proxy/metrics/test_config.h"

namespace edged::metrics {
namespace {

const std::vector<std::pair<std::string, std::string>> kFamilies = {
    {"edged_requests_total", "counter"},
    {"edged_request_duration_seconds", "histogram"},
    {"edged_request_bytes_total", "counter"},
    {"edged_response_bytes_total", "counter"},
    {"edged_upstream_requests_total", "counter"},
    {"edged_upstream_response_seconds", "histogram"},
    {"edged_upstream_connect_seconds", "histogram"},
    {"edged_upstream_failures_total", "counter"},
    {"edged_retries_total", "counter"},
    {"edged_upstream_panic_total", "counter"},
    {"edged_upstream_server_up", "gauge"},
    {"edged_upstream_active_requests", "gauge"},
    {"edged_upstream_pool_idle_connections", "gauge"},
    {"edged_connections_active", "gauge"},
    {"edged_connections_total", "counter"},
    {"edged_client_limited_total", "counter"},
    {"edged_websocket_tunnels_active", "gauge"},
    {"edged_compression_bytes_in_total", "counter"},
    {"edged_compression_bytes_out_total", "counter"},
    {"edged_config_reloads_total", "counter"},
    {"edged_config_last_reload_success_timestamp_seconds", "gauge"},
    {"edged_config_generation", "gauge"},
    {"edged_build_info", "gauge"},
    {"process_cpu_seconds_total", "counter"},
    {"process_resident_memory_bytes", "gauge"},
    {"process_virtual_memory_bytes", "gauge"},
    {"process_open_fds", "gauge"},
    {"process_max_fds", "gauge"},
    {"process_start_time_seconds", "gauge"},
};

ProcessState state() {
  ProcessState s;
  s.version = "0.1.0";
  s.reloads_ok = 3;
  s.reloads_failed = 1;
  s.last_reload_success_unix = 1712345678.5;
  return s;
}

test::Exposition scrape(const Layout& layout, const std::vector<const WorkerMetrics*>& workers,
                        const std::vector<ServerGauge>& servers = {},
                        const ProcessState& s = state()) {
  std::string out;
  render(layout, workers, servers, s, out);
  return test::parseExposition(out);
}

// Every histogram series: buckets cumulative and non-decreasing, le="+Inf" equal to _count, all
// 15 le values present, and a _sum alongside.
void checkHistograms(const test::Exposition& e) {
  for (const auto& [name, family] : e.families) {
    if (family.type != "histogram") continue;
    std::map<std::string, std::vector<const test::Sample*>> by_series;  // key: labels without le
    std::map<std::string, double> counts, sums;
    for (const test::Sample& s : family.samples) {
      auto labels = s.labels;
      labels.erase("le");
      std::string key;
      for (const auto& [k, v] : labels) key += k + "=" + v + ",";
      if (s.name == name + "_bucket") by_series[key].push_back(&s);
      else if (s.name == name + "_count") counts[key] = s.value;
      else if (s.name == name + "_sum") sums[key] = s.value;
      else FAIL("unexpected series " << s.name);
    }
    for (const auto& [key, buckets] : by_series) {
      CAPTURE(name);
      CAPTURE(key);
      REQUIRE(buckets.size() == kBucketCount);
      double previous = 0, previous_le = -1;
      for (size_t i = 0; i < buckets.size(); ++i) {
        const std::string& le = buckets[i]->labels.at("le");
        CHECK(le == kBucketLabels[i]);
        const double bound = le == "+Inf" ? INFINITY : std::stod(le);
        CHECK(bound > previous_le);
        previous_le = bound;
        CHECK(buckets[i]->value >= previous);
        previous = buckets[i]->value;
      }
      REQUIRE(counts.count(key) == 1);
      REQUIRE(sums.count(key) == 1);
      CHECK(buckets.back()->value == counts[key]);
      CHECK(sums[key] >= 0);
    }
  }
}

TEST_SUITE("metrics/render") {
  TEST_CASE("every family has exactly one HELP and TYPE, with the expected type, and parses") {
    const Layout layout(test::sampleConfig());
    const WorkerMetrics w(layout);
    const auto e = scrape(layout, {&w}, {{0, 0, true, 0}});
    REQUIRE(e.error == "");
    for (const auto& [name, type] : kFamilies) {
      CAPTURE(name);
      const test::Family* f = e.family(name);
      REQUIRE(f != nullptr);
      CHECK(f->type == type);
      CHECK(!f->help.empty());
    }
    CHECK(e.families.size() == kFamilies.size());  // nothing undocumented slipped in
    checkHistograms(e);
  }

  TEST_CASE("with no workers and no servers every family is still declared") {
    const Layout layout(conf::Config{});
    const auto e = scrape(layout, {});
    REQUIRE(e.error == "");
    CHECK(e.families.size() == kFamilies.size());
    CHECK(e.family("edged_upstream_server_up")->samples.empty());
    // The unmatched route is always there.
    CHECK(e.value("edged_requests_total", "edged_requests_total",
                  {{"route", "unmatched"}, {"method", "GET"}, {"code_class", "2xx"}}) == 0);
  }

  TEST_CASE("config-known series are present at zero; names and label sets are bounded") {
    const Layout layout(test::sampleConfig());
    const WorkerMetrics w(layout);
    const auto e = scrape(layout, {&w});
    REQUIRE(e.error == "");
    // 4 route slots x 8 methods x 5 classes.
    CHECK(e.family("edged_requests_total")->samples.size() == 4 * 8 * 5);
    // 4 route slots x (15 buckets + sum + count).
    CHECK(e.family("edged_request_duration_seconds")->samples.size() == 4 * 17);
    CHECK(e.family("edged_upstream_requests_total")->samples.size() == 3 * 5);
    CHECK(e.family("edged_upstream_failures_total")->samples.size() == 3 * 6);
    CHECK(e.family("edged_upstream_connect_seconds")->samples.size() == 3 * 17);
    CHECK(e.family("edged_retries_total")->samples.size() == 2);
    CHECK(e.family("edged_upstream_panic_total")->samples.size() == 2);
    CHECK(e.family("edged_connections_total")->samples.size() == 2);
    CHECK(e.family("edged_compression_bytes_in_total")->samples.size() == 3);
    CHECK(e.value("edged_upstream_failures_total", "edged_upstream_failures_total",
                  {{"upstream", "api"}, {"server", "127.0.0.1:9000"}, {"reason", "bad_response"}}) ==
          0);
    CHECK(e.value("edged_compression_bytes_out_total", "edged_compression_bytes_out_total",
                  {{"algorithm", "zstd"}}) == 0);
    std::set<std::string> methods;
    for (const auto& s : e.family("edged_requests_total")->samples) methods.insert(s.labels.at("method"));
    CHECK(methods == std::set<std::string>{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                           "OPTIONS", "other"});
  }

  TEST_CASE("several workers are summed; histograms merge bucket by bucket") {
    const Layout layout(test::sampleConfig());
    WorkerMetrics a(layout), b(layout), c(layout);
    a.request(2, Method::Get, 200, 500'000, 10, 100);     // 0.5 ms
    b.request(2, Method::Get, 200, 7'000'000, 20, 200);   // 7 ms
    c.request(2, Method::Get, 200, 7'000'000, 30, 300);
    c.request(2, Method::Get, 502, 60'000'000'000, 1, 2); // 60 s: +Inf only
    a.upstreamFailure(layout.serverSlot(0, 1), FailureReason::ConnectTimeout);
    b.upstreamFailure(layout.serverSlot(0, 1), FailureReason::ConnectTimeout);
    a.retry(0);
    c.retry(0);
    b.panic(0);
    c.panic(0);
    c.panic(1);
    a.connectionOpened(0);
    b.connectionOpened(0);
    b.connectionOpened(0);
    b.connectionClosed(0);
    a.tunnelOpened();
    b.tunnelOpened();
    a.poolIdle(layout.serverSlot(0, 0), 2);
    b.poolIdle(layout.serverSlot(0, 0), 1);
    a.compression(Algorithm::Gzip, 1000, 200);
    c.compression(Algorithm::Gzip, 500, 100);
    a.upstreamConnect(layout.serverSlot(1, 0), 3'000'000);
    b.upstreamConnect(layout.serverSlot(1, 0), 1'000'000);

    const auto e = scrape(layout, {&a, &b, &c});
    REQUIRE(e.error == "");
    checkHistograms(e);
    const std::map<std::string, std::string> api = {{"route", "/api/"}};
    CHECK(e.value("edged_requests_total", "edged_requests_total",
                  {{"route", "/api/"}, {"method", "GET"}, {"code_class", "2xx"}}) == 3);
    CHECK(e.value("edged_requests_total", "edged_requests_total",
                  {{"route", "/api/"}, {"method", "GET"}, {"code_class", "5xx"}}) == 1);
    const std::string h = "edged_request_duration_seconds";
    auto bucket = [&](const std::string& le) {
      return e.value(h, h + "_bucket", {{"route", "/api/"}, {"le", le}});
    };
    CHECK(bucket("0.001") == 1);
    CHECK(bucket("0.005") == 1);
    CHECK(bucket("0.01") == 3);
    CHECK(bucket("30") == 3);
    CHECK(bucket("+Inf") == 4);
    CHECK(e.value(h, h + "_count", api) == 4);
    CHECK(e.value(h, h + "_sum", api) == doctest::Approx(60.0145).epsilon(1e-12));
    CHECK(e.value("edged_request_bytes_total", "edged_request_bytes_total", api) == 61);
    CHECK(e.value("edged_response_bytes_total", "edged_response_bytes_total", api) == 602);
    CHECK(e.value("edged_upstream_failures_total", "edged_upstream_failures_total",
                  {{"upstream", "web"}, {"server", "10.0.0.2:80"}, {"reason", "connect_timeout"}}) ==
          2);
    CHECK(e.value("edged_retries_total", "edged_retries_total", {{"upstream", "web"}}) == 2);
    CHECK(e.value("edged_upstream_panic_total", "edged_upstream_panic_total", {{"upstream", "web"}}) == 2);
    CHECK(e.value("edged_connections_total", "edged_connections_total",
                  {{"listener", "0.0.0.0:8080"}}) == 3);
    CHECK(e.value("edged_connections_active", "edged_connections_active",
                  {{"listener", "0.0.0.0:8080"}}) == 2);
    CHECK(e.value("edged_websocket_tunnels_active", "edged_websocket_tunnels_active", {}) == 2);
    CHECK(e.value("edged_upstream_pool_idle_connections", "edged_upstream_pool_idle_connections",
                  {{"upstream", "web"}, {"server", "10.0.0.1:80"}}) == 3);
    CHECK(e.value("edged_compression_bytes_in_total", "edged_compression_bytes_in_total",
                  {{"algorithm", "gzip"}}) == 1500);
    CHECK(e.value("edged_compression_bytes_out_total", "edged_compression_bytes_out_total",
                  {{"algorithm", "gzip"}}) == 300);
    const std::string c_h = "edged_upstream_connect_seconds";
    const std::map<std::string, std::string> api_server = {{"upstream", "api"},
                                                           {"server", "127.0.0.1:9000"}};
    CHECK(e.value(c_h, c_h + "_count", api_server) == 2);
    CHECK(e.value(c_h, c_h + "_sum", api_server) == doctest::Approx(0.004));
  }

  TEST_CASE("a gauge that is negative on one worker sums correctly over all") {
    const Layout layout(test::sampleConfig());
    WorkerMetrics a(layout), b(layout);
    a.tunnelClosed();
    b.tunnelOpened();
    b.tunnelOpened();
    auto e = scrape(layout, {&a, &b});
    CHECK(e.value("edged_websocket_tunnels_active", "edged_websocket_tunnels_active", {}) == 1);
    e = scrape(layout, {&a});
    CHECK(e.value("edged_websocket_tunnels_active", "edged_websocket_tunnels_active", {}) == -1);
  }

  TEST_CASE("counters never go down from one scrape to the next") {
    const Layout layout(test::sampleConfig());
    WorkerMetrics a(layout), b(layout);
    const std::vector<const WorkerMetrics*> workers = {&a, &b};
    std::map<std::string, double> last;
    for (int round = 0; round < 5; ++round) {
      WorkerMetrics& w = round % 2 ? a : b;
      w.request(static_cast<size_t>(round % 4), Method::Put, 200 + round * 100,
                static_cast<uint64_t>(round) * 3'000'000, 7, 9);
      w.upstreamResponse(layout.serverSlot(0, 0), 200, 1'000'000);
      w.upstreamFailure(layout.serverSlot(1, 0), FailureReason::UpstreamClosed);
      w.connectionOpened(1);
      w.compression(Algorithm::Zstd, 10, 3);
      const auto e = scrape(layout, workers);
      REQUIRE(e.error == "");
      for (const auto& [name, family] : e.families) {
        const bool counter_like = family.type == "counter" || family.type == "histogram";
        if (!counter_like || name.starts_with("process_")) continue;
        for (const test::Sample& s : family.samples) {
          std::string key = s.name;
          for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
          CAPTURE(key);
          if (last.count(key)) CHECK(s.value >= last[key]);
          last[key] = s.value;
        }
      }
    }
    CHECK(last["edged_connections_total|listener=[::1]:8443"] == 5);
    CHECK(last["edged_upstream_requests_total|code_class=2xx|server=10.0.0.1:80|upstream=web"] == 5);
  }

  TEST_CASE("server gauges come from the caller; unknown indices are ignored") {
    const Layout layout(test::sampleConfig());
    const WorkerMetrics w(layout);
    const auto e = scrape(layout, {&w},
                          {{0, 0, true, 4}, {0, 1, false, 0}, {1, 0, true, 12}, {1, 5, true, 1},
                           {7, 0, true, 1}});
    REQUIRE(e.error == "");
    CHECK(e.family("edged_upstream_server_up")->samples.size() == 3);
    CHECK(e.value("edged_upstream_server_up", "edged_upstream_server_up",
                  {{"upstream", "web"}, {"server", "10.0.0.2:80"}}) == 0);
    CHECK(e.value("edged_upstream_server_up", "edged_upstream_server_up",
                  {{"upstream", "api"}, {"server", "127.0.0.1:9000"}}) == 1);
    CHECK(e.value("edged_upstream_active_requests", "edged_upstream_active_requests",
                  {{"upstream", "api"}, {"server", "127.0.0.1:9000"}}) == 12);
    CHECK(e.value("edged_upstream_active_requests", "edged_upstream_active_requests",
                  {{"upstream", "web"}, {"server", "10.0.0.1:80"}}) == 4);
  }

  TEST_CASE("daemon state: reloads by result, last success time, build info") {
    const Layout layout(test::sampleConfig());
    const auto e = scrape(layout, {});
    REQUIRE(e.error == "");
    CHECK(e.value("edged_config_reloads_total", "edged_config_reloads_total",
                  {{"result", "success"}}) == 3);
    CHECK(e.value("edged_config_reloads_total", "edged_config_reloads_total",
                  {{"result", "failure"}}) == 1);
    CHECK(e.value("edged_config_last_reload_success_timestamp_seconds",
                  "edged_config_last_reload_success_timestamp_seconds", {}) == 1712345678.5);
    CHECK(e.value("edged_build_info", "edged_build_info", {{"version", "0.1.0"}}) == 1);
    CHECK(e.value("process_max_fds", "process_max_fds", {}).value_or(0) > 0);
    CHECK(e.value("process_start_time_seconds", "process_start_time_seconds", {}).value_or(0) >
          1e9);
  }

  TEST_CASE("hostile label values from the config are escaped and read back intact") {
    conf::Config c = test::sampleConfig();
    c.routes[0].prefix = "/we\"ird\\path\n";
    c.upstreams[1].name = "a\"b";
    ProcessState s = state();
    s.version = "1.0\n\"dev\"\\";
    const Layout layout(c);
    WorkerMetrics w(layout);
    w.request(0, Method::Get, 200, 1, 1, 1);
    w.retry(1);
    const auto e = scrape(layout, {&w}, {}, s);
    REQUIRE(e.error == "");
    CHECK(e.value("edged_requests_total", "edged_requests_total",
                  {{"route", "/we\"ird\\path\n"}, {"method", "GET"}, {"code_class", "2xx"}}) == 1);
    CHECK(e.value("edged_retries_total", "edged_retries_total", {{"upstream", "a\"b"}}) == 1);
    CHECK(e.value("edged_build_info", "edged_build_info", {{"version", "1.0\n\"dev\"\\"}}) == 1);
  }

  TEST_CASE("a scrape on another thread while a worker records sees every count in the end") {
    const Layout layout(test::sampleConfig());
    WorkerMetrics w(layout);
    std::atomic<bool> done{false};
    constexpr int kRequests = 20000;
    std::thread worker([&] {
      for (int i = 0; i < kRequests; ++i) {
        w.request(1, Method::Head, 304, static_cast<uint64_t>(i) * 1000, 1, 2);
      }
      done.store(true, std::memory_order_release);
    });
    double previous = 0;
    std::string out;
    while (!done.load(std::memory_order_acquire)) {
      out.clear();
      render(layout, std::vector<const WorkerMetrics*>{&w}, {}, state(), out);
      const auto e = test::parseExposition(out);
      CHECK(e.error == "");  // not REQUIRE: the thread must still be joined
      const double n = e.value("edged_requests_total", "edged_requests_total",
                               {{"route", "www.example.com/"}, {"method", "HEAD"},
                                {"code_class", "3xx"}})
                           .value_or(-1);
      CHECK(n >= previous);
      previous = n;
    }
    worker.join();
    const auto e = scrape(layout, {&w});
    CHECK(e.value("edged_requests_total", "edged_requests_total",
                  {{"route", "www.example.com/"}, {"method", "HEAD"}, {"code_class", "3xx"}}) ==
          kRequests);
    CHECK(e.value("edged_request_duration_seconds", "edged_request_duration_seconds_count",
                  {{"route", "www.example.com/"}}) == kRequests);
  }
}

}  // namespace
}  // namespace edged::metrics
