// tests/unit/conf/config_shared_cache_test.cpp — `cache.shared` (the Redis second tier): its
// defaults, every key, and every error with its FILE:LINE:COL.
#include <doctest.h>

#include <string>

#include "conf/config.h"
#include "tests/unit/conf/conf_test_support.h"

namespace edged::conf {
namespace {

using namespace test;

TEST_SUITE("conf/cache.shared") {

TEST_CASE("cache.shared: absent means no second tier; defaults as the issue gives them") {
  const LoadResult none = loadConfigString(withBase("cache:\n  memory: 64MiB\n"), "t.yaml");
  REQUIRE(none.ok());
  CHECK_FALSE(none.config->cache.shared);

  const LoadResult r = loadConfigString(withBase("cache:\n  shared:\n    redis: 127.0.0.1:6379\n"), "t.yaml");
  INFO(joinErrors(r));
  REQUIRE(r.ok());
  REQUIRE(r.config->cache.shared);
  const SharedCacheConfig& s = *r.config->cache.shared;
  CHECK(s.redis.text == "127.0.0.1:6379");
  CHECK(s.redis.port() == 6379);
  CHECK(s.key_prefix == "edged:");
  CHECK(s.max_object == 1ull << 20);
  CHECK(s.timeout == Duration(20));
}

TEST_CASE("cache.shared: every key") {
  const LoadResult r = loadConfigString(
      withBase("cache:\n  shared:\n    redis: \"[::1]:6380\"\n    key_prefix: \"site1:\"\n"
               "    max_object: 256KiB\n    timeout: 5ms\n"),
      "t.yaml");
  INFO(joinErrors(r));
  REQUIRE(r.ok());
  const SharedCacheConfig& s = *r.config->cache.shared;
  CHECK(s.redis.port() == 6380);
  CHECK(s.key_prefix == "site1:");
  CHECK(s.max_object == 256ull << 10);
  CHECK(s.timeout == Duration(5));
}

TEST_CASE("cache.shared: Sentinel addresses and the master's name") {
  const LoadResult r = loadConfigString(
      withBase("cache:\n  shared:\n    redis: { sentinels: [127.0.0.1:26379, \"[::1]:26380\"], master: mymaster }\n"),
      "t.yaml");
  INFO(joinErrors(r));
  REQUIRE(r.ok());
  const SharedCacheConfig& s = *r.config->cache.shared;
  REQUIRE(s.sentinels.size() == 2);
  CHECK(s.sentinels[1].port() == 26380);
  CHECK(s.master == "mymaster");
}

TEST_CASE("cache.shared: every bad value is reported at its position") {
  CHECK(errorsOf(withBase("cache:\n  shared:\n    key_prefix: x\n")) ==
        Errors{"t.yaml:12:5: cache.shared: needs `redis: HOST:PORT` or `redis: { sentinels: [...], master: NAME }`"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: { master: m }\n")) ==
        Errors{"t.yaml:12:12: cache.shared.redis: a Sentinel setup needs `sentinels: [HOST:PORT, ...]` and `master: NAME`"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: { sentinels: [nope], master: m }\n")) ==
        Errors{"t.yaml:12:26: cache.shared.redis.sentinels[0]: bad address 'nope': expected HOST:PORT"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: localhost\n")) ==
        Errors{"t.yaml:12:12: cache.shared.redis: bad address 'localhost': expected HOST:PORT"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    key_prefix: \"a b\"\n")) ==
        Errors{"t.yaml:13:17: cache.shared.key_prefix: must be 1..64 characters without spaces or glob "
               "characters (* ? [ ]), got 'a b'"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    max_object: 1GiB\n")) ==
        Errors{"t.yaml:13:17: cache.shared.max_object: must be 1..512MiB, got 1GiB"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    timeout: 0ms\n")) ==
        Errors{"t.yaml:13:14: cache.shared.timeout: must be greater than 0"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    timeout: 1m\n")) ==
        Errors{"t.yaml:13:14: cache.shared.timeout: must be at most 10s (a lookup delays the request by up "
               "to this long)"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    sentinel: x\n")) ==
        Errors{"t.yaml:13:5: cache.shared.sentinel: unknown key"});
}

TEST_CASE("cache.shared: collapsing across instances (collapse, lock_timeout, lock_ttl)") {
  const LoadResult d = loadConfigString(withBase("cache:\n  shared:\n    redis: 127.0.0.1:6379\n"), "t.yaml");
  REQUIRE(d.ok());
  CHECK(d.config->cache.shared->collapse);  // on, like the in-process collapsing
  CHECK(d.config->cache.shared->lock_timeout == Duration(5000));
  CHECK(d.config->cache.shared->lock_ttl == Duration(5000));

  const LoadResult r = loadConfigString(
      withBase("cache:\n  shared:\n    redis: 127.0.0.1:6379\n    collapse: off\n    lock_timeout: 2s\n"
               "    lock_ttl: 750ms\n"),
      "t.yaml");
  INFO(joinErrors(r));
  REQUIRE(r.ok());
  CHECK_FALSE(r.config->cache.shared->collapse);
  CHECK(r.config->cache.shared->lock_timeout == Duration(2000));
  CHECK(r.config->cache.shared->lock_ttl == Duration(750));

  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    collapse: maybe\n")) ==
        Errors{"t.yaml:13:15: cache.shared.collapse: expected true or false, got 'maybe'"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    lock_timeout: 0s\n")) ==
        Errors{"t.yaml:13:19: cache.shared.lock_timeout: must be greater than 0"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    lock_timeout: 2m\n")) ==
        Errors{"t.yaml:13:19: cache.shared.lock_timeout: must be at most 1m (a waiting request is held up to "
               "this long)"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    lock_ttl: soon\n")) ==
        Errors{"t.yaml:13:15: cache.shared.lock_ttl: bad duration 'soon' (use e.g. 250ms, 5s, 2m, 1h, 1d)"});
  CHECK(errorsOf(withBase("cache:\n  shared:\n    redis: 127.0.0.1:1\n    lock_ttl: 1h\n")) ==
        Errors{"t.yaml:13:15: cache.shared.lock_ttl: must be at most 10m (a lock whose owner died blocks the "
               "key's fills this long)"});
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::conf
