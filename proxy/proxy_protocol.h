// proxy/proxy_protocol.h — the PROXY protocol header (HAProxy's spec, versions 1 and 2) that a
// load balancer in front of edged sends before the client's bytes: parsing only, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/http/cidr_set.h"

namespace edged::proxy {

enum class ProxyHeaderResult : uint8_t {
  NeedMore,  // a valid beginning: read more (v1 needs at most 107 bytes, v2 16 + its length)
  Done,      // `header` is filled; the client's bytes start at header.length
  Invalid,   // not a PROXY header, or a malformed one: close the connection
};

struct ProxyHeader {
  size_t length = 0;      // bytes of the header itself
  int version = 0;        // 1 or 2
  // False for v2 LOCAL (the balancer's own health check) and v1 UNKNOWN / unsupported families:
  // the connection's own addresses stay.
  bool has_addresses = false;
  IpAddress source, destination;
  uint16_t source_port = 0, destination_port = 0;
};

// Parses the start of a connection's bytes. Never reads past `bytes`.
ProxyHeaderResult parseProxyHeader(std::string_view bytes, ProxyHeader& header);

}  // namespace edged::proxy
