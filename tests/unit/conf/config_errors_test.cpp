// tests/unit/conf/config_errors_test.cpp — every class of config error, with its exact
// FILE:LINE:COL, key path and wording, since that is what users read.
#include <doctest.h>

#include <string>
#include <vector>

#include "conf/config.h"
#include "tests/unit/conf/conf_test_support.h"

namespace edged::conf {
namespace {

using namespace test;

TEST_CASE("errors: the base config used below is valid") {
  CHECK(loadConfigString(kBase, "t.yaml").ok());
}

TEST_CASE("errors: ConfigError::str() is FILE:LINE:COL: key.path: message") {
  ConfigError e{"edged.yaml", 14, 7, "upstreams.api.servers[1].weight", "must be 1..1000"};
  CHECK(e.str() == "edged.yaml:14:7: upstreams.api.servers[1].weight: must be 1..1000");
  e.key_path.clear();
  CHECK(e.str() == "edged.yaml:14:7: must be 1..1000");
}

TEST_CASE("errors: unknown key points at the key and suggests the nearest known one") {
  CHECK(errorsOf(withBase("timeouts:\n  conect: 5s\n")) ==
        Errors{"t.yaml:11:3: timeouts.conect: unknown key (did you mean 'connect'?)"});
  CHECK(errorsOf(withBase("log_levle: debug\n")) ==
        Errors{"t.yaml:10:1: log_levle: unknown key (did you mean 'log_level'?)"});
  CHECK(errorsOf(withBase("frobnicate: 1\n")) == Errors{"t.yaml:10:1: frobnicate: unknown key"});
  // Deep inside a list item.
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
        wieght: 2
routes:
  - match: { prefix: /, hots: a.com }
    upstream: api
)") == Errors{"t.yaml:7:9: upstreams.api.servers[0].wieght: unknown key (did you mean 'weight'?)",
              "t.yaml:9:25: routes[0].match.hots: unknown key (did you mean 'host'?)"});
}

TEST_CASE("errors: wrong types point at the value") {
  // A map where a list is expected.
  CHECK(errorsOf(R"(listen:
  address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:2:3: listen: expected a list, got a map"});
  // A string where an integer is expected.
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    keepalive: lots
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:5:16: upstreams.api.keepalive: expected an integer, got 'lots'"});
  // A scalar where a map is expected, a list where a scalar is expected, a bad bool.
  CHECK(errorsOf(withBase("timeouts: 5s\nlog_level: [debug]\n")) ==
        Errors{"t.yaml:10:11: timeouts: expected a map, got '5s'",
               "t.yaml:11:12: log_level: expected one of debug, info, warn, error, got a list"});
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
    websocket: maybe
)") == Errors{"t.yaml:10:16: routes[0].websocket: expected true or false, got 'maybe'"});
  // A key with no value at all points at the key.
  CHECK(errorsOf(withBase("log_level:\n")) ==
        Errors{"t.yaml:10:1: log_level: expected one of debug, info, warn, error, got nothing"});
}

TEST_CASE("errors: bad duration, bad size, bad address") {
  CHECK(
      errorsOf(withBase("timeouts:\n  read: 5x\n  connect: -1s\n  send: 1.5s\n")) ==
      Errors{"t.yaml:11:9: timeouts.read: bad duration '5x' (use e.g. 250ms, 5s, 2m, 1h, 1d)",
             "t.yaml:12:12: timeouts.connect: bad duration '-1s' (use e.g. 250ms, 5s, 2m, 1h, 1d)",
             "t.yaml:13:9: timeouts.send: bad duration '1.5s' (use e.g. 250ms, 5s, 2m, 1h, 1d)"});
  CHECK(errorsOf(withBase("limits:\n  max_body_bytes: 10XB\n  max_header_bytes: -1\n")) ==
        Errors{"t.yaml:11:19: limits.max_body_bytes: bad size '10XB' (use e.g. 512, 16KiB, 10MiB, "
               "1GiB)",
               "t.yaml:12:21: limits.max_header_bytes: bad size '-1' (use e.g. 512, 16KiB, 10MiB, "
               "1GiB)"});
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1
  - address: ::1:80
  - address: "[::1:80"
  - address: 127.0.0.1:99999
upstreams:
  api:
    servers:
      - address: 300.1.2.3:80
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:2:14: listen[0].address: bad address '127.0.0.1': expected HOST:PORT",
              "t.yaml:3:14: listen[1].address: bad address '::1:80': IPv6 addresses need "
              "brackets, e.g. [::1]:8080",
              "t.yaml:4:14: listen[2].address: bad address '[::1:80': missing ']' after IPv6 "
              "address",
              "t.yaml:5:14: listen[3].address: bad address '127.0.0.1:99999': port must be "
              "1..65535",
              "t.yaml:9:18: upstreams.api.servers[0].address: bad address '300.1.2.3:80': "
              "'300.1.2.3' is not an IP address or host name"});
}

