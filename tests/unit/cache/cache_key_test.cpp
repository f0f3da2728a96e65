// tests/unit/cache/cache_key_test.cpp — primary keys, ignored query parameters, Vary keys.
#include <doctest.h>

#include <string>
#include <vector>

#include "cache/cache.h"

namespace edged::cache {
namespace {

using Fields = std::vector<FieldView>;

TEST_SUITE("cache/key") {

TEST_CASE("primary key normalisation (RFC 9111 §2, RFC 9110 §4.2.3)") {
  KeyOptions o;
  o.ignore_query = {"utm_*", "fbclid"};
  struct Row { const char* name; const char* scheme; const char* host; const char* target; const char* expected; };
  const Row rows[] = {
      {"RFC 9110 §4.2.3: host is case-insensitive", "http", "Example.COM", "/a", "http://example.com/a"},
      {"RFC 9110 §4.2.3: scheme is case-insensitive", "HTTP", "example.com", "/a", "http://example.com/a"},
      {"RFC 9110 §4.2.3: the default port is dropped (http)", "http", "example.com:80", "/a", "http://example.com/a"},
      {"RFC 9110 §4.2.3: the default port is dropped (https)", "https", "example.com:443", "/a", "https://example.com/a"},
      {"RFC 9110 §4.2.3: upper-case scheme, default port dropped, long host lower-cased", "HTTPS",
       "API.Example-Service.COM:443", "/a", "https://api.example-service.com/a"},
      {"RFC 9110 §4.2.3: another scheme's default port is kept", "https", "example.com:80", "/a",
       "https://example.com:80/a"},
      {"RFC 9110 §4.2.3: another port is kept", "http", "example.com:8080", "/a", "http://example.com:8080/a"},
      {"RFC 9110 §4.2.3: an empty port is dropped", "http", "example.com:", "/a", "http://example.com/a"},
      {"RFC 9110 §4.2.3: IPv6 literal keeps its brackets", "http", "[::1]:80", "/", "http://[::1]/"},
      {"RFC 9110 §4.2.3: IPv6 literal without port", "http", "[::1]", "/", "http://[::1]/"},
      {"RFC 9110 §4.2.3: an empty path is /", "http", "example.com", "", "http://example.com/"},
      {"RFC 9110 §4.2.3: path case is kept", "http", "example.com", "/A/b", "http://example.com/A/b"},
      {"RFC 3986 §6.2.2.2: encoded unreserved characters are decoded", "http", "example.com", "/%7Euser/%41%2d%5F",
       "http://example.com/~user/A-_"},
      {"RFC 3986 §6.2.2.1: percent-encoding hex is upper case", "http", "example.com", "/a%2fb%c3%a9", "http://example.com/a%2Fb%C3%A9"},
      {"RFC 3986 §6.2.2: a reserved character stays encoded", "http", "example.com", "/a%2Fb", "http://example.com/a%2Fb"},
      {"RFC 3986 §2.1: a lone or broken % is kept as it is", "http", "example.com", "/a%/b%4/c%zz", "http://example.com/a%/b%4/c%zz"},
      {"RFC 3986 §6.2.2: the query is kept as sent", "http", "example.com", "/p?x=%7e", "http://example.com/p?x=%7e"},
      {"route option: ignored parameters are removed, others keep their order", "http", "example.com",
       "/p?b=2&utm_source=x&a=1&fbclid=9&utm_medium=y", "http://example.com/p?b=2&a=1"},
      {"route option: a query left empty loses its ?", "http", "example.com", "/p?utm_x=1&fbclid=2", "http://example.com/p"},
      {"route option: glob compares the name only", "http", "example.com", "/p?x=utm_a", "http://example.com/p?x=utm_a"},
      {"route option: a parameter without = is matched by name", "http", "example.com", "/p?fbclid&z", "http://example.com/p?z"},
      {"RFC 3986 §3.5: the fragment is not part of the key", "http", "example.com", "/p?a=1#frag", "http://example.com/p?a=1"},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(primaryKey(r.scheme, r.host, r.target, o) == r.expected);
  }
}

TEST_CASE("glob") {
  CHECK(globMatch("utm_*", "utm_source"));
  CHECK(globMatch("utm_*", "utm_"));
  CHECK_FALSE(globMatch("utm_*", "xutm_a"));
  CHECK(globMatch("a?c", "abc"));
  CHECK_FALSE(globMatch("a?c", "ac"));
  CHECK(globMatch("*id", "fbclid"));
  CHECK(globMatch("*", ""));
  CHECK(globMatch("a*b*c", "aXXbYYc"));
  CHECK_FALSE(globMatch("a*b*c", "aXXbYY"));
}

TEST_CASE("Accept-Encoding is keyed by the coding served (RFC 9110 §12.5.3)") {
  const std::vector<std::string> offered = {"br", "gzip"};
  struct Row { const char* name; std::vector<std::string_view> ae; const char* expected; };
  const Row rows[] = {
      {"RFC 9110 §12.5.3: the server's order breaks ties", {"gzip, deflate, br"}, "br"},
      {"RFC 9110 §12.5.3: q-values rank", {"br;q=0.5, gzip"}, "gzip"},
      {"RFC 9110 §12.5.3: q=0 means not acceptable", {"br;q=0, gzip;q=0"}, "identity"},
      {"RFC 9110 §12.5.3: * covers unlisted codings", {"*"}, "br"},
      {"RFC 9110 §12.5.3: x-gzip is gzip", {"x-gzip"}, "gzip"},
      {"RFC 9110 §12.5.3: nothing offered accepted", {"zstd"}, "identity"},
      {"RFC 9110 §12.5.3: no field", {}, "identity"},
      {"RFC 9110 §12.5.3: several lines combine, case-insensitive", {"deflate", "GZIP"}, "gzip"},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(negotiatedEncoding(r.ae, offered) == r.expected);
  }
}

TEST_CASE("secondary (Vary) key (RFC 9111 §4.1)") {
  KeyOptions o;
  o.encodings = {"br", "gzip"};
  const VaryList vary = parseVary(std::vector<std::string_view>{"Accept-Language, Accept-Encoding"});
  const VaryList reordered = parseVary(std::vector<std::string_view>{"accept-encoding", "ACCEPT-LANGUAGE"});
  struct Row { const char* name; Fields a, b; bool same; };
  const Row rows[] = {
      {"RFC 9111 §4.1: field names are case-insensitive", {{"accept-language", "en"}}, {{"Accept-Language", "en"}}, true},
      {"RFC 9111 §4.1: whitespace is normalised", {{"Accept-Language", "en,  fr"}}, {{"Accept-Language", " en, fr "}}, true},
      {"RFC 9111 §4.1: field lines combine like one list", {{"Accept-Language", "en"}, {"Accept-Language", "fr"}}, {{"Accept-Language", "en, fr"}}, true},
      {"RFC 9111 §4.1: different values differ", {{"Accept-Language", "en"}}, {{"Accept-Language", "fr"}}, false},
      {"RFC 9111 §4.1: absent differs from present", {}, {{"Accept-Language", "en"}}, false},
      {"RFC 9111 §4.1: Accept-Encoding normalised to the coding served", {{"Accept-Encoding", "gzip, deflate, br"}}, {{"Accept-Encoding", "br"}}, true},
      {"RFC 9111 §4.1: Accept-Encoding with and without a served coding", {{"Accept-Encoding", "gzip"}}, {{"Accept-Encoding", "br"}}, false},
      {"RFC 9111 §4.1: unlisted request fields do not matter", {{"Cookie", "a"}}, {{"Cookie", "b"}}, true},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK((secondaryKey(vary, r.a, o) == secondaryKey(vary, r.b, o)) == r.same);
    CHECK(secondaryKey(vary, r.a, o) == secondaryKey(reordered, r.a, o));  // Vary listing order does not matter
  }
  CHECK(secondaryKey(VaryList{}, Fields{{"Accept-Language", "en"}}, o).empty());
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(secondaryKeyMatches(vary, r.b, o, secondaryKey(vary, r.a, o)) == r.same);
  }
}

TEST_CASE("secondary key: every Accept-Encoding line counts, however many") {
  KeyOptions o;
  o.encodings = {"br", "gzip"};
  const VaryList vary = parseVary(std::vector<std::string_view>{"Accept-Encoding"});
  Fields many(11, FieldView{"Accept-Encoding", "identity"});
  many.back().value = "gzip";  // only the 11th line names a coding edged serves
  CHECK(secondaryKey(vary, many, o) == "accept-encoding=gzip\n");
  CHECK(secondaryKeyMatches(vary, many, o, "accept-encoding=gzip\n"));
  CHECK_FALSE(secondaryKeyMatches(vary, many, o, "accept-encoding=identity\n"));
}

}  // TEST_SUITE

}  // namespace
}  // namespace edged::cache
