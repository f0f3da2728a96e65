// tests/unit/proxy/metrics/exposition_writer_test.cpp — text format 0.0.4 spelling: escaping,
// family headers, numbers, histogram series.
#include <doctest.h>

#include <array>
#include <cmath>
#include <string>

#include "proxy/metrics/exposition_writer.h"
#include "proxy/metrics/histogram_buckets.h"
#include "tests/unit/proxy/metrics/exposition_parser.h"

namespace edged::metrics {
namespace {

std::string labelValue(std::string_view v) {
  std::string out;
  ExpositionWriter::appendLabelValue(out, v);
  return out;
}

std::string help(std::string_view v) {
  std::string out;
  ExpositionWriter::appendHelp(out, v);
  return out;
}

std::string number(double v) {
  std::string out;
  ExpositionWriter::appendDouble(out, v);
  return out;
}

TEST_SUITE("metrics/exposition_writer") {
  TEST_CASE("label values escape backslash, double quote and newline, nothing else") {
    CHECK(labelValue("plain /api/") == "plain /api/");
    CHECK(labelValue(R"(a\b)") == R"(a\\b)");
    CHECK(labelValue(R"(say "hi")") == R"(say \"hi\")");
    CHECK(labelValue("two\nlines") == R"(two\nlines)");
    CHECK(labelValue("\\\"\n") == R"(\\\"\n)");
    CHECK(labelValue("tab\there") == "tab\there");
    CHECK(labelValue("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 passes through
    CHECK(labelValue("") == "");
  }

  TEST_CASE("HELP escapes backslash and newline but leaves quotes") {
    CHECK(help(R"(C:\path)") == R"(C:\\path)");
    CHECK(help("first\nsecond") == R"(first\nsecond)");
    CHECK(help(R"(the "quoted" word)") == R"(the "quoted" word)");
  }

  TEST_CASE("family writes HELP then TYPE") {
    std::string out;
    ExpositionWriter w(out);
    w.family("edged_x_total", "Things.\nMore", MetricType::Counter);
    w.family("edged_g", "G", MetricType::Gauge);
    w.family("edged_h_seconds", "H", MetricType::Histogram);
    CHECK(out ==
          "# HELP edged_x_total Things.\\nMore\n# TYPE edged_x_total counter\n"
          "# HELP edged_g G\n# TYPE edged_g gauge\n"
          "# HELP edged_h_seconds H\n# TYPE edged_h_seconds histogram\n");
  }

  TEST_CASE("samples: braces only with labels, labels in order, values spelt exactly") {
    std::string out;
    ExpositionWriter w(out);
    w.sample("a", {}, uint64_t{0});
    w.sample("b", {{"route", "/x\"y"}, {"code_class", "2xx"}}, uint64_t{18446744073709551615u});
    w.sample("c", {{"k", "v"}}, int64_t{-3});
    w.sample("d", {}, 0.25);
    CHECK(out ==
          "a 0\n"
          "b{route=\"/x\\\"y\",code_class=\"2xx\"} 18446744073709551615\n"
          "c{k=\"v\"} -3\n"
          "d 0.25\n");
  }

  TEST_CASE("doubles: shortest round trip, special values as Prometheus spells them") {
    CHECK(number(0) == "0");
    CHECK(number(1.5) == "1.5");
    CHECK(number(0.001) == "0.001");
    CHECK(number(0.0004) == "0.0004");
    CHECK(number(-2.5) == "-2.5");
    CHECK(number(1712345678.25) == "1712345678.25");
    CHECK(number(0.1 + 0.2) == "0.30000000000000004");
    CHECK(number(1e-7) == "1e-07");
    CHECK(number(1e21) == "1e+21");
    CHECK(std::stod(number(1.2345e-9)) == 1.2345e-9);
    CHECK(number(INFINITY) == "+Inf");
    CHECK(number(-INFINITY) == "-Inf");
    CHECK(number(NAN) == "NaN");
  }

  TEST_CASE("histogram: cumulative buckets, +Inf equals _count, _sum in seconds") {
    std::array<uint64_t, kBucketCount> buckets{};
    buckets[0] = 2;   // <= 1 ms
    buckets[3] = 1;   // <= 10 ms
    buckets[14] = 4;  // > 30 s
    std::string out;
    ExpositionWriter w(out);
    w.family("edged_t_seconds", "T", MetricType::Histogram);
    w.histogram("edged_t_seconds", {{"route", "/"}}, buckets.data(), 3'500'000'000);

    const auto e = test::parseExposition(out);
    REQUIRE(e.error == "");
    const test::Family* f = e.family("edged_t_seconds");
    REQUIRE(f != nullptr);
    CHECK(f->samples.size() == kBucketCount + 2);
    const std::array<double, kBucketCount> expected = {2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 7};
    for (size_t i = 0; i < kBucketCount; ++i) {
      CAPTURE(i);
      CHECK(e.value("edged_t_seconds", "edged_t_seconds_bucket",
                    {{"route", "/"}, {"le", std::string(kBucketLabels[i])}}) == expected[i]);
    }
    CHECK(e.value("edged_t_seconds", "edged_t_seconds_count", {{"route", "/"}}) == 7);
    CHECK(e.value("edged_t_seconds", "edged_t_seconds_sum", {{"route", "/"}}) == 3.5);
    // The le label comes after the family's own labels.
    CHECK(out.find("edged_t_seconds_bucket{route=\"/\",le=\"0.001\"} 2\n") != std::string::npos);
    CHECK(out.find("edged_t_seconds_bucket{route=\"/\",le=\"+Inf\"} 7\n") != std::string::npos);
  }

  TEST_CASE("histogram without labels has only le in braces; the sum keeps nanoseconds") {
    std::array<uint64_t, kBucketCount> buckets{};
    buckets[5] = 1;
    std::string out;
    ExpositionWriter w(out);
    w.histogram("h", {}, buckets.data(), 40'000'001);
    CHECK(out.find("h_bucket{le=\"0.05\"} 1\n") != std::string::npos);
    CHECK(out.find("h_sum 0.040000001\n") != std::string::npos);
    CHECK(out.find("h_count 1\n") != std::string::npos);
  }

  TEST_CASE("the test parser rejects what the format forbids") {
    CHECK(test::parseExposition("x 1\n").error != "");                     // no HELP/TYPE
    CHECK(test::parseExposition("# HELP x h\n# TYPE x gauge\nx{a=\"\"\"} 1\n").error != "");
    CHECK(test::parseExposition("# HELP x h\n# TYPE x gauge\nx 1\nx 2\n").error != "");
    CHECK(test::parseExposition("# HELP x h\n# TYPE x gauge\nx one\n").error != "");
    CHECK(test::parseExposition("# HELP x h\n# TYPE x gauge\nx{a=\"\\t\"} 1\n").error != "");
    CHECK(test::parseExposition("# HELP x h\n# TYPE x gauge\nx{a=\"\\\\\\\"\\n\"} 1\n").error ==
          "");
  }
}

}  // namespace
}  // namespace edged::metrics
