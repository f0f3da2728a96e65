#include "proxy/metrics/process_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <string>

namespace edged::metrics {

namespace {

// Reads a small /proc file whole. /proc files report size 0, so read until EOF.
std::optional<std::string> readFile(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// Next whitespace-separated token of `text` from `pos`, moving `pos` past it.
std::string_view nextToken(std::string_view text, size_t& pos) {
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\t')) ++pos;
  const size_t begin = pos;
  while (pos < text.size() && text[pos] != ' ' && text[pos] != '\n' && text[pos] != '\t') ++pos;
  return text.substr(begin, pos - begin);
}

std::optional<uint64_t> toU64(std::string_view s) {
  uint64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<StatFields> parseProcStat(std::string_view text) {
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // After ")" comes field 3 (state). utime, stime are fields 14, 15; starttime is field 22.
  size_t pos = close + 1;
  StatFields f;
  for (int field = 3; field <= 22; ++field) {
    const std::string_view tok = nextToken(text, pos);
    if (tok.empty()) return std::nullopt;
    uint64_t* target = field == 14   ? &f.utime_ticks
                       : field == 15 ? &f.stime_ticks
                       : field == 22 ? &f.starttime_ticks
                                     : nullptr;
    if (target) {
      const auto v = toU64(tok);
      if (!v) return std::nullopt;
      *target = *v;
    }
  }
  return f;
}

std::optional<uint64_t> parseBootTime(std::string_view text) {
  size_t line = 0;
  while (line < text.size()) {
    size_t end = text.find('\n', line);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view l = text.substr(line, end - line);
    if (l.starts_with("btime ")) {
      size_t pos = 6;
      return toU64(nextToken(l, pos));
    }
    line = end + 1;
  }
  return std::nullopt;
}

ProcessStats readProcessStats() {
  ProcessStats s;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);

  if (const auto stat = readFile("/proc/self/stat")) {
    if (const auto f = parseProcStat(*stat); f && ticks > 0) {
      s.cpu_seconds = static_cast<double>(f->utime_ticks + f->stime_ticks) / ticks;
      if (const auto proc_stat = readFile("/proc/stat")) {
        if (const auto btime = parseBootTime(*proc_stat)) {
          s.start_time_seconds =
              static_cast<double>(*btime) + static_cast<double>(f->starttime_ticks) / ticks;
        }
      }
    }
  }

  if (const auto statm = readFile("/proc/self/statm"); statm && page > 0) {
    size_t pos = 0;
    const auto size = toU64(nextToken(*statm, pos));
    const auto resident = toU64(nextToken(*statm, pos));
    if (size) s.virtual_bytes = *size * static_cast<uint64_t>(page);
    if (resident) s.resident_bytes = *resident * static_cast<uint64_t>(page);
  }

  if (DIR* dir = ::opendir("/proc/self/fd")) {
    // The directory stream holds a descriptor of its own while we count; leave it out.
    const int own = ::dirfd(dir);
    uint64_t n = 0;
    while (const dirent* e = ::readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      int fd = -1;
      const std::string_view name(e->d_name);
      std::from_chars(name.data(), name.data() + name.size(), fd);
      if (fd != own) ++n;
    }
    ::closedir(dir);
    s.open_fds = n;
  }

  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    // RLIM_INFINITY does not fit a count; report it as the largest value a double keeps exactly.
    s.max_fds = rl.rlim_cur == RLIM_INFINITY ? (uint64_t{1} << 53) : rl.rlim_cur;
  }
  return s;
}

}  // namespace edged::metrics
