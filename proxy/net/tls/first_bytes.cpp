// proxy/net/tls/first_bytes.cpp — the TLS-or-HTTP decision on a connection's first bytes.
#include "proxy/net/tls/first_bytes.h"

namespace edged::net::tls {

namespace {

constexpr std::string_view kMethods[] = {"GET ",     "HEAD ",  "POST ",  "PUT ",   "DELETE ",
                                         "OPTIONS ", "PATCH ", "TRACE ", "CONNECT ", "PRI "};

}  // namespace

// Content-Length is the body's length (a test checks it).
const std::string_view kPlainHttpOnTlsPortResponse =
    "HTTP/1.1 400 Bad Request\r\n"
    "Server: edged\r\n"
    "Content-Type: text/html\r\n"
    "Content-Length: 248\r\n"
    "Connection: close\r\n"
    "\r\n"
    "<html>\r\n"
    "<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n"
    "<body>\r\n"
    "<center><h1>400 Bad Request</h1></center>\r\n"
    "<center>The plain HTTP request was sent to HTTPS port</center>\r\n"
    "<hr><center>edged</center>\r\n"
    "</body>\r\n"
    "</html>\r\n";

FirstBytes sniffFirstBytes(std::string_view bytes) {
  if (bytes.empty()) return FirstBytes::NeedMore;
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  if (byte(0) == 0x16) {
    // A handshake record: content type 22, then version major 3 (record versions 3.0 .. 3.4).
    if (bytes.size() < 3) return FirstBytes::NeedMore;
    return byte(1) == 3 && byte(2) <= 4 ? FirstBytes::TlsHandshake : FirstBytes::Garbage;
  }
  bool prefix_of_some = false;
  for (std::string_view method : kMethods) {
    const size_t n = bytes.size() < method.size() ? bytes.size() : method.size();
    if (bytes.substr(0, n) != method.substr(0, n)) continue;
    if (n == method.size()) return FirstBytes::PlainHttp;
    prefix_of_some = true;
  }
  return prefix_of_some ? FirstBytes::NeedMore : FirstBytes::Garbage;
}

}  // namespace edged::net::tls
