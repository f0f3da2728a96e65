// tests/unit/proxy/http_rewrite_test.cpp — hop-by-hop rewriting of request and response heads,
// header token lists, chunk framing and the error responses edged writes itself.
#include <doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http/http.h"

namespace edged::proxy {
namespace {

using Lines = std::vector<std::pair<std::string, std::string>>;

// Splits a head into its start line and header lines; requires exactly one terminating CRLFCRLF at
// the end (nothing after it).
struct Head {
  std::string start;
  Lines headers;
};
Head parseHead(const std::string& text) {
  Head head;
  const auto end = text.find("\r\n\r\n");
  REQUIRE_MESSAGE(end != std::string::npos, "no end of head in: " << text);
  REQUIRE_MESSAGE(end + 4 == text.size(), "bytes after the head in: " << text);
  std::string_view rest(text.data(), end + 2);
  bool first = true;
  while (!rest.empty()) {
    const auto eol = rest.find("\r\n");
    REQUIRE(eol != std::string_view::npos);
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    if (first) {
      head.start = std::string(line);
      first = false;
      continue;
    }
    const auto colon = line.find(": ");
    REQUIRE_MESSAGE(colon != std::string_view::npos, "malformed header line: " << std::string(line));
    head.headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
  }
  return head;
}

std::vector<std::string> valuesOf(const Head& head, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : head.headers)
    if (equalsIgnoreCase(n, name)) out.push_back(v);
  return out;
}
bool has(const Head& head, std::string_view name) { return !valuesOf(head, name).empty(); }
using V = std::vector<std::string>;

std::string request(std::string_view method, const std::vector<Header>& headers,
                    const UpstreamRequestOptions& options, std::string_view target = "/") {
  std::string out;
  buildUpstreamRequestHead(method, target, headers, options, out);
  return out;
}
UpstreamRequestOptions opts(std::string_view ip = "192.0.2.7") {
  UpstreamRequestOptions o;
  o.client_ip = ip;
  o.default_host = "fallback.example";
  return o;
}

std::string response(int status, std::string_view reason, const std::vector<Header>& headers,
                     const ClientResponseOptions& options) {
  std::string out;
  buildClientResponseHead(status, reason, headers, options, out);
  return out;
}

// ---- small predicates ----------------------------------------------------------------------

TEST_CASE("equalsIgnoreCase compares ASCII case-insensitively and needs equal length") {
  CHECK(equalsIgnoreCase("", ""));
  CHECK(equalsIgnoreCase("Content-Length", "content-LENGTH"));
  CHECK_FALSE(equalsIgnoreCase("host", "hosts"));
  CHECK_FALSE(equalsIgnoreCase("host", "hos"));
  CHECK_FALSE(equalsIgnoreCase("a-b", "a_b"));
  // '@' (0x40) and '`' (0x60) differ by 32 but are not letters.
  CHECK_FALSE(equalsIgnoreCase("@", "`"));
  CHECK_FALSE(equalsIgnoreCase("[", "{"));
}

TEST_CASE("headerHasToken: case, spaces, parameters and empty list items") {
  CHECK(headerHasToken("close", "close"));
  CHECK(headerHasToken("Close", "close"));
  CHECK(headerHasToken("close", "CLOSE"));
  CHECK(headerHasToken("keep-alive, Upgrade", "upgrade"));
  CHECK_FALSE(headerHasToken(", ,", ""));  // found by tests/fuzz/header_tokens
  CHECK_FALSE(headerHasToken("", ""));
  CHECK_FALSE(headerHasToken("a;q=1, ;x", ""));
  CHECK(headerHasToken("  keep-alive  ,\tUpgrade\t", "keep-alive"));
  CHECK(headerHasToken("  keep-alive  ,\tUpgrade\t", "upgrade"));
  CHECK(headerHasToken("gzip;q=1.0, chunked", "gzip"));
  CHECK(headerHasToken("gzip ; q=1.0 , chunked ;x=y", "chunked"));
  CHECK(headerHasToken(",,close,,", "close"));
  CHECK(headerHasToken(" , ,X-Foo", "x-foo"));
  CHECK(headerHasToken("a,b,c", "c"));

  CHECK_FALSE(headerHasToken("", "close"));
  CHECK_FALSE(headerHasToken(" , , ", "close"));
  CHECK_FALSE(headerHasToken("closed", "close"));
  CHECK_FALSE(headerHasToken("close-ish, x", "close"));
  CHECK_FALSE(headerHasToken("noclose", "close"));
  CHECK_FALSE(headerHasToken("keep-alive upgrade", "upgrade"));  // space is not a separator
  CHECK_FALSE(headerHasToken("q=close", "close"));
  CHECK_FALSE(headerHasToken("gzip;close", "close"));  // a parameter is not a token
}

TEST_CASE("isHopByHop: exactly the hop-by-hop set, any case") {
  for (const char* name : {"Connection", "connection", "KEEP-ALIVE", "Keep-Alive", "Proxy-Connection",
                           "TE", "te", "Trailer", "Upgrade", "Transfer-Encoding", "transfer-encoding"}) {
    CAPTURE(name);
    CHECK(isHopByHop(name));
  }
  for (const char* name : {"", "Host", "Content-Length", "Content-Type", "X-Foo", "Trailers", "T",
                           "Tee", "Upgrade-Insecure-Requests", "Connections", "Keep-Alives",
                           "Transfer-Encodings", "Proxy-Authorization", "Accept-Encoding"}) {
    CAPTURE(name);
    CHECK_FALSE(isHopByHop(name));
  }
}

// ---- header name classification --------------------------------------------------------------

struct KnownName {
  const char* name;
  HeaderId id;
};
constexpr KnownName kKnownNames[] = {
    {"connection", HeaderId::Connection},
    {"keep-alive", HeaderId::KeepAlive},
    {"proxy-connection", HeaderId::ProxyConnection},
    {"te", HeaderId::TE},
    {"trailer", HeaderId::Trailer},
    {"transfer-encoding", HeaderId::TransferEncoding},
    {"upgrade", HeaderId::Upgrade},
    {"x-forwarded-for", HeaderId::XForwardedFor},
    {"x-forwarded-proto", HeaderId::XForwardedProto},
    {"x-forwarded-host", HeaderId::XForwardedHost},
    {"x-real-ip", HeaderId::XRealIp},
    {"x-request-id", HeaderId::XRequestId},
    {"content-length", HeaderId::ContentLength},
    {"host", HeaderId::Host},
    {"accept-encoding", HeaderId::AcceptEncoding},
    {"content-type", HeaderId::ContentType},
    {"content-encoding", HeaderId::ContentEncoding},
    {"vary", HeaderId::Vary},
    {"etag", HeaderId::ETag},
    {"accept-ranges", HeaderId::AcceptRanges},
    {"cache-control", HeaderId::CacheControl},
    {"range", HeaderId::Range},
    {"proxy-authenticate", HeaderId::ProxyAuthenticate},
    {"proxy-authorization", HeaderId::ProxyAuthorization},
    {"cookie", HeaderId::Cookie},
    {"referer", HeaderId::Referer},
    {"user-agent", HeaderId::UserAgent},
};

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return s;
}

