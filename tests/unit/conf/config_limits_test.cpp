// tests/unit/conf/config_limits_test.cpp — limits (max_connections, max_headers, per_client),
// real_ip, listener proxy_protocol, route allow/deny and the admin token: what loads, and each
// error with its FILE:LINE:COL.
#include <doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "conf/config.h"
#include "tests/unit/conf/conf_test_support.h"

namespace edged::conf {
namespace {

using namespace test;

std::string tempFile(const std::string& content) {
  char path[] = "/tmp/edged_conf_token_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(path) << content;
  return path;
}

TEST_CASE("limits: the issue's shape loads") {
  const std::string token = tempFile("s3cret-token\n");
  const std::string yaml = R"(listen:
  - address: 127.0.0.1:8080
    proxy_protocol: true
  - address: 127.0.0.1:8081
limits:
  max_connections: 20000
  max_headers: 50
  max_response_header_bytes: 32KiB
  per_client:
    connections: 256
    rate: 100/s
    burst: 200
real_ip: { from: [10.0.0.0/8, 127.0.0.1/32, "::1", "2001:db8::/32"], header: X-Real-Client, recursive: false }
admin: { address: 127.0.0.1:9901, token_file: )" + token + R"( }
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: /internal/ }
    upstream: api
    deny: [10.1.0.0/16]
    allow: [10.0.0.0/8, "::1"]
  - match: { prefix: / }
    upstream: api
)";
  const LoadResult r = loadConfigString(yaml, "t.yaml");
  REQUIRE_MESSAGE(r.ok(), joinErrors(r));
  const Config& c = *r.config;
  CHECK(c.listeners[0].proxy_protocol);
  CHECK_FALSE(c.listeners[1].proxy_protocol);
  CHECK(c.limits.max_connections == 20000);
  CHECK(c.limits.max_headers == 50);
  CHECK(c.limits.max_response_header_bytes == 32 * 1024);
  CHECK(c.limits.per_client.connections == 256);
  CHECK(c.limits.per_client.rate_per_minute == 6000);
  CHECK(c.limits.per_client.burst == 200);
  CHECK(c.limits.per_client.key_header.empty());
  REQUIRE(c.real_ip);
  CHECK(c.real_ip->from == std::vector<std::string>{"10.0.0.0/8", "127.0.0.1/32", "::1", "2001:db8::/32"});
  CHECK(c.real_ip->header == "X-Real-Client");
  CHECK_FALSE(c.real_ip->recursive);
  REQUIRE(c.admin);
  CHECK(c.admin->token_file == token);
  CHECK(c.admin->token == "s3cret-token");
  // File order, deny before allow as written.
  REQUIRE(c.routes[0].access.size() == 3);
  CHECK_FALSE(c.routes[0].access[0].allow);
  CHECK(c.routes[0].access[0].cidr == "10.1.0.0/16");
  CHECK(c.routes[0].access[1].allow);
  CHECK(c.routes[0].access[2].cidr == "::1");
  CHECK(c.routes[1].access.empty());
  std::remove(token.c_str());
}

TEST_CASE("limits: defaults") {
  const LoadResult r = loadConfigString(kBase, "t.yaml");
  REQUIRE(r.ok());
  CHECK(r.config->limits.max_connections == 0);
  CHECK(r.config->limits.max_headers == 100);
  CHECK(r.config->limits.max_response_header_bytes == 64 * 1024);
  CHECK(r.config->limits.per_client.connections == 0);
  CHECK(r.config->limits.per_client.rate_per_minute == 0);
  CHECK_FALSE(r.config->real_ip);
  CHECK_FALSE(r.config->listeners[0].proxy_protocol);
  const LoadResult m = loadConfigString(withBase("limits: { per_client: { rate: 30/m, key: X-Api-Key } }\n"
                                                 "real_ip: { from: [127.0.0.1] }\n"),
                                        "t.yaml");
  REQUIRE_MESSAGE(m.ok(), joinErrors(m));
  CHECK(m.config->limits.per_client.rate_per_minute == 30);
  CHECK(m.config->limits.per_client.key_header == "x-api-key");
  CHECK(m.config->real_ip->header == "X-Forwarded-For");
  CHECK(m.config->real_ip->recursive);
}

