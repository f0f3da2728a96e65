// proxy/access_log.cpp — formatting without streams or per-line allocation, and the writer
// thread that does the blocking write(2) off the workers' loops.
#include "proxy/access_log.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "proxy/log.h"

namespace edged::proxy {

namespace {
// Number formatting without printf: this runs once per request on the worker's loop.
void appendUint(std::string& out, uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  out.append(p, static_cast<size_t>(buf + sizeof buf - p));
}

// Seconds with a fixed number of decimals (3 or 6), from a non-negative double.
void appendSeconds(std::string& out, double seconds, int decimals) {
  const uint64_t scale = decimals == 3 ? 1000 : 1000000;
  const uint64_t units = static_cast<uint64_t>((seconds < 0 ? 0 : seconds) * static_cast<double>(scale) + 0.5);
  appendUint(out, units / scale);
  out.push_back('.');
  char frac[6];
  uint64_t f = units % scale;
  for (int i = decimals - 1; i >= 0; --i) {
    frac[i] = static_cast<char>('0' + f % 10);
    f /= 10;
  }
  out.append(frac, static_cast<size_t>(decimals));
}

void appendVersion(std::string& out, int major, int minor) {
  out.append("HTTP/");
  out.push_back(static_cast<char>('0' + major % 10));
  out.push_back('.');
  out.push_back(static_cast<char>('0' + minor % 10));
}


constexpr size_t kMaxFreeBuffers = 32;
constexpr size_t kMaxRecycledCapacity = 256 * 1024;

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

void appendEscapedByte(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
  out.append(esc, 6);
}

// Length of the valid UTF-8 sequence starting at s[i] (2..4), or 0 when it is not one
// (overlong forms, surrogates and code points above U+10FFFF are not valid).
size_t utf8Sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return len;
}

void appendJsonOrNull(std::string& out, std::string_view v) {
  if (v.empty()) out.append("null");
  else AccessLog::appendJsonString(out, v);
}

size_t countLines(std::string_view s) {
  const size_t n = static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  return n ? n : (s.empty() ? 0 : 1);
}

}  // namespace

// ---- the sink ----------------------------------------------------------------------------

AccessLogSink::AccessLogSink(int fd, std::string path, bool owns_fd)
    : fd_(fd), path_(std::move(path)), owns_fd_(owns_fd) {
  thread_ = std::thread([this] { run(); });
}

AccessLogSink::~AccessLogSink() {
  stop();
  if (owns_fd_ && fd_ > STDERR_FILENO) ::close(fd_);
}

void AccessLogSink::submit(std::string& buf) {
  if (buf.empty()) return;
  std::unique_lock lk(mu_);
  if (writer_done_) {
    // The writer is gone (a late flush after stop()): write here rather than lose the lines.
    lk.unlock();
    writeAll(buf);
    buf.clear();
    return;
  }
  if (pending_bytes_ + buf.size() > kMaxPending) {
    lk.unlock();
    dropped_lines_.fetch_add(countLines(buf), std::memory_order_relaxed);
    buf.clear();
    return;
  }
  pending_bytes_ += buf.size();
  queue_.push_back(std::move(buf));
  if (!free_.empty()) {
    buf = std::move(free_.back());
    free_.pop_back();
  } else {
    buf = std::string();
  }
  lk.unlock();
  cv_.notify_one();
}

bool AccessLogSink::requestReopen() {
  if (path_.empty()) return false;
  {
    std::lock_guard lk(mu_);
    reopen_ = true;
  }
  cv_.notify_one();
  return true;
}

void AccessLogSink::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void AccessLogSink::run() {
  std::vector<std::string> batch;
  auto last_warn = std::chrono::steady_clock::now() - std::chrono::seconds(2);
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait_for(lk, std::chrono::seconds(1), [this] { return !queue_.empty() || stopping_ || reopen_; });
    const bool do_reopen = reopen_;
    reopen_ = false;
    const bool stop = stopping_;
    batch.swap(queue_);
    lk.unlock();

    if (do_reopen) reopen();
    size_t bytes = 0;
    for (const std::string& s : batch) {
      writeAll(s);
      bytes += s.size();
    }
    const uint64_t dropped = dropped_lines_.load(std::memory_order_relaxed);
    const auto now = std::chrono::steady_clock::now();
    if (dropped != dropped_reported_ && (stop || now - last_warn >= std::chrono::seconds(1))) {
      LOG_WARN("access log: %llu line(s) dropped (%s)", static_cast<unsigned long long>(dropped - dropped_reported_),
               "the writer could not keep up or the write failed");
      dropped_reported_ = dropped;
      last_warn = now;
    }

    lk.lock();
    pending_bytes_ -= bytes;
    for (std::string& s : batch) {
      if (free_.size() >= kMaxFreeBuffers || s.capacity() > kMaxRecycledCapacity) continue;
      s.clear();
      free_.push_back(std::move(s));
    }
    batch.clear();
    if (stop && queue_.empty()) {
      writer_done_ = true;  // later submits write themselves
      break;
    }
  }
}