TEST_CASE("classifyHeader: every known name in lower, upper, title and alternating case") {
  for (const KnownName& k : kKnownNames) {
    const std::string lower = k.name;
    std::string title = lower, alternating = lower;
    for (size_t i = 0; i < title.size(); ++i) {
      if (i == 0 || title[i - 1] == '-') title[i] = upper(std::string(1, title[i]))[0];
      if (i % 2) alternating[i] = upper(std::string(1, alternating[i]))[0];
    }
    for (const std::string& name : {lower, upper(lower), title, alternating}) {
      CAPTURE(name);
      CHECK(classifyHeader(name) == k.id);
    }
  }
}

TEST_CASE("classifyHeader: the ids are distinct and neither Unclassified nor Other") {
  for (size_t i = 0; i < std::size(kKnownNames); ++i) {
    CAPTURE(kKnownNames[i].name);
    CHECK(kKnownNames[i].id != HeaderId::Unclassified);
    CHECK(kKnownNames[i].id != HeaderId::Other);
    for (size_t j = i + 1; j < std::size(kKnownNames); ++j) CHECK(kKnownNames[i].id != kKnownNames[j].id);
  }
}

TEST_CASE("classifyHeader: near misses are Other") {
  for (const char* name : {"", "t", "tee", "connectionx", "xconnection", "connectio", "onnection",
                           "content-lengt", "content-lengths", "content_length", "content length",
                           "Content-Length ", " Content-Length", "hosts", "hos", "ost", "x-forwarded-fo",
                           "x-forwarded-forx", "x-forwarded_for", "x_real_ip", "x-request_id",
                           "keep_alive", "keepalive", "trailers", "upgrade-insecure-requests",
                           "proxy-authorisation", "transfer-encodings", "transfer-encodinf", "etags",
                           "accept", "accept-language", "content-md5", "date", "server", "set-cookie",
                           "cookie2", "referrer", "user_agent", "range ", "varx"}) {
    CAPTURE(name);
    CHECK(classifyHeader(name) == HeaderId::Other);
  }
  // Only letters fold: '-' (0x2D) must not match '\r' (0x0D), which 0x20 would turn into '-'.
  CHECK(classifyHeader(std::string_view("content\rlength")) == HeaderId::Other);
  CHECK(classifyHeader(std::string_view("x\rreal\rip")) == HeaderId::Other);
  CHECK(classifyHeader(std::string_view("keep\ralive")) == HeaderId::Other);
  // '@' (0x40) and '`' (0x60) differ by 0x20 as letters do, but are not letters.
  CHECK(classifyHeader("hos@") == HeaderId::Other);
  CHECK(classifyHeader("`ost") == HeaderId::Other);
  // A NUL inside, and bytes above 0x7F.
  CHECK(classifyHeader(std::string_view("ho\0t", 4)) == HeaderId::Other);
  CHECK(classifyHeader("h\xc3\xb3st") == HeaderId::Other);
}

