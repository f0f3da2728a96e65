// tests/unit/cache/cache_policy_test.cpp — the RFC 9111 decisions, one table row per rule.
#include <doctest.h>

#include <deque>
#include <string>
#include <vector>

#include "cache/cache.h"

namespace edged::cache {
namespace {

constexpr int64_t kNow = 1700000000;
using Fields = std::vector<FieldView>;

std::string date(int64_t t) { return formatHttpDate(t); }
// An HTTP-date that outlives the table row viewing it.
std::string_view at(int64_t t) {
  static std::deque<std::string> kept;
  return kept.emplace_back(formatHttpDate(t));
}

TEST_SUITE("cache/policy") {

TEST_CASE("storable? (RFC 9111 §3)") {
  const std::string d = date(kNow), lm = date(kNow - 1000);
  struct Row {
    const char* name;
    const char* method;
    Fields request;
    int status;
    Fields response;
    BypassReason expected;
  };
  const Row rows[] = {
      {"RFC 9111 §3: GET 200 with max-age is stored", "GET", {}, 200, {{"Cache-Control", "max-age=60"}}, BypassReason::None},
      {"RFC 9111 §3: POST is not stored", "POST", {}, 200, {{"Cache-Control", "max-age=60"}}, BypassReason::Method},
      {"RFC 9111 §3: HEAD is answered from GET, not stored", "HEAD", {}, 200, {{"Cache-Control", "max-age=60"}}, BypassReason::Method},
      {"RFC 9111 §3: a non-final status is not stored", "GET", {}, 103, {{"Cache-Control", "max-age=60"}}, BypassReason::Status},
      {"RFC 9111 §3.3: a partial 206 is not stored", "GET", {}, 206, {{"Cache-Control", "max-age=60"}}, BypassReason::Status},
      {"RFC 9111 §4.3.4: a 304 is not stored as a response", "GET", {}, 304, {{"Cache-Control", "max-age=60"}}, BypassReason::Status},
      {"RFC 9110 §15.5.13: a 412 answers a precondition, it is not stored", "GET", {{"If-Match", "\"x\""}}, 412, {{"Cache-Control", "max-age=60"}}, BypassReason::Status},
      {"RFC 9111 §5.2.1.5: request no-store", "GET", {{"Cache-Control", "no-store"}}, 200, {{"Cache-Control", "max-age=60"}}, BypassReason::NoStoreRequest},
      {"RFC 9111 §5.2.2.5: response no-store", "GET", {}, 200, {{"Cache-Control", "max-age=60, no-store"}}, BypassReason::NoStoreResponse},
      {"RFC 9111 §5.2.2.3: must-understand with an understood status overrides no-store", "GET", {}, 200,
       {{"Cache-Control", "max-age=60, no-store, must-understand"}}, BypassReason::None},
      {"RFC 9111 §5.2.2.3: must-understand with a status not understood", "GET", {}, 299,
       {{"Cache-Control", "max-age=60, no-store, must-understand"}}, BypassReason::Status},
      {"RFC 9111 §5.2.2.7: private is not stored by a shared cache", "GET", {}, 200, {{"Cache-Control", "private, max-age=60"}}, BypassReason::Private},
      {"RFC 9111 §5.2.2.7: private=\"f\" is stored without the field", "GET", {}, 200, {{"Cache-Control", "private=\"X-Secret\", max-age=60"}}, BypassReason::None},
      {"RFC 9111 §3.5: Authorization without permission", "GET", {{"Authorization", "Basic x"}}, 200, {{"Cache-Control", "max-age=60"}}, BypassReason::Authorization},
      {"RFC 9111 §3.5: Authorization with public", "GET", {{"Authorization", "Basic x"}}, 200, {{"Cache-Control", "public, max-age=60"}}, BypassReason::None},
      {"RFC 9111 §3.5: Authorization with s-maxage", "GET", {{"Authorization", "Basic x"}}, 200, {{"Cache-Control", "s-maxage=60"}}, BypassReason::None},
      {"RFC 9111 §3.5: Authorization with must-revalidate", "GET", {{"Authorization", "Basic x"}}, 200, {{"Cache-Control", "must-revalidate, max-age=9"}}, BypassReason::None},
      {"RFC 9111 §4.1: Vary: * is never stored", "GET", {}, 200, {{"Cache-Control", "max-age=60"}, {"Vary", "Accept, *"}}, BypassReason::VaryStar},
      {"RFC 9110 §15.1: heuristically cacheable 404 without anything else", "GET", {}, 404, {}, BypassReason::None},
      {"RFC 9111 §3: 500 without explicit freshness or validator", "GET", {}, 500, {{"Date", d}}, BypassReason::NotCacheable},
      {"RFC 9111 §3: 500 with max-age is storable", "GET", {}, 500, {{"Cache-Control", "max-age=5"}}, BypassReason::None},
      {"RFC 9111 §3: 302 with Expires is storable", "GET", {}, 302, {{"Expires", at(kNow + 60)}}, BypassReason::None},
      {"RFC 9111 §3: 302 with a validator is kept for revalidation", "GET", {}, 302, {{"ETag", "\"v\""}}, BypassReason::None},
      {"RFC 9111 §3: 302 with Last-Modified is kept for revalidation", "GET", {}, 302, {{"Last-Modified", lm}}, BypassReason::None},
      {"RFC 9111 §3: 302 with nothing is not stored", "GET", {}, 302, {}, BypassReason::NotCacheable},
      {"RFC 9213 §2.1: CDN-Cache-Control no-store wins over Cache-Control", "GET", {}, 200,
       {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "no-store"}}, BypassReason::NoStoreResponse},
      {"RFC 9213 §2.1: CDN-Cache-Control makes a no-store Cache-Control storable", "GET", {}, 200,
       {{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=60"}}, BypassReason::None},
      {"RFC 9213 §2.1: Edged-Cache-Control first", "GET", {}, 200,
       {{"Edged-Cache-Control", "private"}, {"CDN-Cache-Control", "max-age=60"}}, BypassReason::Private},
      {"Set-Cookie is not stored by default (nginx, Varnish)", "GET", {}, 200,
       {{"Cache-Control", "public, max-age=60"}, {"Set-Cookie", "s=1"}}, BypassReason::SetCookie},
      {"Set-Cookie withheld by no-cache=\"Set-Cookie\" is stored without it", "GET", {}, 200,
       {{"Cache-Control", "no-cache=\"set-cookie\", max-age=60"}, {"Set-Cookie", "s=1"}}, BypassReason::None},
      {"Set-Cookie withheld by private=\"Set-Cookie\" is stored without it", "GET", {}, 200,
       {{"Set-Cookie", "s=1"}, {"Cache-Control", "private=\"X, Set-Cookie\", max-age=60"}}, BypassReason::None},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    const StoreDecision dec = decideStore(requestFacts(r.method, r.request), responseFacts(r.status, r.response, kNow));
    CHECK(dec.reason == r.expected);
    CHECK(dec.store == (r.expected == BypassReason::None));
  }
}

TEST_CASE("store_set_cookie: a route may store responses with Set-Cookie (RFC 9111 §7.3 allows it)") {
  const Fields response{{"Cache-Control", "max-age=60"}, {"Set-Cookie", "s=1"}};
  const RequestFacts rq = requestFacts("GET", Fields{});
  const ResponseFacts rs = responseFacts(200, response, kNow);
  CHECK(rs.set_cookie);
  CHECK(decideStore(rq, rs).reason == BypassReason::SetCookie);
  PolicyConfig config;
  config.store_set_cookie = true;
  CHECK(decideStore(rq, rs, config).store);
  CHECK(reasonName(BypassReason::SetCookie) == "set-cookie");
}

TEST_CASE("freshness lifetime (RFC 9111 §4.2.1, §4.2.2)") {
  struct Row { const char* name; int status; Fields response; Seconds expected; };
  const std::string d = date(kNow);
  const Row rows[] = {
      {"RFC 9111 §4.2.1: s-maxage over max-age", 200, {{"Cache-Control", "max-age=10, s-maxage=20"}}, 20},
      {"RFC 9111 §4.2.1: max-age over Expires", 200, {{"Cache-Control", "max-age=10"}, {"Date", d}, {"Expires", at(kNow + 99)}}, 10},
      {"RFC 9111 §4.2.1: Expires - Date", 200, {{"Date", d}, {"Expires", at(kNow + 99)}}, 99},
      {"RFC 9111 §4.2.1: Expires before Date is 0", 200, {{"Date", d}, {"Expires", at(kNow - 99)}}, 0},
      {"RFC 9111 §5.3: an invalid Expires is already expired", 200, {{"Date", d}, {"Expires", "0"}, {"Last-Modified", at(kNow - 10000)}}, 0},
      {"RFC 9111 §4.2.1: two Expires are treated as stale", 200, {{"Date", d}, {"Expires", at(kNow + 99)}, {"Expires", at(kNow + 99)}}, 0},
      {"RFC 9111 §4.2.1: duplicate max-age is stale even with Expires", 200, {{"Cache-Control", "max-age=5, max-age=5"}, {"Date", d}, {"Expires", at(kNow + 99)}}, 0},
      {"RFC 9111 §4.2.2: heuristic 10% of Date - Last-Modified", 200, {{"Date", d}, {"Last-Modified", at(kNow - 10000)}}, 1000},
      {"RFC 9111 §4.2.2: heuristic capped (default one day)", 200, {{"Date", d}, {"Last-Modified", at(kNow - 10000000)}}, 86400},
      {"RFC 9111 §4.2.2: no heuristic for a status not heuristically cacheable", 302, {{"Date", d}, {"Last-Modified", at(kNow - 10000)}}, 0},
      {"RFC 9111 §4.2.2: heuristic for public whatever the status", 302, {{"Cache-Control", "public"}, {"Date", d}, {"Last-Modified", at(kNow - 10000)}}, 1000},
      {"RFC 9111 §4.2.2: no heuristic when Expires is there", 200, {{"Date", d}, {"Expires", at(kNow + 5)}, {"Last-Modified", at(kNow - 10000)}}, 5},
      {"RFC 9111 §4.2.2: Last-Modified in the future gives 0", 200, {{"Date", d}, {"Last-Modified", at(kNow + 100)}}, 0},
      {"RFC 9213 §2.1: Expires is ignored under a targeted field", 200, {{"CDN-Cache-Control", "public"}, {"Date", d}, {"Expires", at(kNow + 99)}}, 0},
      {"RFC 9213 §2.1: targeted max-age replaces Cache-Control's", 200, {{"CDN-Cache-Control", "max-age=600"}, {"Cache-Control", "max-age=5"}}, 600},
      {"RFC 9111 §4.2.1: nothing at all", 200, {}, 0},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(freshnessLifetime(responseFacts(r.status, r.response, kNow), kNow, PolicyConfig{}) == r.expected);
  }
  PolicyConfig small_cap;
  small_cap.heuristic_cap = 60;
  CHECK(freshnessLifetime(responseFacts(200, Fields{{"Date", d}, {"Last-Modified", at(kNow - 10000)}}, kNow), kNow, small_cap) == 60);
}

TEST_CASE("current age (RFC 9111 §4.2.3)") {
  struct Row { const char* name; Fields response; int64_t request_time, response_time, now; Seconds expected; };
  const Row rows[] = {
      {"RFC 9111 §4.2.3: Date == response_time, no Age: resident time only", {{"Date", at(kNow)}}, kNow, kNow, kNow + 30, 30},
      {"RFC 9111 §4.2.3: apparent_age = response_time - date_value", {{"Date", at(kNow - 50)}}, kNow, kNow, kNow, 50},
      {"RFC 9111 §4.2.3: Date in the future: apparent age 0", {{"Date", at(kNow + 50)}}, kNow, kNow, kNow, 0},
      {"RFC 9111 §4.2.3: corrected_age_value = Age + response_delay", {{"Date", at(kNow)}, {"Age", "100"}}, kNow - 3, kNow, kNow, 103},
      {"RFC 9111 §4.2.3: the larger of apparent and corrected", {{"Date", at(kNow - 500)}, {"Age", "100"}}, kNow - 3, kNow, kNow + 10, 510},
      {"RFC 9111 §4.2.3: missing Date counts as response_time", {{"Age", "7"}}, kNow, kNow, kNow + 1, 8},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    const ResponseFacts f = responseFacts(200, r.response, kNow);
    CHECK(currentAge(initialAge(f, r.request_time, r.response_time), r.response_time, r.now) == r.expected);
  }
}

TEST_CASE("reuse decision (RFC 9111 §4.2, §4.3, §5.2; RFC 5861)") {
  using A = ReuseAction;
  struct Row {
    const char* name;
    Fields request;
    Fields response;  // Date = kNow, stored at kNow
    int64_t age;      // seconds after storing
    A expected;
    bool stale_if_error = false;
  };
  PolicyConfig defaults;
  const Row rows[] = {
      {"RFC 9111 §4.2: fresh is served", {}, {{"Cache-Control", "max-age=60"}}, 10, A::ServeFresh},
      {"RFC 9111 §4.2: age == lifetime is stale", {}, {{"Cache-Control", "max-age=60"}}, 60, A::Revalidate},
      {"RFC 9111 §4.2.4: stale is revalidated", {}, {{"Cache-Control", "max-age=60"}}, 100, A::Revalidate},
      {"RFC 9111 §5.2.1.4: request no-cache revalidates a fresh entry", {{"Cache-Control", "no-cache"}}, {{"Cache-Control", "max-age=60"}}, 1, A::Revalidate},
      {"RFC 9111 §5.4: request Pragma no-cache without Cache-Control", {{"Pragma", "no-cache"}}, {{"Cache-Control", "max-age=60"}}, 1, A::Revalidate},
      {"RFC 9111 §5.2.2.4: response no-cache revalidates every time", {}, {{"Cache-Control", "max-age=60, no-cache"}}, 1, A::Revalidate},
      {"RFC 9111 §4.3.2: If-Match is the origin's: validated there", {{"If-Match", "\"a\""}}, {{"Cache-Control", "max-age=60"}}, 1, A::Revalidate},
      {"RFC 9111 §4.3.2: If-Unmodified-Since is the origin's: validated there", {{"If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}, {{"Cache-Control", "max-age=60"}}, 1, A::Revalidate},
      {"RFC 9111 §5.2.1.1: request max-age older than the entry", {{"Cache-Control", "max-age=5"}}, {{"Cache-Control", "max-age=60"}}, 10, A::Revalidate},
      {"RFC 9111 §5.2.1.1: request max-age younger than the entry", {{"Cache-Control", "max-age=50"}}, {{"Cache-Control", "max-age=60"}}, 10, A::ServeFresh},
      {"RFC 9111 §5.2.1.1: request max-age=0 forces validation", {{"Cache-Control", "max-age=0"}}, {{"Cache-Control", "max-age=60"}}, 1, A::Revalidate},
      {"RFC 9111 §5.2.1.3: min-fresh not met", {{"Cache-Control", "min-fresh=30"}}, {{"Cache-Control", "max-age=60"}}, 40, A::Revalidate},
      {"RFC 9111 §5.2.1.3: min-fresh met", {{"Cache-Control", "min-fresh=30"}}, {{"Cache-Control", "max-age=60"}}, 20, A::ServeFresh},
      {"RFC 9111 §5.2.1.2: max-stale without value accepts any staleness", {{"Cache-Control", "max-stale"}}, {{"Cache-Control", "max-age=60"}}, 100000, A::ServeStale},
      {"RFC 9111 §5.2.1.2: max-stale=N within", {{"Cache-Control", "max-stale=50"}}, {{"Cache-Control", "max-age=60"}}, 100, A::ServeStale},
      {"RFC 9111 §5.2.1.2: max-stale=N exceeded", {{"Cache-Control", "max-stale=50"}}, {{"Cache-Control", "max-age=60"}}, 200, A::Revalidate},
      {"RFC 9111 §5.2.2.2: must-revalidate is never served stale, even with max-stale", {{"Cache-Control", "max-stale"}}, {{"Cache-Control", "max-age=60, must-revalidate"}}, 100, A::Revalidate},
      {"RFC 9111 §5.2.2.8: proxy-revalidate is never served stale by a shared cache", {{"Cache-Control", "max-stale"}}, {{"Cache-Control", "max-age=60, proxy-revalidate"}}, 100, A::Revalidate},
      {"RFC 9111 §5.2.2.10: s-maxage implies proxy-revalidate", {{"Cache-Control", "max-stale"}}, {{"Cache-Control", "s-maxage=60"}}, 100, A::Revalidate},
      {"RFC 5861 §3: within stale-while-revalidate: serve and refresh", {}, {{"Cache-Control", "max-age=60, stale-while-revalidate=30"}}, 80, A::ServeStaleRevalidate},
      {"RFC 5861 §3: past stale-while-revalidate", {}, {{"Cache-Control", "max-age=60, stale-while-revalidate=30"}}, 100, A::Revalidate},
      {"RFC 5861 §3: must-revalidate overrides stale-while-revalidate", {}, {{"Cache-Control", "max-age=60, stale-while-revalidate=30, must-revalidate"}}, 80, A::Revalidate},
      {"RFC 5861 §4: within stale-if-error: stale allowed on error", {}, {{"Cache-Control", "max-age=60, stale-if-error=100"}}, 100, A::Revalidate, true},
      {"RFC 5861 §4: past stale-if-error", {}, {{"Cache-Control", "max-age=60, stale-if-error=10"}}, 100, A::Revalidate, false},
      {"RFC 9111 §5.2.2.2: must-revalidate forbids stale-if-error", {}, {{"Cache-Control", "max-age=60, stale-if-error=100, must-revalidate"}}, 100, A::Revalidate, false},
      {"RFC 9111 §4.2.4 / §5.2.2.4: response no-cache forbids stale-if-error", {}, {{"Cache-Control", "max-age=60, no-cache, stale-if-error=100"}}, 100, A::Revalidate, false},
      {"RFC 9111 §5.2.2.4: nor a fresh no-cache entry when its validation fails", {}, {{"Cache-Control", "max-age=60, no-cache, stale-if-error=100"}}, 10, A::Revalidate, false},
      {"RFC 9111 §5.2.1.7: only-if-cached with a fresh entry", {{"Cache-Control", "only-if-cached"}}, {{"Cache-Control", "max-age=60"}}, 1, A::ServeFresh},
      {"RFC 9111 §5.2.1.7: only-if-cached with a stale entry: 504", {{"Cache-Control", "only-if-cached"}}, {{"Cache-Control", "max-age=60"}}, 100, A::GatewayTimeout},
      {"RFC 9111 §5.2.1.7: only-if-cached with max-stale serves stale", {{"Cache-Control", "only-if-cached, max-stale"}}, {{"Cache-Control", "max-age=60"}}, 100, A::ServeStale},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    Fields response = r.response;
    const std::string d = date(kNow);
    response.push_back({"Date", d});
    const StoredFacts st = storedFacts(responseFacts(200, response, kNow), kNow, kNow, defaults);
    const ReuseDecision dec = decideReuse(requestFacts("GET", r.request).cc, st, kNow + r.age);
    CHECK(dec.action == r.expected);
    CHECK(dec.stale_if_error == r.stale_if_error);
    CHECK(dec.age == r.age);
  }
}

TEST_CASE("route defaults for the stale windows apply only when the response names none") {
  PolicyConfig c;
  c.default_stale_while_revalidate = 30;
  c.default_stale_if_error = 300;
  const Fields plain{{"Cache-Control", "max-age=60"}};
  StoredFacts st = storedFacts(responseFacts(200, plain, kNow), kNow, kNow, c);
  CHECK(decideReuse({}, st, kNow + 80).action == ReuseAction::ServeStaleRevalidate);
  CHECK(decideReuse({}, st, kNow + 200).stale_if_error);
  const Fields own{{"Cache-Control", "max-age=60, stale-while-revalidate=5"}};
  st = storedFacts(responseFacts(200, own, kNow), kNow, kNow, c);
  CHECK(decideReuse({}, st, kNow + 80).action == ReuseAction::Revalidate);
}

TEST_CASE("conditional request to send (RFC 9111 §4.3.1)") {
  StoredHead both = makeStoredHead(200, Fields{{"ETag", "\"v1\""}, {"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"}});
  auto f = conditionalRequestField(both);
  REQUIRE(f);
  CHECK(f->name == "If-None-Match");
  CHECK(f->value == "\"v1\"");
  StoredHead lm = makeStoredHead(200, Fields{{"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"}});
  f = conditionalRequestField(lm);
  REQUIRE(f);
  CHECK(f->name == "If-Modified-Since");
  CHECK(f->value == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK_FALSE(conditionalRequestField(makeStoredHead(200, Fields{{"Content-Type", "text/plain"}})));
}

TEST_CASE("stored head drops hop-by-hop and Connection-named fields (RFC 9111 §3.1)") {
  const StoredHead h = makeStoredHead(200, Fields{{"Connection", "close, X-Secret"},
                                                  {"Keep-Alive", "timeout=5"},
                                                  {"Transfer-Encoding", "chunked"},
                                                  {"X-Secret", "1"},
                                                  {"Content-Type", "text/html"},
                                                  {"Proxy-Authenticate", "Basic"},
                                                  {"Proxy-Authentication-Info", "nextnonce=\"x\""},
                                                  {"Upgrade", "h2c"},
                                                  {"TE", "trailers"},
                                                  {"Trailer", "X"},
                                                  {"ETag", "\"a\""}});
  CHECK(h.blob() == "Content-Type: text/html\r\nETag: \"a\"\r\n");
  CHECK(h.status() == 200);
  CHECK(h.fieldCount() == 2);
  CHECK(h.get("etag") == "\"a\"");
}

TEST_CASE("304 merge (RFC 9111 §3.2, §4.3.4)") {
  const StoredHead stored = makeStoredHead(200, Fields{{"Content-Type", "text/html"},
                                                       {"Content-Length", "100"},
                                                       {"Content-Encoding", "gzip"},
                                                       {"ETag", "\"v1\""},
                                                       {"Cache-Control", "max-age=10"},
                                                       {"Date", "Sun, 06 Nov 1994 08:49:37 GMT"},
                                                       {"X-Kept", "1"}});
  const StoredHead merged = merge304(stored, Fields{{"Cache-Control", "max-age=60"},
                                                    {"Date", "Sun, 06 Nov 1994 08:50:00 GMT"},
                                                    {"Content-Length", "0"},
                                                    {"Content-Encoding", "br"},
                                                    {"Age", "5"},
                                                    {"Connection", "X-Hop"},
                                                    {"X-Hop", "1"},
                                                    {"Transfer-Encoding", "chunked"},
                                                    {"X-New", "2"}});
  struct Row { const char* name; const char* field; const char* expected; };
  const Row rows[] = {
      {"RFC 9111 §3.2: Content-Length is not updated", "content-length", "100"},
      {"RFC 9111 §3.2: Content-Encoding stays (the stored body depends on it)", "content-encoding", "gzip"},
      {"RFC 9111 §3.2: Cache-Control is updated", "cache-control", "max-age=60"},
      {"RFC 9111 §3.2: Date is updated", "date", "Sun, 06 Nov 1994 08:50:00 GMT"},
      {"RFC 9111 §3.2: fields the 304 does not carry are kept", "x-kept", "1"},
      {"RFC 9111 §3.2: new fields are added", "x-new", "2"},
      {"RFC 9111 §3.1: Connection-named fields are not stored", "x-hop", ""},
      {"RFC 9111 §3.1: hop-by-hop fields are not stored", "transfer-encoding", ""},
      {"RFC 9111 §4.2.3: the merged head is aged from the 304: its Age", "age", "5"},
      {"RFC 9111 §3.2: the validator is kept", "etag", "\"v1\""},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(merged.get(r.field) == r.expected);
  }
  CHECK(merged.status() == 200);
}

TEST_CASE("fields withheld by no-cache=\"f\" / private=\"f\" are not stored (RFC 9111 §5.2.2.4, §5.2.2.7)") {
  const Fields fields{{"Cache-Control", "private=\"X-Secret\", no-cache=\"Set-Cookie\", max-age=60"},
                      {"x-secret", "1"}, {"Set-Cookie", "a=b"}, {"X-Kept", "k"}};
  const std::string withheld = parseCacheControl(fields[0].value).withheld;
  const StoredHead h = makeStoredHead(200, fields, withheld);
  CHECK(h.get("x-secret") == "");
  CHECK(h.get("set-cookie") == "");
  CHECK(h.get("x-kept") == "k");
  // A 304 withholding a field drops it, stored or new.
  const StoredHead merged = merge304(makeStoredHead(200, Fields{{"X-Secret", "old"}, {"X-Kept", "k"}}),
                                     Fields{{"X-Secret", "new"}, {"X-Other", "o"}}, "x-secret,");
  CHECK(merged.get("x-secret") == "");
  CHECK(merged.get("x-kept") == "k");
  CHECK(merged.get("x-other") == "o");
}

TEST_CASE("304 merge drops the stored Age (RFC 9111 §4.2.3)") {
  // A response stored with Age: 61 and revalidated by a 304 without Age is as old as the 304,
  // not 61 s older (it would be stale again at once).
  const StoredHead stored = makeStoredHead(200, Fields{{"Cache-Control", "max-age=60"}, {"Age", "61"}, {"ETag", "\"a\""}});
  const StoredHead merged = merge304(stored, Fields{{"Cache-Control", "max-age=60"}, {"ETag", "\"a\""}});
  CHECK(merged.get("age") == "");
  CHECK(merged.get("etag") == "\"a\"");
}

TEST_CASE("which 304 updates the stored response (RFC 9111 §4.3.4)") {
  struct Row { const char* name; Fields stored; Fields nm; bool expected; };
  const Row rows[] = {
      {"same strong ETag", {{"ETag", "\"a\""}}, {{"ETag", "\"a\""}}, true},
      {"another strong ETag: updates nothing", {{"ETag", "\"a\""}}, {{"ETag", "\"b\""}}, false},
      {"strong ETag against a weak stored one: strong comparison fails", {{"ETag", "W/\"a\""}}, {{"ETag", "\"a\""}}, false},
      {"weak ETag matches weakly", {{"ETag", "\"a\""}}, {{"ETag", "W/\"a\""}}, true},
      {"another weak ETag", {{"ETag", "W/\"a\""}}, {{"ETag", "W/\"b\""}}, false},
      {"an ETag when the stored response has none", {{"Last-Modified", at(kNow - 1000)}}, {{"ETag", "\"a\""}}, false},
      {"no validator in the 304", {{"ETag", "\"a\""}}, {{"Cache-Control", "max-age=5"}}, true},
      {"same Last-Modified", {{"Last-Modified", at(kNow - 1000)}}, {{"Last-Modified", at(kNow - 1000)}}, true},
      {"another Last-Modified", {{"Last-Modified", at(kNow - 1000)}}, {{"Last-Modified", at(kNow - 10)}}, false},
      {"Last-Modified in the 304 only", {{"ETag", "\"a\""}}, {{"Last-Modified", at(kNow - 10)}}, true},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(selectedBy304(makeStoredHead(200, r.stored), r.nm) == r.expected);
  }
}

TEST_CASE("invalidation after unsafe methods (RFC 9111 §4.4)") {
  struct Row { const char* name; const char* method; int status; bool expected; };
  const Row rows[] = {
      {"RFC 9111 §4.4: POST 200 invalidates", "POST", 200, true},
      {"RFC 9111 §4.4: PUT 201 invalidates", "PUT", 201, true},
      {"RFC 9111 §4.4: DELETE 204 invalidates", "DELETE", 204, true},
      {"RFC 9111 §4.4: PATCH 303 invalidates", "PATCH", 303, true},
      {"RFC 9111 §4.4: an unknown method invalidates", "PURGEX", 200, true},
      {"RFC 9111 §4.4: an error status does not", "POST", 500, false},
      {"RFC 9111 §4.4: a 404 does not", "DELETE", 404, false},
      {"RFC 9110 §9.2.1: GET is safe", "GET", 200, false},
      {"RFC 9110 §9.2.1: OPTIONS is safe", "OPTIONS", 200, false},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(invalidatesStored(r.method, r.status) == r.expected);
  }
  KeyOptions o;
  CHECK(sameOriginKey("http", "Example.com", "/a/b?x", "/c", o) == "http://example.com/c");
  CHECK(sameOriginKey("http", "example.com", "/a/b?x", "http://EXAMPLE.com:80/d?q", o) == "http://example.com/d?q");
  CHECK(sameOriginKey("http", "example.com", "/a/b", "http://other.com/d", o).empty());
  CHECK(sameOriginKey("http", "example.com", "/a/b", "https://example.com/d", o).empty());
  CHECK(sameOriginKey("http", "example.com", "/a/b", "//example.com/d", o).empty());
  CHECK(sameOriginKey("http", "example.com", "/a/b", "c", o) == "http://example.com/a/c");
  CHECK(sameOriginKey("http", "example.com", "/a/b", "", o).empty());
}

TEST_CASE("client conditionals answered from the cache (RFC 9110 §13.2.2)") {
  const std::string lm = date(kNow - 100);
  const StoredHead stored = makeStoredHead(200, Fields{{"ETag", "\"v1\""}, {"Last-Modified", lm}, {"Date", at(kNow)}});
  const StoredHead no_lm = makeStoredHead(200, Fields{{"Date", at(kNow)}});
  using Lines = std::vector<std::string_view>;
  const std::string after = date(kNow - 50), before = date(kNow - 200);
  struct Row { const char* name; const char* method; Lines inm, ims; const StoredHead* head; bool expected; };
  const Row rows[] = {
      {"RFC 9110 §13.1.2: matching If-None-Match: 304", "GET", {"\"v1\""}, {}, &stored, true},
      {"RFC 9110 §13.1.2: weak comparison", "GET", {"W/\"v1\""}, {}, &stored, true},
      {"RFC 9110 §13.2.2: If-None-Match takes precedence over If-Modified-Since", "GET", {"\"v2\""}, {after}, &stored, false},
      {"RFC 9110 §13.1.3: not modified since a later date: 304", "GET", {}, {after}, &stored, true},
      {"RFC 9110 §13.1.3: modified since an earlier date: 200", "GET", {}, {before}, &stored, false},
      {"RFC 9110 §13.1.3: an invalid date is ignored", "GET", {}, {"yesterday"}, &stored, false},
      {"RFC 9111 §4.3.2: without Last-Modified, Date is used", "GET", {}, {at(kNow + 1)}, &no_lm, true},
      {"RFC 9110 §13.1.3: HEAD too", "HEAD", {}, {after}, &stored, true},
      {"RFC 9110 §13.1.3: only GET and HEAD", "POST", {"\"v1\""}, {}, &stored, false},
      {"RFC 9110 §13.2.2: no conditional", "GET", {}, {}, &stored, false},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(answerNotModified(r.method, r.inm, r.ims, *r.head) == r.expected);
  }
}

TEST_CASE("Range answered from a stored 200 (RFC 9110 §14)") {
  using K = RangeAnswer::Kind;
  const std::string lm = date(kNow - 100);
  const StoredHead stored = makeStoredHead(200, Fields{{"ETag", "\"v1\""}, {"Last-Modified", lm}});
  const StoredHead weak = makeStoredHead(200, Fields{{"ETag", "W/\"v1\""}});
  const StoredHead not_found = makeStoredHead(404, Fields{});
  struct Row { const char* name; const char* method; const char* range; std::string if_range; const StoredHead* head; K kind; const char* content_range; };
  const Row rows[] = {
      {"RFC 9110 §14.2: a single range: 206", "GET", "bytes=0-9", "", &stored, K::Partial, "bytes 0-9/1000"},
      {"RFC 9110 §14.2: a suffix range", "GET", "bytes=-100", "", &stored, K::Partial, "bytes 900-999/1000"},
      {"RFC 9110 §15.5.17: unsatisfiable: 416", "GET", "bytes=5000-", "", &stored, K::Unsatisfiable, "bytes */1000"},
      {"RFC 9110 §14.2: several ranges: the full 200", "GET", "bytes=0-1,5-6", "", &stored, K::Full, nullptr},
      {"RFC 9110 §14.2: an invalid Range is ignored", "GET", "bytes=x", "", &stored, K::Full, nullptr},
      {"RFC 9110 §14.2: Range only applies to GET", "HEAD", "bytes=0-9", "", &stored, K::Full, nullptr},
      {"RFC 9110 §14.2: only a stored 200", "GET", "bytes=0-9", "", &not_found, K::Full, nullptr},
      {"RFC 9110 §13.1.5: If-Range with the strong ETag", "GET", "bytes=0-9", "\"v1\"", &stored, K::Partial, "bytes 0-9/1000"},
      {"RFC 9110 §13.1.5: If-Range with another ETag: full", "GET", "bytes=0-9", "\"v0\"", &stored, K::Full, nullptr},
      {"RFC 9110 §13.1.5: If-Range never matches a weak ETag", "GET", "bytes=0-9", "W/\"v1\"", &weak, K::Full, nullptr},
      {"RFC 9110 §13.1.5: If-Range with the Last-Modified date", "GET", "bytes=0-9", lm, &stored, K::Partial, "bytes 0-9/1000"},
      {"RFC 9110 §13.1.5: If-Range with another date: full", "GET", "bytes=0-9", date(kNow), &stored, K::Full, nullptr},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    const RangeAnswer a = answerRange(r.method, r.range, r.if_range, *r.head, 1000);
    CHECK(a.kind == r.kind);
    if (r.content_range) CHECK(contentRange(a, 1000) == r.content_range);
  }
}

TEST_CASE("Cache-Status values (RFC 9211 §2)") {
  CHECK(formatCacheStatus("edged", CacheState::Hit, BypassReason::None, 42, false) == "edged; hit; ttl=42");
  CHECK(formatCacheStatus("edged", CacheState::Miss, BypassReason::None, std::nullopt, true) == "edged; fwd=uri-miss; stored");
  CHECK(formatCacheStatus("edged", CacheState::Stale, BypassReason::None, -5, false) == "edged; hit; ttl=-5");
  CHECK(formatCacheStatus("edged", CacheState::Bypass, BypassReason::NoStoreResponse, std::nullopt, false) ==
        "edged; fwd=bypass; detail=no-store-response");
  CHECK(formatCacheStatus("edged", CacheState::Bypass, BypassReason::Method, std::nullopt, false) == "edged; fwd=method");
  CHECK(formatCacheStatus("edged", CacheState::Revalidated, BypassReason::None, 60, true) == "edged; fwd=stale; fwd-status=304; ttl=60; stored");
}

}  // TEST_SUITE

}  // namespace
}  // namespace edged::cache
