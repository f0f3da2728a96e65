// proxy/log.cpp — one write(2) per line so lines from different workers never interleave.
#include "proxy/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace edged::proxy {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
const char* const kNames[] = {"debug", "info", "warn", "error", "alert"};
}  // namespace

void setLogLevel(conf::LogLevel level) {
  Level l = Level::Info;
  switch (level) {
    case conf::LogLevel::Debug: l = Level::Debug; break;
    case conf::LogLevel::Info: l = Level::Info; break;
    case conf::LogLevel::Warn: l = Level::Warn; break;
    case conf::LogLevel::Error: l = Level::Error; break;
  }
  g_level.store(static_cast<int>(l), std::memory_order_relaxed);
}

bool logEnabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void logf(Level level, const char* fmt, ...) {
  char line[2048];
  time_t now = time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  size_t n = strftime(line, sizeof line, "%Y/%m/%d %H:%M:%S", &tm);
  n += static_cast<size_t>(snprintf(line + n, sizeof line - n, " [%s] ", kNames[static_cast<int>(level)]));
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  if (m > 0) n += std::min(static_cast<size_t>(m), sizeof line - n - 2);
  line[n++] = '\n';
  ssize_t rc = ::write(STDERR_FILENO, line, n);
  (void)rc;
}

}  // namespace edged::proxy
