// proxy/http/head_builder.cpp — the heads edged writes: toward the origin (hop-by-hop fields
// dropped, forwarding fields set, RFC 9110 §7.6.1) and toward an HTTP/1 client.
#include <cstdint>
#include <cstring>

#include "proxy/http/field_list.h"
#include "proxy/http/head_builder.h"
#include "proxy/http/error_page.h"

namespace edged::proxy {

namespace {
using fields::trim;

// ---- writing heads ---------------------------------------------------------------------------
// Heads are sized first (exactly, or by an upper bound) and then written in place, so `out` grows
// once.

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

// This hop in Via: the protocol version the request was received in and a pseudonym rather than a
// host name (RFC 9110 §7.6.3).
constexpr std::string_view kVia11 = "1.1 edged";
constexpr std::string_view kVia10 = "1.0 edged";

constexpr size_t lineSize(std::string_view name, std::string_view value) { return name.size() + value.size() + 4; }

// The field names this message's Connection headers list (RFC 9110 §7.6.1): those fields go with
// it. Names that are hop-by-hop anyway ("keep-alive", "upgrade", "te") are not kept, so the usual
// "Connection: keep-alive" costs nothing per field. Host, Content-Length and Transfer-Encoding are
// never dropped for being named: a peer listing them would otherwise strip the Host an origin
// needs, or the framing edged writes (a response left with no length on a kept-alive connection).
class ConnectionTokens {
 public:
  explicit ConnectionTokens(const std::vector<Header>& headers) : headers_(headers) {
    for (const Header& h : headers) {
      if (headerIdOf(h) != HeaderId::Connection) continue;
      fields::forEachToken(h.value, [this](std::string_view token) {
        const HeaderId id = classifyHeader(token);
        if (isHopByHop(id) || id == HeaderId::Host || id == HeaderId::ContentLength) return;
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
    if (const HeaderId id = classifyHeader(name); id == HeaderId::Host || id == HeaderId::ContentLength) return false;
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

// "X_Forwarded_For", "x-real_ip": a name that is one of the forwarding fields edged sets once
// '_' reads as '-'. CGI, PHP and WSGI servers map both spellings to the same variable
// (HTTP_X_FORWARDED_FOR), so such a field from the client would stand beside edged's own as a
// spoofed one; it is dropped (nginx drops every name with '_' by default). Returns the field it
// stands for, else Other.
HeaderId underscoredAlias(std::string_view name) {
  constexpr size_t kLongest = sizeof("x-forwarded-proto") - 1;
  if (name.size() > kLongest || name.find('_') == std::string_view::npos) return HeaderId::Other;
  char dashed[kLongest];
  for (size_t i = 0; i < name.size(); ++i) dashed[i] = name[i] == '_' ? '-' : name[i];
  return classifyHeader(std::string_view(dashed, name.size()));
}
}  // namespace

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
        // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored;
        // it is not passed on either (HTTP/1.0 has no Expect, and no 1xx reaches such a client).
        if (o.client_http10 && id == HeaderId::Other && equalsIgnoreCase(h.name, "expect")) return false;
        if (id == HeaderId::Other) {
          switch (underscoredAlias(h.name)) {
            case HeaderId::XForwardedFor: case HeaderId::XRealIp: case HeaderId::XForwardedProto:
            case HeaderId::XForwardedHost:
              return false;
            case HeaderId::XRequestId:
              if (!o.request_id.empty()) return false;
              break;
            default:
              break;
          }
        }
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
  if (!o.forwarded_for.empty()) xff_items = 0;
  size += 17 + xff_items + (o.forwarded_for.empty() ? o.client_ip.size() : o.forwarded_for.size()) + 2;
  size += lineSize("X-Real-IP", o.client_ip);
  if (!o.request_id.empty()) size += lineSize("X-Request-Id", o.request_id);
  size += lineSize("X-Forwarded-Proto", o.scheme) + lineSize("X-Forwarded-Host", host);
  const std::string_view via = o.client_http10 ? kVia10 : kVia11;
  size += lineSize("Via", via);
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
  w.put(o.forwarded_for.empty() ? o.client_ip : o.forwarded_for).crlf();
  w.line("X-Real-IP", o.client_ip);
  if (!o.request_id.empty()) w.line("X-Request-Id", o.request_id);
  w.line("X-Forwarded-Proto", o.scheme);
  w.line("X-Forwarded-Host", host);
  // RFC 9110 §7.6.3: a gateway MUST send Via in each request it forwards; a client's own Via lines
  // are kept before it (a line of its own is the same list).
  w.line("Via", via);
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
  // 304/HEAD (BodyFraming::None) keep the origin's Content-Length: it describes the
  // representation. Chunked and read-until-close bodies drop it, and so do 1xx and 204, whatever
  // the origin sent: RFC 9110 §8.6, a server MUST NOT send it in them (Transfer-Encoding, the
  // other MUST NOT of RFC 9112 §6.1, is hop-by-hop and never forwarded).
  const bool drop_length =
      (o.body != BodyFraming::ContentLength && o.body != BodyFraming::None) || status < 200 || status == 204;
  auto forwarded = [&](const Header& h, HeaderId id) {
    if (isHopByHop(id)) return false;
    if (id == HeaderId::ContentLength && drop_length) return false;
    return !named.names(h.name);
  };

  // One pass: sized for every field kept (an upper bound: most are), shrunk to fit at the end.
  size_t size = 13 + reason.size() + 2 + o.raw_fields.size();  // "HTTP/1.1 200 " reason CRLF
  for (const Header& h : headers) size += lineSize(h.name, h.value);
  if (!o.request_id.empty()) size += lineSize("X-Request-Id", o.request_id);
  if (!o.date.empty()) size += lineSize("Date", o.date);
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
  w.put(o.raw_fields);
  bool origin_request_id = false;
  bool has_date = o.raw_has_date;
  for (const Header& h : headers) {
    const HeaderId id = headerIdOf(h);
    origin_request_id |= id == HeaderId::XRequestId;
    has_date |= id == HeaderId::Other && h.name.size() == 4 && equalsIgnoreCase(h.name, "Date");
    if (forwarded(h, id)) w.line(h.name, h.value);
  }
  if (!o.date.empty() && !has_date) w.line("Date", o.date);
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
}  // namespace edged::proxy