TEST_CASE("classifyHeader: any single changed byte, at any position, gives Other") {
  for (const KnownName& k : kKnownNames) {
    const std::string name = k.name;
    for (size_t i = 0; i < name.size(); ++i) {
      for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        const bool same = c == name[i] || (name[i] >= 'a' && name[i] <= 'z' && c == name[i] - 32);
        if (same) continue;
        std::string changed = name;
        changed[i] = c;
        if (classifyHeader(changed) != HeaderId::Other) {
          CAPTURE(name);
          CAPTURE(i);
          CAPTURE(b);
          FAIL("a changed name was classified");
        }
      }
    }
    // And one byte longer or shorter, at either end.
    CHECK(classifyHeader(name + "s") == HeaderId::Other);
    CHECK(classifyHeader("s" + name) == HeaderId::Other);
    CHECK(classifyHeader(name.substr(1)) == HeaderId::Other);
    CHECK(classifyHeader(name.substr(0, name.size() - 1)) == HeaderId::Other);
  }
}

TEST_CASE("headerIdOf: a Header's own id, else its name classified") {
  CHECK(headerIdOf(Header{"Host", "h"}) == HeaderId::Host);
  CHECK(headerIdOf(Header{"X-Foo", "h"}) == HeaderId::Other);
  CHECK(headerIdOf(Header{"X-Foo", "h", HeaderId::Other}) == HeaderId::Other);
  CHECK(headerIdOf(Header{"Host", "h", HeaderId::Host}) == HeaderId::Host);
}

TEST_CASE("isHopByHop by id agrees with isHopByHop by name") {
  for (const KnownName& k : kKnownNames) {
    CAPTURE(k.name);
    CHECK(isHopByHop(k.id) == isHopByHop(k.name));
  }
  CHECK_FALSE(isHopByHop(HeaderId::Other));
  CHECK_FALSE(isHopByHop(HeaderId::Unclassified));
}

// ---- request head --------------------------------------------------------------------------

TEST_CASE("request head: one representative GET, exact bytes") {
  const std::vector<Header> headers = {{"Host", "example.com"},
                                       {"User-Agent", "curl/7.88"},
                                       {"Accept", "*/*"},
                                       {"Connection", "keep-alive"},
                                       {"X-Forwarded-For", "10.0.0.1"}};
  UpstreamRequestOptions o = opts();
  o.scheme = "https";
  std::string out = "PREVIOUS";  // the head is appended
  buildUpstreamRequestHead("GET", "/a/b?c=1&d", headers, o, out);
  CHECK(out ==
        "PREVIOUS"
        "GET /a/b?c=1&d HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "User-Agent: curl/7.88\r\n"
        "Accept: */*\r\n"
        "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n"
        "X-Real-IP: 192.0.2.7\r\n"
        "X-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: example.com\r\n"
        "Via: 1.1 edged\r\n"
        "\r\n");
}

TEST_CASE("request head: one representative chunked POST to a closing origin, exact bytes") {
  const std::vector<Header> headers = {{"host", "API.example:8080"},
                                       {"Transfer-Encoding", "chunked"},
                                       {"Content-Type", "application/json"},
                                       {"TE", "trailers"},
                                       {"Expect", "100-continue"}};
  UpstreamRequestOptions o = opts("2001:db8::1");
  o.body = BodyFraming::Chunked;
  o.keep_alive = false;
  CHECK(request("POST", headers, o, "/submit") ==
        "POST /submit HTTP/1.1\r\n"
        "host: API.example:8080\r\n"
        "Content-Type: application/json\r\n"
        "Expect: 100-continue\r\n"
        "X-Forwarded-For: 2001:db8::1\r\n"
        "X-Real-IP: 2001:db8::1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: API.example:8080\r\n"
        "Via: 1.1 edged\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Connection: close\r\n"
        "\r\n");
}

TEST_CASE("request head: every hop-by-hop header is removed, in any case") {
  const std::vector<Header> headers = {{"Host", "h"},
                                       {"Connection", "keep-alive"},
                                       {"Keep-Alive", "timeout=5"},
                                       {"Proxy-Connection", "keep-alive"},
                                       {"TE", "trailers"},
                                       {"Trailer", "X-Checksum"},
                                       {"Upgrade", "h2c"},
                                       {"Transfer-Encoding", "gzip, chunked"},
                                       {"connection", "Upgrade"},
                                       {"KEEP-ALIVE", "max=3"},
                                       {"proxy-connection", "close"},
                                       {"te", "gzip"},
                                       {"trailer", "X-A"},
                                       {"upgrade", "websocket"},
                                       {"transfer-encoding", "chunked"},
                                       {"Accept", "text/plain"}};
  const Head h = parseHead(request("GET", headers, opts()));
  CHECK(h.start == "GET / HTTP/1.1");
  for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade",
                           "Transfer-Encoding"}) {
    CAPTURE(name);
    CHECK_FALSE(has(h, name));
  }
  CHECK(valuesOf(h, "Accept") == V{"text/plain"});
  CHECK(valuesOf(h, "Host") == V{"h"});
}