TEST_CASE("errors: out-of-range numbers and durations") {
  CHECK(errorsOf(R"(workers: 300
listen:
  - address: 127.0.0.1:0
    backlog: 0
limits: { max_header_bytes: 2MiB }
timeouts: { connect: 0, tunnel_idle: 366d }
upstreams:
  api:
    keepalive: 10001
    retries: -1
    servers:
      - address: 127.0.0.1:3001
        weight: 0
      - address: 127.0.0.1:3002
        weight: 1001
        max_conns: -5
    health:
      check: { rise: 0, expect_status: 99 }
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{
           "t.yaml:1:10: workers: must be 'auto' or 1..256, got '300'",
           "t.yaml:3:14: listen[0].address: bad address '127.0.0.1:0': port must be 1..65535",
           "t.yaml:4:14: listen[0].backlog: must be 1..65535, got 0",
           "t.yaml:5:29: limits.max_header_bytes: must be 1KiB..1MiB, got 2MiB",
           "t.yaml:6:22: timeouts.connect: must be greater than 0",
           "t.yaml:6:38: timeouts.tunnel_idle: must be at most 365d, got 366d",
           "t.yaml:9:16: upstreams.api.keepalive: must be 0..10000, got 10001",
           "t.yaml:10:14: upstreams.api.retries: must be 0..100, got -1",
           "t.yaml:13:17: upstreams.api.servers[0].weight: must be 1..1000, got 0",
           "t.yaml:15:17: upstreams.api.servers[1].weight: must be 1..1000, got 1001",
           "t.yaml:16:20: upstreams.api.servers[1].max_conns: must be >= 0, got -5",
           "t.yaml:18:22: upstreams.api.health.check.rise: must be >= 1, got 0",
           "t.yaml:18:40: upstreams.api.health.check.expect_status: must be a status such "
           "as 200 or a range such as 200-399 (100..599), got '99'",
       });
}

TEST_CASE("errors: duplicate upstream names (yaml-cpp keeps both keys)") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
  api:
    servers:
      - address: 127.0.0.1:3002
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{
           "t.yaml:7:3: upstreams.api: duplicate upstream name 'api' (first defined at line 4)"});
}

TEST_CASE("errors: duplicate keys anywhere else") {
  CHECK(errorsOf(withBase("timeouts: { read: 1s, read: 2s }\n")) ==
        Errors{"t.yaml:10:23: timeouts.read: duplicate key 'read' (first defined at line 10)"});
}

TEST_CASE("errors: duplicate listener addresses, also when spelled differently") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
  - address: 127.0.0.1:8081
  - address: 127.0.0.1:8080
  - address: "*:9000"
  - address: 0.0.0.0:9000
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:4:14: listen[2].address: duplicate listener address 127.0.0.1:8080 (also "
              "listen[0].address)",
              "t.yaml:6:14: listen[4].address: duplicate listener address 0.0.0.0:9000 (also "
              "listen[3].address)"});
}

TEST_CASE("errors: duplicate server within one upstream (but not across upstreams)") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
      - address: 127.0.0.1:3002
      - address: 127.0.0.1:3001
  other:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:8:18: upstreams.api.servers[2].address: duplicate server 127.0.0.1:3001 "
              "(also upstreams.api.servers[0].address)"});
}

TEST_CASE("errors: duplicate route (same prefix and host, host case-insensitive)") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: /, host: a.example.com }
    upstream: api
  - match: { prefix: / }
    upstream: api
  - match: { prefix: /, host: A.Example.com }
    upstream: api
)") == Errors{"t.yaml:12:12: routes[2].match: duplicate route: same prefix and host as routes[0]"});
}

