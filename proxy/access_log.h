// proxy/access_log.h — one line per request, in nginx's combined format plus upstream fields or
// as one JSON object per line. Each worker formats into its own buffer and hands full buffers
// (at 32 KiB, every second, and on exit) to the process's AccessLogSink, whose writer thread
// does the write(2): a slow disk or a full pipe never blocks a worker's loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "conf/config.h"

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
  std::string_view request_id;     // empty: unknown (json: null; not in the combined format)
  std::string_view phase;          // phase the exchange ended in when abnormal, else empty
  // TLS toward the client (all empty for plain HTTP): version, cipher, SNI name.
  std::string_view tls_version;
  std::string_view tls_cipher;
  std::string_view tls_server_name;
  std::string_view tls_client_subject;  // mutual TLS: the verified client certificate's subject
  // The cache filter's state for the exchange (nginx $upstream_cache_status: HIT, MISS, STALE,
  // UPDATING, REVALIDATED, EXPIRED, COLLAPSED, BYPASS) and its detail; empty: no cache on the route.
  std::string_view cache;
  std::string_view cache_detail;
  bool background = false;         // edged's own background exchange (a cache refresh), no client
};

// The process's access log output: the fd, and one writer thread that drains a bounded queue
// of buffers. Thread-safe: workers submit(), the main loop requestReopen(), stop() once.
class AccessLogSink {
 public:
  static constexpr size_t kMaxPending = 8 * 1024 * 1024;  // beyond this, lines are dropped

  // fd: where lines go (the sink closes it at the end when > 2 and owns_fd). path: the file to
  // open again on requestReopen(); empty for stdout/stderr/pipes (reopen does nothing).
  AccessLogSink(int fd, std::string path, bool owns_fd);
  ~AccessLogSink();  // stop()
  AccessLogSink(const AccessLogSink&) = delete;
  AccessLogSink& operator=(const AccessLogSink&) = delete;

  // Queues buf's lines and leaves buf empty (its storage may be swapped for a recycled one).
  // Never blocks on I/O: only a short lock. If kMaxPending bytes are already waiting, buf's
  // lines are dropped and counted.
  void submit(std::string& buf);
  // Asks the writer thread to open the path again (logrotate's SIGUSR1 convention) before its
  // next write. Returns false when there is no file path to reopen.
  bool requestReopen();
  // Writes everything queued, then ends and joins the writer thread. Idempotent.
  void stop();

  const std::string& path() const { return path_; }
  uint64_t droppedLines() const { return dropped_lines_.load(std::memory_order_relaxed); }
  uint64_t reopens() const { return reopens_.load(std::memory_order_relaxed); }

 private:
  void run();
  void reopen();
  void writeAll(const std::string& s);

  int fd_;
  std::string path_;
  bool owns_fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> queue_;  // guarded by mu_
  std::vector<std::string> free_;   // recycled buffers, guarded by mu_
  size_t pending_bytes_ = 0;        // queued + being written, guarded by mu_
  bool stopping_ = false;           // guarded by mu_
  bool reopen_ = false;             // guarded by mu_
  bool writer_done_ = false;        // the writer thread has left its loop, guarded by mu_
  std::atomic<uint64_t> dropped_lines_{0};
  std::atomic<uint64_t> reopens_{0};
  uint64_t dropped_reported_ = 0;   // writer thread only
  std::thread thread_;
};

// A worker's access log: formats records into its buffer; flush() hands it to the sink.
// Single-threaded (the worker's).
class AccessLog {
 public:
  AccessLog(AccessLogSink* sink, conf::AccessLogFormat format);  // sink null: off
  ~AccessLog() { flush(); }
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  bool enabled() const { return sink_ != nullptr; }
  void write(const AccessRecord& r);
  void flush();

  // Formatting, exposed for tests. now: wall clock time of the line.
  void format(const AccessRecord& r, const timespec& now, std::string& out);
  // A JSON string literal (with quotes) per RFC 8259: '"', '\\' and control characters escaped,
  // valid UTF-8 kept, any byte that is not part of valid UTF-8 written as \u00XX.
  static void appendJsonString(std::string& out, std::string_view v);

 private:
  static constexpr size_t kFlushAt = 32 * 1024;
  void formatCombined(const AccessRecord& r, const timespec& now, std::string& out);
  void formatJson(const AccessRecord& r, const timespec& now, std::string& out);
  void updateTime(time_t sec);

  AccessLogSink* sink_;
  conf::AccessLogFormat format_;
  std::string buf_;
  time_t cached_second_ = -1;
  char cached_clf_[40] = {};   // 10/Oct/2000:13:55:36 -0700
  char cached_iso_[32] = {};   // 2000-10-10T13:55:36 (ms and offset appended per line)
  char cached_off_[8] = {};    // -07:00
};

}  // namespace edged::proxy
