// proxy/net/tls/first_bytes.h — what the first bytes on a TLS port are: a TLS handshake record,
// a plain HTTP request (answered with nginx's 400), or garbage (closed).
#pragma once

#include <cstdint>
#include <string_view>

namespace edged::net::tls {

enum class FirstBytes : uint8_t { NeedMore, TlsHandshake, PlainHttp, Garbage };

// Decides from as few bytes as it can: one byte for a TLS record (0x16 plus a plausible version
// once it is there), up to a method name and its space for HTTP.
FirstBytes sniffFirstBytes(std::string_view bytes);

// The whole plain-text answer to an HTTP request on a TLS port, as nginx words it; the connection
// is closed after it.
extern const std::string_view kPlainHttpOnTlsPortResponse;

}  // namespace edged::net::tls
