// tests/unit/proxy/parsed_head_test.cpp — assembling a head from llhttp-style piecewise callbacks.
#include <doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/http.h"

namespace edged::proxy {
namespace {

size_t target(ParsedHead& h, std::string_view s) { return h.addTarget(s.data(), s.size()); }
size_t field(ParsedHead& h, std::string_view s) { return h.addField(s.data(), s.size()); }
size_t value(ParsedHead& h, std::string_view s) { return h.addValue(s.data(), s.size()); }

// Feeds one whole header the way llhttp does when it arrives in one read.
void header(ParsedHead& h, std::string_view name, std::string_view val) {
  field(h, name);
  if (!val.empty()) value(h, val);
  h.endValue();
}

TEST_CASE("ParsedHead: an empty head") {
  ParsedHead h;
  CHECK(h.size() == 0u);
  CHECK(h.target().empty());
  int count = -1;
  CHECK(h.find("Host", &count).empty());
  CHECK(count == 0);
  std::vector<Header> out = {{"stale", "x"}};
  h.headers(out);
  CHECK(out.empty());
}

TEST_CASE("ParsedHead: target and headers arriving in one piece each") {
  ParsedHead h;
  target(h, "/index.html?q=1");
  header(h, "Host", "example.com");
  header(h, "Accept", "*/*");
  CHECK(h.target() == "/index.html?q=1");
  REQUIRE(h.size() == 2u);
  CHECK(h.name(0) == "Host");
  CHECK(h.value(0) == "example.com");
  CHECK(h.name(1) == "Accept");
  CHECK(h.value(1) == "*/*");
}

TEST_CASE("ParsedHead: pieces split across calls assemble correctly") {
  ParsedHead h;
  target(h, "/a/");
  target(h, "b?");
  target(h, "c=d");
  // A field name split in three pieces, its value in two.
  field(h, "X-Fo");
  field(h, "o-Ba");
  field(h, "r");
  value(h, "hello ");
  value(h, "world");
  h.endValue();
  // Then a field in one piece whose value is split in three, the middle piece one byte.
  field(h, "Host");
  value(h, "exa");
  value(h, "m");
  value(h, "ple.com");
  h.endValue();
  // And one whose name is split mid-way with a one-byte piece.
  field(h, "A");
  field(h, "ccept");
  value(h, "*/*");
  h.endValue();

  CHECK(h.target() == "/a/b?c=d");
  REQUIRE(h.size() == 3u);
  CHECK(h.name(0) == "X-Foo-Bar");
  CHECK(h.value(0) == "hello world");
  CHECK(h.name(1) == "Host");
  CHECK(h.value(1) == "example.com");
  CHECK(h.name(2) == "Accept");
  CHECK(h.value(2) == "*/*");

  std::vector<Header> out;
  h.headers(out);
  REQUIRE(out.size() == 3u);
  CHECK(out[0].name == "X-Foo-Bar");
  CHECK(out[0].value == "hello world");
  CHECK(out[2].name == "Accept");
  CHECK(out[2].value == "*/*");
}

TEST_CASE("ParsedHead: a field without value bytes gets an empty value via endValue") {
  ParsedHead h;
  target(h, "/");
  field(h, "X-Empty");
  h.endValue();
  field(h, "X-Next");
  value(h, "v");
  h.endValue();
  field(h, "X-Last-Empty");
  h.endValue();
  REQUIRE(h.size() == 3u);
  CHECK(h.name(0) == "X-Empty");
  CHECK(h.value(0).empty());
  CHECK(h.name(1) == "X-Next");  // not glued onto X-Empty
  CHECK(h.value(1) == "v");
  CHECK(h.name(2) == "X-Last-Empty");
  CHECK(h.value(2).empty());
  int count = 0;
  CHECK(h.find("x-empty", &count).empty());
  CHECK(count == 1);
}

TEST_CASE("ParsedHead: calling endValue after value bytes changes nothing") {
  ParsedHead h;
  field(h, "A");
  value(h, "1");
  h.endValue();
  h.endValue();
  REQUIRE(h.size() == 1u);
  CHECK(h.value(0) == "1");
}

TEST_CASE("ParsedHead: values are trimmed of spaces and tabs at both ends, not inside") {
  ParsedHead h;
  header(h, "A", "  padded  ");
  header(h, "B", "\t tabbed\t ");
  header(h, "C", "in  side");
  header(h, "D", "   ");
  field(h, "E");
  value(h, " split ");
  value(h, " value ");
  h.endValue();
  REQUIRE(h.size() == 5u);
  CHECK(h.value(0) == "padded");
  CHECK(h.value(1) == "tabbed");
  CHECK(h.value(2) == "in  side");
  CHECK(h.value(3).empty());
  CHECK(h.value(4) == "split  value");
  CHECK(h.find("a") == "padded");
}

TEST_CASE("ParsedHead: find() returns the first value and counts duplicates case-insensitively") {
  ParsedHead h;
  header(h, "Content-Length", "10");
  header(h, "Host", "a");
  header(h, "content-length", "20");
  header(h, "CONTENT-LENGTH", " 30 ");
  header(h, "Content-Lengthy", "99");
  int count = -1;
  CHECK(h.find("Content-Length", &count) == "10");
  CHECK(count == 3);
  CHECK(h.find("HOST", &count) == "a");
  CHECK(count == 1);
  CHECK(h.find("Transfer-Encoding", &count).empty());
  CHECK(count == 0);
  CHECK(h.find("content-length") == "10");  // count is optional
  // Later duplicates keep their own values and order.
  std::vector<Header> out;
  h.headers(out);
  REQUIRE(out.size() == 5u);
  CHECK(out[2].value == "20");
  CHECK(out[3].value == "30");
}

TEST_CASE("ParsedHead: byte counting covers every piece plus 4 per header") {
  ParsedHead h;
  CHECK(target(h, "/ab") == 3u);
  CHECK(target(h, "cd") == 5u);
  CHECK(field(h, "Ho") == 5u + 4u + 2u);
  CHECK(field(h, "st") == 13u);          // same header: no extra 4
  CHECK(value(h, "exa") == 16u);
  CHECK(value(h, "mple") == 20u);
  h.endValue();
  CHECK(field(h, "X") == 20u + 4u + 1u);  // new header: 4 more
  h.endValue();                           // empty value costs nothing
  CHECK(field(h, "Y") == 25u + 4u + 1u);
  CHECK(value(h, "1") == 31u);
}

TEST_CASE("ParsedHead: reset() clears everything for the next message") {
  ParsedHead h;
  target(h, "/first");
  header(h, "Host", "one");
  header(h, "X", "1");
  h.reset();
  CHECK(h.size() == 0u);
  CHECK(h.target().empty());
  CHECK(h.find("Host").empty());
  // Byte count starts again from zero.
  CHECK(target(h, "/2") == 2u);
  CHECK(field(h, "Host") == 10u);
  CHECK(value(h, "two") == 13u);
  h.endValue();
  REQUIRE(h.size() == 1u);
  CHECK(h.target() == "/2");
  CHECK(h.name(0) == "Host");
  CHECK(h.value(0) == "two");
}

TEST_CASE("ParsedHead: a field right after reset() starts a new header even if the last call was a field") {
  ParsedHead h;
  field(h, "Partial");  // a message cut off mid-name
  h.reset();
  field(h, "Host");
  value(h, "x");
  h.endValue();
  REQUIRE(h.size() == 1u);
  CHECK(h.name(0) == "Host");
}

TEST_CASE("ParsedHead: large heads (beyond the reserved capacity) stay consistent") {
  ParsedHead h;
  std::string long_target(5000, 'a');
  target(h, long_target);
  for (int i = 0; i < 100; ++i) {
    const std::string name = "X-Header-" + std::to_string(i);
    const std::string val(50, static_cast<char>('a' + i % 26));
    field(h, name.substr(0, 3));
    field(h, name.substr(3));
    value(h, val.substr(0, 10));
    value(h, val.substr(10));
    h.endValue();
  }
  CHECK(h.target() == long_target);
  REQUIRE(h.size() == 100u);
  for (size_t i = 0; i < 100; ++i) {
    CAPTURE(i);
    CHECK(h.name(i) == "X-Header-" + std::to_string(i));
    CHECK(h.value(i) == std::string(50, static_cast<char>('a' + i % 26)));
  }
  int count = 0;
  CHECK(h.find("x-header-99", &count) == std::string(50, static_cast<char>('a' + 99 % 26)));
  CHECK(count == 1);
}

TEST_CASE("ParsedHead: each field is classified once its name is complete") {
  ParsedHead h;
  field(h, "Con");
  field(h, "NECTION");  // the name split across reads
  value(h, "keep-alive");
  h.endValue();
  header(h, "Content-Length", "5");
  header(h, "X-Custom", "1");
  field(h, "Host");
  h.endValue();  // no value bytes
  header(h, "x-request-id", "abc");
  REQUIRE(h.size() == 5u);
  CHECK(h.id(0) == HeaderId::Connection);
  CHECK(h.id(1) == HeaderId::ContentLength);
  CHECK(h.id(2) == HeaderId::Other);
  CHECK(h.id(3) == HeaderId::Host);
  CHECK(h.id(4) == HeaderId::XRequestId);

  std::vector<Header> out;
  h.headers(out);
  REQUIRE(out.size() == 5u);
  CHECK(out[0].id == HeaderId::Connection);
  CHECK(out[2].id == HeaderId::Other);
  CHECK(out[4].id == HeaderId::XRequestId);
}

TEST_CASE("ParsedHead: find by id and by name agree, with counts") {
  ParsedHead h;
  header(h, "Host", " a.example ");
  header(h, "X-Forwarded-For", "1.1.1.1");
  header(h, "x-forwarded-for", "2.2.2.2");
  header(h, "X-Custom", "c");
  header(h, "X-CUSTOM", "d");
  int count = -1;
  CHECK(h.find(HeaderId::Host, &count) == "a.example");
  CHECK(count == 1);
  CHECK(h.find(HeaderId::XForwardedFor, &count) == "1.1.1.1");
  CHECK(count == 2);
  CHECK(h.find("X-FORWARDED-FOR", &count) == "1.1.1.1");
  CHECK(count == 2);
  CHECK(h.find(HeaderId::ContentLength, &count).empty());
  CHECK(count == 0);
  CHECK(h.find("x-custom", &count) == "c");  // a name edged does not classify: compared as text
  CHECK(count == 2);
  CHECK(h.find("x-custo", &count).empty());
  CHECK(count == 0);

  h.reset();
  CHECK(h.find(HeaderId::Host, &count).empty());
  CHECK(count == 0);
}

}  // namespace
}  // namespace edged::proxy