TEST_CASE("errors: an upstream with no servers, or an empty servers list") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    keepalive: 8
  web:
    servers: []
  bare:
  nul:
    servers:
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:4:3: upstreams.api: has no servers",
              "t.yaml:7:14: upstreams.web.servers: must list at least one server",
              "t.yaml:8:3: upstreams.bare: has no servers",
              "t.yaml:10:5: upstreams.nul.servers: must list at least one server"});
}

TEST_CASE("errors: a route to an unknown upstream") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: /v1/ }
    upstream: apj
  - match: { prefix: / }
    upstream: frontend
)") == Errors{"t.yaml:9:15: routes[0].upstream: unknown upstream 'apj' (did you mean 'api'?)",
              "t.yaml:11:15: routes[1].upstream: unknown upstream 'frontend'"});
}

TEST_CASE("errors: no listener") {
  // Missing: the start of the file.
  CHECK(errorsOf(R"(upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:1:1: listen: at least one listener is required"});
  // Present but empty: the key.
  CHECK(errorsOf(R"(upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
listen: []
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:5:1: listen: at least one listener is required"});
  CHECK(errorsOf(R"(upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
listen:
)") == Errors{"t.yaml:8:1: listen: at least one listener is required"});
}

TEST_CASE("errors: no routes") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
)") == Errors{"t.yaml:1:1: routes: at least one route is required"});
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes: []
)") == Errors{"t.yaml:7:1: routes: at least one route is required"});
}

TEST_CASE("errors: an empty file lacks both listeners and routes") {
  CHECK(errorsOf("") == Errors{"t.yaml:1:1: listen: at least one listener is required",
                               "t.yaml:1:1: routes: at least one route is required"});
  CHECK(errorsOf("# nothing yet\n") ==
        Errors{"t.yaml:1:1: listen: at least one listener is required",
               "t.yaml:1:1: routes: at least one route is required"});
}

TEST_CASE("errors: the top level must be a map, and only one document") {
  CHECK(errorsOf("- listen\n- routes\n") ==
        Errors{"t.yaml:1:1: expected a map of settings at the top level, got a list"});
  CHECK(errorsOf(withBase("---\nworkers: 2\n")) ==
        Errors{"t.yaml:10:1: only one YAML document is allowed"});
}

TEST_CASE("errors: YAML syntax errors are one error at the parser's position") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api: { servers: [{ address: 127.0.0.1:3001 }
routes:
  - match: { prefix: / }
    upstream: api
)") == Errors{"t.yaml:5:1: invalid YAML: end of sequence flow not found"});
  CHECK(errorsOf("listen:\n\t- address: 127.0.0.1:8080\n") ==
        Errors{"t.yaml:2:2: invalid YAML: illegal block entry (YAML does not allow tabs for "
               "indentation)"});
  CHECK(errorsOf("workers: auto\n  listen: x\n") ==
        Errors{"t.yaml:2:9: invalid YAML: illegal map value"});
}

TEST_CASE("errors: a file that cannot be read") {
  const LoadResult missing = loadConfigFile("/nonexistent/edged.yaml");
  CHECK(missing.config == nullptr);
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0].str() ==
        "/nonexistent/edged.yaml:0:0: cannot read: No such file or directory");
  const LoadResult directory = loadConfigFile("/");
  REQUIRE(directory.errors.size() == 1);
  CHECK(directory.errors[0].str() == "/:0:0: cannot read: Is a directory");
}

TEST_CASE("errors: missing required keys point at the map that lacks them") {
  CHECK(errorsOf(R"(listen:
  - backlog: 10
upstreams:
  api:
    servers:
      - weight: 2
routes:
  - upstream: api
  - match: { host: a.com }
    upstream: api
  - match: { prefix: /x }
admin: {}
)") == Errors{"t.yaml:2:5: listen[0]: missing required key 'address'",
              "t.yaml:6:9: upstreams.api.servers[0]: missing required key 'address'",
              "t.yaml:8:5: routes[0]: missing required key 'match'",
              "t.yaml:9:12: routes[1].match: missing required key 'prefix'",
              "t.yaml:11:5: routes[2]: missing required key 'upstream'",
              "t.yaml:12:8: admin: missing required key 'address'"});
}

