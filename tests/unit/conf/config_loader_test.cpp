// tests/unit/conf/config_loader_test.cpp — valid configs load into the expected structs, and the
// shipped configs stay valid.
#include <doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "conf/config.h"

namespace edged::conf {
namespace {

using namespace std::chrono_literals;

std::string joinErrors(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) out += e.str() + "\n";
  return out;
}

// Source tree paths from this file's own location, so the test runs from any build directory.
std::filesystem::path sourceRoot() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

constexpr std::string_view kHappyYaml = R"(workers: auto
listen:
  - address: 127.0.0.1:8080
timeouts:
  connect: 5s
  send: 60s
  read: 60s
  client_header: 10s
  client_body: 60s
  keepalive: 75s
limits:
  max_header_bytes: 16KiB
  max_body_bytes: 10MiB
upstreams:
  api:
    keepalive: 64
    servers:
      - address: 127.0.0.1:3001
      - address: 127.0.0.1:3002
routes:
  - match: { prefix: /api/ }
    upstream: api
  - match: { prefix: /, host: www.example.com }
    upstream: api
)";

TEST_CASE("loader: the reference config loads into the expected structs") {
  const LoadResult result = loadConfigString(kHappyYaml, "happy.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;

  CHECK(c.source_path == "happy.yaml");
  CHECK(c.workers == 0);

  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].address.text == "127.0.0.1:8080");
  CHECK(c.listeners[0].address.port() == 8080);
  CHECK(c.listeners[0].backlog == 511);

  CHECK(c.timeouts.connect == 5s);
  CHECK(c.timeouts.send == 60s);
  CHECK(c.timeouts.read == 60s);
  CHECK(c.timeouts.client_header == 10s);
  CHECK(c.timeouts.client_body == 60s);
  CHECK(c.timeouts.keepalive == 75s);
  // Not in the file: defaults.
  CHECK(c.timeouts.client_send == 60s);
  CHECK(c.timeouts.request == 0s);
  CHECK(c.timeouts.tunnel_idle == 1h);
  CHECK(c.timeouts.shutdown_grace == 10s);

  CHECK(c.limits.max_header_bytes == 16 * 1024);
  CHECK(c.limits.max_body_bytes == 10 * 1024 * 1024);

  REQUIRE(c.upstreams.size() == 1);
  const UpstreamConfig& api = c.upstreams[0];
  CHECK(api.name == "api");
  CHECK(api.balance == BalanceAlgorithm::RoundRobin);
  CHECK(api.hash_key.empty());
  CHECK(api.keepalive == 64);
  CHECK(api.retries == 1);
  CHECK(api.retry_on == (kRetryConnectFailure | kRetryTimeout));
  CHECK(api.retry_timeout == 0s);
  REQUIRE(api.servers.size() == 2);
  CHECK(api.servers[0].address.text == "127.0.0.1:3001");
  CHECK(api.servers[1].address.text == "127.0.0.1:3002");
  for (const ServerConfig& s : api.servers) {
    CHECK(s.weight == 1);
    CHECK(s.max_conns == 0);
    CHECK_FALSE(s.backup);
    CHECK_FALSE(s.down);
    CHECK(s.slow_start == 0s);
  }
  CHECK(api.health.max_fails == 1);
  CHECK(api.health.fail_timeout == 10s);
  CHECK_FALSE(api.health.check.has_value());
  CHECK(c.findUpstream("api") == &api);
  CHECK(c.findUpstream("nope") == nullptr);

  REQUIRE(c.routes.size() == 2);
  CHECK(c.routes[0].prefix == "/api/");
  CHECK(c.routes[0].host.empty());
  CHECK(c.routes[0].upstream == "api");
  CHECK(c.routes[0].upstream_index == 0);
  CHECK(c.routes[0].websocket);
  CHECK(c.routes[1].prefix == "/");
  CHECK(c.routes[1].host == "www.example.com");
  CHECK(c.routes[1].upstream_index == 0);

  CHECK_FALSE(c.admin.has_value());
  CHECK(c.access_log.path == "stdout");
  CHECK(c.access_log.format == AccessLogFormat::Combined);
  CHECK(c.log_level == LogLevel::Info);
}

