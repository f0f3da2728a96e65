// tests/unit/proxy/compress/compression_decision_test.cpp — every skip rule of decideCompression
// and every head change of compressionHeaderEdits, as tables.
#include <doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/compress/compression_decision.h"

namespace edged::compress {
namespace {

using Headers = std::vector<Header>;

const Headers kAcceptAll{{"Accept-Encoding", "gzip, deflate, br, zstd"}};
const Headers kJson{{"Content-Type", "application/json"}, {"Content-Length", "5000"}};

TEST_CASE("decideCompression: skip rules") {
  CompressionSettings on;
  CompressionSettings off;
  off.enabled = false;
  CompressionSettings none_configured;
  none_configured.algorithms.clear();
  CompressionSettings min0;
  min0.min_length = 0;

  struct Row {
    const char* what;
    const CompressionSettings& settings;
    std::string_view method;
    Headers request;
    int status;
    Headers response;
    bool upgraded;
    Algorithm algo;
    bool vary;
  };
  const Row rows[] = {
      {"baseline", on, "GET", kAcceptAll, 200, kJson, false, Algorithm::Brotli, true},
      {"POST too", on, "POST", kAcceptAll, 201, kJson, false, Algorithm::Brotli, true},
      {"404 body", on, "GET", kAcceptAll, 404, {{"Content-Type", "text/html"}}, false, Algorithm::Brotli, true},
      {"route off", off, "GET", kAcceptAll, 200, kJson, false, Algorithm::None, false},
      {"no algorithms", none_configured, "GET", kAcceptAll, 200, kJson, false, Algorithm::None, false},
      {"upgraded", on, "GET", kAcceptAll, 200, kJson, true, Algorithm::None, false},
      {"101", on, "GET", kAcceptAll, 101, kJson, false, Algorithm::None, false},
      {"HEAD", on, "HEAD", kAcceptAll, 200, kJson, false, Algorithm::None, false},
      {"head lower case", on, "head", kAcceptAll, 200, kJson, false, Algorithm::None, false},
      {"100", on, "GET", kAcceptAll, 100, kJson, false, Algorithm::None, false},
      {"103", on, "GET", kAcceptAll, 103, kJson, false, Algorithm::None, false},
      {"204", on, "GET", kAcceptAll, 204, {{"Content-Type", "text/plain"}}, false, Algorithm::None, false},
      {"304", on, "GET", kAcceptAll, 304, kJson, false, Algorithm::None, false},
      {"206", on, "GET", kAcceptAll, 206, kJson, false, Algorithm::None, false},
      {"Range request", on, "GET", {{"accept-encoding", "gzip"}, {"Range", "bytes=0-10"}}, 200, kJson, false,
       Algorithm::None, false},
      {"Content-Encoding present", on, "GET", kAcceptAll, 200,
       {{"Content-Type", "text/html"}, {"Content-Encoding", "gzip"}}, false, Algorithm::None, false},
      {"no-transform", on, "GET", kAcceptAll, 200,
       {{"Content-Type", "text/html"}, {"Cache-Control", "public, No-Transform, max-age=60"}}, false,
       Algorithm::None, false},
      {"no-transform in a second Cache-Control", on, "GET", kAcceptAll, 200,
       {{"Content-Type", "text/html"}, {"Cache-Control", "max-age=60"}, {"cache-control", "no-transform"}},
       false, Algorithm::None, false},
      {"other Cache-Control", on, "GET", kAcceptAll, 200,
       {{"Content-Type", "text/html"}, {"Cache-Control", "no-cache, max-age=0"}}, false, Algorithm::Brotli, true},
      {"type not listed", on, "GET", kAcceptAll, 200, {{"Content-Type", "image/png"}}, false, Algorithm::None,
       false},
      {"no Content-Type", on, "GET", kAcceptAll, 200, {{"Content-Length", "5000"}}, false, Algorithm::None, false},
      {"text/* wildcard", on, "GET", kAcceptAll, 200, {{"Content-Type", "text/css"}}, false, Algorithm::Brotli,
       true},
      {"parameters ignored, case-insensitive", on, "GET", kAcceptAll, 200,
       {{"content-type", " Application/JSON ; charset=UTF-8"}}, false, Algorithm::Brotli, true},
      {"svg", on, "GET", kAcceptAll, 200, {{"Content-Type", "image/svg+xml"}}, false, Algorithm::Brotli, true},
      {"textual/ is not text/", on, "GET", kAcceptAll, 200, {{"Content-Type", "textual/plain"}}, false,
       Algorithm::None, false},
      {"json prefix is not json", on, "GET", kAcceptAll, 200, {{"Content-Type", "application/jsonx"}}, false,
       Algorithm::None, false},
      {"under min_length", on, "GET", kAcceptAll, 200,
       {{"Content-Type", "text/html"}, {"Content-Length", "1023"}}, false, Algorithm::None, false},
      {"at min_length", on, "GET", kAcceptAll, 200, {{"Content-Type", "text/html"}, {"Content-Length", "1024"}},
       false, Algorithm::Brotli, true},
      {"unknown length", on, "GET", kAcceptAll, 200, {{"Content-Type", "text/html"}}, false, Algorithm::Brotli,
       true},
      {"empty body, min 0", min0, "GET", kAcceptAll, 200, {{"Content-Type", "text/html"}, {"Content-Length", "0"}},
       false, Algorithm::None, false},
      {"small body, min 0", min0, "GET", kAcceptAll, 200,
       {{"Content-Type", "text/html"}, {"Content-Length", "1"}}, false, Algorithm::Brotli, true},
      {"malformed length counts as unknown", on, "GET", kAcceptAll, 200,
       {{"Content-Type", "text/html"}, {"Content-Length", "12x"}}, false, Algorithm::Brotli, true},
      // Only the client's Accept-Encoding stood in the way: Vary all the same.
      {"no Accept-Encoding", on, "GET", {}, 200, kJson, false, Algorithm::None, true},
      {"identity only", on, "GET", {{"Accept-Encoding", "identity"}}, 200, kJson, false, Algorithm::None, true},
      {"all q=0", on, "GET", {{"Accept-Encoding", "gzip;q=0, *;q=0"}}, 200, kJson, false, Algorithm::None, true},
      {"deflate only", on, "GET", {{"Accept-Encoding", "deflate"}}, 200, kJson, false, Algorithm::None, true},
      {"gzip only", on, "GET", {{"Accept-Encoding", "gzip"}}, 200, kJson, false, Algorithm::Gzip, true},
      {"two AE lines", on, "GET", {{"Accept-Encoding", "gzip;q=0.1"}, {"accept-encoding", "zstd"}}, 200, kJson,
       false, Algorithm::Zstd, true},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    CompressionInput in{r.method, r.request, r.status, r.response, r.upgraded};
    const CompressionDecision d = decideCompression(r.settings, in);
    CHECK(d.algo == r.algo);
    CHECK(d.add_vary == r.vary);
  }
}

TEST_CASE("decideCompression: the configured order breaks ties, its absence excludes") {
  CompressionSettings s;
  s.algorithms = {Algorithm::Gzip, Algorithm::Brotli};
  CompressionInput in{"GET", kAcceptAll, 200, kJson};
  CHECK(decideCompression(s, in).algo == Algorithm::Gzip);
  const Headers zstd_only{{"Accept-Encoding", "zstd"}};
  in.request_headers = zstd_only;
  const CompressionDecision d = decideCompression(s, in);
  CHECK(d.algo == Algorithm::None);
  CHECK(d.add_vary);
}

TEST_CASE("mediaTypeListed") {
  const std::vector<std::string> types{"text/*", "application/json", " image/svg+xml "};
  struct Row { std::string_view type; bool listed; };
  const Row rows[] = {
      {"text/html", true}, {"TEXT/Plain; charset=utf-8", true}, {"application/json", true},
      {"application/json;charset=utf-8", true}, {"image/svg+xml", true}, {"image/png", false},
      {"application/javascript", false}, {"text", false}, {"", false}, {"/json", false},
      {"application/json-seq", false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.type);
    CHECK(mediaTypeListed(r.type, types) == r.listed);
  }
  const std::vector<std::string> all{"*/*"};
  CHECK(mediaTypeListed("image/png", all));
}

// The head after the edits, as "Name: value" lines.
std::vector<std::string> edited(const Headers& headers, CompressionDecision d) {
  const HeaderEdits edits = compressionHeaderEdits(headers, d);
  std::vector<std::string> lines;
  for (const Header& h : edits.apply(headers)) lines.push_back(std::string(h.name) + ": " + std::string(h.value));
  return lines;
}

using Lines = std::vector<std::string>;
const CompressionDecision kGzip{Algorithm::Gzip, true};
const CompressionDecision kVaryOnly{Algorithm::None, true};
const CompressionDecision kNothing{Algorithm::None, false};

TEST_CASE("compressionHeaderEdits: head changes when compressing") {
  struct Row { const char* what; Headers in; CompressionDecision d; Lines out; };
  const Row rows[] = {
      {"full set", {{"Content-Type", "text/html"}, {"Content-Length", "5000"}, {"ETag", "\"x\""},
                    {"Accept-Ranges", "bytes"}, {"Server", "o"}},
       kGzip,
       {"Content-Type: text/html", "ETag: W/\"x\"", "Server: o", "Vary: Accept-Encoding",
        "Content-Encoding: gzip"}},
      {"br token", {{"Content-Type", "text/html"}}, {Algorithm::Brotli, true},
       {"Content-Type: text/html", "Vary: Accept-Encoding", "Content-Encoding: br"}},
      {"zstd token", {{"Content-Type", "text/html"}}, {Algorithm::Zstd, true},
       {"Content-Type: text/html", "Vary: Accept-Encoding", "Content-Encoding: zstd"}},
      {"Vary merged in place", {{"Vary", "Origin"}, {"X", "1"}}, kGzip,
       {"Vary: Origin, Accept-Encoding", "X: 1", "Content-Encoding: gzip"}},
      {"Vary lines merged", {{"Vary", "Origin"}, {"X", "1"}, {"vary", "Cookie"}}, kGzip,
       {"Vary: Origin, Cookie, Accept-Encoding", "X: 1", "Content-Encoding: gzip"}},
      {"Vary already has it", {{"Vary", "origin, accept-encoding"}}, kGzip,
       {"Vary: origin, accept-encoding", "Content-Encoding: gzip"}},
      {"Vary already has it in a second line", {{"Vary", "Origin"}, {"Vary", "Accept-Encoding"}}, kGzip,
       {"Vary: Origin", "Vary: Accept-Encoding", "Content-Encoding: gzip"}},
      {"Vary *", {{"Vary", "*"}}, kGzip, {"Vary: *", "Content-Encoding: gzip"}},
      {"empty Vary", {{"Vary", ""}}, kGzip, {"Vary: Accept-Encoding", "Content-Encoding: gzip"}},
      {"weak ETag stays", {{"ETag", "W/\"x\""}}, kGzip,
       {"ETag: W/\"x\"", "Vary: Accept-Encoding", "Content-Encoding: gzip"}},
      {"every Content-Length dropped", {{"content-length", "1"}, {"Content-Length", "1"}}, kGzip,
       {"Vary: Accept-Encoding", "Content-Encoding: gzip"}},
      {"Accept-Ranges none dropped too", {{"accept-ranges", "none"}}, kGzip,
       {"Vary: Accept-Encoding", "Content-Encoding: gzip"}},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    CHECK(edited(r.in, r.d) == r.out);
  }
}

TEST_CASE("compressionHeaderEdits: not compressing") {
  const Headers head{{"Content-Type", "text/html"}, {"Content-Length", "5"}, {"ETag", "\"x\""},
                     {"Accept-Ranges", "bytes"}, {"Vary", "Origin"}};
  CHECK(edited(head, kVaryOnly) == Lines{"Content-Type: text/html", "Content-Length: 5", "ETag: \"x\"",
                                          "Accept-Ranges: bytes", "Vary: Origin, Accept-Encoding"});
  CHECK(compressionHeaderEdits(head, kNothing).empty());
  const Headers has_vary{{"Vary", "Accept-Encoding"}};
  CHECK(compressionHeaderEdits(has_vary, kVaryOnly).empty());
}

TEST_CASE("HeaderEdits::apply: set replaces the first field in place, removes later ones, appends") {
  HeaderEdits e;
  e.set("B", "new");
  e.remove("C");
  e.set("D", "added");
  const Headers in{{"A", "1"}, {"b", "old"}, {"C", "x"}, {"B", "old2"}, {"c", "y"}};
  const std::vector<Header> out = e.apply(in);
  REQUIRE(out.size() == 3);
  CHECK(out[0].name == "A");
  CHECK(out[1].name == "b");
  CHECK(out[1].value == "new");
  CHECK(out[2].name == "D");
  CHECK(out[2].value == "added");
}

TEST_CASE("end to end: decision then edits") {
  CompressionSettings s;
  const Headers request{{"Accept-Encoding", "gzip, br"}};
  const Headers response{{"Content-Type", "text/html; charset=utf-8"}, {"Content-Length", "4096"},
                         {"ETag", "\"abc\""}, {"Vary", "Origin"}, {"Accept-Ranges", "bytes"}};
  const CompressionDecision d = decideCompression(s, {"GET", request, 200, response});
  CHECK(d.algo == Algorithm::Brotli);
  CHECK(edited(response, d) == Lines{"Content-Type: text/html; charset=utf-8", "ETag: W/\"abc\"",
                                      "Vary: Origin, Accept-Encoding", "Content-Encoding: br"});
}

}  // namespace
}  // namespace edged::compress