TEST_CASE("request head: headers named by Connection are removed") {
  const std::vector<Header> headers = {{"Host", "h"},
                                       {"X-Foo", "1"},
                                       {"Connection", "close, X-Foo"},
                                       {"x-foo", "2"},
                                       {"X-Foobar", "kept"},
                                       {"X-Bar", "3"},
                                       {"Connection", " x-bar ;p=1"},
                                       {"X-Baz", "kept"}};
  const Head h = parseHead(request("GET", headers, opts()));
  CHECK_FALSE(has(h, "X-Foo"));
  CHECK_FALSE(has(h, "X-Bar"));
  CHECK_FALSE(has(h, "Connection"));
  CHECK(valuesOf(h, "X-Foobar") == V{"kept"});
  CHECK(valuesOf(h, "X-Baz") == V{"kept"});
  CHECK(valuesOf(h, "Host") == V{"h"});
}

TEST_CASE("request head: Connection cannot name away Host or Content-Length") {
  std::vector<Header> headers = {{"Host", "h"}, {"Content-Length", "5"}, {"X-Drop", "1"},
                                 {"Connection", "Host, content-length, X-Drop"}};
  UpstreamRequestOptions o = opts();
  o.body = BodyFraming::ContentLength;
  o.content_length = 5;
  Head h = parseHead(request("POST", headers, o));
  CHECK(valuesOf(h, "Host") == V{"h"});
  CHECK(valuesOf(h, "X-Forwarded-Host") == V{"h"});
  CHECK(valuesOf(h, "Content-Length") == V{"5"});
  CHECK_FALSE(has(h, "X-Drop"));
  // past the fast path's 8 tokens, too
  headers.back().value = "a1, a2, a3, a4, a5, a6, a7, a8, a9, Host, X-Drop";
  h = parseHead(request("POST", headers, o));
  CHECK(valuesOf(h, "Host") == V{"h"});
  CHECK_FALSE(has(h, "X-Drop"));
}

TEST_CASE("request head: Via names this hop with the version received, after earlier hops") {
  UpstreamRequestOptions o = opts();
  Head h = parseHead(request("GET", {{"Host", "h"}, {"Via", "1.1 cdn"}}, o));
  CHECK(valuesOf(h, "Via") == V{"1.1 cdn", "1.1 edged"});
  o.client_http10 = true;
  h = parseHead(request("GET", {{"Host", "h"}}, o));
  CHECK(valuesOf(h, "Via") == V{"1.0 edged"});
}

TEST_CASE("request head: an HTTP/1.0 request's Expect is not forwarded; an HTTP/1.1 one's is") {
  // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
  const std::vector<Header> headers = {{"Host", "h"}, {"expect", "100-continue"}, {"Content-Length", "3"}};
  UpstreamRequestOptions o = opts();
  o.body = BodyFraming::ContentLength;
  o.content_length = 3;
  Head h = parseHead(request("POST", headers, o));
  CHECK(valuesOf(h, "Expect") == V{"100-continue"});
  o.client_http10 = true;
  h = parseHead(request("POST", headers, o));
  CHECK_FALSE(has(h, "Expect"));
  CHECK(valuesOf(h, "Content-Length") == V{"3"});
  CHECK(valuesOf(h, "Via") == V{"1.0 edged"});
}

TEST_CASE("request head: X-Forwarded-For is appended to, in order, and added once") {
  SUBCASE("no previous value") {
    const Head h = parseHead(request("GET", {{"Host", "h"}}, opts("203.0.113.9")));
    CHECK(valuesOf(h, "X-Forwarded-For") == V{"203.0.113.9"});
  }
  SUBCASE("one previous value") {
    const Head h = parseHead(request("GET", {{"Host", "h"}, {"X-Forwarded-For", "1.1.1.1"}}, opts()));
    CHECK(valuesOf(h, "X-Forwarded-For") == V{"1.1.1.1, 192.0.2.7"});
  }
  SUBCASE("a previous list, with surrounding spaces") {
    const Head h = parseHead(
        request("GET", {{"Host", "h"}, {"x-forwarded-for", "  1.1.1.1, 2.2.2.2 "}}, opts()));
    CHECK(valuesOf(h, "X-Forwarded-For") == V{"1.1.1.1, 2.2.2.2, 192.0.2.7"});
  }
  SUBCASE("several X-Forwarded-For headers are joined in order") {
    const Head h = parseHead(request("GET",
                                     {{"X-Forwarded-For", "1.1.1.1"},
                                      {"Host", "h"},
                                      {"X-FORWARDED-FOR", "2.2.2.2, 3.3.3.3"},
                                      {"Accept", "*/*"},
                                      {"X-Forwarded-For", "4.4.4.4"}},
                                     opts()));
    CHECK(valuesOf(h, "X-Forwarded-For") == V{"1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4, 192.0.2.7"});
    // Added after the client's other headers.
    REQUIRE(h.headers.size() >= 3);
    CHECK(h.headers[0].first == "Host");
    CHECK(h.headers[1].first == "Accept");
    CHECK(h.headers[2].first == "X-Forwarded-For");
  }
}

TEST_CASE("request head: X-Real-IP, X-Forwarded-Proto and X-Forwarded-Host are replaced, not duplicated") {
  const std::vector<Header> headers = {{"Host", "real.example"},
                                       {"X-Real-IP", "6.6.6.6"},
                                       {"x-forwarded-proto", "gopher"},
                                       {"X-Forwarded-Host", "evil.example"},
                                       {"X-REAL-IP", "7.7.7.7"}};
  UpstreamRequestOptions o = opts("192.0.2.7");
  o.scheme = "https";
  const Head h = parseHead(request("GET", headers, o));
  CHECK(valuesOf(h, "X-Real-IP") == V{"192.0.2.7"});
  CHECK(valuesOf(h, "X-Forwarded-Proto") == V{"https"});
  CHECK(valuesOf(h, "X-Forwarded-Host") == V{"real.example"});
}

