// tests/unit/net/tls/first_bytes_test.cpp — the TLS / plain HTTP / garbage decision on first bytes.
#include <doctest.h>

#include <string>

#include "proxy/net/tls/first_bytes.h"

namespace edged::net::tls {
namespace {

TEST_CASE("first bytes: TLS records, HTTP methods, garbage, and waiting for more") {
  CHECK(sniffFirstBytes("") == FirstBytes::NeedMore);
  CHECK(sniffFirstBytes(std::string_view("\x16", 1)) == FirstBytes::NeedMore);
  CHECK(sniffFirstBytes(std::string_view("\x16\x03\x01\x02\x00", 5)) == FirstBytes::TlsHandshake);
  CHECK(sniffFirstBytes(std::string_view("\x16\x03\x03", 3)) == FirstBytes::TlsHandshake);
  CHECK(sniffFirstBytes(std::string_view("\x16\x02\x00", 3)) == FirstBytes::Garbage);  // SSLv2-ish
  CHECK(sniffFirstBytes(std::string_view("\x17\x03\x03", 3)) == FirstBytes::Garbage);  // app data first
  CHECK(sniffFirstBytes("GET / HTTP/1.1\r\n") == FirstBytes::PlainHttp);
  CHECK(sniffFirstBytes("HEAD /") == FirstBytes::PlainHttp);
  CHECK(sniffFirstBytes("OPTIONS * HTTP/1.1") == FirstBytes::PlainHttp);
  CHECK(sniffFirstBytes("PRI * HTTP/2.0") == FirstBytes::PlainHttp);
  CHECK(sniffFirstBytes("G") == FirstBytes::NeedMore);
  CHECK(sniffFirstBytes("P") == FirstBytes::NeedMore);  // POST, PUT, PATCH or PRI
  CHECK(sniffFirstBytes("DELET") == FirstBytes::NeedMore);
  CHECK(sniffFirstBytes("GETX") == FirstBytes::Garbage);
  CHECK(sniffFirstBytes("get / HTTP/1.1") == FirstBytes::Garbage);  // methods are case-sensitive
  CHECK(sniffFirstBytes("SSH-2.0-OpenSSH") == FirstBytes::Garbage);
  CHECK(sniffFirstBytes(std::string_view("\x00\x00", 2)) == FirstBytes::Garbage);
}

}  // namespace
}  // namespace edged::net::tls
