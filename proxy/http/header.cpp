// proxy/http/header.cpp — field-name classification (HeaderId) and case-insensitive compare.
#include <bit>
#include <cstdint>
#include <cstring>

#include "proxy/http/header.h"

namespace edged::proxy {

namespace {

// ---- header name classification --------------------------------------------------------------
// A name is matched by its length, its first letter and then one comparison of at most three
// machine words: the word with 0x20 OR-ed into every letter position must equal the lower-case
// name. Only letters are folded, so '-' never matches '\r' (0x0D | 0x20 == '-').

inline uint64_t loadWord(const char* p, unsigned width) {
  switch (width) {
    case 8: { uint64_t v; std::memcpy(&v, p, 8); return v; }
    case 4: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case 2: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    default: return static_cast<uint8_t>(*p);
  }
}

// The words of one lower-case name at offsets 0, width and size - width, as loadWord() reads them.
struct NameKey {
  unsigned size, width;
  uint64_t value[3], fold[3];
  consteval NameKey(std::string_view s) : size(s.size()), width(1), value{}, fold{} {
    width = size >= 8 ? 8 : size >= 4 ? 4 : size >= 2 ? 2 : 1;
    const unsigned offsets[3] = {0, width, size - width};
    for (int k = 0; k < 3; ++k) {
      if (offsets[k] + width > size) continue;  // the middle word of a short name
      for (unsigned i = 0; i < width; ++i) {
        const char c = s[offsets[k] + i];
        const unsigned shift = std::endian::native == std::endian::little ? 8 * i : 8 * (width - 1 - i);
        value[k] |= uint64_t{static_cast<uint8_t>(c)} << shift;
        if (c >= 'a' && c <= 'z') fold[k] |= uint64_t{0x20} << shift;
      }
    }
  }
};

// `p` holds exactly key.size bytes.
inline bool matches(const char* p, const NameKey& key) {
  const unsigned w = key.width;
  uint64_t diff = ((loadWord(p, w) | key.fold[0]) ^ key.value[0]) |
                  ((loadWord(p + key.size - w, w) | key.fold[2]) ^ key.value[2]);
  if (key.size > 2 * w) diff |= (loadWord(p + w, w) | key.fold[1]) ^ key.value[1];
  return diff == 0;
}
}  // namespace

HeaderId classifyHeader(std::string_view name) {
  using enum HeaderId;
  const char* p = name.data();
  const char first = static_cast<char>(name.empty() ? 0 : p[0] | 0x20);  // a hint; matches() decides
#define EDGED_NAME(letter, lit, id) \
  if (first == (letter)) return matches(p, NameKey(lit)) ? (id) : Other
  switch (name.size()) {
    case 2:
      EDGED_NAME('t', "te", TE);
      break;
    case 4:
      EDGED_NAME('h', "host", Host);
      EDGED_NAME('v', "vary", Vary);
      EDGED_NAME('e', "etag", ETag);
      break;
    case 5:
      EDGED_NAME('r', "range", Range);
      break;
    case 6:
      EDGED_NAME('c', "cookie", Cookie);
      break;
    case 7:
      EDGED_NAME('t', "trailer", Trailer);
      EDGED_NAME('u', "upgrade", Upgrade);
      EDGED_NAME('r', "referer", Referer);
      break;
    case 9:
      EDGED_NAME('x', "x-real-ip", XRealIp);
      break;
    case 10:
      EDGED_NAME('c', "connection", Connection);
      EDGED_NAME('k', "keep-alive", KeepAlive);
      EDGED_NAME('u', "user-agent", UserAgent);
      break;
    case 12:
      EDGED_NAME('x', "x-request-id", XRequestId);
      EDGED_NAME('c', "content-type", ContentType);
      break;
    case 13:
      EDGED_NAME('c', "cache-control", CacheControl);
      EDGED_NAME('a', "accept-ranges", AcceptRanges);
      break;
    case 14:
      EDGED_NAME('c', "content-length", ContentLength);
      break;
    case 15:
      EDGED_NAME('x', "x-forwarded-for", XForwardedFor);
      EDGED_NAME('a', "accept-encoding", AcceptEncoding);
      break;
    case 16:
      EDGED_NAME('p', "proxy-connection", ProxyConnection);
      EDGED_NAME('c', "content-encoding", ContentEncoding);
      EDGED_NAME('x', "x-forwarded-host", XForwardedHost);
      break;
    case 17:
      EDGED_NAME('t', "transfer-encoding", TransferEncoding);
      EDGED_NAME('x', "x-forwarded-proto", XForwardedProto);
      break;
    case 18:
      EDGED_NAME('p', "proxy-authenticate", ProxyAuthenticate);
      break;
    case 19:
      EDGED_NAME('p', "proxy-authorization", ProxyAuthorization);
      break;
    default:
      break;
  }
#undef EDGED_NAME
  return Other;
}

bool isHopByHop(std::string_view n) { return isHopByHop(classifyHeader(n)); }
}  // namespace edged::proxy