void AccessLogSink::reopen() {
  const int nfd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (nfd < 0) {
    LOG_ERROR("SIGUSR1: cannot reopen access log %s: %s", path_.c_str(), strerror(errno));
    return;
  }
  // Keep the fd number: nothing else needs to learn a new one.
  if (nfd != fd_ && ::dup3(nfd, fd_, O_CLOEXEC) < 0) {
    LOG_ERROR("SIGUSR1: cannot reopen access log %s: dup3: %s", path_.c_str(), strerror(errno));
    ::close(nfd);
    return;
  }
  if (nfd != fd_) ::close(nfd);
  reopens_.fetch_add(1, std::memory_order_relaxed);
  LOG_INFO("SIGUSR1: reopened access log %s", path_.c_str());
}

void AccessLogSink::writeAll(const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd_, s.data() + off, s.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {  // an inherited non-blocking pipe
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    // A full disk must not stop the proxy: the rest is dropped (and counted).
    dropped_lines_.fetch_add(countLines(std::string_view(s).substr(off)), std::memory_order_relaxed);
    return;
  }
}

// ---- the worker's log --------------------------------------------------------------------

AccessLog::AccessLog(AccessLogSink* sink, conf::AccessLogFormat format) : sink_(sink), format_(format) {
  if (sink_) buf_.reserve(kFlushAt + 4096);
}

void AccessLog::write(const AccessRecord& r) {
  if (!sink_) return;
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  format(r, now, buf_);
  if (buf_.size() >= kFlushAt) flush();
}

void AccessLog::flush() {
  if (!sink_ || buf_.empty()) return;
  sink_->submit(buf_);
  if (buf_.capacity() < kFlushAt) buf_.reserve(kFlushAt + 4096);
}

void AccessLog::updateTime(time_t sec) {
  if (sec == cached_second_) return;
  struct tm tm;
  localtime_r(&sec, &tm);
  strftime(cached_clf_, sizeof cached_clf_, "%d/%b/%Y:%H:%M:%S %z", &tm);
  strftime(cached_iso_, sizeof cached_iso_, "%Y-%m-%dT%H:%M:%S", &tm);
  const long off = tm.tm_gmtoff;
  const long a = off < 0 ? -off : off;
  snprintf(cached_off_, sizeof cached_off_, "%c%02ld:%02ld", off < 0 ? '-' : '+', (a / 3600) % 100, (a / 60) % 60);
  cached_second_ = sec;
}

void AccessLog::format(const AccessRecord& r, const timespec& now, std::string& out) {
  updateTime(now.tv_sec);
  if (format_ == conf::AccessLogFormat::Json) formatJson(r, now, out);
  else formatCombined(r, now, out);
}

void AccessLog::formatCombined(const AccessRecord& r, const timespec&, std::string& out) {
  out.append(r.client_ip.empty() ? std::string_view("-") : r.client_ip).append(" - - [").append(cached_clf_).append("] \"");
  out.append(r.method).push_back(' ');
  for (char c : r.target) out.push_back(c == '"' ? '\'' : c);
  out.push_back(' ');
  appendVersion(out, r.http_major, r.http_minor);
  out.append("\" ");
  appendUint(out, static_cast<uint64_t>(r.status));
  out.push_back(' ');
  appendUint(out, r.body_bytes_sent);
  out.push_back(' ');
  appendQuoted(out, r.referer);
  out.push_back(' ');
  appendQuoted(out, r.user_agent);
  out.append(" upstream=").append(r.upstream.empty() ? std::string_view("-") : r.upstream);
  out.append(" upstream_time=");
  if (r.upstream_seconds >= 0)
    appendSeconds(out, r.upstream_seconds, 3);
  else
    out.push_back('-');
  out.append(" request_time=");
  appendSeconds(out, r.request_seconds, 3);
  if (!r.termination.empty()) out.append(" termination=").append(r.termination);
  if (!r.cache.empty()) {
    out.append(" cache=").append(r.cache);
    if (!r.cache_detail.empty()) out.append(" cache_detail=").append(r.cache_detail);
  }
  if (r.background) out.append(" background=1");
  if (!r.tls_version.empty()) {
    out.append(" tls=").append(r.tls_version).append(" cipher=").append(r.tls_cipher).append(" sni=");
    appendQuoted(out, r.tls_server_name);
    if (!r.tls_client_subject.empty()) {
      out.append(" client_cert=");
      appendQuoted(out, r.tls_client_subject);
    }
  }
  out.push_back('\n');
}

