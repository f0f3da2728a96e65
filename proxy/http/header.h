// proxy/http/header.h — one header field as views (name, value, HeaderId) and the names edged
// acts on, classified once so that every later test is an integer compare.
#pragma once

#include <cstdint>
#include <string_view>

namespace edged::proxy {

enum class HeaderId : uint8_t {
  Unclassified = 0,  // not looked at yet: use headerIdOf(), which classifies the name
  Other,             // none of the names below
  // hop-by-hop (isHopByHop)
  Connection, KeepAlive, ProxyConnection, TE, Trailer, TransferEncoding, Upgrade,
  // forwarding headers edged sets
  XForwardedFor, XForwardedProto, XForwardedHost, XRealIp, XRequestId,
  // framing, routing, compression, caching, access log
  ContentLength, Host, AcceptEncoding, ContentType, ContentEncoding, Vary, ETag, AcceptRanges,
  CacheControl, Range, ProxyAuthenticate, ProxyAuthorization, Cookie, Referer, UserAgent,
};
// The id of a field name, ASCII case-insensitively (exact otherwise: "x-forwarded-for " is Other).
HeaderId classifyHeader(std::string_view name);

struct Header {
  std::string_view name;
  std::string_view value;
  // Describes `name`; ParsedHead fills it in, a Header built elsewhere may leave it Unclassified.
  // Whoever changes `name` must reset it.
  HeaderId id = HeaderId::Unclassified;
};
inline HeaderId headerIdOf(const Header& h) {
  return h.id != HeaderId::Unclassified ? h.id : classifyHeader(h.name);
}

// ASCII case-insensitive; inline because most calls on hot paths end at the size test.
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    const char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}
// Hop-by-hop by definition (RFC 9110 §7.6.1), plus Proxy-Connection and Transfer-Encoding,
// which edged re-frames itself.
bool isHopByHop(std::string_view name);
inline bool isHopByHop(HeaderId id) { return id >= HeaderId::Connection && id <= HeaderId::Upgrade; }

}  // namespace edged::proxy
