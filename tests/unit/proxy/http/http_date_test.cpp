// tests/unit/proxy/http/http_date_test.cpp — IMF-fixdate formatting, the per-second cache, and
// the Date field the client response head gets when it has none.
#include <doctest.h>

#include <ctime>
#include <string>
#include <vector>

#include "proxy/http/http.h"

namespace edged::proxy {
namespace {

std::string fmt(int64_t t) {
  char out[kHttpDateLength];
  formatHttpDate(t, out);
  return {out, kHttpDateLength};
}

TEST_CASE("formatHttpDate: IMF-fixdate, as RFC 9110 §5.6.7 shows it") {
  CHECK(fmt(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");  // the RFC's example
  CHECK(fmt(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(fmt(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
  CHECK(fmt(4102444799) == "Thu, 31 Dec 2099 23:59:59 GMT");
}

TEST_CASE("formatHttpDate agrees with gmtime + strftime over many seconds") {
  for (int64_t t = 0; t < 4102444800; t += 7777777 + 13) {
    const time_t tt = static_cast<time_t>(t);
    struct tm tm {};
    gmtime_r(&tt, &tm);
    char want[64];
    strftime(want, sizeof want, "%a, %d %b %Y %H:%M:%S GMT", &tm);  // "C" locale in tests
    REQUIRE(fmt(t) == want);
  }
}

TEST_CASE("HttpDateCache formats once per second") {
  HttpDateCache cache;
  const std::string_view a = cache.at(784111777);
  CHECK(a == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(cache.at(784111777).data() == a.data());
  CHECK(cache.at(784111778) == "Sun, 06 Nov 1994 08:49:38 GMT");
  CHECK(httpDateNow().size() == kHttpDateLength);
}

TEST_CASE("buildClientResponseHead: Date added when the headers have none, never twice") {
  ClientResponseOptions o;
  o.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  std::string out;
  buildClientResponseHead(404, "", {{"Server", "edged"}}, o, out);
  CHECK(out ==
        "HTTP/1.1 404 Not Found\r\nServer: edged\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
  out.clear();
  buildClientResponseHead(200, "", {{"date", "Mon, 07 Nov 1994 08:49:37 GMT"}}, o, out);
  CHECK(out == "HTTP/1.1 200 OK\r\ndate: Mon, 07 Nov 1994 08:49:37 GMT\r\n\r\n");
  out.clear();
  o.date = {};
  buildClientResponseHead(200, "", {}, o, out);
  CHECK(out == "HTTP/1.1 200 OK\r\n\r\n");
}

TEST_CASE("buildClientResponseHead: serialized field lines go first, as they are; their Date counts") {
  ClientResponseOptions o;
  o.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  o.raw_fields = "ETag: \"a\"\r\nDate: Mon, 07 Nov 1994 08:49:37 GMT\r\n";
  o.raw_has_date = true;
  std::string out;
  buildClientResponseHead(200, "", {{"Age", "3"}, {"Content-Length", "5"}}, o, out);
  CHECK(out == "HTTP/1.1 200 OK\r\nETag: \"a\"\r\nDate: Mon, 07 Nov 1994 08:49:37 GMT\r\nAge: 3\r\n"
               "Content-Length: 5\r\n\r\n");
  out.clear();
  o.raw_fields = "ETag: \"a\"\r\n";
  o.raw_has_date = false;
  buildClientResponseHead(304, "", {}, o, out);
  CHECK(out == "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
}

}  // namespace
}  // namespace edged::proxy
