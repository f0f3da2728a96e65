// Unit tests of the reference backend's pure pieces: JSON, formats (LSN, CSV, ETag, ids,
// cookies, query strings) and the L1 LRU cache (the circuit breaker: tests/unit/proxy/redis).
#include <doctest.h>

#include "tools/backend/formats.h"
#include "tools/backend/json.h"
#include "tools/backend/lru_cache.h"

using namespace edged::backend;

TEST_CASE("backend json: objects, escapes, errors") {
  std::string error;
  auto v = parseJson(R"( {"email":"a@b.c","name":"\u00e9\ud83d\ude00\n","n":-1.5e3,"ok":true,"x":null,"a":[1,[]]} )", error);
  REQUIRE(v);
  CHECK(v->get("email")->text == "a@b.c");
  CHECK(v->get("name")->text == "\xc3\xa9\xf0\x9f\x98\x80\n");
  CHECK(v->get("n")->type == JsonValue::Type::Number);
  CHECK(v->get("ok")->boolean);
  CHECK(v->get("a")->items.size() == 2);
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "\"\\ud800\"", "\"a\x01\"",
                          "{} x", "tru", "\"\xff\""}) {
    CHECK_MESSAGE(!parseJson(bad, error), bad);
    CHECK(!error.empty());
  }
  CHECK(!parseJson(std::string(100, '[') + std::string(100, ']'), error));
  CHECK(error.find("deeply") != std::string::npos);
  std::string out;
  appendJsonString(out, "q\"b\\\n\x01");
  CHECK(out == "\"q\\\"b\\\\\\n\\u0001\"");
}

TEST_CASE("backend formats: LSN, CSV, ETag, ids, cookies, query") {
  CHECK(parseLsn("16/B374D848") == 0x16B374D848ull);
  CHECK(parseLsn("0/0") == 0ull);
  CHECK(!parseLsn("16B374D848"));
  CHECK(!parseLsn("x/1"));
  CHECK(formatLsn(0x16B374D848ull) == "16/B374D848");
  std::string csv;
  appendCsvField(csv, "plain");
  csv += ',';
  appendCsvField(csv, "a,\"b\"\r\nc");
  CHECK(csv == "plain,\"a,\"\"b\"\"\r\nc\"");
  const std::string tag = etagOf("{}");
  CHECK(etagMatches(tag, tag));
  CHECK(etagMatches("\"x\", W/" + tag, tag));
  CHECK(etagMatches("*", tag));
  CHECK(!etagMatches("\"nope\"", tag));
  CHECK(parseId("1") == 1);
  CHECK(parseId("9223372036854775807") == INT64_MAX);
  CHECK(!parseId("9223372036854775808"));
  CHECK(!parseId("0"));
  CHECK(!parseId("-1"));
  CHECK(!parseId("1a"));
  CHECK(!parseId(""));
  CHECK(cookieValue("a=1; edged_lsn=0/5; b=2", "edged_lsn") == "0/5");
  CHECK(cookieValue("a=1", "edged_lsn").empty());
  CHECK(queryParam("after=5&limit=10", "limit") == std::string_view("10"));
  CHECK(!queryParam("after=5", "limit"));
  CHECK(percentDecode("a%40b+c") == std::string("a@b c"));
  CHECK(!percentDecode("a%4"));
  CHECK(!percentDecode("%zz"));
}

TEST_CASE("backend L1: a full cache evicts the least recently used, TTL expires") {
  LruCache c(3, 1000);
  c.put("a", "1", 5, 0);
  c.put("b", "2", 5, 0);
  c.put("c", "3", 5, 0);
  CHECK(c.get("a", 1));  // a is now the most recent
  c.put("d", "4", 5, 1);
  CHECK(c.size() == 3);
  CHECK(!c.get("b", 1));
  CHECK(c.get("a", 1));
  CHECK(c.evictions() == 1);
  for (int i = 0; i < 10000; ++i) c.put("k" + std::to_string(i), "v", 0, 2);
  CHECK(c.size() == 3);
  CHECK(c.get("k9999", 2)->value == "v");
  CHECK(!c.get("k9999", 2000));  // expired
  CHECK(c.erase("k9998"));
  CHECK(!c.erase("k9998"));
}
