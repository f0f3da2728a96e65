// tests/unit/cache/field_values_test.cpp — HTTP-date, Age, Vary, Range, entity-tags and
// If-None-Match, one table row per RFC rule.
#include <doctest.h>

#include <string>
#include <vector>

#include "cache/cache.h"

namespace edged::cache {
namespace {

constexpr int64_t k1994 = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT

TEST_SUITE("cache/field_values") {

TEST_CASE("HTTP-date parse (RFC 9110 §5.6.7)") {
  struct Row { const char* name; const char* text; std::optional<int64_t> expected; };
  const Row rows[] = {
      {"RFC 9110 §5.6.7: IMF-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", k1994},
      {"RFC 9110 §5.6.7: obsolete rfc850 form", "Sunday, 06-Nov-94 08:49:37 GMT", k1994},
      {"RFC 9110 §5.6.7: obsolete asctime form", "Sun Nov  6 08:49:37 1994", k1994},
      {"RFC 9110 §5.6.7: asctime with a two-digit day", "Sun Nov 16 08:49:37 1994", k1994 + 10 * 86400},
      {"RFC 9110 §5.6.7: rfc850 year more than 50 years ahead is in the past", "Friday, 31-Dec-99 23:59:59 GMT", 946684799},
      {"RFC 9110 §5.6.7: rfc850 year less than 50 years ahead stays ahead", "Wednesday, 01-Jan-70 00:00:00 GMT", 3155760000},
      {"RFC 9110 §5.6.7: rfc850 year 25 is this century", "Wednesday, 01-Jan-25 00:00:00 GMT", 1735689600},
      {"RFC 9110 §5.6.7: leap day", "Thu, 29 Feb 2024 00:00:00 GMT", 1709164800},
      {"RFC 9110 §5.6.7: 29 February of a common year is invalid", "Wed, 29 Feb 2023 00:00:00 GMT", std::nullopt},
      {"RFC 9110 §5.6.7: 2100 is not a leap year (Gregorian)", "Mon, 29 Feb 2100 00:00:00 GMT", std::nullopt},
      {"RFC 9110 §5.6.7: 2000 is a leap year", "Tue, 29 Feb 2000 00:00:00 GMT", 951782400},
      {"RFC 9110 §5.6.7: a day the month lacks is invalid", "Fri, 30 Feb 2024 00:00:00 GMT", std::nullopt},
      {"RFC 9110 §5.6.7: GMT is required", "Sun, 06 Nov 1994 08:49:37 UTC", std::nullopt},
      {"RFC 9110 §5.6.7: robust to the case of names (cache-tests freshness-expires-wrong-case-*)",
       "SUN, 06 NOV 1994 08:49:37 gmt", k1994},
      {"RFC 9110 §5.6.7: robust to case in the rfc850 form too", "sunday, 06-nov-94 08:49:37 Gmt", k1994},
      {"RFC 9110 §5.6.7: hour 24 is invalid", "Sun, 06 Nov 1994 24:00:00 GMT", std::nullopt},
      {"RFC 9110 §5.6.7: unknown month", "Sun, 06 Noe 1994 08:49:37 GMT", std::nullopt},
      {"RFC 9111 §5.3: a number is not a date", "0", std::nullopt},
      {"RFC 9111 §5.3: empty", "", std::nullopt},
      {"RFC 9110 §5.6.7: trailing bytes are invalid", "Sun, 06 Nov 1994 08:49:37 GMTx", std::nullopt},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(parseHttpDate(r.text) == r.expected);
  }
}

TEST_CASE("HTTP-date format is IMF-fixdate and round-trips") {
  CHECK(formatHttpDate(k1994) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(formatHttpDate(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(formatHttpDate(1709164800) == "Thu, 29 Feb 2024 00:00:00 GMT");
  for (int64_t t = 0; t < 4102444800; t += 86400 * 37 + 3691) {
    const auto back = parseHttpDate(formatHttpDate(t));
    REQUIRE(back);
    REQUIRE(*back == t);
  }
}

TEST_CASE("Age (RFC 9111 §5.1)") {
  struct Row { const char* name; const char* text; std::optional<int64_t> expected; };
  const Row rows[] = {
      {"RFC 9111 §5.1: delta-seconds", "42", 42},
      {"RFC 9111 §5.1: OWS around the value", " 7 ", 7},
      {"RFC 9111 §1.2.2: overflow saturates at 2^31", "99999999999999999999", int64_t{1} << 31},
      {"RFC 9111 §5.1: negative is invalid", "-1", std::nullopt},
      {"RFC 9111 §5.1: a list is invalid", "5, 6", std::nullopt},
      {"RFC 9111 §5.1: empty is invalid", "", std::nullopt},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(parseAge(r.text) == r.expected);
  }
}

TEST_CASE("Vary (RFC 9110 §12.5.5)") {
  const VaryList v = parseVary(std::vector<std::string_view>{"Accept-Encoding, accept-language", "ACCEPT-ENCODING"});
  CHECK_FALSE(v.star);
  CHECK(v.names == std::vector<std::string>{"accept-encoding", "accept-language"});
  CHECK(parseVary(std::vector<std::string_view>{"accept, *"}).star);
  CHECK(parseVary(std::vector<std::string_view>{"*"}).star);
  CHECK(parseVary(std::vector<std::string_view>{}).empty());
}

TEST_CASE("Range (RFC 9110 §14.1.2, §14.2)") {
  using K = RangeRequest::Kind;
  struct Row {
    const char* name;
    const char* text;
    K kind;
    std::optional<ByteSpan> resolved;  // against a 1000-byte representation
  };
  const Row rows[] = {
      {"RFC 9110 §14.1.2: first-last", "bytes=0-99", K::Single, ByteSpan{0, 99}},
      {"RFC 9110 §14.1.2: last past the end is clipped", "bytes=900-5000", K::Single, ByteSpan{900, 999}},
      {"RFC 9110 §14.1.2: open-ended first-", "bytes=990-", K::Single, ByteSpan{990, 999}},
      {"RFC 9110 §14.1.2: suffix -n", "bytes=-10", K::Single, ByteSpan{990, 999}},
      {"RFC 9110 §14.1.2: suffix longer than the representation", "bytes=-5000", K::Single, ByteSpan{0, 999}},
      {"RFC 9110 §14.1.3: suffix -0 is unsatisfiable", "bytes=-0", K::Single, std::nullopt},
      {"RFC 9110 §14.1.3: first at or past the end is unsatisfiable", "bytes=1000-", K::Single, std::nullopt},
      {"RFC 9110 §14.1.1: the unit is case-insensitive, OWS allowed", "Bytes= 5-9", K::Single, ByteSpan{5, 9}},
      {"RFC 9110 §14.1.2: several ranges", "bytes=0-1, 5-6", K::Multiple, std::nullopt},
      {"RFC 9110 §14.1.1: last < first is invalid", "bytes=9-5", K::Invalid, std::nullopt},
      {"RFC 9110 §14.1.1: not a number", "bytes=a-5", K::Invalid, std::nullopt},
      {"RFC 9110 §14.1.1: no dash", "bytes=5", K::Invalid, std::nullopt},
      {"RFC 9110 §14.2: another unit is ignored", "items=0-5", K::None, std::nullopt},
      {"RFC 9110 §14.2: no field", "", K::None, std::nullopt},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    const RangeRequest rr = parseRange(r.text);
    CHECK(rr.kind == r.kind);
    const auto got = resolveRange(rr, 1000);
    REQUIRE(got.has_value() == r.resolved.has_value());
    if (got) {
      CHECK(got->first == r.resolved->first);
      CHECK(got->last == r.resolved->last);
    }
  }
}

TEST_CASE("entity-tags and If-None-Match (RFC 9110 §8.8.3, §13.1.2)") {
  struct Row { const char* name; std::vector<std::string_view> inm; const char* etag; bool matches; };
  const Row rows[] = {
      {"RFC 9110 §13.1.2: same strong tag", {"\"abc\""}, "\"abc\"", true},
      {"RFC 9110 §8.8.3.2: weak comparison: W/ on the request", {"W/\"abc\""}, "\"abc\"", true},
      {"RFC 9110 §8.8.3.2: weak comparison: W/ on the stored tag", {"\"abc\""}, "W/\"abc\"", true},
      {"RFC 9110 §13.1.2: a list, several lines", {"\"x\", \"y\"", "\"abc\""}, "\"abc\"", true},
      {"RFC 9110 §13.1.2: * matches any stored representation", {"*"}, "\"abc\"", true},
      {"RFC 9110 §13.1.2: * matches even without an ETag", {"*"}, "", true},
      {"RFC 9110 §13.1.2: another tag", {"\"abd\""}, "\"abc\"", false},
      {"RFC 9110 §8.8.3: an unquoted tag is malformed", {"abc"}, "\"abc\"", false},
      {"RFC 9110 §13.1.2: no stored ETag", {"\"abc\""}, "", false},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(ifNoneMatchMatches(r.inm, r.etag) == r.matches);
  }
  const auto a = parseEntityTag("W/\"1\""), b = parseEntityTag("\"1\"");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->weak);
  CHECK(weakMatch(*a, *b));
  CHECK_FALSE(strongMatch(*a, *b));
  CHECK(strongMatch(*b, *b));
}

}  // TEST_SUITE

}  // namespace
}  // namespace edged::cache