TEST_CASE("request head: '_' spellings of the forwarding fields edged sets are dropped") {
  // CGI/PHP/WSGI read X_Forwarded_For and X-Forwarded-For as one variable: a spoof beside edged's.
  const std::vector<Header> headers = {{"Host", "real.example"},
                                       {"X_Forwarded_For", "6.6.6.6"},
                                       {"x-real_ip", "6.6.6.6"},
                                       {"X_FORWARDED_PROTO", "gopher"},
                                       {"X_Forwarded-Host", "evil.example"},
                                       {"X_Request_Id", "mine"},
                                       {"X_Custom_Field", "kept"},
                                       {"X_Forwarded_For_Me", "kept"}};
  const Head h = parseHead(request("GET", headers, opts("192.0.2.7")));
  for (const char* name : {"X_Forwarded_For", "x-real_ip", "X_FORWARDED_PROTO", "X_Forwarded-Host"}) {
    INFO(name);
    CHECK(valuesOf(h, name).empty());
  }
  CHECK(valuesOf(h, "X-Forwarded-For") == V{"192.0.2.7"});
  CHECK(valuesOf(h, "X-Real-IP") == V{"192.0.2.7"});
  CHECK(valuesOf(h, "X_Custom_Field") == V{"kept"});
  CHECK(valuesOf(h, "X_Forwarded_For_Me") == V{"kept"});
  // X_Request_Id stays when edged sets no X-Request-Id, and goes when it does.
  CHECK(valuesOf(h, "X_Request_Id") == V{"mine"});
  UpstreamRequestOptions with_id = opts("192.0.2.7");
  with_id.request_id = "0123456789abcdef";
  const Head hi = parseHead(request("GET", headers, with_id));
  CHECK(valuesOf(hi, "X_Request_Id").empty());
  CHECK(valuesOf(hi, "X-Request-Id") == V{"0123456789abcdef"});
}

TEST_CASE("request head: Host passes through unchanged; default_host only when there is none") {
  SUBCASE("Host present: kept byte for byte, in place, default unused") {
    const Head h = parseHead(request("GET", {{"Accept", "a"}, {"HoSt", "Example.COM:8080"}}, opts()));
    REQUIRE(h.headers.size() >= 2);
    CHECK(h.headers[1] == std::pair<std::string, std::string>("HoSt", "Example.COM:8080"));
    CHECK(valuesOf(h, "Host") == V{"Example.COM:8080"});
    CHECK(valuesOf(h, "X-Forwarded-Host") == V{"Example.COM:8080"});
    CHECK(request("GET", {{"Host", "Example.COM:8080"}}, opts()).find("fallback.example") ==
          std::string::npos);
  }
  SUBCASE("no Host (HTTP/1.0): default_host is used for Host and X-Forwarded-Host") {
    const Head h = parseHead(request("GET", {{"Accept", "a"}}, opts()));
    CHECK(valuesOf(h, "Host") == V{"fallback.example"});
    CHECK(valuesOf(h, "X-Forwarded-Host") == V{"fallback.example"});
  }
}

TEST_CASE("request head: framing headers follow the options, never the client's") {
  const std::vector<Header> with_length = {{"Host", "h"}, {"Content-Length", "999"}};
  SUBCASE("Content-Length N") {
    UpstreamRequestOptions o = opts();
    o.body = BodyFraming::ContentLength;
    o.content_length = 12345678901234ULL;
    const Head h = parseHead(request("PUT", with_length, o));
    CHECK(valuesOf(h, "Content-Length") == V{"12345678901234"});
    CHECK_FALSE(has(h, "Transfer-Encoding"));
  }
  SUBCASE("Content-Length 0 given explicitly") {
    UpstreamRequestOptions o = opts();
    o.body = BodyFraming::ContentLength;
    o.content_length = 0;
    const Head h = parseHead(request("POST", with_length, o));
    CHECK(valuesOf(h, "Content-Length") == V{"0"});
  }
  SUBCASE("UINT64_MAX length") {
    UpstreamRequestOptions o = opts();
    o.body = BodyFraming::ContentLength;
    o.content_length = UINT64_MAX;
    const Head h = parseHead(request("POST", with_length, o));
    CHECK(valuesOf(h, "Content-Length") == V{"18446744073709551615"});
  }
  SUBCASE("chunked") {
    UpstreamRequestOptions o = opts();
    o.body = BodyFraming::Chunked;
    const Head h = parseHead(request("POST", with_length, o));
    CHECK(valuesOf(h, "Transfer-Encoding") == V{"chunked"});
    CHECK_FALSE(has(h, "Content-Length"));
  }
  SUBCASE("no body: Content-Length 0 for POST, PUT and PATCH") {
    for (const char* method : {"POST", "PUT", "PATCH"}) {
      CAPTURE(method);
      const Head h = parseHead(request(method, with_length, opts()));
      CHECK(valuesOf(h, "Content-Length") == V{"0"});
      CHECK_FALSE(has(h, "Transfer-Encoding"));
    }
  }
  SUBCASE("no body: nothing for GET, HEAD, DELETE, OPTIONS") {
    for (const char* method : {"GET", "HEAD", "DELETE", "OPTIONS"}) {
      CAPTURE(method);
      const Head h = parseHead(request(method, with_length, opts()));
      CHECK_FALSE(has(h, "Content-Length"));
      CHECK_FALSE(has(h, "Transfer-Encoding"));
    }
  }
}

