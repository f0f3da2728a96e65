// proxy/metrics/process_stats.h — the standard process_* values of the running process, read
// from /proc and getrlimit at scrape time (the names client libraries use, so stock dashboards
// and alerts work unchanged).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace edged::metrics {

struct ProcessStats {
  std::optional<double> cpu_seconds;          // utime + stime, /proc/self/stat
  std::optional<uint64_t> resident_bytes;     // /proc/self/statm resident pages * page size
  std::optional<uint64_t> virtual_bytes;      // /proc/self/statm size pages * page size
  std::optional<uint64_t> open_fds;           // entries of /proc/self/fd
  std::optional<uint64_t> max_fds;            // RLIMIT_NOFILE soft limit
  std::optional<double> start_time_seconds;   // btime (/proc/stat) + starttime / CLK_TCK
};

// Each field is nullopt when its source could not be read; never throws.
ProcessStats readProcessStats();

// Parsing pieces, apart from the file reading so tests can feed them text.
struct StatFields {
  uint64_t utime_ticks = 0, stime_ticks = 0, starttime_ticks = 0;
};
// /proc/<pid>/stat: fields after the command name, which is in parentheses and may itself hold
// spaces and ')' — so parsing starts after the last ')'.
std::optional<StatFields> parseProcStat(std::string_view text);
// The "btime <seconds>" line of /proc/stat.
std::optional<uint64_t> parseBootTime(std::string_view text);

}  // namespace edged::metrics
