// proxy/http/error_page.cpp — chunk framing and the small responses edged writes itself.
#include <string>

#include "proxy/http/error_page.h"
#include "proxy/http/framing.h"

namespace edged::proxy {

namespace {
void appendDecimal(std::string& out, uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  do { *--p = static_cast<char>('0' + v % 10); v /= 10; } while (v);
  out.append(p, buf + sizeof buf - p);
}
}  // namespace

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
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
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

size_t errorPageBody(int status, std::string& out) {
  const size_t at = out.size();
  const std::string_view reason = reasonPhrase(status);
  const std::string code = std::to_string(status);
  out.append("<html><head><title>").append(code).append(" ").append(reason);
  out.append("</title></head><body><h1>").append(code).append(" ").append(reason);
  out.append("</h1><hr>edged</body></html>\n");
  return out.size() - at;
}

size_t buildErrorResponse(int status, bool close, std::string& out) {
  const std::string_view reason = reasonPhrase(status);
  std::string body;
  errorPageBody(status, body);
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
  out.append("Server: edged\r\nContent-Type: text/html\r\nContent-Length: ");
  appendDecimal(out, body.size());
  out.append("\r\n");
  if (close) out.append("Connection: close\r\n");
  out.append("\r\n").append(body);
  return body.size();
}

}  // namespace edged::proxy
