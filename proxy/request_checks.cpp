// proxy/request_checks.cpp — the grammar of RFC 3986 §3.2.2 (host), RFC 9112 §3.2 (request
// target) and RFC 9110 §7.2 (Host), checked byte by byte without allocating.
#include "proxy/request_checks.h"

#include <arpa/inet.h>

#include <cstring>

#include "proxy/http/field_list.h"

namespace edged::proxy {
namespace {

constexpr bool isAlpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr bool isDigit(unsigned char c) { return c >= '0' && c <= '9'; }
constexpr bool isHex(unsigned char c) { return fields::hexValue(static_cast<char>(c)) >= 0; }
using fields::isUnreserved;
constexpr bool isSubDelim(unsigned char c) {
  switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case ',':
    case ';': case '=':
      return true;
    default:
      return false;
  }
}

bool equalsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if ((isAlpha(static_cast<unsigned char>(s[i])) ? (s[i] | 0x20) : s[i]) != lower[i]) return false;
  return true;
}

// Byte classes as tables: these run on every request's target and Host.
struct ByteTable {
  bool on[256] = {};
};
constexpr ByteTable makeRegNameTable() {  // unreserved / sub-delims
  ByteTable t;
  for (int c = 0; c < 256; ++c) t.on[c] = isUnreserved(static_cast<unsigned char>(c)) || isSubDelim(static_cast<unsigned char>(c));
  return t;
}
constexpr ByteTable makeTargetRejectTable() {  // CTL, SP, DEL, '#' and (as before) bytes 0x00-0x20
  ByteTable t;
  for (int c = 0; c <= 0x20; ++c) t.on[c] = true;
  t.on[0x7f] = true;
  t.on[static_cast<unsigned char>('#')] = true;
  return t;
}
constexpr ByteTable kRegNameByte = makeRegNameTable();
constexpr ByteTable kTargetReject = makeTargetRejectTable();

// reg-name = *( unreserved / pct-encoded / sub-delims )
bool validRegName(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (kRegNameByte.on[c]) continue;
    if (c == '%' && i + 2 < s.size() && isHex(static_cast<unsigned char>(s[i + 1])) &&
        isHex(static_cast<unsigned char>(s[i + 2]))) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

// IP-literal = "[" ( IPv6address / IPvFuture ) "]", brackets included.
bool validIpLiteral(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  const std::string_view in = s.substr(1, s.size() - 2);
  if ((in[0] | 0x20) == 'v') {  // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
    size_t i = 1;
    while (i < in.size() && isHex(static_cast<unsigned char>(in[i]))) ++i;
    if (i == 1 || i >= in.size() || in[i] != '.' || i + 1 == in.size()) return false;
    for (++i; i < in.size(); ++i) {
      const auto c = static_cast<unsigned char>(in[i]);
      if (!isUnreserved(c) && !isSubDelim(c) && c != ':') return false;
    }
    return true;
  }
  char buf[INET6_ADDRSTRLEN];
  if (in.size() >= sizeof buf) return false;
  std::memcpy(buf, in.data(), in.size());
  buf[in.size()] = '\0';
  unsigned char addr[16];
  return inet_pton(AF_INET6, buf, addr) == 1;
}

// port = *DIGIT (RFC 3986 §3.2.3), and a TCP port: a value above 65535 names no port.
bool validPort(std::string_view s) {
  unsigned long value = 0;
  for (char c : s) {
    if (!isDigit(static_cast<unsigned char>(c))) return false;
    value = value * 10 + static_cast<unsigned long>(c - '0');
    if (value > 65535) return false;
  }
  return true;
}

// host [ ":" port ]; `need_host`: an empty host is invalid (an http URI's authority).
bool validAuthority(std::string_view a, bool need_host) {
  std::string_view host = a, port;
  if (!a.empty() && a.front() == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos) return false;
    host = a.substr(0, close + 1);
    const std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
    return validIpLiteral(host) && validPort(port);
  }
  if (const size_t colon = a.rfind(':'); colon != std::string_view::npos) {
    host = a.substr(0, colon);
    port = a.substr(colon + 1);
  }
  if (need_host && host.empty()) return false;
  return validRegName(host) && validPort(port);
}

}  // namespace

bool validUriHost(std::string_view host) {
  if (!host.empty() && host.front() == '[') return validIpLiteral(host);
  return validRegName(host);
}

bool validHostField(std::string_view value) { return validAuthority(value, false); }

