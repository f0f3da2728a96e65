// proxy/access_log.h — one line per request, nginx's combined format plus upstream fields,
// buffered per worker and written in batches (at 32 KiB, every second, and on exit).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace edged::proxy {

struct AccessRecord {
  std::string_view client_ip;
  std::string_view method;
  std::string_view target;
  int http_major = 1, http_minor = 1;
  int status = 0;
  uint64_t body_bytes_sent = 0;
  std::string_view referer;
  std::string_view user_agent;
  std::string_view upstream;       // empty: "-"
  double upstream_seconds = -1;    // < 0: "-"
  double request_seconds = 0;
  std::string_view termination;    // cause when the exchange did not end normally, else empty
};

class AccessLog {
 public:
  explicit AccessLog(int fd) : fd_(fd) { buf_.reserve(kFlushAt + 4096); }
  ~AccessLog() { flush(); }
  bool enabled() const { return fd_ >= 0; }
  void write(const AccessRecord& r);
  void flush();

 private:
  static constexpr size_t kFlushAt = 32 * 1024;
  int fd_;
  std::string buf_;
  time_t cached_second_ = 0;
  char cached_time_[40] = {};
};

}  // namespace edged::proxy