TEST_CASE("loader: upstreams keep file order and routes resolve to their index") {
  const LoadResult result = loadConfigString(R"(
listen: [{ address: "*:80" }]
upstreams:
  zeta: { servers: [{ address: 10.0.0.1:80 }] }
  alpha: { servers: [{ address: 10.0.0.2:80 }] }
  mid.dle-1_x: { servers: [{ address: 10.0.0.3:80 }] }
routes:
  - { match: { prefix: /m, host: MID.Example.COM }, upstream: mid.dle-1_x, websocket: no }
  - { match: { prefix: /a }, upstream: alpha }
  - { match: { prefix: /z }, upstream: zeta }
)",
                                             "order.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  REQUIRE(c.upstreams.size() == 3);
  CHECK(c.upstreams[0].name == "zeta");
  CHECK(c.upstreams[1].name == "alpha");
  CHECK(c.upstreams[2].name == "mid.dle-1_x");
  REQUIRE(c.routes.size() == 3);
  CHECK(c.routes[0].upstream_index == 2);
  CHECK(c.routes[0].host ==
        "mid.example.com");  // stored lower-case: hosts match case-insensitively
  CHECK_FALSE(c.routes[0].websocket);
  CHECK(c.routes[1].upstream_index == 1);
  CHECK(c.routes[2].upstream_index == 0);
  CHECK(c.listeners[0].address.text == "0.0.0.0:80");
}

TEST_CASE("loader: hash balancing defaults its key to $remote_addr") {
  const LoadResult result = loadConfigString(R"(
listen: [{ address: 127.0.0.1:8080 }]
upstreams:
  a: { balance: hash, servers: [{ address: 10.0.0.1:80 }] }
  b: { balance: hash, hash_key: $http_x_user, servers: [{ address: 10.0.0.1:80 }] }
routes: [{ match: { prefix: / }, upstream: a }]
)",
                                             "hash.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  CHECK(result.config->upstreams[0].hash_key == "$remote_addr");
  CHECK(result.config->upstreams[1].hash_key == "$http_x_user");
}

TEST_CASE("loader: sections left empty (all children commented out) keep their defaults") {
  const LoadResult result = loadConfigString(R"(
workers: 0
listen:
  - address: 127.0.0.1:8080
timeouts:
limits:
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
    health:
      check:
routes:
  - match: { prefix: / }
    upstream: api
)",
                                             "empty-sections.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  CHECK(result.config->timeouts.connect == 60s);
  CHECK(result.config->limits.max_body_bytes == 1024 * 1024);
  // A bare `check:` turns active checks on with their defaults.
  const auto& check = result.config->upstreams[0].health.check;
  REQUIRE(check.has_value());
  CHECK(check->path == "/");
  CHECK(check->interval == 5s);
  CHECK(check->expect_status_min == 200);
  CHECK(check->expect_status_max == 399);
}

TEST_CASE("loader: the shipped demo config conf/edged.yaml is valid") {
  const std::string path = (sourceRoot() / "conf" / "edged.yaml").string();
  const LoadResult result = loadConfigFile(path);
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK(c.source_path == path);
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].address.text == "127.0.0.1:8080");
  REQUIRE(c.upstreams.size() == 2);
  CHECK(c.upstreams[0].name == "demo");
  CHECK(c.upstreams[0].keepalive == 32);
  REQUIRE(c.upstreams[0].servers.size() == 2);
  CHECK(c.upstreams[0].servers[0].address.text == "127.0.0.1:3001");
  CHECK(c.upstreams[0].servers[1].address.text == "127.0.0.1:3002");
  // The reference backend (tools/backend) that tools/run starts on 8090.
  CHECK(c.upstreams[1].name == "backend");
  REQUIRE(c.upstreams[1].servers.size() == 1);
  CHECK(c.upstreams[1].servers[0].address.text == "127.0.0.1:8090");
  REQUIRE(c.routes.size() == 3);
  CHECK(c.routes[0].prefix == "/users");
  CHECK(c.routes[0].upstream == "backend");
  CHECK(c.routes[1].prefix == "/export/");
  CHECK(c.routes[1].upstream == "backend");
  CHECK(c.routes[2].prefix == "/");
  CHECK(c.routes[2].upstream == "demo");
}

