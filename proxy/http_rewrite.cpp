// proxy/http_rewrite.cpp — header rewriting between client and origin (RFC 9110 §7.6.1) and the
// small responses edged writes itself.
#include <cstring>

#include "proxy/proxy.h"

namespace edged::proxy {

namespace {
inline char lower(char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when a header named by a Connection header of this message must be dropped.
bool namedByConnection(std::string_view name, const std::vector<Header>& headers) {
  for (const Header& h : headers)
    if (equalsIgnoreCase(h.name, "connection") && headerHasToken(h.value, name)) return true;
  return false;
}

void appendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void appendDecimal(std::string& out, uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  do { *--p = static_cast<char>('0' + v % 10); v /= 10; } while (v);
  out.append(p, buf + sizeof buf - p);
}
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
    if (equalsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool isHopByHop(std::string_view n) {
  switch (n.size()) {
    case 2: return equalsIgnoreCase(n, "te");
    case 7: return equalsIgnoreCase(n, "trailer") || equalsIgnoreCase(n, "upgrade");
    case 10: return equalsIgnoreCase(n, "connection") || equalsIgnoreCase(n, "keep-alive");
    case 16: return equalsIgnoreCase(n, "proxy-connection");
    case 17: return equalsIgnoreCase(n, "transfer-encoding");
    default: return false;
  }
}

void buildUpstreamRequestHead(std::string_view method, std::string_view target,
                              const std::vector<Header>& headers,
                              const UpstreamRequestOptions& o, std::string& out) {
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  bool has_connection_header = false;
  for (const Header& h : headers) has_connection_header |= equalsIgnoreCase(h.name, "connection");

  std::string_view host;
  bool have_host = false;
  for (const Header& h : headers) {
    if (isHopByHop(h.name)) continue;
    if (has_connection_header && namedByConnection(h.name, headers)) continue;
    if (!o.request_id.empty() && h.name.size() == 12 && equalsIgnoreCase(h.name, "x-request-id")) continue;
    if (equalsIgnoreCase(h.name, "x-forwarded-for") || equalsIgnoreCase(h.name, "x-real-ip") || equalsIgnoreCase(h.name, "x-forwarded-proto") ||
        equalsIgnoreCase(h.name, "x-forwarded-host"))
      continue;
    if (h.name.size() == 14 && equalsIgnoreCase(h.name, "content-length")) continue;  // re-framed
    if (h.name.size() == 4 && equalsIgnoreCase(h.name, "host")) {
      host = h.value;
      have_host = true;
    }
    appendHeader(out, h.name, h.value);
  }
  if (!have_host) {
    host = o.default_host;
    appendHeader(out, "Host", host);
  }
  // Earlier hops' X-Forwarded-For values, in order, then this client (nginx
  // $proxy_add_x_forwarded_for); empty list items are dropped.
  out.append("X-Forwarded-For: ");
  for (const Header& h : headers) {
    if (!equalsIgnoreCase(h.name, "x-forwarded-for")) continue;
    if (std::string_view v = trim(h.value); !v.empty()) out.append(v).append(", ");
  }
  out.append(o.client_ip).append("\r\n");
  appendHeader(out, "X-Real-IP", o.client_ip);
  if (!o.request_id.empty()) appendHeader(out, "X-Request-Id", o.request_id);
  appendHeader(out, "X-Forwarded-Proto", o.scheme);
  appendHeader(out, "X-Forwarded-Host", host);
  switch (o.body) {
    case BodyFraming::ContentLength:
      out.append("Content-Length: ");
      appendDecimal(out, o.content_length);
      out.append("\r\n");
      break;
    case BodyFraming::Chunked: out.append("Transfer-Encoding: chunked\r\n"); break;
    case BodyFraming::None:
      // A body-less method needs no framing header; methods that usually carry one get
      // Content-Length: 0 so the origin does not wait (nginx does the same).
      if (method == "POST" || method == "PUT" || method == "PATCH") out.append("Content-Length: 0\r\n");
      break;
    case BodyFraming::UntilClose: break;  // not valid for requests
  }
  if (!o.upgrade.empty()) {
    appendHeader(out, "Upgrade", o.upgrade);
    out.append("Connection: upgrade\r\n");
  } else if (!o.keep_alive) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n");
}

void buildClientResponseHead(int status, std::string_view reason, const std::vector<Header>& headers,
                             const ClientResponseOptions& o, std::string& out) {
  char code[4] = {static_cast<char>('0' + status / 100 % 10), static_cast<char>('0' + status / 10 % 10),
                  static_cast<char>('0' + status % 10), 0};
  out.append("HTTP/1.1 ").append(code, 3).append(" ");
  out.append(reason.empty() ? reasonPhrase(status) : reason).append("\r\n");
  bool has_connection_header = false;
  for (const Header& h : headers) has_connection_header |= equalsIgnoreCase(h.name, "connection");
  const bool drop_length = o.body != BodyFraming::ContentLength;
  bool origin_request_id = false;
  for (const Header& h : headers) {
    if (h.name.size() == 12 && equalsIgnoreCase(h.name, "x-request-id")) origin_request_id = true;
    if (isHopByHop(h.name)) continue;
    if (has_connection_header && namedByConnection(h.name, headers)) continue;
    if (drop_length && h.name.size() == 14 && equalsIgnoreCase(h.name, "content-length")) {
      // 204/304/HEAD keep the origin's Content-Length: it describes the representation.
      if (o.body != BodyFraming::None) continue;
    }
    appendHeader(out, h.name, h.value);
  }
  if (!o.request_id.empty() && !origin_request_id) appendHeader(out, "X-Request-Id", o.request_id);
  if (o.body == BodyFraming::Chunked) out.append("Transfer-Encoding: chunked\r\n");
  if (!o.upgrade.empty()) {
    appendHeader(out, "Upgrade", o.upgrade);
    out.append("Connection: upgrade\r\n");
  } else if (!o.keep_alive)
    out.append("Connection: close\r\n");
  else if (o.client_http10)
    out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
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
  if (close) out.append("Connection: close\r\n");
  out.append("\r\n").append(body);
  return body.size();
}

}  // namespace edged::proxy
