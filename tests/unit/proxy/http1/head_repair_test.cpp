// tests/unit/proxy/http1/head_repair_test.cpp — bare LF and "name :" in an origin's head.
#include <doctest.h>

#include <string>
#include <string_view>

#include "proxy/http1/http1.h"

namespace edged::proxy::http1 {
namespace {

std::string repaired(std::string_view raw, size_t* used = nullptr) {
  std::string out = "kept|";
  const size_t n = repairResponseHead(raw, out);
  if (used) *used = n;
  return n == 0 ? std::string("incomplete:") + out : out.substr(5);
}

TEST_CASE("bare LF line ends become CRLF, through the empty line only") {
  size_t used = 0;
  CHECK(repaired("HTTP/1.1 200 OK\nA: 1\n\nbody\n", &used) == "HTTP/1.1 200 OK\r\nA: 1\r\n\r\n");
  CHECK(used == std::string_view("HTTP/1.1 200 OK\nA: 1\n\n").size());
  CHECK(repaired("HTTP/1.1 200 OK\r\nA: 1\n\r\nrest", &used) == "HTTP/1.1 200 OK\r\nA: 1\r\n\r\n");
  CHECK(used == 24);
}

TEST_CASE("whitespace between a field name and its colon is removed") {
  CHECK(repaired("HTTP/1.1 200 OK\r\nX-A : b\r\nX-B\t \t: c d\r\n\r\n") == "HTTP/1.1 200 OK\r\nX-A: b\r\nX-B: c d\r\n\r\n");
  // The status line and obs-fold continuations are not field lines; a space inside a name stays.
  CHECK(repaired("HTTP/1.1 200 O K : x\r\nA: 1\r\n  b : c\r\nNa me : v\r\n\r\n") ==
        "HTTP/1.1 200 O K : x\r\nA: 1\r\n  b : c\r\nNa me: v\r\n\r\n");
  // A line of only whitespace and a colon keeps its whitespace (no name: llhttp refuses it).
  CHECK(repaired("HTTP/1.1 200 OK\r\nX:\r\n:v\r\n\r\n") == "HTTP/1.1 200 OK\r\nX:\r\n:v\r\n\r\n");
}

TEST_CASE("an incomplete head leaves the output as it was") {
  CHECK(repaired("HTTP/1.1 200 OK\nA: 1\n") == "incomplete:kept|");
  CHECK(repaired("") == "incomplete:kept|");
  CHECK(repaired("HTTP/1.1 200 OK\nA: 1\r") == "incomplete:kept|");
}

TEST_CASE("a bare CR is copied for the parser to refuse") {
  CHECK(repaired("HTTP/1.1 200 OK\r\nA: 1\rB: 2\n\n") == "HTTP/1.1 200 OK\r\nA: 1\rB: 2\r\n\r\n");
}

}  // namespace
}  // namespace edged::proxy::http1
