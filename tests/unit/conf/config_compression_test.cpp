// tests/unit/conf/config_compression_test.cpp — the `compression:` section: defaults, the top
// level, each per-route form (absent, off, on, a map), and every error with its FILE:LINE:COL.
#include <doctest.h>

#include <string>
#include <vector>

#include "conf/config.h"
#include "tests/unit/conf/conf_test_support.h"

namespace edged::conf {
namespace {

using namespace test;
using enum CompressionAlgorithm;

const std::vector<std::string> kDefaultTypes{"text/*", "application/json",
                                             "application/javascript", "application/xml",
                                             "image/svg+xml"};

void checkDefaultsExceptEnabled(const CompressionConfig& c) {
  CHECK(c.algorithms == std::vector<CompressionAlgorithm>{Brotli, Zstd, Gzip});
  CHECK(c.min_length == 1024);
  CHECK(c.gzip_level == 6);
  CHECK(c.br_level == 4);
  CHECK(c.zstd_level == 3);
  CHECK(c.types == kDefaultTypes);
}

TEST_SUITE("conf/compression") {

TEST_CASE("compression: without a section it is off, with the spec's defaults") {
  const LoadResult result = loadConfigString(kBase, "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK_FALSE(c.compression.enabled);
  checkDefaultsExceptEnabled(c.compression);
  CHECK_FALSE(c.routes[0].compression.has_value());
  CHECK(&c.compressionFor(c.routes[0]) == &c.compression);
  CHECK_FALSE(CompressionConfig{}.enabled);
  checkDefaultsExceptEnabled(CompressionConfig{});
}

TEST_CASE("compression: a top-level map turns it on and overrides the defaults it names") {
  const LoadResult result = loadConfigString(withBase(R"(compression:
  algorithms: [gzip, Brotli]
  min_length: 2KiB
  level: { gzip: 9, br: 0, zstd: 19 }
  types: [Text/HTML, application/*, "*/*"]
)"),
                                             "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const CompressionConfig& c = result.config->compression;
  CHECK(c.enabled);
  CHECK(c.algorithms == std::vector<CompressionAlgorithm>{Gzip, Brotli});
  CHECK(c.min_length == 2048);
  CHECK(c.gzip_level == 9);
  CHECK(c.br_level == 0);
  CHECK(c.zstd_level == 19);
  CHECK(c.types == std::vector<std::string>{"text/html", "application/*", "*/*"});
}

TEST_CASE("compression: top-level forms that only switch it") {
  SUBCASE("an empty section is on with the defaults") {
    const LoadResult result = loadConfigString(withBase("compression:\n"), "t.yaml");
    REQUIRE(result.ok());
    CHECK(result.config->compression.enabled);
    checkDefaultsExceptEnabled(result.config->compression);
  }
  SUBCASE("a map with enabled: false stays off but keeps its values for routes") {
    const LoadResult result = loadConfigString(
        withBase("compression:\n  enabled: false\n  level: { gzip: 1 }\n"), "t.yaml");
    REQUIRE(result.ok());
    CHECK_FALSE(result.config->compression.enabled);
    CHECK(result.config->compression.gzip_level == 1);
  }
  SUBCASE("on and off") {
    const LoadResult on = loadConfigString(withBase("compression: on\n"), "t.yaml");
    REQUIRE(on.ok());
    CHECK(on.config->compression.enabled);
    checkDefaultsExceptEnabled(on.config->compression);
    const LoadResult off = loadConfigString(withBase("compression: false\n"), "t.yaml");
    REQUIRE(off.ok());
    CHECK_FALSE(off.config->compression.enabled);
  }
}

TEST_CASE("compression: per route inherit, off, on, and a map over the top level") {
  // `compression:` after `routes:` on purpose: routes still build on the top level's values.
  const LoadResult result = loadConfigString(R"(listen: [{ address: 127.0.0.1:8080 }]
upstreams:
  api:
    servers: [{ address: 127.0.0.1:3001 }]
routes:
  - match: { prefix: /inherit/ }
    upstream: api
  - match: { prefix: /api/ }
    upstream: api
    compression: off
  - match: { prefix: /off-too/ }
    upstream: api
    compression: false
  - match: { prefix: /map/ }
    upstream: api
    compression:
      algorithms: [zstd]
      level: { zstd: 7 }
  - match: { prefix: /on/ }
    upstream: api
    compression: on
  - match: { prefix: /map-off/ }
    upstream: api
    compression: { enabled: false, min_length: 0 }
compression:
  enabled: false
  min_length: 4096
  level: { gzip: 5 }
)",
                                             "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  REQUIRE(c.routes.size() == 6);
  CHECK_FALSE(c.compression.enabled);

  const RouteConfig& inherit = c.routes[0];
  CHECK_FALSE(inherit.compression.has_value());
  CHECK(&c.compressionFor(inherit) == &c.compression);

  for (size_t i : {1, 2}) {
    CAPTURE(i);
    REQUIRE(c.routes[i].compression.has_value());
    CHECK_FALSE(c.routes[i].compression->enabled);
    CHECK(c.routes[i].compression->min_length == 4096);
  }

  REQUIRE(c.routes[3].compression.has_value());
  const CompressionConfig& map = *c.routes[3].compression;
  CHECK(map.enabled);
  CHECK(map.algorithms == std::vector<CompressionAlgorithm>{Zstd});
  CHECK(map.zstd_level == 7);
  CHECK(map.gzip_level == 5);     // from the top level
  CHECK(map.min_length == 4096);  // from the top level
  CHECK(map.br_level == 4);       // default
  CHECK(map.types == kDefaultTypes);
  CHECK(&c.compressionFor(c.routes[3]) == &map);

  REQUIRE(c.routes[4].compression.has_value());
  CHECK(c.routes[4].compression->enabled);
  CHECK(c.routes[4].compression->gzip_level == 5);
  CHECK(c.routes[4].compression->min_length == 4096);

  REQUIRE(c.routes[5].compression.has_value());
  CHECK_FALSE(c.routes[5].compression->enabled);
  CHECK(c.routes[5].compression->min_length == 0);
}

TEST_CASE("compression errors: unknown keys suggest the nearest known one") {
  CHECK(errorsOf(withBase("compression:\n  min_lenght: 10\n  levels: { gzip: 1 }\n")) ==
        Errors{"t.yaml:11:3: compression.min_lenght: unknown key (did you mean 'min_length'?)",
               "t.yaml:12:3: compression.levels: unknown key (did you mean 'level'?)"});
  CHECK(errorsOf(withBase("compression:\n  level: { gzp: 1, bro: 2 }\n")) ==
        Errors{"t.yaml:11:12: compression.level.gzp: unknown key (did you mean 'gzip'?)",
               "t.yaml:11:20: compression.level.bro: unknown key (did you mean 'br'?)"});
  CHECK(errorsOf(withBase("    compression: { algoritms: [br] }\n")) ==
        Errors{"t.yaml:10:20: routes[0].compression.algoritms: unknown key (did you mean "
               "'algorithms'?)"});
  CHECK(errorsOf(withBase("    compresion: off\n")) ==
        Errors{"t.yaml:10:5: routes[0].compresion: unknown key (did you mean 'compression'?)"});
}

TEST_CASE("compression errors: the value's shape") {
  CHECK(errorsOf(withBase("compression: maybe\n")) ==
        Errors{"t.yaml:10:14: compression: expected off, on or a map of settings, got 'maybe'"});
  CHECK(errorsOf(withBase("    compression: [gzip]\n")) ==
        Errors{"t.yaml:10:18: routes[0].compression: expected off, on or a map of settings, got "
               "a list"});
  CHECK(errorsOf(withBase("compression:\n  enabled: sometimes\n")) ==
        Errors{"t.yaml:11:12: compression.enabled: expected true or false, got 'sometimes'"});
}

TEST_CASE("compression errors: algorithms") {
  CHECK(errorsOf(withBase("compression:\n  algorithms: [br, gzipp, deflate]\n")) ==
        Errors{"t.yaml:11:20: compression.algorithms[1]: must be one of br, zstd, gzip, got "
               "'gzipp' (did you mean 'gzip'?)",
               "t.yaml:11:27: compression.algorithms[2]: must be one of br, zstd, gzip, got "
               "'deflate'"});
  CHECK(errorsOf(withBase("compression:\n  algorithms: [gzip, br, GZIP, brotli]\n")) ==
        Errors{"t.yaml:11:26: compression.algorithms[2]: duplicate algorithm gzip (also "
               "compression.algorithms[0])",
               "t.yaml:11:32: compression.algorithms[3]: duplicate algorithm br (also "
               "compression.algorithms[1])"});
  CHECK(errorsOf(withBase("compression:\n  algorithms: []\n")) ==
        Errors{"t.yaml:11:15: compression.algorithms: must list at least one of br, zstd, gzip"});
  CHECK(errorsOf(withBase("compression:\n  algorithms:\n")) ==
        Errors{"t.yaml:11:3: compression.algorithms: must list at least one of br, zstd, gzip"});
  CHECK(errorsOf(withBase("compression:\n  algorithms: gzip\n")) ==
        Errors{"t.yaml:11:15: compression.algorithms: expected a list, got 'gzip'"});
}

TEST_CASE("compression errors: levels") {
  CHECK(errorsOf(withBase("compression:\n  level: { gzip: 0, zstd: 20 }\n")) ==
        Errors{"t.yaml:11:18: compression.level.gzip: must be 1..9, got 0",
               "t.yaml:11:27: compression.level.zstd: must be 1..19, got 20"});
  CHECK(errorsOf(withBase("compression:\n  level: { gzip: 10, zstd: -1 }\n")) ==
        Errors{"t.yaml:11:18: compression.level.gzip: must be 1..9, got 10",
               "t.yaml:11:28: compression.level.zstd: must be 1..19, got -1"});
  CHECK(errorsOf(withBase("compression:\n  level: { gzip: fast }\n")) ==
        Errors{"t.yaml:11:18: compression.level.gzip: expected an integer, got 'fast'"});
  // Valid brotli qualities, but too expensive per stream for a proxy.
  for (const char* q : {"5", "9", "11"}) {
    CAPTURE(q);
    CHECK(errorsOf(withBase(std::string("compression:\n  level: { br: ") + q + " }\n")) ==
          Errors{std::string("t.yaml:11:16: compression.level.br: br levels above 4 need tens of "
                             "MiB per stream; use 4 or less (got ") +
                 q + ")"});
  }
  CHECK(errorsOf(withBase("compression:\n  level: { br: 12 }\n")) ==
        Errors{"t.yaml:11:16: compression.level.br: must be 0..4, got 12"});
  CHECK(errorsOf(withBase("compression:\n  level: { br: -1 }\n")) ==
        Errors{"t.yaml:11:16: compression.level.br: must be 0..4, got -1"});
  CHECK(errorsOf(withBase("    compression:\n      level: { brotli: 9 }\n")) ==
        Errors{"t.yaml:11:24: routes[0].compression.level.brotli: br levels above 4 need tens of "
               "MiB per stream; use 4 or less (got 9)"});
  CHECK(errorsOf(withBase("compression:\n  level: { br: 1, brotli: 2 }\n")) ==
        Errors{"t.yaml:11:19: compression.level.brotli: same as 'br' (first defined at line 11)"});
  CHECK(errorsOf(withBase("compression:\n  level: 6\n")) ==
        Errors{"t.yaml:11:10: compression.level: expected a map, got '6'"});
}

TEST_CASE("compression: brotli as a level key and as an algorithm") {
  const LoadResult result = loadConfigString(
      withBase("compression:\n  algorithms: [brotli]\n  level: { brotli: 2 }\n"), "t.yaml");
  INFO(joinErrors(result));
  REQUIRE(result.ok());
  CHECK(result.config->compression.algorithms == std::vector<CompressionAlgorithm>{Brotli});
  CHECK(result.config->compression.br_level == 2);
}

TEST_CASE("compression errors: min_length") {
  CHECK(errorsOf(withBase("compression:\n  min_length: 1kb2\n")) ==
        Errors{"t.yaml:11:15: compression.min_length: bad size '1kb2' (use e.g. 512, 16KiB, "
               "10MiB, 1GiB)"});
  CHECK(errorsOf(withBase("    compression: { min_length: -5 }\n")) ==
        Errors{"t.yaml:10:32: routes[0].compression.min_length: bad size '-5' (use e.g. 512, "
               "16KiB, 10MiB, 1GiB)"});
}

TEST_CASE("compression errors: types") {
  constexpr std::string_view kBadTypes =
      "compression:\n  types: [text, \"text/html; charset=utf-8\", \"*/json\", a/b/c, \"\"]\n";
  CHECK(errorsOf(withBase(kBadTypes)) ==
        Errors{"t.yaml:11:11: compression.types[0]: must be a media type such as text/html or "
               "text/* (no parameters), got 'text'",
               "t.yaml:11:17: compression.types[1]: must be a media type such as text/html or "
               "text/* (no parameters), got 'text/html; charset=utf-8'",
               "t.yaml:11:45: compression.types[2]: must be a media type such as text/html or "
               "text/* (no parameters), got '*/json'",
               "t.yaml:11:55: compression.types[3]: must be a media type such as text/html or "
               "text/* (no parameters), got 'a/b/c'",
               "t.yaml:11:62: compression.types[4]: must not be empty"});
  CHECK(errorsOf(withBase("compression:\n  types: [text/html, Text/HTML]\n")) ==
        Errors{"t.yaml:11:22: compression.types[1]: duplicate media type text/html (also "
               "compression.types[0])"});
  CHECK(errorsOf(withBase("compression:\n  types: []\n")) ==
        Errors{"t.yaml:11:10: compression.types: must list at least one media type (use "
               "'compression: off' to disable)"});
  CHECK(errorsOf(withBase("compression:\n  types: [[text/html]]\n")) ==
        Errors{"t.yaml:11:11: compression.types[0]: expected a string, got a list"});
}

TEST_CASE("compression errors: a bad route compression is reported even when the route is bad") {
  CHECK(errorsOf(withBase(R"(  - match: { prefix: nope }
    upstream: api
    compression: { level: { gzip: 11 } }
)")) == Errors{"t.yaml:10:22: routes[1].match.prefix: must start with '/' and contain no spaces, "
               "got 'nope'",
               "t.yaml:12:35: routes[1].compression.level.gzip: must be 1..9, got 11"});
}

}  // TEST_SUITE

}  // namespace
}  // namespace edged::conf
