// tests/unit/proxy/request_checks_test.cpp — Host, request target and request line checks, as
// tables of RFC 9112 / RFC 9110 / RFC 3986 cases.
#include <doctest.h>

#include <string>

#include "proxy/request_checks.h"

namespace edged::proxy {
namespace {

TEST_SUITE("proxy/request_checks") {

TEST_CASE("Host: uri-host [':' port]") {
  struct Case { std::string_view value; bool ok; };
  const Case cases[] = {
      {"example.com", true},
      {"example.com:8080", true},
      {"EXAMPLE.com:80", true},
      {"127.0.0.1", true},
      {"127.0.0.1:3000", true},
      {"[::1]", true},
      {"[::1]:8080", true},
      {"[2001:db8::7]:443", true},
      {"[v1.fe80::a+en1]", true},      // IPvFuture
      {"xn--bcher-kva.example", true},
      {"a%2Eb", true},                   // pct-encoded
      {"sub_domain.example", true},
      {"a!$&'()*+,;=b", true},           // sub-delims
      {"", true},                         // empty: a target without authority
      {"host:", true},                    // port = *DIGIT
      {"user@example.com", false},        // userinfo
      {"user:pw@example.com", false},
      {"exa mple.com", false},
      {"example.com/path", false},
      {"example.com?q", false},
      {"example.com#f", false},
      {"example.com:80a", false},
      {"example.com:-1", false},
      {"example.com:80:81", false},
      {"example.com:65535", true},
      {"example.com:065535", true},       // leading zeros: still port 65535
      {"example.com:65536", false},       // no such TCP port
      {"example.com:99999999999999999999", false},
      {"[::1", false},
      {"::1", false},                    // IPv6 without brackets
      {"[::1]x", false},
      {"[::1]:", true},
      {"[not:an:address]", false},
      {"[]", false},
      {"[v1.]", false},
      {"a%2", false},
      {"a%zz", false},
      {"host\t", false},
      {std::string_view("ho\0st", 5), false},
      {"h\xc3\xa9.example", false},     // raw UTF-8: must be pct- or punycode-encoded
      {"\"quoted\"", false},
      {"a<b", false},
      {"a\\b", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.value);
    CHECK(validHostField(c.value) == c.ok);
  }
}

TEST_CASE("uri-host alone: no port") {
  CHECK(validUriHost("example.com"));
  CHECK(validUriHost("[::1]"));
  CHECK_FALSE(validUriHost("[::1]:80"));
  CHECK_FALSE(validUriHost("example.com:80"));
}

TEST_CASE("request targets: origin, absolute, asterisk, invalid") {
  struct Case {
    std::string_view target;
    TargetForm form;
    std::string_view authority = {}, path = {};
  };
  const Case cases[] = {
      {"/", TargetForm::Origin},
      {"/a/b?c=d&e", TargetForm::Origin},
      {"/%7Euser", TargetForm::Origin},
      {"*", TargetForm::Asterisk},
      {"http://example.com/x?y", TargetForm::Absolute, "example.com", "/x?y"},
      {"HTTP://Example.com:8080/", TargetForm::Absolute, "Example.com:8080", "/"},
      {"https://[::1]:8443/p", TargetForm::Absolute, "[::1]:8443", "/p"},
      {"http://example.com", TargetForm::Absolute, "example.com", ""},
      {"http://example.com?q=1", TargetForm::Absolute, "example.com", "?q=1"},
      {"", TargetForm::Invalid},
      {"ftp://example.com/", TargetForm::Invalid},
      {"ws://example.com/", TargetForm::Invalid},
      {"http:/example.com/", TargetForm::Invalid},
      {"http:///path", TargetForm::Invalid},              // empty host (RFC 9110 §4.2.1)
      {"http://user@example.com/", TargetForm::Invalid},  // userinfo (RFC 9110 §4.2.4)
      {"http://user:pw@example.com/", TargetForm::Invalid},
      {"http://exa%mple.com/", TargetForm::Invalid},
      {"http://example.com:8o/", TargetForm::Invalid},
      {"http://[::1/", TargetForm::Invalid},
      {"example.com:443", TargetForm::Invalid},            // authority-form: CONNECT only
      {"a/b", TargetForm::Invalid},
      {"/a#frag", TargetForm::Invalid},                    // no fragment in a request target
      {"/a b", TargetForm::Invalid},
      {"/a\tb", TargetForm::Invalid},
      {"/a\x7f", TargetForm::Invalid},
      {std::string_view("/a\0b", 4), TargetForm::Invalid},
      {"/a\rb", TargetForm::Invalid},
  };
  for (const Case& c : cases) {
    CAPTURE(c.target);
    AbsoluteTarget abs;
    const TargetForm form = classifyTarget(c.target, abs);
    CHECK(form == c.form);
    if (form == TargetForm::Absolute) {
      CHECK(abs.authority == c.authority);
      CHECK(abs.path == c.path);
    }
  }
}

TEST_CASE("the request line verdict") {
  SUBCASE("origin form keeps Host") {
    const auto v = checkRequestLine("GET", "/p", "example.com", 1);
    CHECK(v.status == 0);
    CHECK(v.route_host == "example.com");
    CHECK(v.target == "/p");
    CHECK_FALSE(v.host_from_target);
  }
  SUBCASE("absolute form: the target's authority wins over Host") {
    const auto v = checkRequestLine("GET", "http://a.example:81/p?q", "b.example", 1);
    CHECK(v.status == 0);
    CHECK(v.route_host == "a.example:81");
    CHECK(v.target == "/p?q");
    CHECK(v.host_from_target);
  }
  SUBCASE("absolute form without Host (HTTP/1.0)") {
    const auto v = checkRequestLine("GET", "http://a.example", "", 0);
    CHECK(v.status == 0);
    CHECK(v.route_host == "a.example");
    CHECK(v.target == "");
  }
  SUBCASE("an invalid Host is 400, even with an absolute target") {
    CHECK(checkRequestLine("GET", "/", "user@example.com", 1).status == 400);
    CHECK(checkRequestLine("GET", "/", "a b", 1).status == 400);
    CHECK(checkRequestLine("GET", "http://a.example/", "evil/x", 1).status == 400);
  }
  SUBCASE("an empty Host is 400 unless an absolute target gives the authority") {
    CHECK(checkRequestLine("GET", "/", "", 1).status == 400);
    CHECK(checkRequestLine("OPTIONS", "*", "", 1).status == 400);
    CHECK(checkRequestLine("GET", "/", "", 1, 1).status == 400);
    CHECK(checkRequestLine("GET", "http://a.example/", "", 1).status == 0);
    CHECK(checkRequestLine("GET", "/", "", 0).status == 0);  // HTTP/1.0 without Host
  }
  SUBCASE("absolute form with a bad authority or scheme is 400") {
    CHECK(checkRequestLine("GET", "http://u@a.example/", "a.example", 1).status == 400);
    CHECK(checkRequestLine("GET", "gopher://a.example/", "a.example", 1).status == 400);
  }
  SUBCASE("TRACE is 405 (after the syntax checks)") {
    CHECK(checkRequestLine("TRACE", "/", "example.com", 1).status == 405);
    CHECK(checkRequestLine("TRACE", "/#x", "example.com", 1).status == 400);
  }
  SUBCASE("asterisk form: OPTIONS only") {
    CHECK(checkRequestLine("OPTIONS", "*", "example.com", 1).status == 0);
    CHECK(checkRequestLine("GET", "*", "example.com", 1).status == 400);
  }
  SUBCASE("only HTTP/1.x: 505 otherwise, before anything else") {
    CHECK(checkRequestLine("GET", "/", "a", 1, 2).status == 505);
    CHECK(checkRequestLine("PRI", "*", "", 0, 2).status == 505);  // the HTTP/2 preface
    CHECK(checkRequestLine("GET", "/", "a", 1, 1).status == 0);
  }
  SUBCASE("several Host headers are judged elsewhere: the value is not checked here") {
    CHECK(checkRequestLine("GET", "/", "", 2).status == 0);
  }
}

TEST_CASE("Max-Forwards = 1*DIGIT") {
  CHECK(parseMaxForwards("0") == 0);
  CHECK(parseMaxForwards("10") == 10);
  CHECK(parseMaxForwards("007") == 7);
  CHECK(parseMaxForwards("99999999999999999999") == 0x7fffffff);
  CHECK(parseMaxForwards("") == -1);
  CHECK(parseMaxForwards("-1") == -1);
  CHECK(parseMaxForwards("1 ") == -1);
  CHECK(parseMaxForwards("1,2") == -1);
  CHECK(parseMaxForwards("0x10") == -1);
}

TEST_CASE("Transfer-Encoding: the final coding") {
  CHECK(finalCodingIsChunked("chunked"));
  CHECK(finalCodingIsChunked("Chunked"));
  CHECK(finalCodingIsChunked("gzip, chunked"));
  CHECK(finalCodingIsChunked("gzip,chunked , "));
  CHECK(finalCodingIsChunked("chunked;x=1"));
  CHECK_FALSE(finalCodingIsChunked("gzip"));
  CHECK_FALSE(finalCodingIsChunked("chunked, gzip"));
  CHECK_FALSE(finalCodingIsChunked(""));
  CHECK_FALSE(finalCodingIsChunked(" , "));
  CHECK_FALSE(finalCodingIsChunked("chunkedx"));
}

TEST_CASE("obs-fold: a value piece that starts a continuation line") {
  const std::string fold = "X-A: one\r\n two\r\n";
  const char* b = fold.data();
  CHECK(valueContinuesFoldedLine(b + fold.find(" two"), 4, b, 'x'));   // llhttp's span starts at the SP
  CHECK(valueContinuesFoldedLine(b + fold.find("two"), 3, b, 'x'));
  const std::string tab = "X-A: one\r\n\t\ttwo\r\n";
  CHECK(valueContinuesFoldedLine(tab.data() + tab.find("two"), 3, tab.data(), 'x'));
  const std::string plain = "X-A:  one\r\n";
  CHECK_FALSE(valueContinuesFoldedLine(plain.data() + plain.find("one"), 3, plain.data(), 'x'));
  CHECK_FALSE(valueContinuesFoldedLine(plain.data() + plain.find(":") + 1, 5, plain.data(), 'x'));
  // A piece that continues a value cut by the read (not at a line start) is no fold.
  const std::string cut = "X-A: on";
  CHECK_FALSE(valueContinuesFoldedLine(cut.data() + cut.find("on") + 1, 1, cut.data(), 'x'));
  // The line starts the buffer: the byte before it, from an earlier read, decides.
  const std::string first = " two";
  CHECK_FALSE(valueContinuesFoldedLine(first.data(), 4, first.data(), 'e'));
  CHECK_FALSE(valueContinuesFoldedLine(first.data(), 4, first.data(), 0));   // nothing before
  CHECK(valueContinuesFoldedLine(first.data(), 4, first.data(), '\n'));     // "one\r\n" | " two"
  CHECK(valueContinuesFoldedLine(first.data() + 1, 3, first.data(), '\n')); // "one\r\n" | " two", span at "two"
  const std::string mid = "two";                                            // "one\r\n " | "two"
  CHECK(valueContinuesFoldedLine(mid.data(), 3, mid.data(), '\n'));
  // An empty value: llhttp's 0-byte span sits at the start of the next line. Not a fold.
  const std::string empty = "X-A:\r\nHost: a\r\n";
  CHECK_FALSE(valueContinuesFoldedLine(empty.data() + empty.find("Host"), 0, empty.data(), 'x'));
}

TEST_CASE("a version that comes in a later read than its target waits until it is all there") {
  struct Case { std::string_view read; bool ready; std::string_view now; };
  const Case cases[] = {
      {" HTTP/1.2\r\n", true, " HTTP/1.1\r\n"},
      {" HTTP/1.2\n", true, " HTTP/1.1\n"},
      {" HTTP/1.", false, " HTTP/1."},         // wait: the minor digit decides
      {" HTTP/1.2", false, " HTTP/1.2"},       // wait: "1.2" or "1.23"
      {" ", false, " "},
      {"", true, ""},                          // nothing yet: llhttp has nothing to parse either
      {"abc HTTP/1.2\r\n", true, "abc HTTP/1.1\r\n"},   // the target went on
      {"abc", true, "abc"},                    // still the target: llhttp reads it
      {" HTTP/1\r\n", true, " HTTP/1\r\n"},   // the line ended: llhttp judges it (400)
      {"\r\n", true, "\r\n"},                  // HTTP/0.9: urlEndsWithoutVersion's case
      {" HTTP/1.1\r\n", true, " HTTP/1.1\r\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.read);
    std::string buf(c.read);
    CHECK(versionAfterTargetReady(buf.data(), buf.size()) == c.ready);
    CHECK(buf == c.now);
  }
}

TEST_CASE("HTTP/0.9: the URL span ends at CR or LF") {
  const std::string line = "GET /index\r\n";
  const char* begin = line.data() + 4;
  const char* end = line.data() + line.size();
  CHECK(urlEndsWithoutVersion(begin, 6, end));
  const std::string lf = "GET /\n";
  CHECK(urlEndsWithoutVersion(lf.data() + 4, 1, lf.data() + lf.size()));
  const std::string ok = "GET /index HTTP/1.1\r\n";
  CHECK_FALSE(urlEndsWithoutVersion(ok.data() + 4, 6, ok.data() + ok.size()));
  // The read ended inside the URL: nothing known yet.
  const std::string cut = "GET /ind";
  CHECK_FALSE(urlEndsWithoutVersion(cut.data() + 4, 4, cut.data() + cut.size()));
}

TEST_CASE("an unknown method that is a token is 501, a malformed one 400") {
  struct Case { std::string_view line; size_t error_at; int status; };
  const std::string long_name(70, 'X');
  const Case cases[] = {
      {"FOO / HTTP/1.1\r\n", 0, 501},
      {"get / HTTP/1.1\r\n", 0, 501},            // methods are case-sensitive
      {"GETS / HTTP/1.1\r\n", 3, 501},           // llhttp stops where the name left its list
      {"M-SEARCH2 / HTTP/1.1\r\n", 8, 501},
      {"X!#$%&'*+-.^_`|~ / HTTP/1.1\r\n", 0, 501},
      {"GE(T / HTTP/1.1\r\n", 2, 400},          // '(' is a delimiter, not a tchar
      {" GET / HTTP/1.1\r\n", 0, 400},          // no method at all
      {"G\tT / HTTP/1.1\r\n", 1, 400},
      {"GET\t/ HTTP/1.1\r\n", 3, 400},
      {"FOO", 0, 0},                               // no SP yet: wait for the rest of the name
      {"BA", 1, 0},                                // "BAN" sent a byte at a time
      {"FO\xc3\xa9 / HTTP/1.1\r\n", 2, 400},   // not ASCII
      {long_name, 0, 400},                         // not waited for any longer
  };
  for (const Case& c : cases) {
    CAPTURE(c.line);
    CHECK(unknownMethodStatus(c.line.data() + c.error_at, c.line.data() + c.line.size()) == c.status);
  }
}

TEST_CASE("HTTP/1.x with x > 1 is read as HTTP/1.1") {
  struct Case { std::string_view after_target; std::string_view now; bool changed; };
  const Case cases[] = {
      {" HTTP/1.2\r\nHost: a\r\n", " HTTP/1.1\r\nHost: a\r\n", true},
      {" HTTP/1.9\n", " HTTP/1.1\n", true},
      {" HTTP/1.1\r\n", " HTTP/1.1\r\n", false},
      {" HTTP/1.0\r\n", " HTTP/1.0\r\n", false},
      {" HTTP/1.12\r\n", " HTTP/1.12\r\n", false},   // two digits: llhttp's 400 stands
      {" HTTP/2.0\r\n", " HTTP/2.0\r\n", false},
      {" http/1.2\r\n", " http/1.2\r\n", false},
      {" HTTP/1.2", " HTTP/1.2", false},                // the line is not all here yet
      {" HTTP/1.2 \r\n", " HTTP/1.2 \r\n", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.after_target);
    std::string buf(c.after_target);
    CHECK(readMinorVersionAsOne(buf.data(), buf.data() + buf.size()) == c.changed);
    CHECK(buf == c.now);
  }
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::proxy