TEST_CASE("limits: errors point at the value") {
  CHECK(errorsOf(withBase("limits:\n  max_connections: -1\n  max_headers: 0\n")) ==
        Errors{"t.yaml:11:20: limits.max_connections: must be 0..10000000, got -1",
               "t.yaml:12:16: limits.max_headers: must be 1..10000, got 0"});
  CHECK(errorsOf(withBase("limits:\n  max_response_header_bytes: 512\n")) ==
        Errors{"t.yaml:11:30: limits.max_response_header_bytes: must be 1KiB..1MiB, got 512"});
  CHECK(errorsOf(withBase("limits:\n  per_client:\n    rate: 100/h\n    burst: x\n    key: \"a b\"\n    conns: 1\n")) ==
        Errors{"t.yaml:12:11: limits.per_client.rate: bad rate '100/h' (use e.g. 100/s or 30/m)",
               "t.yaml:13:12: limits.per_client.burst: expected an integer, got 'x'",
               "t.yaml:14:10: limits.per_client.key: must be remote_addr or a header name, got 'a b'",
               "t.yaml:15:5: limits.per_client.conns: unknown key"});
  CHECK(errorsOf(withBase("limits: { per_client: { rate: 0/s } }\n")) ==
        Errors{"t.yaml:10:31: limits.per_client.rate: must be 1..1000000 per second or minute, got 0/s"});
}

TEST_CASE("limits: real_ip errors") {
  CHECK(errorsOf(withBase("real_ip:\n  from: [10.0.0.1/8, 300.1.1.1, 10.0.0.0/33, \"::1/129\", x/8]\n")) ==
        Errors{"t.yaml:11:10: real_ip.from[0]: bad CIDR '10.0.0.1/8': address has bits set past the prefix length",
               "t.yaml:11:22: real_ip.from[1]: bad CIDR '300.1.1.1': not an IP address",
               "t.yaml:11:33: real_ip.from[2]: bad CIDR '10.0.0.0/33': prefix length must be 0..32",
               "t.yaml:11:46: real_ip.from[3]: bad CIDR '::1/129': prefix length must be 0..128",
               "t.yaml:11:57: real_ip.from[4]: bad CIDR 'x/8': not an IP address"});
  CHECK(errorsOf(withBase("real_ip: { header: X-Forwarded-For }\n")) ==
        Errors{"t.yaml:10:10: real_ip: missing required key 'from'"});
  CHECK(errorsOf(withBase("real_ip: { from: [], header: \"X F\" }\n")) ==
        Errors{"t.yaml:10:18: real_ip.from: at least one trusted address is required",
               "t.yaml:10:30: real_ip.header: must be a header name, got 'X F'"});
}

TEST_CASE("limits: proxy_protocol, allow/deny and admin token errors") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
    proxy_protocol: maybe
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
    allow: 10.0.0.0/8
    deny: [10.0.0.0/88]
)") == Errors{"t.yaml:3:21: listen[0].proxy_protocol: expected true or false, got 'maybe'",
              "t.yaml:11:12: routes[0].allow: expected a list, got '10.0.0.0/8'",
              "t.yaml:12:12: routes[0].deny[0]: bad CIDR '10.0.0.0/88': prefix length must be 0..32"});
  CHECK(errorsOf(withBase("admin: { address: 127.0.0.1:9901, token_file: /nonexistent/edged.token }\n")) ==
        Errors{"t.yaml:10:47: admin.token_file: cannot read '/nonexistent/edged.token': No such file or directory"});
  const std::string empty = tempFile(" \n\n");
  CHECK(errorsOf(withBase("admin:\n  address: 127.0.0.1:9901\n  token_file: " + empty + "\n")) ==
        Errors{"t.yaml:12:15: admin.token_file: '" + empty + "' holds no token"});
  std::remove(empty.c_str());
  CHECK(errorsOf(withBase("admin: { token_file: /x }\n")).size() == 2);  // missing address, unreadable file
}

}  // namespace
}  // namespace edged::conf