TEST_CASE("request head: Connection: close only when keep_alive is false") {
  const std::vector<Header> client_close = {{"Host", "h"}, {"Connection", "close"}};
  SUBCASE("keep_alive true, even if the client said close") {
    const Head h = parseHead(request("GET", client_close, opts()));
    CHECK_FALSE(has(h, "Connection"));
  }
  SUBCASE("keep_alive false, exactly once") {
    UpstreamRequestOptions o = opts();
    o.keep_alive = false;
    const Head h = parseHead(request("GET", client_close, o));
    CHECK(valuesOf(h, "Connection") == V{"close"});
    CHECK(h.headers.back() == std::pair<std::string, std::string>("Connection", "close"));
  }
}

TEST_CASE("request head: more Connection tokens than fit the fast path are all honoured") {
  std::vector<Header> headers = {{"Host", "h"}};
  std::string list;
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) names.push_back("X-H" + std::to_string(i));
  for (const std::string& n : names) {
    list += (list.empty() ? "" : ", ") + n;
    headers.push_back({n, "v"});
  }
  headers.push_back({"Connection", list});
  headers.push_back({"X-Kept", "k"});
  const Head h = parseHead(request("GET", headers, opts()));
  for (const std::string& n : names) {
    CAPTURE(n);
    CHECK_FALSE(has(h, n));
  }
  CHECK(valuesOf(h, "X-Kept") == V{"k"});
  CHECK(valuesOf(h, "Host") == V{"h"});
}

TEST_CASE("request head: Connection naming a field edged knows, or a hop-by-hop one, in any case") {
  const std::vector<Header> headers = {{"Host", "h"},
                                       {"Cookie", "a=1"},
                                       {"Accept", "*/*"},
                                       {"Keep-Alive", "300"},
                                       {"Connection", "COOKIE, keep-alive, close"},
                                       {"close", "x"}};
  const Head h = parseHead(request("GET", headers, opts()));
  CHECK_FALSE(has(h, "Cookie"));
  CHECK_FALSE(has(h, "Keep-Alive"));
  CHECK_FALSE(has(h, "close"));
  CHECK(valuesOf(h, "Accept") == V{"*/*"});
}

TEST_CASE("request and response heads: the same bytes whether headers carry ids or not") {
  std::vector<Header> plain = {{"Host", "example.com"},       {"Connection", "keep-alive, X-Drop"},
                               {"X-Drop", "1"},               {"X-Forwarded-For", "1.1.1.1"},
                               {"X-Real-IP", "9.9.9.9"},      {"Content-Length", "3"},
                               {"X-Request-Id", "abc"},       {"TE", "trailers"},
                               {"Set-Cookie", "s=1"},         {"ETag", "\"e\""},
                               {"Transfer-Encoding", "chunked"}};
  std::vector<Header> classified = plain;
  for (Header& h : classified) h.id = classifyHeader(h.name);
  UpstreamRequestOptions ro = opts();
  ro.request_id = "rid";
  ro.body = BodyFraming::ContentLength;
  ro.content_length = 3;
  CHECK(request("POST", plain, ro) == request("POST", classified, ro));
  for (BodyFraming body : {BodyFraming::None, BodyFraming::ContentLength, BodyFraming::Chunked, BodyFraming::UntilClose}) {
    ClientResponseOptions co;
    co.body = body;
    co.request_id = "rid";
    CHECK(response(200, "OK", plain, co) == response(200, "OK", classified, co));
  }
}

// ---- response head -------------------------------------------------------------------------

TEST_CASE("response head: status line uses the origin's reason, else the default one") {
  ClientResponseOptions o;
  CHECK(parseHead(response(200, "Okey Dokey", {}, o)).start == "HTTP/1.1 200 Okey Dokey");
  CHECK(parseHead(response(200, "", {}, o)).start == "HTTP/1.1 200 OK");
  CHECK(parseHead(response(404, "", {}, o)).start == "HTTP/1.1 404 Not Found");
  CHECK(parseHead(response(502, "", {}, o)).start == "HTTP/1.1 502 Bad Gateway");
  CHECK(parseHead(response(299, "", {}, o)).start == "HTTP/1.1 299 Unknown");
  CHECK(parseHead(response(101, "", {}, o)).start == "HTTP/1.1 101 Switching Protocols");
  CHECK(parseHead(response(599, "Custom", {}, o)).start == "HTTP/1.1 599 Custom");
}

