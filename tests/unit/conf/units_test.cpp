// tests/unit/conf/units_test.cpp — duration, size and address parsing, good forms and bad.
#include <arpa/inet.h>
#include <doctest.h>

#include <string>

#include "conf/config.h"

namespace edged::conf {
namespace {

long long ms(std::string_view text) {
  const auto d = parseDuration(text);
  REQUIRE_MESSAGE(d.has_value(), "parseDuration rejected '" << std::string(text) << "'");
  return d->count();
}

uint64_t bytes(std::string_view text) {
  const auto s = parseSize(text);
  REQUIRE_MESSAGE(s.has_value(), "parseSize rejected '" << std::string(text) << "'");
  return *s;
}

TEST_CASE("parseDuration accepts every unit, and a bare number means seconds") {
  CHECK(ms("250ms") == 250);
  CHECK(ms("5s") == 5'000);
  CHECK(ms("2m") == 120'000);
  CHECK(ms("1h") == 3'600'000);
  CHECK(ms("1d") == 86'400'000);
  CHECK(ms("30") == 30'000);
  CHECK(ms("0") == 0);
  CHECK(ms("0ms") == 0);
  CHECK(ms("007s") == 7'000);
}

TEST_CASE("parseDuration rejects garbage, signs, fractions, spaces and overflow") {
  for (const char* bad :
       {"", "s", "ms", "5x", "5S", "5sec", "-5s", "+5s", "1.5s", "5 s", " 5s", "5s ", "1m30s",
        "ms5", "0x10", "99999999999999999999", "9223372036854775807s", "106751991167301d"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseDuration(bad).has_value());
  }
  // The largest representable value still parses: overflow is detected exactly, not early.
  CHECK(ms("9223372036854775807ms") == 9223372036854775807LL);
}

TEST_CASE("parseSize accepts IEC and nginx-style suffixes, all powers of 1024") {
  CHECK(bytes("0") == 0);
  CHECK(bytes("512") == 512);
  CHECK(bytes("16KiB") == 16 * 1024);
  CHECK(bytes("10MiB") == 10 * 1024 * 1024);
  CHECK(bytes("1GiB") == 1024ull * 1024 * 1024);
  for (const char* k : {"3k", "3K", "3KB", "3KiB"}) CHECK(bytes(k) == 3 * 1024);
  for (const char* m : {"3m", "3M", "3MB", "3MiB"}) CHECK(bytes(m) == 3 * 1024 * 1024);
  for (const char* g : {"3g", "3G", "3GB", "3GiB"}) CHECK(bytes(g) == 3ull << 30);
  CHECK(bytes("18446744073709551615") == 18446744073709551615ull);
  CHECK(bytes("17179869183GiB") == 17179869183ull << 30);
}

TEST_CASE("parseSize rejects negatives, fractions, unknown units and overflow") {
  for (const char* bad : {"", "K", "-1", "-1K", "1.5K", "1kb", "1KIB", "1 KiB", "1KiBx", "1T", "1B",
                          "18446744073709551616", "17179869184GiB", "0x400"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseSize(bad).has_value());
  }
}

TEST_CASE("parseAddress: IPv4 literal") {
  const auto a = parseAddress("127.0.0.1:8080");
  REQUIRE(a.has_value());
  CHECK(a->text == "127.0.0.1:8080");
  CHECK(a->port() == 8080);
  CHECK(a->sa()->sa_family == AF_INET);
  CHECK(a->length == sizeof(sockaddr_in));
  const auto* in = reinterpret_cast<const sockaddr_in*>(a->sa());
  CHECK(ntohl(in->sin_addr.s_addr) == 0x7f000001u);
}

TEST_CASE("parseAddress: IPv6 in brackets, canonicalized") {
  const auto a = parseAddress("[::1]:8080");
  REQUIRE(a.has_value());
  CHECK(a->text == "[::1]:8080");
  CHECK(a->port() == 8080);
  CHECK(a->sa()->sa_family == AF_INET6);
  CHECK(a->length == sizeof(sockaddr_in6));

  const auto b = parseAddress("[2001:DB8:0:0::1]:443");
  REQUIRE(b.has_value());
  CHECK(b->text == "[2001:db8::1]:443");
  CHECK(b->port() == 443);
}

TEST_CASE("parseAddress: wildcard forms and the highest port") {
  const auto any = parseAddress("0.0.0.0:80");
  const auto star = parseAddress("*:80");
  REQUIRE(any.has_value());
  REQUIRE(star.has_value());
  CHECK(star->text == "0.0.0.0:80");
  CHECK(*star == *any);
  CHECK(star->sa()->sa_family == AF_INET);

  const auto high = parseAddress("10.1.2.3:65535");
  REQUIRE(high.has_value());
  CHECK(high->port() == 65535);
}

TEST_CASE("parseAddress: localhost resolves, preferring IPv4") {
  // Answered from /etc/hosts; no network involved.
  const auto a = parseAddress("localhost:3001");
  REQUIRE(a.has_value());
  CHECK(a->port() == 3001);
  if (a->sa()->sa_family == AF_INET) CHECK(a->text == "127.0.0.1:3001");
  CHECK(*a == *parseAddress(a->text));
}

TEST_CASE("parseAddress rejects malformed addresses and port 0") {
  for (const char* bad : {"",
                          "127.0.0.1",
                          "127.0.0.1:",
                          ":80",
                          "127.0.0.1:0",
                          "127.0.0.1:65536",
                          "127.0.0.1:80x",
                          "127.0.0.1:-1",
                          "127.0.0.1:+80",
                          "127.0.0.1: 80",
                          "::1:80",
                          "::1",
                          "[::1]",
                          "[::1]80",
                          "[::1:80",
                          "[]:80",
                          "[127.0.0.1]:80",
                          "[::g]:80",
                          "256.1.1.1:80",
                          "127.1:80",
                          "a b:80",
                          "-host:80",
                          "host/x:80",
                          "http://127.0.0.1:80"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseAddress(bad).has_value());
  }
}

}  // namespace
}  // namespace edged::conf
