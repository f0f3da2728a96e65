// tests/unit/cache/cache_filter_test.cpp — the pure parts of the cache filter's settings: who may
// send PURGE (IPv4 prefixes also match IPv4-mapped IPv6 clients; IPv6 prefixes; bare addresses).
#include <doctest.h>

#include "cache/cache_filter.h"

namespace edged::cache {
namespace {

TEST_SUITE("cache/filter") {

TEST_CASE("purge_allow: prefixes, bare addresses, both families, malformed input refused") {
  CacheSettings s;
  CHECK(s.allowPurgeFrom("127.0.0.1/32"));
  CHECK(s.allowPurgeFrom("10.0.0.0/8"));
  CHECK(s.allowPurgeFrom("::1/128"));
  CHECK(s.allowPurgeFrom("2001:db8::/33"));
  CHECK(s.allowPurgeFrom("192.0.2.7"));
  CHECK_FALSE(s.allowPurgeFrom("nope"));
  CHECK_FALSE(s.allowPurgeFrom("300.0.0.1/8"));
  struct Row {
    const char* address;
    bool allowed;
  };
  const Row rows[] = {
      {"127.0.0.1", true},        {"127.0.0.2", false},        {"::ffff:127.0.0.1", true},
      {"10.255.1.2", true},       {"11.0.0.1", false},         {"::1", true},
      {"::2", false},             {"2001:db8:7fff::1", true},  {"2001:db8:8000::1", false},
      {"192.0.2.7", true},        {"192.0.2.8", false},        {"", false},
      {"127.0.0.1:80", false},
  };
  for (const Row& r : rows) {
    INFO(r.address);
    CHECK(s.purgeAllowed(r.address) == r.allowed);
  }
  CHECK_FALSE(CacheSettings{}.purgeAllowed("127.0.0.1"));  // empty list: nobody
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::cache