TEST_CASE("loader: conf/examples/full.yaml is valid and sets every key") {
  const LoadResult result =
      loadConfigFile((sourceRoot() / "conf" / "examples" / "full.yaml").string());
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK(c.workers == 4);
  REQUIRE(c.listeners.size() == 3);
  CHECK(c.listeners[0].backlog == 1024);
  CHECK(c.listeners[1].address.text == "[::1]:8080");
  CHECK(c.listeners[2].proxy_protocol);
  CHECK(c.timeouts.request == 2min);
  CHECK(c.timeouts.shutdown_grace == 15s);
  CHECK(c.limits.max_header_bytes == 32 * 1024);
  CHECK(c.limits.max_connections == 20000);
  CHECK(c.limits.max_headers == 100);
  CHECK(c.limits.per_client.connections == 256);
  CHECK(c.limits.per_client.rate_per_minute == 6000);
  CHECK(c.limits.per_client.burst == 200);
  REQUIRE(c.real_ip);
  CHECK(c.real_ip->from.size() == 2);

  REQUIRE(c.upstreams.size() == 3);
  const UpstreamConfig& api = c.upstreams[0];
  CHECK(api.balance == BalanceAlgorithm::LeastConn);
  CHECK(api.retries == 2);
  CHECK(api.retry_on == (kRetryConnectFailure | kRetryTimeout | kRetry502 | kRetry503 | kRetry504));
  CHECK(api.retry_timeout == 10s);
  REQUIRE(api.servers.size() == 4);
  CHECK(api.servers[0].weight == 5);
  CHECK(api.servers[0].max_conns == 100);
  CHECK(api.servers[0].slow_start == 30s);
  CHECK(api.servers[2].down);
  CHECK(api.servers[3].backup);
  CHECK(api.health.max_fails == 3);
  REQUIRE(api.health.check.has_value());
  CHECK(api.health.check->path == "/healthz");
  CHECK(api.health.check->timeout == 1s);
  CHECK(api.health.check->rise == 2);
  CHECK(api.health.check->fall == 3);
  CHECK_FALSE(api.health.check->initially_healthy);
  CHECK(c.upstreams[1].balance == BalanceAlgorithm::Hash);
  CHECK(c.upstreams[1].hash_key == "$cookie_session");
  CHECK(c.upstreams[2].balance == BalanceAlgorithm::RandomTwo);

  REQUIRE(c.routes.size() == 4);
  CHECK(c.routes[1].host == "app.example.com");
  REQUIRE(c.routes[2].access.size() == 2);
  CHECK_FALSE(c.routes[2].access[0].allow);
  CHECK_FALSE(c.routes[3].websocket);

  CHECK(c.compression.enabled);
  CHECK(c.compression.algorithms == std::vector<CompressionAlgorithm>{
                                        CompressionAlgorithm::Brotli, CompressionAlgorithm::Zstd,
                                        CompressionAlgorithm::Gzip});
  CHECK(c.compression.min_length == 512);
  CHECK(c.compression.gzip_level == 5);
  CHECK(c.compression.br_level == 3);
  CHECK(c.compression.zstd_level == 6);
  CHECK(c.compression.types.size() == 6);
  CHECK(c.compression.types.back() == "application/wasm");
  CHECK(c.cache.memory == 512ull << 20);
  CHECK(c.cache.max_object == 16ull << 20);
  CHECK(c.cache.purge_allow.size() == 2);
  REQUIRE(c.routes[0].cached());
  CHECK(c.routes[0].cache->ignore_query.size() == 2);
  CHECK(c.routes[0].cache->stale_if_error == Duration(60000));
  CHECK_FALSE(c.routes[1].cached());
  CHECK_FALSE(c.routes[2].cached());  // /internal/ (allow/deny)
  CHECK(c.routes[3].cached());
  REQUIRE(c.routes[0].compression.has_value());
  CHECK(c.routes[0].compression->enabled);
  CHECK(c.routes[0].compression->algorithms ==
        std::vector<CompressionAlgorithm>{CompressionAlgorithm::Zstd, CompressionAlgorithm::Gzip});
  CHECK(c.routes[0].compression->min_length == 2048);
  CHECK(c.routes[0].compression->zstd_level == 6);
  CHECK_FALSE(c.routes[1].compression.has_value());
  REQUIRE(c.routes[3].compression.has_value());
  CHECK_FALSE(c.routes[3].compression->enabled);
  REQUIRE(c.admin.has_value());
  CHECK(c.admin->address.text == "127.0.0.1:9901");
  CHECK(c.access_log.format == AccessLogFormat::Json);
  CHECK(c.log_level == LogLevel::Info);
}

TEST_CASE("loader: loadConfigFile reads a file and records its path") {
  char path[] = "/tmp/edged-conf-test-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  {
    std::ofstream out(path);
    out << kHappyYaml;
  }
  const LoadResult result = loadConfigFile(path);
  std::remove(path);
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  CHECK(result.config->source_path == path);
}

TEST_CASE("loader: the single-value forms accepted for expect_status and bools") {
  const LoadResult result = loadConfigString(R"(
listen: [{ address: 127.0.0.1:8080 }]
upstreams:
  a:
    retry_on: []
    servers: [{ address: 10.0.0.1:80, backup: yes, down: false }, { address: 10.0.0.2:80 }]
    health: { check: { expect_status: 204 } }
  b:
    servers: [{ address: 10.0.0.1:80 }]
    health: { check: { expect_status: "200-299" } }
routes: [{ match: { prefix: / }, upstream: a }]
)",
                                             "forms.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const auto& a = result.config->upstreams[0];
  CHECK(a.retry_on == 0);
  CHECK(a.servers[0].backup);
  CHECK(a.health.check->expect_status_min == 204);
  CHECK(a.health.check->expect_status_max == 204);
  CHECK(result.config->upstreams[1].health.check->expect_status_max == 299);
}

}  // namespace
}  // namespace edged::conf
