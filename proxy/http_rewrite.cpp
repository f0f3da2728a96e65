// proxy/http_rewrite.cpp — header rewriting between client and origin (RFC 9110 §7.6.1) and the
// small responses edged writes itself.
#include <bit>
#include <cstdint>
#include <cstring>

#include "proxy/proxy.h"
#include "proxy/request_checks.h"

namespace edged::proxy {

namespace {
inline char lower(char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

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

// ---- writing heads ---------------------------------------------------------------------------
// Heads are sized first (exactly, or by an upper bound) and then written in place, so `out` grows
// once.

void appendDecimal(std::string& out, uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  do { *--p = static_cast<char>('0' + v % 10); v /= 10; } while (v);
  out.append(p, buf + sizeof buf - p);
}

size_t decimalLength(uint64_t v) {
  size_t n = 1;
  while (v >= 10) { v /= 10; ++n; }
  return n;
}

class HeadWriter {
 public:
  HeadWriter(std::string& out, size_t size) : out_(out) {
    const size_t at = out.size();
    out.resize(at + size);
    p_ = out.data() + at;
    end_ = out.data() + out.size();
  }
  ~HeadWriter() { out_.resize(static_cast<size_t>(p_ - out_.data())); }
  HeadWriter& put(std::string_view s) {
    reserve(s.size());
    copy(s);
    return *this;
  }
  HeadWriter& put(char c) {
    reserve(1);
    *p_++ = c;
    return *this;
  }
  HeadWriter& crlf() { return put("\r\n"); }
  HeadWriter& line(std::string_view name, std::string_view value) {
    reserve(name.size() + value.size() + 4);
    copy(name);
    copy(": ");
    copy(value);
    copy("\r\n");
    return *this;
  }
  HeadWriter& decimal(uint64_t v) {
    char buf[20];
    char* q = buf + sizeof buf;
    do { *--q = static_cast<char>('0' + v % 10); v /= 10; } while (v);
    return put(std::string_view(q, static_cast<size_t>(buf + sizeof buf - q)));
  }

 private:
  void reserve(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) grow(n);
  }
  // Not reached when the sizing pass is right; keeps a wrong one from writing out of bounds.
  [[gnu::noinline, gnu::cold]] void grow(size_t n) {
    const size_t used = static_cast<size_t>(p_ - out_.data());
    out_.resize(used + n + 256);
    p_ = out_.data() + used;
    end_ = out_.data() + out_.size();
  }
  void copy(std::string_view s) {
    if (s.empty()) return;  // an empty view may have a null data(): memcpy must not see it
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  std::string& out_;
  char* p_;
  char* end_;
};

constexpr size_t lineSize(std::string_view name, std::string_view value) { return name.size() + value.size() + 4; }

// Calls f(token) for every non-empty item of a comma-separated list, trimmed, parameters removed.
template <typename F>
void forEachToken(std::string_view list, F&& f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (auto semi = item.find(';'); semi != std::string_view::npos) item = trim(item.substr(0, semi));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// The field names this message's Connection headers list (RFC 9110 §7.6.1): those fields go with
// it. Names that are hop-by-hop anyway ("keep-alive", "upgrade", "te") are not kept, so the usual
// "Connection: keep-alive" costs nothing per field.
class ConnectionTokens {
 public:
  explicit ConnectionTokens(const std::vector<Header>& headers) : headers_(headers) {
    for (const Header& h : headers) {
      if (headerIdOf(h) != HeaderId::Connection) continue;
      forEachToken(h.value, [this](std::string_view token) {
        if (isHopByHop(classifyHeader(token))) return;
        if (count_ < kMax)
          tokens_[count_++] = token;
        else
          overflow_ = true;
      });
    }
  }
  // True when a Connection header of this message names `name`.
  bool names(std::string_view name) const {
    for (size_t i = 0; i < count_; ++i)
      if (equalsIgnoreCase(tokens_[i], name)) return true;
    if (!overflow_) return false;
    for (const Header& h : headers_)
      if (headerIdOf(h) == HeaderId::Connection && headerHasToken(h.value, name)) return true;
    return false;
  }

 private:
  static constexpr size_t kMax = 8;
  const std::vector<Header>& headers_;
  std::string_view tokens_[kMax];
  size_t count_ = 0;
  bool overflow_ = false;
};
}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool headerHasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (auto semi = item.find(';'); semi != std::string_view::npos) item = trim(item.substr(0, semi));
    // Empty list elements are ignored (RFC 9110 §5.6.1): they never match, not even "".
    if (!item.empty() && equalsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

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

void buildUpstreamRequestHead(std::string_view method, std::string_view target,
                              const std::vector<Header>& headers,
                              const UpstreamRequestOptions& o, std::string& out) {
  const ConnectionTokens named(headers);
  // Whether a client header is forwarded as it is; the X-Forwarded-*/X-Real-IP edged replaces
  // and the framing it sets itself are not.
  auto forwarded = [&](const Header& h, HeaderId id) {
    switch (id) {
      case HeaderId::XForwardedFor: case HeaderId::XRealIp: case HeaderId::XForwardedProto:
      case HeaderId::XForwardedHost: case HeaderId::ContentLength:
        return false;
      case HeaderId::XRequestId:
        if (!o.request_id.empty()) return false;
        break;
      default:
        if (isHopByHop(id)) return false;
        break;
    }
    return !named.names(h.name);
  };

  // Sizing pass: the kept lines, the earlier hops' X-Forwarded-For items, and Host.
  std::string_view host;
  bool have_host = false;
  size_t size = method.size() + target.size() + 12;  // "M T HTTP/1.1\r\n"
  size_t xff_items = 0;
  for (const Header& h : headers) {
    const HeaderId id = headerIdOf(h);
    if (id == HeaderId::XForwardedFor) {
      if (std::string_view v = trim(h.value); !v.empty()) xff_items += v.size() + 2;
      continue;
    }
    if (!forwarded(h, id)) continue;
    if (id == HeaderId::Host) {
      host = h.value;
      have_host = true;
    }
    size += lineSize(h.name, h.value);
  }
  if (!have_host) {
    host = o.default_host;
    size += lineSize("Host", host);
  }
  size += 17 + xff_items + o.client_ip.size() + 2;  // "X-Forwarded-For: " items client CRLF
  size += lineSize("X-Real-IP", o.client_ip);
  if (!o.request_id.empty()) size += lineSize("X-Request-Id", o.request_id);
  size += lineSize("X-Forwarded-Proto", o.scheme) + lineSize("X-Forwarded-Host", host);
  const bool empty_body_method = method == "POST" || method == "PUT" || method == "PATCH";
  switch (o.body) {
    case BodyFraming::ContentLength: size += 16 + decimalLength(o.content_length) + 2; break;
    case BodyFraming::Chunked: size += 28; break;
    case BodyFraming::None: size += empty_body_method ? 19 : 0; break;
    case BodyFraming::UntilClose: break;
  }
  if (!o.upgrade.empty())
    size += lineSize("Upgrade", o.upgrade) + 21;
  else if (!o.keep_alive)
    size += 19;
  size += 2;

  HeadWriter w(out, size);
  w.put(method).put(' ').put(target).put(" HTTP/1.1\r\n");
  for (const Header& h : headers)
    if (forwarded(h, headerIdOf(h))) w.line(h.name, h.value);
  if (!have_host) w.line("Host", host);
  // Earlier hops' X-Forwarded-For values, in order, then this client (nginx
  // $proxy_add_x_forwarded_for); empty list items are dropped.
  w.put("X-Forwarded-For: ");
  if (xff_items) {
    for (const Header& h : headers) {
      if (headerIdOf(h) != HeaderId::XForwardedFor) continue;
      if (std::string_view v = trim(h.value); !v.empty()) w.put(v).put(", ");
    }
  }
  w.put(o.client_ip).crlf();
  w.line("X-Real-IP", o.client_ip);
  if (!o.request_id.empty()) w.line("X-Request-Id", o.request_id);
  w.line("X-Forwarded-Proto", o.scheme);
  w.line("X-Forwarded-Host", host);
  switch (o.body) {
    case BodyFraming::ContentLength: w.put("Content-Length: ").decimal(o.content_length).crlf(); break;
    case BodyFraming::Chunked: w.put("Transfer-Encoding: chunked\r\n"); break;
    case BodyFraming::None:
      // A body-less method needs no framing header; methods that usually carry one get
      // Content-Length: 0 so the origin does not wait (nginx does the same).
      if (empty_body_method) w.put("Content-Length: 0\r\n");
      break;
    case BodyFraming::UntilClose: break;  // not valid for requests
  }
  if (!o.upgrade.empty()) {
    w.line("Upgrade", o.upgrade);
    w.put("Connection: upgrade\r\n");
  } else if (!o.keep_alive) {
    w.put("Connection: close\r\n");
  }
  w.crlf();
}

void buildClientResponseHead(int status, std::string_view reason, const std::vector<Header>& headers,
                             const ClientResponseOptions& o, std::string& out) {
  const char code[3] = {static_cast<char>('0' + status / 100 % 10), static_cast<char>('0' + status / 10 % 10),
                        static_cast<char>('0' + status % 10)};
  if (reason.empty()) reason = reasonPhrase(status);
  const ConnectionTokens named(headers);
  // 204/304/HEAD (BodyFraming::None) keep the origin's Content-Length: it describes the
  // representation. Chunked and read-until-close bodies drop it.
  const bool drop_length = o.body != BodyFraming::ContentLength && o.body != BodyFraming::None;
  auto forwarded = [&](const Header& h, HeaderId id) {
    if (isHopByHop(id)) return false;
    if (id == HeaderId::ContentLength && drop_length) return false;
    return !named.names(h.name);
  };

  // One pass: sized for every field kept (an upper bound: most are), shrunk to fit at the end.
  size_t size = 13 + reason.size() + 2;  // "HTTP/1.1 200 " reason CRLF
  for (const Header& h : headers) size += lineSize(h.name, h.value);
  if (!o.request_id.empty()) size += lineSize("X-Request-Id", o.request_id);
  if (o.body == BodyFraming::Chunked) size += 28;
  if (!o.upgrade.empty())
    size += lineSize("Upgrade", o.upgrade) + 21;
  else if (!o.keep_alive)
    size += 19;
  else if (o.client_http10)
    size += 24;
  size += 2;

  HeadWriter w(out, size);
  w.put("HTTP/1.1 ").put(std::string_view(code, 3)).put(' ').put(reason).crlf();
  bool origin_request_id = false;
  for (const Header& h : headers) {
    const HeaderId id = headerIdOf(h);
    origin_request_id |= id == HeaderId::XRequestId;
    if (forwarded(h, id)) w.line(h.name, h.value);
  }
  const bool add_request_id = !o.request_id.empty() && !origin_request_id;
  if (add_request_id) w.line("X-Request-Id", o.request_id);
  if (o.body == BodyFraming::Chunked) w.put("Transfer-Encoding: chunked\r\n");
  if (!o.upgrade.empty()) {
    w.line("Upgrade", o.upgrade);
    w.put("Connection: upgrade\r\n");
  } else if (!o.keep_alive) {
    w.put("Connection: close\r\n");
  } else if (o.client_http10) {
    w.put("Connection: keep-alive\r\n");
  }
  w.crlf();
}

bool validRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

size_t writeChunkHeader(uint64_t size, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char tmp[16];
  size_t n = 0;
  do { tmp[n++] = kHex[size & 15]; size >>= 4; } while (size);
  for (size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  out[n] = '\r';
  out[n + 1] = '\n';
  return n + 2;
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

size_t buildErrorResponse(int status, bool close, std::string& out) {
  if (status == 200) {  // the one local success: OPTIONS with Max-Forwards 0 (RFC 9110 §7.6.2)
    out.append("HTTP/1.1 200 OK\r\nServer: edged\r\nAllow: ").append(kAllowedMethods);
    out.append("\r\nContent-Length: 0\r\n");
    if (close) out.append("Connection: close\r\n");
    out.append("\r\n");
    return 0;
  }
  const std::string_view reason = reasonPhrase(status);
  std::string body;
  body.reserve(128);
  body.append("<html><head><title>").append(std::to_string(status)).append(" ").append(reason);
  body.append("</title></head><body><h1>").append(std::to_string(status)).append(" ").append(reason);
  body.append("</h1><hr>edged</body></html>\n");
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
  out.append("Server: edged\r\nContent-Type: text/html\r\nContent-Length: ");
  appendDecimal(out, body.size());
  out.append("\r\n");
  if (status == 405) out.append("Allow: ").append(kAllowedMethods).append("\r\n");
  if (close) out.append("Connection: close\r\n");
  out.append("\r\n").append(body);
  return body.size();
}

}  // namespace edged::proxy