TargetForm classifyTarget(std::string_view target, AbsoluteTarget& abs) {
  for (char ch : target)
    if (kTargetReject.on[static_cast<unsigned char>(ch)]) return TargetForm::Invalid;
  if (target.empty()) return TargetForm::Invalid;
  if (target.front() == '/') return TargetForm::Origin;
  if (target == "*") return TargetForm::Asterisk;
  const size_t sep = target.find("://");
  if (sep == std::string_view::npos) return TargetForm::Invalid;
  const std::string_view scheme = target.substr(0, sep);
  if (!equalsLower(scheme, "http") && !equalsLower(scheme, "https")) return TargetForm::Invalid;
  const std::string_view rest = target.substr(sep + 3);
  const size_t end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, end);
  // userinfo ("user@host") is an error for http(s) (RFC 9110 §4.2.4); validAuthority refuses '@'.
  if (!validAuthority(authority, true)) return TargetForm::Invalid;
  abs.scheme = scheme;
  abs.authority = authority;
  abs.path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  return TargetForm::Absolute;
}

RequestLineVerdict checkRequestLine(std::string_view method, std::string_view target,
                                    std::string_view host, int host_count, int http_major) {
  RequestLineVerdict v;
  v.route_host = host;
  v.target = target;
  if (http_major != 1) {
    v.status = 505;
    return v;
  }
  if (host_count == 1 && !validHostField(host)) {
    v.status = 400;
    return v;
  }
  AbsoluteTarget abs;
  const TargetForm form = classifyTarget(target, abs);
  switch (form) {
    case TargetForm::Origin:
    case TargetForm::Asterisk:
      // RFC 9112 §3.3: the target URI's authority is the Host value; RFC 9110 §4.2.1: an http(s)
      // URI with an empty host is invalid and a recipient MUST reject it (nginx: 400 too).
      if (host_count == 1 && host.empty()) {
        v.status = 400;
        return v;
      }
      if (form == TargetForm::Asterisk && method != "OPTIONS") v.status = 400;
      break;
    case TargetForm::Absolute:
      // RFC 9112 §3.2.2: the target's authority wins over Host, which the proxy regenerates.
      v.route_host = abs.authority;
      v.target = abs.path;
      v.host_from_target = true;
      break;
    case TargetForm::Invalid:
      v.status = 400;
      return v;
  }
  if (v.status == 0 && method == "TRACE") v.status = 405;
  return v;
}

long parseMaxForwards(std::string_view value) {
  if (value.empty()) return -1;
  long n = 0;
  for (char c : value) {
    if (!isDigit(static_cast<unsigned char>(c))) return -1;
    if (n < 0x7fffffff) n = n * 10 + (c - '0');
    if (n > 0x7fffffff) n = 0x7fffffff;
  }
  return n;
}

bool finalCodingIsChunked(std::string_view te) {
  // The last non-empty list element (empty elements are allowed, RFC 9110 §5.6.1).
  while (true) {
    const size_t comma = te.rfind(',');
    std::string_view item = comma == std::string_view::npos ? te : te.substr(comma + 1);
    item = item.substr(0, item.find(';'));
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) return equalsLower(item, "chunked");
    if (comma == std::string_view::npos) return false;
    te = te.substr(0, comma);
  }
}

bool valueContinuesFoldedLine(const char* at, size_t n, const char* buffer_begin, char before_buffer) {
  if (n == 0) return false;
  const char* p = at;
  while (p > buffer_begin && (p[-1] == ' ' || p[-1] == '\t')) --p;
  return (p > buffer_begin ? p[-1] : before_buffer) == '\n';
}

int unknownMethodStatus(const char* error_pos, const char* buffer_end) {
  // tchar (RFC 9110 §5.6.2): VCHAR except delimiters.
  constexpr std::string_view kTcharPunct = "!#$%&'*+-.^_`|~";
  constexpr long kLongestAwaited = 64;
  const char* p = error_pos;
  while (p < buffer_end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == ' ') return p > error_pos ? 501 : 400;
    if (!isAlpha(c) && !isDigit(c) && kTcharPunct.find(static_cast<char>(c)) == std::string_view::npos) return 400;
    ++p;
  }
  return buffer_end - error_pos < kLongestAwaited ? 0 : 400;
}

bool readMinorVersionAsOne(char* after_target, const char* buffer_end) {
  constexpr std::string_view kPrefix = " HTTP/1.";
  if (buffer_end - after_target < static_cast<long>(kPrefix.size()) + 2) return false;
  if (std::string_view(after_target, kPrefix.size()) != kPrefix) return false;
  char& minor = after_target[kPrefix.size()];
  const char next = after_target[kPrefix.size() + 1];
  if (minor < '2' || minor > '9' || (next != '\r' && next != '\n')) return false;
  minor = '1';
  return true;
}

bool versionAfterTargetReady(char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const char c = data[i];
    if (c == ' ') {
      if (n - i < 10 && std::memchr(data + i, '\n', n - i) == nullptr) return false;
      readMinorVersionAsOne(data + i, data + n);
      return true;
    }
    if (c == '\r' || c == '\n') return true;  // no version: urlEndsWithoutVersion's case
  }
  return true;
}

bool urlEndsWithoutVersion(const char* at, size_t n, const char* buffer_end) {
  const char* end = at + n;
  return end < buffer_end && (*end == '\r' || *end == '\n');
}

}  // namespace edged::proxy