void AccessLog::formatJson(const AccessRecord& r, const timespec& now, std::string& out) {
  const long ms = now.tv_nsec / 1000000;
  out.append("{\"time\":\"").append(cached_iso_).push_back('.');
  out.push_back(static_cast<char>('0' + ms / 100));
  out.push_back(static_cast<char>('0' + ms / 10 % 10));
  out.push_back(static_cast<char>('0' + ms % 10));
  out.append(cached_off_).append("\",\"client\":");
  appendJsonOrNull(out, r.client_ip);
  out.append(",\"method\":");
  appendJsonOrNull(out, r.method);
  out.append(",\"path\":");
  appendJsonString(out, r.target);
  out.append(",\"protocol\":");
  if (r.http_major > 0) {
    out.push_back('"');
    appendVersion(out, r.http_major, r.http_minor);
    out.push_back('"');
  } else {
    out.append("null");
  }
  out.append(",\"status\":");
  appendUint(out, static_cast<uint64_t>(r.status));
  out.append(",\"bytes\":");
  appendUint(out, r.body_bytes_sent);
  out.append(",\"duration\":");
  appendSeconds(out, r.request_seconds, 6);
  out.append(",\"upstream\":");
  appendJsonOrNull(out, r.upstream);
  if (r.upstream_seconds >= 0) {
    out.append(",\"upstream_time\":");
    appendSeconds(out, r.upstream_seconds, 6);
  } else {
    out.append(",\"upstream_time\":null");
  }
  out.append(",\"termination\":");
  appendJsonOrNull(out, r.termination);
  out.append(",\"phase\":");
  appendJsonOrNull(out, r.phase);
  out.append(",\"request_id\":");
  appendJsonOrNull(out, r.request_id);
  out.append(",\"referer\":");
  appendJsonOrNull(out, r.referer);
  out.append(",\"user_agent\":");
  appendJsonOrNull(out, r.user_agent);
  if (!r.cache.empty()) {  // cached routes only: other lines keep their keys
    out.append(",\"cache\":");
    appendJsonString(out, r.cache);
    out.append(",\"cache_detail\":");
    appendJsonOrNull(out, r.cache_detail);
  }
  if (r.background) out.append(",\"background\":true");
  if (!r.tls_version.empty()) {  // TLS connections only: plain lines keep their keys
    out.append(",\"tls_version\":");
    appendJsonString(out, r.tls_version);
    out.append(",\"tls_cipher\":");
    appendJsonString(out, r.tls_cipher);
    out.append(",\"sni\":");
    appendJsonOrNull(out, r.tls_server_name);
    out.append(",\"client_cert\":");
    appendJsonOrNull(out, r.tls_client_subject);
  }
  out.append("}\n");
}

void AccessLog::appendJsonString(std::string& out, std::string_view v) {
  out.push_back('"');
  size_t i = 0;
  while (i < v.size()) {
    // The common case: a run of printable ASCII needing no escape goes in one append.
    size_t run = i;
    while (run < v.size()) {
      const unsigned char u = static_cast<unsigned char>(v[run]);
      if (u < 0x20 || u >= 0x7f || u == '"' || u == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(v.data() + i, run - i);
      i = run;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c < 0x20 || c == 0x7f) {
        appendEscapedByte(out, c);
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    if (const size_t len = utf8Sequence(v, i); len > 0) {
      out.append(v.data() + i, len);
      i += len;
    } else {
      appendEscapedByte(out, c);  // not UTF-8: the byte as the code point U+00XX
      ++i;
    }
  }
  out.push_back('"');
}

}  // namespace edged::proxy
