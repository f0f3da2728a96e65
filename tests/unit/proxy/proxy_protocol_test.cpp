// tests/unit/proxy/proxy_protocol_test.cpp — PROXY protocol v1 and v2 headers: complete, cut at
// every byte (NeedMore, never a wrong verdict), and malformed.
#include <doctest.h>

#include <string>

#include "proxy/proxy_protocol.h"

namespace edged::proxy {
namespace {

using R = ProxyHeaderResult;

std::string v2(uint8_t ver_cmd, uint8_t fam, const std::string& addresses) {
  std::string s("\r\n\r\n\0\r\nQUIT\n", 12);
  s += static_cast<char>(ver_cmd);
  s += static_cast<char>(fam);
  s += static_cast<char>(addresses.size() >> 8);
  s += static_cast<char>(addresses.size() & 0xff);
  return s + addresses;
}

// Every proper prefix of a valid header needs more bytes.
void checkPrefixes(const std::string& full) {
  for (size_t n = 0; n < full.size(); ++n) {
    ProxyHeader h;
    CAPTURE(n);
    CHECK(parseProxyHeader(std::string_view(full).substr(0, n), h) == R::NeedMore);
  }
}

TEST_SUITE("proxy/proxy_protocol") {

TEST_CASE("v1 TCP4, TCP6, UNKNOWN") {
  ProxyHeader h;
  const std::string line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
  REQUIRE(parseProxyHeader(line, h) == R::Done);
  CHECK(h.version == 1);
  CHECK(h.length == line.find("GET"));
  CHECK(h.has_addresses);
  CHECK(h.source == *parseIpAddress("192.0.2.1"));
  CHECK(h.destination == *parseIpAddress("198.51.100.2"));
  CHECK(h.source_port == 56324);
  CHECK(h.destination_port == 443);
  checkPrefixes(line.substr(0, h.length));

  REQUIRE(parseProxyHeader("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n", h) == R::Done);
  CHECK(h.source == *parseIpAddress("2001:db8::1"));
  CHECK(h.destination_port == 65535);

  REQUIRE(parseProxyHeader("PROXY UNKNOWN whatever follows\r\n", h) == R::Done);
  CHECK_FALSE(h.has_addresses);
  REQUIRE(parseProxyHeader("PROXY UNKNOWN\r\n", h) == R::Done);
}

TEST_CASE("v1 malformed") {
  for (const char* bad : {
           "GET / HTTP/1.1\r\n", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
           "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
           "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "PROXY TCP6 [::1] ::1 1 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nX\r\n",
           "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n"}) {
    ProxyHeader h;
    CHECK_MESSAGE(parseProxyHeader(bad, h) == R::Invalid, bad);
  }
  ProxyHeader h;
  CHECK(parseProxyHeader(std::string("PROXY TCP4 ") + std::string(200, '1'), h) == R::Invalid);  // > 107 bytes
  CHECK(parseProxyHeader("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", h) == R::NeedMore);  // no CRLF yet
}

TEST_CASE("v2 PROXY over TCP4 and TCP6, with TLVs skipped") {
  ProxyHeader h;
  std::string a4 = {char(192), 0, 2, 1, char(198), 51, 100, 2, char(0xdc), 0x04, 0x01, char(0xbb)};
  const std::string tlv = {0x04, 0x00, 0x01, 'x'};  // PP2_TYPE_NOOP
  const std::string full = v2(0x21, 0x11, a4 + tlv);
  REQUIRE(parseProxyHeader(full + "GET", h) == R::Done);
  CHECK(h.version == 2);
  CHECK(h.length == full.size());
  CHECK(h.has_addresses);
  CHECK(h.source == *parseIpAddress("192.0.2.1"));
  CHECK(h.destination == *parseIpAddress("198.51.100.2"));
  CHECK(h.source_port == 56324);
  CHECK(h.destination_port == 443);
  checkPrefixes(full);

  std::string a6(36, '\0');
  a6[15] = 1;           // ::1
  a6[16] = 0x20, a6[17] = 0x01, a6[18] = 0x0d, a6[19] = char(0xb8);  // 2001:db8::
  a6[33] = 80;
  REQUIRE(parseProxyHeader(v2(0x21, 0x21, a6), h) == R::Done);
  CHECK(h.source == *parseIpAddress("::1"));
  CHECK(h.destination == *parseIpAddress("2001:db8::"));
  CHECK(h.source_port == 80);
}

TEST_CASE("v2 LOCAL and unsupported families keep the connection's addresses") {
  ProxyHeader h;
  REQUIRE(parseProxyHeader(v2(0x20, 0x00, ""), h) == R::Done);
  CHECK_FALSE(h.has_addresses);
  CHECK(h.length == 16);
  REQUIRE(parseProxyHeader(v2(0x21, 0x31, std::string(216, 'u')), h) == R::Done);  // UNIX
  CHECK_FALSE(h.has_addresses);
  REQUIRE(parseProxyHeader(v2(0x21, 0x12, std::string(12, '\1')), h) == R::Done);  // UDP4
  CHECK_FALSE(h.has_addresses);
}

TEST_CASE("v2 malformed") {
  ProxyHeader h;
  CHECK(parseProxyHeader(v2(0x11, 0x11, std::string(12, '\0')), h) == R::Invalid);  // version 1 in v2 form
  CHECK(parseProxyHeader(v2(0x22, 0x11, std::string(12, '\0')), h) == R::Invalid);  // command 2
  CHECK(parseProxyHeader(v2(0x21, 0x11, std::string(11, '\0')), h) == R::Invalid);  // short TCP4
  CHECK(parseProxyHeader(v2(0x21, 0x21, std::string(35, '\0')), h) == R::Invalid);  // short TCP6
  CHECK(parseProxyHeader(std::string("\r\n\r\n\0\r\nQUIX\n", 12), h) == R::Invalid);
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::proxy
