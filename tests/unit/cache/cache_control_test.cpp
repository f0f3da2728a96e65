// tests/unit/cache/cache_control_test.cpp — Cache-Control, Pragma and the targeted fields, one
// table row per RFC rule.
#include <doctest.h>

#include <string>
#include <vector>

#include "cache/cache.h"

namespace edged::cache {
namespace {

// A canonical text of the directives, so that each row states its whole expectation.
std::string describe(const CacheControl& c) {
  std::string s;
  auto add = [&](bool on, const char* name) { if (on) { s += name; s += ' '; } };
  auto num = [&](const std::optional<Seconds>& v, const char* name, bool invalid = false) {
    if (v) s += std::string(name) + "=" + std::to_string(*v) + (invalid ? "!" : "") + " ";
  };
  add(c.no_store, "no-store");
  add(c.no_cache && !c.no_cache_qualified, "no-cache");
  add(c.no_cache && c.no_cache_qualified, "no-cache=q");
  add(c.private_, "private");
  add(c.public_, "public");
  add(c.must_revalidate, "must-revalidate");
  add(c.proxy_revalidate, "proxy-revalidate");
  add(c.must_understand, "must-understand");
  add(c.no_transform, "no-transform");
  add(c.only_if_cached, "only-if-cached");
  add(c.immutable, "immutable");
  num(c.max_age, "max-age", c.max_age_invalid);
  num(c.s_maxage, "s-maxage", c.s_maxage_invalid);
  if (c.max_stale && !c.max_stale_value) s += "max-stale ";
  num(c.max_stale_value, "max-stale");
  num(c.min_fresh, "min-fresh");
  num(c.stale_while_revalidate, "swr");
  num(c.stale_if_error, "sie");
  if (!c.withheld.empty()) s += "withheld=" + c.withheld + " ";
  if (!s.empty()) s.pop_back();
  return s;
}

struct Row {
  const char* name;
  std::vector<std::string_view> lines;
  const char* expected;
};

TEST_SUITE("cache/cache_control") {

TEST_CASE("Cache-Control parse, one row per rule") {
  const Row rows[] = {
      {"RFC 9111 §5.2: empty field has no directives", {""}, ""},
      {"RFC 9111 §5.2.2.5: no-store", {"no-store"}, "no-store"},
      {"RFC 9111 §5.2: directive names are case-insensitive", {"No-Store, MAX-AGE=5"}, "no-store max-age=5"},
      {"RFC 9110 §5.6.1: OWS around elements and empty elements", {" ,  public ,, max-age=10 ,"}, "public max-age=10"},
      {"RFC 9110 §5.6.2: a quoted-string argument is accepted for max-age", {"max-age=\"60\""}, "max-age=60"},
      {"RFC 9110 §5.6.4: quoted-string with escapes and commas stays one element",
       {"private=\"a, \\\"b\\\"\", max-age=3"}, "private max-age=3"},
      {"RFC 9111 §5.2.2.4: qualified no-cache withholds its fields, the rest is reusable",
       {"no-cache=\"Set-Cookie, X\""}, "withheld=set-cookie,x,"},
      {"RFC 9111 §5.2.2.7: qualified private withholds its fields from a shared cache",
       {"private=\"Set-Cookie\", max-age=3"}, "max-age=3 withheld=set-cookie,"},
      {"RFC 9111 §5.2: a token argument is accepted for the field list", {"private=X-Secret"}, "withheld=x-secret,"},
      {"RFC 9111 §5.2.2.7: both lists add up", {"private=\"A\", no-cache=\"B\""}, "withheld=a,b,"},
      {"RFC 9111 §5.2.2.4: an empty field list is plain no-cache (conservative)", {"no-cache=\"\""}, "no-cache=q"},
      {"RFC 9111 §5.2.2.7: a list with a non-token is plain private (conservative)", {"private=\"a b\""}, "private"},
      {"RFC 9111 §4.2.1: duplicate max-age is treated as stale", {"max-age=60, max-age=60"}, "max-age=0!"},
      {"RFC 9111 §4.2.1: duplicate across field lines is treated as stale", {"max-age=60", "max-age=120"}, "max-age=0!"},
      {"RFC 9111 §4.2.1: non-integer max-age is treated as stale", {"max-age=abc"}, "max-age=0!"},
      {"RFC 9111 §4.2.1: negative max-age is treated as stale", {"max-age=-5"}, "max-age=0!"},
      {"RFC 9111 §4.2.1: max-age without a value is treated as stale", {"max-age"}, "max-age=0!"},
      {"RFC 9110 §5.6.2: whitespace before \"=\" makes max-age invalid (stale)", {"max-age =60"}, "max-age=0!"},
      {"RFC 9110 §5.6.2: whitespace after \"=\" makes max-age invalid (stale)", {"max-age= 60"}, "max-age=0!"},
      {"RFC 9110 §5.6.2: private with an invalid argument stays private", {"private =\"x\""}, "private"},
      {"RFC 9111 §4.2.1: duplicate s-maxage is treated as stale", {"s-maxage=5, s-maxage=9"}, "s-maxage=0!"},
      {"RFC 9111 §1.2.2: delta-seconds overflow saturates at 2^31", {"max-age=99999999999999999999999"}, "max-age=2147483648"},
      {"RFC 9111 §1.2.2: exactly 2^31 stays", {"s-maxage=2147483648"}, "s-maxage=2147483648"},
      {"RFC 9111 §5.2.3: unknown directives are ignored", {"foo, bar=\"baz\", max-age=1"}, "max-age=1"},
      {"RFC 9111 §5.2: several field lines combine", {"public", "max-age=5", "must-revalidate"}, "public must-revalidate max-age=5"},
      {"RFC 9111 §5.2.1.2: max-stale without a value", {"max-stale"}, "max-stale"},
      {"RFC 9111 §5.2.1.2: max-stale with a value", {"max-stale=30"}, "max-stale=30"},
      {"RFC 9111 §5.2.1.2: invalid max-stale value is dropped", {"max-stale=x"}, ""},
      {"RFC 9111 §5.2.1.3: min-fresh", {"min-fresh=20"}, "min-fresh=20"},
      {"RFC 9111 §5.2.1.3: duplicate min-fresh is dropped", {"min-fresh=20, min-fresh=30"}, ""},
      {"RFC 9111 §5.2.1.7: only-if-cached", {"only-if-cached"}, "only-if-cached"},
      {"RFC 5861 §3: stale-while-revalidate", {"max-age=1, stale-while-revalidate=30"}, "max-age=1 swr=30"},
      {"RFC 5861 §4: stale-if-error", {"stale-if-error=600"}, "sie=600"},
      {"RFC 5861: invalid stale-if-error relaxes nothing", {"stale-if-error=-1"}, ""},
      {"RFC 9111 §5.2.2: response flags", {"proxy-revalidate, must-understand, no-transform, immutable"},
       "proxy-revalidate must-understand no-transform immutable"},
      {"RFC 9110 §5.6.2: a name that is not a token is ignored", {"max age=5, public"}, "public"},
      {"RFC 9110 §5.6.4: unterminated quoted argument is invalid", {"max-age=\"5"}, "max-age=0!"},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(describe(parseCacheControl(r.lines)) == r.expected);
  }
}

TEST_CASE("Pragma: no-cache only when the request has no Cache-Control (RFC 9111 §5.4)") {
  struct PRow { const char* name; std::vector<std::string_view> cc, pragma; const char* expected; };
  const PRow rows[] = {
      {"RFC 9111 §5.4: Pragma no-cache alone acts as Cache-Control: no-cache", {}, {"no-cache"}, "no-cache"},
      {"RFC 9111 §5.4: Pragma ignored when Cache-Control is present", {"max-age=5"}, {"no-cache"}, "max-age=5"},
      {"RFC 9111 §5.4: other pragma directives mean nothing", {}, {"foo=bar"}, ""},
      {"RFC 9111 §5.4: case-insensitive, in a list", {}, {"x, No-Cache"}, "no-cache"},
      {"RFC 9111 §5.2.1.4: a request's no-cache has no field list: any argument is no-cache",
       {"no-cache=\"x\""}, {}, "no-cache=q"},
  };
  for (const PRow& r : rows) {
    INFO(r.name);
    CHECK(describe(requestCacheControl(r.cc, r.pragma)) == r.expected);
  }
}

TEST_CASE("targeted fields (RFC 9213) take precedence over Cache-Control") {
  struct TRow {
    const char* name;
    std::vector<std::string_view> edged, cdn, cc;
    const char* expected;
    bool targeted;
  };
  const TRow rows[] = {
      {"RFC 9213 §2.1: no targeted field: Cache-Control", {}, {}, {"max-age=5"}, "max-age=5", false},
      {"RFC 9213 §2.1: CDN-Cache-Control replaces Cache-Control", {}, {"max-age=600"}, {"no-store"}, "max-age=600", true},
      {"RFC 9213 §2.1: Edged-Cache-Control comes first in the target list", {"max-age=7"}, {"max-age=600"}, {"max-age=1"}, "max-age=7", true},
      {"RFC 9213 §2.1: an invalid targeted field falls through", {"max-age=5,,"}, {"s-maxage=9"}, {}, "s-maxage=9", true},
      {"RFC 8941 §3.2: upper-case keys are invalid", {}, {"Max-Age=5"}, {"max-age=1"}, "max-age=1", false},
      {"RFC 9213 §2.2: boolean directives and parameters", {}, {"no-store;x=1, private"}, {}, "no-store private", true},
      {"RFC 8941 §3.2: a duplicated key keeps the last value", {}, {"max-age=5, max-age=9"}, {}, "max-age=9", true},
      {"RFC 9213 §2.2: a non-integer max-age is invalid: stale", {}, {"max-age=\"5\""}, {}, "max-age=0!", true},
      {"RFC 9213 §2.2: a negative max-age is invalid: stale", {}, {"max-age=-1"}, {}, "max-age=0!", true},
      {"RFC 9213 §2.1: an empty targeted field is ignored", {}, {""}, {"public"}, "public", false},
      {"RFC 9213 §2.2: stale-while-revalidate and unknown keys", {}, {"max-age=60, foo=bar, stale-while-revalidate=10"}, {}, "max-age=60 swr=10", true},
  };
  for (const TRow& r : rows) {
    INFO(r.name);
    const SelectedCacheControl s = selectResponseCacheControl(r.edged, r.cdn, r.cc);
    CHECK(describe(s.directives) == r.expected);
    CHECK(s.targeted == r.targeted);
  }
}

}  // TEST_SUITE

}  // namespace
}  // namespace edged::cache