TEST_CASE("response head: exact bytes for a representative keep-alive response") {
  const std::vector<Header> headers = {{"Content-Type", "text/plain"},
                                       {"Content-Length", "5"},
                                       {"Connection", "keep-alive"},
                                       {"Keep-Alive", "timeout=5"},
                                       {"Set-Cookie", "a=1"},
                                       {"Set-Cookie", "b=2"}};
  ClientResponseOptions o;
  o.body = BodyFraming::ContentLength;
  std::string out = "X";
  buildClientResponseHead(200, "OK", headers, o, out);
  CHECK(out ==
        "X"
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 5\r\n"
        "Set-Cookie: a=1\r\n"
        "Set-Cookie: b=2\r\n"
        "\r\n");
}

TEST_CASE("response head: hop-by-hop headers and those named by Connection are removed") {
  const std::vector<Header> headers = {{"Connection", "keep-alive, X-Internal"},
                                       {"Keep-Alive", "timeout=5"},
                                       {"Proxy-Connection", "keep-alive"},
                                       {"TE", "trailers"},
                                       {"Trailer", "X-Sum"},
                                       {"Upgrade", "h2c"},
                                       {"Transfer-Encoding", "chunked"},
                                       {"X-Internal", "secret"},
                                       {"Server", "origin"}};
  ClientResponseOptions o;
  o.body = BodyFraming::Chunked;
  const Head h = parseHead(response(200, "OK", headers, o));
  for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade",
                           "X-Internal"}) {
    CAPTURE(name);
    CHECK_FALSE(has(h, name));
  }
  CHECK(valuesOf(h, "Transfer-Encoding") == V{"chunked"});  // edged's own, once
  CHECK(valuesOf(h, "Server") == V{"origin"});
}

TEST_CASE("response head: Connection naming Content-Length does not take the length away") {
  const std::vector<Header> headers = {{"Connection", "Content-Length, X-Hop"}, {"X-Hop", "1"},
                                       {"Content-Length", "5"}};
  ClientResponseOptions o;
  o.body = BodyFraming::ContentLength;
  const Head h = parseHead(response(200, "OK", headers, o));
  CHECK(valuesOf(h, "Content-Length") == V{"5"});
  CHECK_FALSE(has(h, "X-Hop"));
  CHECK_FALSE(has(h, "Connection"));
}

TEST_CASE("response head: Content-Length and Transfer-Encoding by framing") {
  const std::vector<Header> headers = {{"Content-Length", "42"}, {"ETag", "\"x\""}};
  SUBCASE("ContentLength keeps it") {
    ClientResponseOptions o;
    o.body = BodyFraming::ContentLength;
    const Head h = parseHead(response(200, "OK", headers, o));
    CHECK(valuesOf(h, "Content-Length") == V{"42"});
    CHECK_FALSE(has(h, "Transfer-Encoding"));
  }
  SUBCASE("Chunked (re-chunking) drops it and adds Transfer-Encoding: chunked") {
    ClientResponseOptions o;
    o.body = BodyFraming::Chunked;
    const Head h = parseHead(response(200, "OK", headers, o));
    CHECK_FALSE(has(h, "Content-Length"));
    CHECK(valuesOf(h, "Transfer-Encoding") == V{"chunked"});
  }
  SUBCASE("None (HEAD, 304) keeps it, no Transfer-Encoding") {
    ClientResponseOptions o;
    o.body = BodyFraming::None;
    const Head h = parseHead(response(304, "", headers, o));
    CHECK(valuesOf(h, "Content-Length") == V{"42"});
    CHECK_FALSE(has(h, "Transfer-Encoding"));
    CHECK(valuesOf(h, "ETag") == V{"\"x\""});
  }
  SUBCASE("UntilClose drops it") {
    ClientResponseOptions o;
    o.body = BodyFraming::UntilClose;
    o.keep_alive = false;
    const Head h = parseHead(response(200, "OK", headers, o));
    CHECK_FALSE(has(h, "Content-Length"));
    CHECK_FALSE(has(h, "Transfer-Encoding"));
  }
}

TEST_CASE("response head: no Content-Length or Transfer-Encoding in a 1xx or 204, whatever the origin sent") {
  // RFC 9110 §8.6 and RFC 9112 §6.1: a server MUST NOT send either in a 1xx or 204. A 304 keeps
  // its Content-Length (it describes the representation); Transfer-Encoding never passes.
  const std::vector<Header> headers = {{"Content-Length", "42"}, {"Transfer-Encoding", "chunked"}, {"ETag", "\"x\""}};
  for (const int status : {100, 101, 103, 204}) {
    CAPTURE(status);
    ClientResponseOptions o;
    o.body = BodyFraming::None;
    if (status == 101) o.upgrade = "websocket";
    Head h = parseHead(response(status, "", headers, o));
    CHECK_FALSE(has(h, "Content-Length"));
    CHECK_FALSE(has(h, "Transfer-Encoding"));
    CHECK(valuesOf(h, "ETag") == V{"\"x\""});
    o.body = BodyFraming::ContentLength;  // a caller's framing cannot bring it back
    h = parseHead(response(status, "", headers, o));
    CHECK_FALSE(has(h, "Content-Length"));
  }
  ClientResponseOptions o;
  o.body = BodyFraming::None;
  const Head h = parseHead(response(304, "", headers, o));
  CHECK(valuesOf(h, "Content-Length") == V{"42"});
  CHECK_FALSE(has(h, "Transfer-Encoding"));
}

