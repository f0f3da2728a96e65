// tests/unit/proxy/http/cidr_set_test.cpp — address parsing, prefixes of both families, and the
// X-Forwarded-For walk past trusted hops.
#include <doctest.h>

#include <string>
#include <vector>

#include "proxy/http/cidr_set.h"
#include "proxy/real_ip.h"

namespace edged::proxy {
namespace {

TEST_SUITE("proxy/cidr_set") {

TEST_CASE("addresses") {
  CHECK(parseIpAddress("192.0.2.1"));
  CHECK(parseIpAddress("192.0.2.1")->isV4());
  CHECK(parseIpAddress("::ffff:192.0.2.1") == parseIpAddress("192.0.2.1"));
  CHECK(parseIpAddress("2001:db8::1"));
  CHECK_FALSE(parseIpAddress("2001:db8::1")->isV4());
  CHECK(parseIpAddress("[::1]") == parseIpAddress("::1"));
  for (const char* bad : {"", "127.1", "1.2.3.4.5", "256.1.1.1", "1.2.3.4:80", " 1.2.3.4", "::1%eth0",
                          "example.com", "[::1", "01.2.3.4"})
    CHECK_MESSAGE(!parseIpAddress(bad), bad);
}

TEST_CASE("prefixes: IPv4, IPv6, bare addresses, boundaries") {
  CidrSet s;
  CHECK(s.add("10.0.0.0/8"));
  CHECK(s.add("192.168.1.128/25"));
  CHECK(s.add("2001:db8::/32"));
  CHECK(s.add("203.0.113.7"));
  CHECK(s.add("::1"));
  CHECK(s.size() == 5);
  CHECK(s.contains("10.255.255.255"));
  CHECK_FALSE(s.contains("11.0.0.0"));
  CHECK(s.contains("192.168.1.128"));
  CHECK(s.contains("192.168.1.255"));
  CHECK_FALSE(s.contains("192.168.1.127"));
  CHECK(s.contains("2001:db8:ffff::1"));
  CHECK_FALSE(s.contains("2001:db9::1"));
  CHECK(s.contains("203.0.113.7"));
  CHECK_FALSE(s.contains("203.0.113.8"));
  CHECK(s.contains("::1"));
  CHECK(s.contains("::ffff:10.1.2.3"));  // a dual-stack socket's view of an IPv4 client
  CHECK_FALSE(s.contains("not an address"));
}

TEST_CASE("everything, nothing, and malformed rules") {
  CidrSet all;
  CHECK(all.add("0.0.0.0/0"));
  CHECK(all.contains("1.2.3.4"));
  CHECK_FALSE(all.contains("2001:db8::1"));  // /0 of IPv4 is every IPv4 address only
  CHECK(all.add("::/0"));
  CHECK(all.contains("2001:db8::1"));
  CidrSet s;
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "::/129", "/8",
                          "10.0.0.0/08a", "2001:db8::1/32"})
    CHECK_MESSAGE(!s.add(bad), bad);
  CHECK(s.empty());
}

TEST_CASE("X-Forwarded-For from the right past trusted hops") {
  CidrSet trusted;
  REQUIRE(trusted.add("10.0.0.0/8"));
  REQUIRE(trusted.add("::1"));
  using V = std::vector<std::string_view>;
  auto real = [&](std::string_view peer, V values) { return std::string(realClientIp(peer, values, trusted)); };
  CHECK(real("203.0.113.9", {"1.1.1.1"}) == "203.0.113.9");             // untrusted peer: header ignored
  CHECK(real("10.0.0.1", {}) == "10.0.0.1");
  CHECK(real("10.0.0.1", {"198.51.100.7"}) == "198.51.100.7");
  CHECK(real("10.0.0.1", {"6.6.6.6, 198.51.100.7, 10.0.0.2"}) == "198.51.100.7");  // spoofed left part
  CHECK(real("10.0.0.1", {"6.6.6.6, 198.51.100.7", "10.0.0.3 ,10.0.0.2"}) == "198.51.100.7");
  CHECK(real("10.0.0.1", {"10.0.0.5, 10.0.0.4"}) == "10.0.0.5");         // all trusted: leftmost
  CHECK(real("10.0.0.1", {"garbage, 10.0.0.4"}) == "10.0.0.4");          // garbage stops the walk
  CHECK(real("10.0.0.1", {"198.51.100.7:443"}) == "10.0.0.1");
  CHECK(real("10.0.0.1", {", ,198.51.100.7,,"}) == "198.51.100.7");      // empty elements
  CHECK(real("::1", {"2001:db8::5"}) == "2001:db8::5");
  CHECK(real("::1", {"[2001:db8::5]"}) == "[2001:db8::5]");
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::proxy
