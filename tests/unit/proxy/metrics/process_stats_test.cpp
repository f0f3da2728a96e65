// tests/unit/proxy/metrics/process_stats_test.cpp — /proc parsing and the live values.
#include <doctest.h>

#include <ctime>
#include <string>

#include "proxy/metrics/process_stats.h"

namespace edged::metrics {
namespace {

TEST_SUITE("metrics/process_stats") {
  TEST_CASE("parseProcStat reads utime, stime and starttime after the last ')'") {
    // A command name with spaces and parentheses, as prctl(PR_SET_NAME) allows.
    const std::string line =
        "1234 (we) ird (x) S 1 1234 1234 0 -1 4194560 500 0 0 0 "
        "250 75 0 0 20 0 3 0 987654 12345678 1024 18446744073709551615\n";
    const auto f = parseProcStat(line);
    REQUIRE(f.has_value());
    CHECK(f->utime_ticks == 250);
    CHECK(f->stime_ticks == 75);
    CHECK(f->starttime_ticks == 987654);
  }

  TEST_CASE("parseProcStat refuses truncated or malformed text") {
    CHECK(!parseProcStat("").has_value());
    CHECK(!parseProcStat("1234 cmd S 1").has_value());
    CHECK(!parseProcStat("1234 (cmd) S 1 2 3").has_value());
    CHECK(!parseProcStat("1 (c) S 1 1 1 0 -1 0 0 0 0 0 x 1 0 0 20 0 1 0 5").has_value());
  }

  TEST_CASE("parseBootTime finds the btime line") {
    CHECK(parseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n") == 1700000000u);
    CHECK(parseBootTime("btime 42") == 42u);
    CHECK(!parseBootTime("cpu 1\nbtimex 5\n").has_value());
  }

  TEST_CASE("readProcessStats gives plausible values for this process") {
    const ProcessStats s = readProcessStats();
    REQUIRE(s.cpu_seconds.has_value());
    CHECK(*s.cpu_seconds >= 0);
    REQUIRE(s.resident_bytes.has_value());
    CHECK(*s.resident_bytes > 0);
    REQUIRE(s.virtual_bytes.has_value());
    CHECK(*s.virtual_bytes >= *s.resident_bytes);
    REQUIRE(s.open_fds.has_value());
    CHECK(*s.open_fds >= 1);
    REQUIRE(s.max_fds.has_value());
    CHECK(*s.max_fds >= *s.open_fds);
    REQUIRE(s.start_time_seconds.has_value());
    const double now = static_cast<double>(std::time(nullptr));
    CHECK(*s.start_time_seconds <= now + 1);
    CHECK(*s.start_time_seconds > now - 24 * 3600);  // a unit test run started recently
  }
}

}  // namespace
}  // namespace edged::metrics