TEST_CASE("response head: Connection header from keep_alive and the client's version") {
  const std::vector<Header> origin_says = {{"Connection", "close"}, {"Content-Length", "0"}};
  SUBCASE("HTTP/1.1 client kept alive: no Connection header") {
    ClientResponseOptions o;
    const Head h = parseHead(response(200, "OK", origin_says, o));
    CHECK_FALSE(has(h, "Connection"));
  }
  SUBCASE("not keep-alive: Connection: close, once") {
    ClientResponseOptions o;
    o.keep_alive = false;
    const Head h = parseHead(response(200, "OK", origin_says, o));
    CHECK(valuesOf(h, "Connection") == V{"close"});
  }
  SUBCASE("not keep-alive wins over HTTP/1.0") {
    ClientResponseOptions o;
    o.keep_alive = false;
    o.client_http10 = true;
    const Head h = parseHead(response(200, "OK", origin_says, o));
    CHECK(valuesOf(h, "Connection") == V{"close"});
  }
  SUBCASE("HTTP/1.0 client kept alive: Connection: keep-alive, once") {
    ClientResponseOptions o;
    o.client_http10 = true;
    const Head h = parseHead(response(200, "OK", {{"Connection", "keep-alive"}}, o));
    CHECK(valuesOf(h, "Connection") == V{"keep-alive"});
  }
}

// ---- chunk framing -------------------------------------------------------------------------

TEST_CASE("writeChunkHeader: lower-case hex without leading zeros, then CRLF") {
  const std::pair<uint64_t, std::string_view> cases[] = {
      {0, "0\r\n"},
      {1, "1\r\n"},
      {10, "a\r\n"},
      {15, "f\r\n"},
      {16, "10\r\n"},
      {255, "ff\r\n"},
      {256, "100\r\n"},
      {4096, "1000\r\n"},
      {65536, "10000\r\n"},
      {0xdeadbeefULL, "deadbeef\r\n"},
      {uint64_t{1} << 32, "100000000\r\n"},
      {(uint64_t{1} << 32) - 1, "ffffffff\r\n"},
      {uint64_t{1} << 63, "8000000000000000\r\n"},
      {UINT64_MAX, "ffffffffffffffff\r\n"},
  };
  for (const auto& [size, expected] : cases) {
    CAPTURE(size);
    char buf[32];
    std::memset(buf, '#', sizeof buf);
    const size_t n = writeChunkHeader(size, buf);
    CHECK(std::string_view(buf, n) == expected);
    CHECK(buf[n] == '#');  // nothing written past the returned length
  }
}

TEST_CASE("writeChunkHeader: the largest header fits the documented 18 bytes exactly") {
  char buf[18];
  CHECK(writeChunkHeader(UINT64_MAX, buf) == 18u);
  CHECK(std::string_view(buf, 18) == "ffffffffffffffff\r\n");
}

TEST_CASE("chunk constants") {
  CHECK(kLastChunk == "0\r\n\r\n");
  CHECK(kChunkTrailer == "\r\n");
  char buf[18];
  const size_t n = writeChunkHeader(0, buf);
  CHECK(std::string(buf, n) + std::string(kChunkTrailer) == kLastChunk);
}

// ---- error responses -----------------------------------------------------------------------

TEST_CASE("buildErrorResponse: Content-Length is the exact body length; Connection: close iff close") {
  for (int status : {400, 404, 408, 413, 414, 431, 500, 502, 503, 504, 299, 999}) {
    for (bool close : {false, true}) {
      CAPTURE(status);
      CAPTURE(close);
      std::string out = "ABC";  // appended
      buildErrorResponse(status, close, out);
      REQUIRE(out.rfind("ABC", 0) == 0);
      const std::string msg = out.substr(3);
      const auto end = msg.find("\r\n\r\n");
      REQUIRE(end != std::string::npos);
      const Head h = parseHead(msg.substr(0, end + 4));
      const std::string body = msg.substr(end + 4);
      CHECK(h.start == "HTTP/1.1 " + std::to_string(status) + " " + std::string(reasonPhrase(status)));
      CHECK(valuesOf(h, "Content-Length") == V{std::to_string(body.size())});
      CHECK(valuesOf(h, "Content-Type") == V{"text/html"});
      CHECK(valuesOf(h, "Connection") == (close ? V{"close"} : V{}));
      CHECK(body.find(std::to_string(status) + " " + std::string(reasonPhrase(status))) !=
            std::string::npos);
    }
  }
}

TEST_CASE("reasonPhrase: known codes and the fallback") {
  CHECK(reasonPhrase(200) == "OK");
  CHECK(reasonPhrase(204) == "No Content");
  CHECK(reasonPhrase(304) == "Not Modified");
  CHECK(reasonPhrase(413) == "Content Too Large");
  CHECK(reasonPhrase(499) == "Client Closed Request");
  CHECK(reasonPhrase(504) == "Gateway Timeout");
  CHECK(reasonPhrase(0) == "Unknown");
  CHECK(reasonPhrase(-1) == "Unknown");
  CHECK(reasonPhrase(418) == "Unknown");
}

}  // namespace
}  // namespace edged::proxy
