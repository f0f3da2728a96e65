// proxy/log.h — the error log: nginx-style "YYYY/MM/DD HH:MM:SS [level] message" lines on stderr.
// Per-request failures the proxy handles (refused origins, timeouts, bad requests) are `warn`;
// `error` and above mean edged itself could not do its job.
#pragma once

#include <cstdarg>

#include "conf/config.h"

namespace edged::proxy {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3, Alert = 4 };

void setLogLevel(conf::LogLevel level);
bool logEnabled(Level level);
void logf(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define EDGED_LOG(level, ...)                                              \
  do {                                                                     \
    if (::edged::proxy::logEnabled(level)) ::edged::proxy::logf(level, __VA_ARGS__); \
  } while (0)
#define LOG_DEBUG(...) EDGED_LOG(::edged::proxy::Level::Debug, __VA_ARGS__)
#define LOG_INFO(...) EDGED_LOG(::edged::proxy::Level::Info, __VA_ARGS__)
#define LOG_WARN(...) EDGED_LOG(::edged::proxy::Level::Warn, __VA_ARGS__)
#define LOG_ERROR(...) EDGED_LOG(::edged::proxy::Level::Error, __VA_ARGS__)
#define LOG_ALERT(...) EDGED_LOG(::edged::proxy::Level::Alert, __VA_ARGS__)

}  // namespace edged::proxy
