// tests/unit/conf/config_cache_test.cpp — the `cache:` sections: defaults, the top level, each
// per-route form (absent, off, on, a map), and every error with its FILE:LINE:COL.
#include <doctest.h>

#include <string>
#include <vector>

#include "conf/config.h"
#include "tests/unit/conf/conf_test_support.h"

namespace edged::conf {
namespace {

using namespace test;

// kBase with a second route (lines 10..) whose cache setting is `route_cache`.
std::string withRoute(std::string_view route_cache, std::string_view top = "") {
  return withBase(std::string("  - match: { prefix: /c/ }\n    upstream: api\n    cache: ") +
                  std::string(route_cache) + "\n" + std::string(top));
}

TEST_SUITE("conf/cache") {

TEST_CASE("cache: nothing is cached without a route opting in; defaults like nginx/Varnish") {
  const LoadResult result = loadConfigString(withBase("cache:\n  memory: 64MiB\n"), "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK(c.cache.memory == 64ull << 20);
  CHECK(c.cache.max_object == 8ull << 20);
  CHECK_FALSE(c.routes[0].cached());
  CHECK_FALSE(c.cache.defaults.enabled);
  CHECK(CacheConfig{}.memory == 256ull << 20);
  CHECK(RouteCacheConfig{}.lock_timeout == Duration(5000));
  CHECK(CacheConfig{}.tag_headers == std::vector<std::string>{"Surrogate-Key", "Cache-Tag"});
}

TEST_CASE("cache: `on` without a top-level block uses the defaults") {
  const LoadResult result = loadConfigString(withRoute("on"), "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK_FALSE(c.routes[0].cached());
  REQUIRE(c.routes[1].cached());
  CHECK(c.routes[1].cache->lock_timeout == Duration(5000));
  CHECK(c.routes[1].cache->default_ttl == Duration(0));
  CHECK_FALSE(c.routes[1].cache->store_set_cookie);
  CHECK(c.cache.memory == 256ull << 20);
}

TEST_CASE("cache: `off` and `enabled: false` turn it off") {
  for (std::string_view v : {"off", "false", "{ enabled: false }"}) {
    const LoadResult result = loadConfigString(withRoute(v), "t.yaml");
    INFO(v, joinErrors(result));
    REQUIRE(result.ok());
    CHECK(result.config->routes[1].cache.has_value());
    CHECK_FALSE(result.config->routes[1].cached());
  }
}

TEST_CASE("cache: a route map overrides the top-level defaults it names") {
  const LoadResult result = loadConfigString(
      withRoute("{ ignore_query: [utm_*, fbclid], stale_while_revalidate: 30s, lock_timeout: 2s }",
                "cache:\n  max_object: 1MiB\n  purge_allow: [127.0.0.1/32, \"::1/128\", 10.0.0.1]\n"
                "  tag_headers: [X-Tags]\n  stale_if_error: 5m\n  default_ttl: 10s\n  store_set_cookie: true\n"
                "  key: \"$scheme://$host$uri?$args|$http_x_tenant|$cookie_s\"\n"),
      "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK(c.cache.max_object == 1ull << 20);
  CHECK(c.cache.purge_allow == std::vector<std::string>{"127.0.0.1/32", "::1/128", "10.0.0.1"});
  CHECK(c.cache.tag_headers == std::vector<std::string>{"X-Tags"});
  REQUIRE(c.routes[1].cached());
  const RouteCacheConfig& r = *c.routes[1].cache;
  CHECK(r.ignore_query == std::vector<std::string>{"utm_*", "fbclid"});
  CHECK(r.stale_while_revalidate == Duration(30000));
  CHECK(r.stale_if_error == Duration(300000));  // from the top level
  CHECK(r.default_ttl == Duration(10000));
  CHECK(r.store_set_cookie);  // from the top level
  CHECK(r.lock_timeout == Duration(2000));
  CHECK(r.key == "$scheme://$host$uri?$args|$http_x_tenant|$cookie_s");
}

TEST_CASE("cache: every bad value is reported at its position") {
  CHECK(errorsOf(withRoute("maybe")) ==
        Errors{"t.yaml:12:12: routes[1].cache: expected off, on or a map of settings, got 'maybe'"});
  CHECK(errorsOf(withRoute("{ lock_timeout: 0s }")) ==
        Errors{"t.yaml:12:28: routes[1].cache.lock_timeout: must be greater than 0"});
  CHECK(errorsOf(withRoute("{ ttl: 5s }")) ==
        Errors{"t.yaml:12:14: routes[1].cache.ttl: unknown key"});
  CHECK(errorsOf(withRoute("on", "cache:\n  key: \"$host$path\"\n")) ==
        Errors{"t.yaml:14:8: cache.key: unknown variable '$path' (use $scheme, $host, $request_uri, "
               "$uri, $args, $http_NAME, $cookie_NAME)"});
  CHECK(errorsOf(withBase("cache:\n  purge_allow: [10.0.0.0/33, nope]\n")) ==
        Errors{"t.yaml:11:17: cache.purge_allow[0]: bad address or CIDR prefix '10.0.0.0/33' (use e.g. "
               "127.0.0.1/32 or ::1/128)",
               "t.yaml:11:30: cache.purge_allow[1]: bad address or CIDR prefix 'nope' (use e.g. "
               "127.0.0.1/32 or ::1/128)"});
  CHECK(errorsOf(withBase("cache:\n  memory: 2MiB\n  max_object: 4MiB\n")) ==
        Errors{"t.yaml:12:15: cache.max_object: must not be larger than cache.memory"});
  CHECK(errorsOf(withBase("cache:\n  memory: 10\n")) ==
        Errors{"t.yaml:11:11: cache.memory: must be 1MiB..1TiB, got 10"});
  CHECK(errorsOf(withBase("cache:\n  tag_headers: [\"bad header\"]\n")) ==
        Errors{"t.yaml:11:17: cache.tag_headers[0]: bad header name 'bad header'"});
  CHECK(errorsOf(withBase("cache:\n  ignore_query: [\"a=b\"]\n")) ==
        Errors{"t.yaml:11:18: cache.ignore_query[0]: must be a query parameter name or glob (no spaces, '&' "
               "or '='), got 'a=b'"});
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::conf
