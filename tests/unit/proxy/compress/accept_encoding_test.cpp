// tests/unit/proxy/compress/accept_encoding_test.cpp — Accept-Encoding parsing (RFC 9110 §12.5.3)
// and the choice of a coding, as tables.
#include <doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/compress/accept_encoding.h"

namespace edged::compress {
namespace {

constexpr Algorithm kDefaultOrder[] = {Algorithm::Brotli, Algorithm::Zstd, Algorithm::Gzip};

Algorithm choose(std::string_view field, std::span<const Algorithm> order = kDefaultOrder) {
  AcceptEncoding ae;
  ae.add(field);
  return ae.choose(order);
}

TEST_CASE("parseQValue accepts RFC 9110 q-values only") {
  struct Row { std::string_view text; int q; };
  const Row rows[] = {
      {"0", 0}, {"1", 1000}, {"0.5", 500}, {"0.25", 250}, {"0.125", 125}, {"1.", 1000},
      {"1.000", 1000}, {"0.", 0}, {"0.001", 1},
      {"", -1}, {"1.001", -1}, {"2", -1}, {"0.1234", -1}, {".5", -1}, {"-1", -1}, {"0,5", -1},
      {"abc", -1}, {"1e0", -1}, {"0.5x", -1},
  };
  for (const Row& r : rows) {
    CAPTURE(r.text);
    CHECK(parseQValue(r.text) == r.q);
  }
}

TEST_CASE("quality per coding") {
  struct Row { std::string_view field; int gzip, br, zstd, identity; };
  const Row rows[] = {
      {"gzip", 1000, 0, 0, 1},
      {"gzip, deflate, br", 1000, 1000, 0, 1},
      {"GZIP;Q=0.5, Br;q=0.7", 500, 700, 0, 1},
      {"x-gzip", 1000, 0, 0, 1},
      {"*", 1000, 1000, 1000, 1000},
      {"*;q=0.3, br", 300, 1000, 300, 300},
      {"*;q=0", 0, 0, 0, 0},
      {"*;q=0, identity", 0, 0, 0, 1000},
      {"identity;q=0", 0, 0, 0, 0},
      {"gzip;q=0", 0, 0, 0, 1},
      {"", 0, 0, 0, 1},
      {" , ,gzip ,, ", 1000, 0, 0, 1},
      {"gzip ; q = 0.8", 800, 0, 0, 1},
      {"gzip;level=1;q=0.4", 400, 0, 0, 1},
      {"gzip;q=bogus", 0, 0, 0, 1},
      {"gzip;q=", 0, 0, 0, 1},
      {"gzip;q", 0, 0, 0, 1},
      {"gzip;q=0.5;q=1", 0, 0, 0, 1},
      {"gzip;q=1.5", 0, 0, 0, 1},
      {"gzip;q=0, gzip;q=0.6", 600, 0, 0, 1},
      {"zstd;q=0.9;", 0, 0, 900, 1},
      {"compress, deflate, zstd", 0, 0, 1000, 1},
      {";;;,==,q=1", 0, 0, 0, 1},
  };
  for (const Row& r : rows) {
    CAPTURE(r.field);
    AcceptEncoding ae;
    ae.add(r.field);
    CHECK(ae.present());
    CHECK(ae.quality(Algorithm::Gzip) == r.gzip);
    CHECK(ae.quality(Algorithm::Brotli) == r.br);
    CHECK(ae.quality(Algorithm::Zstd) == r.zstd);
    CHECK(ae.identityQuality() == r.identity);
  }
}

TEST_CASE("no Accept-Encoding field: nothing is compressed") {
  AcceptEncoding ae;
  CHECK_FALSE(ae.present());
  CHECK(ae.choose(kDefaultOrder) == Algorithm::None);
}

TEST_CASE("several field lines add up") {
  AcceptEncoding ae;
  ae.add("gzip;q=0.5");
  ae.add("zstd");
  CHECK(ae.choose(kDefaultOrder) == Algorithm::Zstd);
}

TEST_CASE("choose: highest q wins, the configured order breaks ties") {
  const std::vector<Algorithm> gzip_first{Algorithm::Gzip, Algorithm::Zstd, Algorithm::Brotli};
  const std::vector<Algorithm> gzip_only{Algorithm::Gzip};
  struct Row { std::string_view field; std::span<const Algorithm> order; Algorithm expected; };
  const Row rows[] = {
      {"gzip, deflate, br, zstd", kDefaultOrder, Algorithm::Brotli},
      {"gzip, deflate, br, zstd", gzip_first, Algorithm::Gzip},
      {"gzip, deflate, br", kDefaultOrder, Algorithm::Brotli},
      {"gzip, deflate", kDefaultOrder, Algorithm::Gzip},
      {"br;q=0.5, gzip;q=0.9", kDefaultOrder, Algorithm::Gzip},
      {"br;q=0.9, gzip;q=0.9, zstd;q=0.9", gzip_first, Algorithm::Gzip},
      {"br, zstd", gzip_only, Algorithm::None},
      {"*", kDefaultOrder, Algorithm::Brotli},
      {"*", gzip_first, Algorithm::Gzip},
      {"*;q=0.5, br;q=0", kDefaultOrder, Algorithm::Zstd},
      {"*;q=0", kDefaultOrder, Algorithm::None},
      {"identity;q=0", kDefaultOrder, Algorithm::None},
      {"identity;q=0, gzip", kDefaultOrder, Algorithm::Gzip},
      {"gzip;q=0", kDefaultOrder, Algorithm::None},
      {"GZip;Q=0", kDefaultOrder, Algorithm::None},
      {"gzip;q=0.001", kDefaultOrder, Algorithm::Gzip},   // implicit identity does not beat it
      {"gzip;q=0.5, identity", kDefaultOrder, Algorithm::None},  // identity q=1 > 0.5
      {"gzip, identity", kDefaultOrder, Algorithm::Gzip},        // tie: compress
      {"*;q=0.8, gzip;q=0.2", kDefaultOrder, Algorithm::Brotli},
      {"gzip;q=nope, br", kDefaultOrder, Algorithm::Brotli},
      {"gzip;q=nope", kDefaultOrder, Algorithm::None},
      {"", kDefaultOrder, Algorithm::None},
      {"deflate", kDefaultOrder, Algorithm::None},
      {"x-gzip", kDefaultOrder, Algorithm::Gzip},
      {"BR", kDefaultOrder, Algorithm::Brotli},
      {"Zstd", kDefaultOrder, Algorithm::Zstd},
  };
  for (const Row& r : rows) {
    CAPTURE(r.field);
    CHECK(choose(r.field, r.order) == r.expected);
  }
}

TEST_CASE("algorithm tokens") {
  CHECK(encodingToken(Algorithm::Gzip) == "gzip");
  CHECK(encodingToken(Algorithm::Brotli) == "br");
  CHECK(encodingToken(Algorithm::Zstd) == "zstd");
  CHECK(algorithmFromToken("BR") == Algorithm::Brotli);
  CHECK(algorithmFromToken("gzip") == Algorithm::Gzip);
  CHECK(algorithmFromToken("zstd") == Algorithm::Zstd);
  CHECK_FALSE(algorithmFromToken("deflate").has_value());
}

}  // namespace
}  // namespace edged::compress
