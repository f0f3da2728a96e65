// proxy/access_log.cpp — formatting without streams or per-line allocation.
#include "proxy/access_log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace edged::proxy {

namespace {
void appendQuoted(std::string& out, std::string_view v) {
  out.push_back('"');
  if (v.empty()) out.push_back('-');
  for (char c : v) {
    // nginx escapes '"', '\' and non-printable bytes as \xHH.
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      char esc[5];
      snprintf(esc, sizeof esc, "\\x%02X", static_cast<unsigned char>(c));
      out.append(esc, 4);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}
}  // namespace

void AccessLog::write(const AccessRecord& r) {
  if (fd_ < 0) return;
  time_t now = time(nullptr);
  if (now != cached_second_) {
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(cached_time_, sizeof cached_time_, "%d/%b/%Y:%H:%M:%S %z", &tm);
    cached_second_ = now;
  }
  char num[96];
  buf_.append(r.client_ip).append(" - - [").append(cached_time_).append("] \"");
  buf_.append(r.method).push_back(' ');
  for (char c : r.target) buf_.push_back(c == '"' ? '\'' : c);
  snprintf(num, sizeof num, " HTTP/%d.%d\" %d %llu ", r.http_major, r.http_minor, r.status,
           static_cast<unsigned long long>(r.body_bytes_sent));
  buf_.append(num);
  appendQuoted(buf_, r.referer);
  buf_.push_back(' ');
  appendQuoted(buf_, r.user_agent);
  buf_.append(" upstream=").append(r.upstream.empty() ? std::string_view("-") : r.upstream);
  if (r.upstream_seconds >= 0)
    snprintf(num, sizeof num, " upstream_time=%.3f request_time=%.3f", r.upstream_seconds, r.request_seconds);
  else
    snprintf(num, sizeof num, " upstream_time=- request_time=%.3f", r.request_seconds);
  buf_.append(num);
  if (!r.termination.empty()) buf_.append(" termination=").append(r.termination);
  buf_.push_back('\n');
  if (buf_.size() >= kFlushAt) flush();
}

void AccessLog::flush() {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a full disk must not stop the proxy; the lines are dropped
    off += static_cast<size_t>(n);
  }
  buf_.clear();
}

}  // namespace edged::proxy
