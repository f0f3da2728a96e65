// tests/unit/proxy/router_test.cpp — route matching: longest prefix, host (case, port), order.
#include <doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "proxy/router.h"

namespace edged::proxy {
namespace {

conf::RouteConfig route(std::string prefix, std::string host = {}) {
  conf::RouteConfig r;
  r.prefix = std::move(prefix);
  r.host = std::move(host);
  return r;
}

TEST_CASE("Router: the longest matching prefix wins, whatever the file order") {
  const std::vector<conf::RouteConfig> routes = {route("/"), route("/api/v1/"), route("/api/"),
                                                 route("/api/v1/users")};
  const Router router(routes);
  CHECK(router.match("example.com", "/") == std::optional<size_t>(0));
  CHECK(router.match("example.com", "/index.html") == std::optional<size_t>(0));
  CHECK(router.match("example.com", "/api/") == std::optional<size_t>(2));
  CHECK(router.match("example.com", "/api/x") == std::optional<size_t>(2));
  CHECK(router.match("example.com", "/api/v1/") == std::optional<size_t>(1));
  CHECK(router.match("example.com", "/api/v1/orders") == std::optional<size_t>(1));
  CHECK(router.match("example.com", "/api/v1/users") == std::optional<size_t>(3));
  CHECK(router.match("example.com", "/api/v1/users/42") == std::optional<size_t>(3));
  // "/api" without the slash is shorter than "/api/": only "/" matches it.
  CHECK(router.match("example.com", "/api") == std::optional<size_t>(0));
}

TEST_CASE("Router: prefixes are compared case-sensitively, byte for byte") {
  const std::vector<conf::RouteConfig> routes = {route("/"), route("/Admin/")};
  const Router router(routes);
  CHECK(router.match("h", "/Admin/x") == std::optional<size_t>(1));
  CHECK(router.match("h", "/admin/x") == std::optional<size_t>(0));
}

TEST_CASE("Router: no matching route gives nullopt") {
  SUBCASE("no routes at all") {
    const Router router(std::vector<conf::RouteConfig>{});
    CHECK_FALSE(router.match("example.com", "/").has_value());
  }
  SUBCASE("no prefix matches") {
    const std::vector<conf::RouteConfig> routes = {route("/api/"), route("/static/")};
    const Router router(routes);
    CHECK_FALSE(router.match("example.com", "/").has_value());
    CHECK_FALSE(router.match("example.com", "/ap").has_value());
    CHECK_FALSE(router.match("example.com", "/other/api/").has_value());
  }
  SUBCASE("prefix matches but only for another host") {
    const std::vector<conf::RouteConfig> routes = {route("/", "a.example"), route("/x/", "b.example")};
    const Router router(routes);
    CHECK_FALSE(router.match("c.example", "/").has_value());
    CHECK_FALSE(router.match("c.example", "/x/y").has_value());
    CHECK_FALSE(router.match("", "/").has_value());
    CHECK(router.match("a.example", "/x/y") == std::optional<size_t>(0));
  }
}

TEST_CASE("Router: host is matched case-insensitively with any port removed") {
  const std::vector<conf::RouteConfig> routes = {route("/", "Example.COM"), route("/", "[::1]"),
                                                 route("/", "api.example:8443")};
  const Router router(routes);
  CHECK(router.match("example.com", "/") == std::optional<size_t>(0));
  CHECK(router.match("EXAMPLE.com", "/") == std::optional<size_t>(0));
  CHECK(router.match("example.com:8080", "/") == std::optional<size_t>(0));
  CHECK(router.match("eXample.Com:80", "/a") == std::optional<size_t>(0));
  CHECK(router.match("[::1]", "/") == std::optional<size_t>(1));
  CHECK(router.match("[::1]:8080", "/") == std::optional<size_t>(1));
  // A port written in the route's host is ignored too.
  CHECK(router.match("API.example", "/") == std::optional<size_t>(2));
  CHECK(router.match("api.example:1", "/") == std::optional<size_t>(2));
  // Not a suffix/prefix match.
  CHECK_FALSE(router.match("www.example.com", "/").has_value());
  CHECK_FALSE(router.match("example.co", "/").has_value());
  CHECK_FALSE(router.match("[::2]:8080", "/").has_value());
}

TEST_CASE("Router: at equal prefix a host route beats a host-less one, in either file order") {
  SUBCASE("host-less first in the file") {
    const std::vector<conf::RouteConfig> routes = {route("/app/"), route("/app/", "shop.example")};
    const Router router(routes);
    CHECK(router.match("shop.example", "/app/x") == std::optional<size_t>(1));
    CHECK(router.match("SHOP.example:8080", "/app/x") == std::optional<size_t>(1));
    CHECK(router.match("other.example", "/app/x") == std::optional<size_t>(0));
  }
  SUBCASE("host route first in the file") {
    const std::vector<conf::RouteConfig> routes = {route("/app/", "shop.example"), route("/app/")};
    const Router router(routes);
    CHECK(router.match("shop.example", "/app/x") == std::optional<size_t>(0));
    CHECK(router.match("other.example", "/app/x") == std::optional<size_t>(1));
  }
  SUBCASE("a longer host-less prefix still beats a shorter host route") {
    const std::vector<conf::RouteConfig> routes = {route("/", "shop.example"), route("/app/")};
    const Router router(routes);
    CHECK(router.match("shop.example", "/app/x") == std::optional<size_t>(1));
    CHECK(router.match("shop.example", "/other") == std::optional<size_t>(0));
  }
}

TEST_CASE("Router: among equal routes the first in the file wins") {
  const std::vector<conf::RouteConfig> routes = {
      route("/x/"), route("/x/"), route("/y/", "h.example"), route("/y/", "H.EXAMPLE:81"),
      route("/y/"), route("/y/")};
  const Router router(routes);
  CHECK(router.match("anything", "/x/1") == std::optional<size_t>(0));
  CHECK(router.match("h.example", "/y/1") == std::optional<size_t>(2));
  CHECK(router.match("other", "/y/1") == std::optional<size_t>(4));
}

}  // namespace
}  // namespace edged::proxy