TEST_CASE("errors: value forms checked beyond their type") {
  CHECK(errorsOf(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    balance: hash
    hash_key: $header_x
    servers:
      - address: 127.0.0.1:3001
    health:
      check: { path: healthz, initially: sick }
  web:
    balance: least_con
    servers:
      - address: 127.0.0.1:3002
  "bad name":
    hash_key: $uri
    retry_on: [502, 418]
    servers:
      - address: 127.0.0.1:3003
routes:
  - match: { prefix: api, host: "a.com:80" }
    upstream: api
admin: { address: 127.0.0.1:8080 }
access_log: { path: "", format: xml }
)") == Errors{
           "t.yaml:6:15: upstreams.api.hash_key: must be $remote_addr, $uri, $http_<name> "
           "or $cookie_<name>, got '$header_x'",
           "t.yaml:10:22: upstreams.api.health.check.path: must start with '/' and contain "
           "no spaces, got 'healthz'",
           "t.yaml:10:42: upstreams.api.health.check.initially: must be one of healthy, "
           "unhealthy, got 'sick'",
           "t.yaml:12:14: upstreams.web.balance: must be one of round_robin, least_conn, "
           "hash, random_two, got 'least_con' (did you mean 'least_conn'?)",
           "t.yaml:15:3: upstreams.bad name: upstream names may contain only letters, "
           "digits, '_', '.' and '-'",
           "t.yaml:16:5: upstreams.bad name.hash_key: only used with 'balance: hash'",
           "t.yaml:17:21: upstreams.bad name.retry_on[1]: must be one of connect_failure, "
           "timeout, 500, 502, 503, 504, 429, got '418'",
           "t.yaml:21:22: routes[0].match.prefix: must start with '/' and contain no "
           "spaces, got 'api'",
           "t.yaml:21:33: routes[0].match.host: must be a host name without a port, got "
           "'a.com:80'",
           "t.yaml:23:19: admin.address: same address as a listener (127.0.0.1:8080)",
           "t.yaml:24:21: access_log.path: must not be empty",
           "t.yaml:24:33: access_log.format: must be one of combined, json, got 'xml'",
       });
}

TEST_CASE("errors: admin on a listener's address, whichever comes first in the file") {
  CHECK(errorsOf("admin: { address: 127.0.0.1:8080 }\n" + withBase("")) ==
        Errors{"t.yaml:1:19: admin.address: same address as a listener (127.0.0.1:8080)"});
  // A different port is fine.
  CHECK(loadConfigString("admin: { address: 127.0.0.1:9901 }\n" + withBase(""), "t.yaml").ok());
}

TEST_CASE("errors: every error is collected in one pass, sorted in file order") {
  // Routes come before upstreams here, and route resolution runs last: the sort must still put
  // the unknown-upstream error first.
  const Errors errors = errorsOf(R"(routes:
  - match: { prefix: / }
    upstream: nope
workers: many
listen:
  - address: 127.0.0.1:8080
    backlog: -3
timeouts:
  conect: 5s
upstreams:
  api:
    servers:
      - address: localhost
        weight: 0
)");
  CHECK(errors == Errors{"t.yaml:3:15: routes[0].upstream: unknown upstream 'nope'",
                         "t.yaml:4:10: workers: must be 'auto' or 1..256, got 'many'",
                         "t.yaml:7:14: listen[0].backlog: must be 1..65535, got -3",
                         "t.yaml:9:3: timeouts.conect: unknown key (did you mean 'connect'?)",
                         "t.yaml:13:18: upstreams.api.servers[0].address: bad address 'localhost': "
                         "expected HOST:PORT",
                         "t.yaml:14:17: upstreams.api.servers[0].weight: must be 1..1000, got 0"});
}

TEST_CASE("errors: loadConfigString never throws, whatever the input") {
  for (std::string_view text :
       {std::string_view("{"), std::string_view("]]]"), std::string_view("\0\1\2", 3),
        std::string_view("a: *nope"), std::string_view("? [a, b]\n: c\n"),
        std::string_view("listen: [[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]"),
        std::string_view("upstreams: { x: { servers: [ ~, 5, [] ] } }")}) {
    CAPTURE(text);
    LoadResult result;
    CHECK_NOTHROW(result = loadConfigString(text, "t.yaml"));
    CHECK_FALSE(result.ok());
    CHECK_FALSE(result.errors.empty());
  }
}

}  // namespace
}  // namespace edged::conf
