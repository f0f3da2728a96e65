// tools/backend/http_connection.h — one HTTP/1.1 client connection of the backend, built from
// edged's own pieces: llhttp (strict) filling a proxy ParsedHead, responses queued on a proxy
// WriteQueue, reads into the worker's BufferPool. One request at a time (pipelined requests wait
// their turn), keep-alive, bounded head and body, and a chunked streaming mode with a drain
// callback for backpressure. These edged includes are the only ones in the backend besides
// main: when proxy/ splits into proxy/http and proxy/net only this file and its .cpp change.
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "proxy/http/http.h"
#include "proxy/net/net.h"

namespace edged::backend {

class HttpConnection;
using HttpConnectionPtr = std::shared_ptr<HttpConnection>;

struct HttpLimits {
  size_t max_head_bytes = 16 * 1024;
  size_t max_body_bytes = 4 * 1024 * 1024;
  uint64_t idle_timeout_ms = 60000;
};

// What the connections of one worker share: the loop, buffers, the request handler, and the set
// of open connections (which owns them until their handle is closed).
struct HttpServerContext {
  uv_loop_t* loop = nullptr;
  net::BufferPool buffers{16};
  HttpLimits limits;
  std::function<void(const HttpConnectionPtr&)> handler;
  std::function<void(int status)> on_response;  // for metrics
  std::unordered_set<HttpConnectionPtr> open;
  size_t in_flight = 0;
  bool draining = false;
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  // Accepts one pending connection of `listener` into `ctx`.
  static void accept(net::Listener& listener, HttpServerContext& ctx);
  explicit HttpConnection(HttpServerContext& ctx);
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // ---- the current request (valid from the handler call until the response is complete)
  llhttp_method_t method() const { return method_; }
  std::string_view path() const { return path_; }
  std::string_view query() const { return query_; }
  const std::string& body() const { return body_; }
  // First value of a header, case-insensitively, or empty.
  std::string_view header(std::string_view name) const { return head_.find(name); }

  // ---- the response: exactly one respond(), or beginStream() ... endStream()
  // `extra_headers` are complete "Name: value\r\n" lines.
  void respond(int status, std::string_view content_type, std::string_view extra_headers, std::string_view body);
  void respondJsonError(int status, std::string_view message, std::string_view extra_headers = {});
  void beginStream(int status, std::string_view content_type, std::string_view extra_headers);
  void streamWrite(std::string_view bytes);  // one chunk (nothing for empty bytes)
  void endStream();
  size_t queuedBytes() const { return writes_.queuedBytes(); }
  // Called once after a write completes with no more than `low_water` bytes queued.
  void onDrain(size_t low_water, std::function<void()> fn) { drain_low_ = low_water, drain_ = std::move(fn); }

  bool closed() const { return closed_; }
  bool busy() const { return in_request_ || !writes_.idle(); }
  void close();
  uint64_t lastActiveMs() const { return last_active_ms_; }

  // net::TransportHandler
  void onTransportAlloc(uv_buf_t* room);
  void onTransportRead(ssize_t nread, const uv_buf_t* got);
  void onTransportClosed();

 private:
  static void onWritten(void* owner, int status);
  static int onUrl(llhttp_t* p, const char* at, size_t n);
  static int onHeaderField(llhttp_t* p, const char* at, size_t n);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t n);
  static int onHeaderValueComplete(llhttp_t* p);
  static int onHeadersComplete(llhttp_t* p);
  static int onBody(llhttp_t* p, const char* at, size_t n);
  static int onMessageComplete(llhttp_t* p);
  void parsePending();
  void finishResponse();
  void rejectAndClose(int status);
  void appendHead(int status, std::string_view content_type, std::string_view extra, const char* framing);

  HttpServerContext& ctx_;
  net::Transport transport_;
  llhttp_t parser_{};
  llhttp_settings_t settings_{};
  proxy::ParsedHead head_;
  net::WriteQueue writes_;
  net::IoBuf* reading_ = nullptr;
  std::string pending_;  // received bytes not parsed yet
  std::string body_;
  std::string target_;
  std::string_view path_, query_;
  llhttp_method_t method_ = HTTP_GET;
  bool keep_alive_ = true;
  bool in_request_ = false;
  bool parsing_ = false;
  bool streaming_ = false;
  bool close_after_write_ = false;
  bool closed_ = false;
  int reject_status_ = 0;
  size_t drain_low_ = 0;
  std::function<void()> drain_;
  uint64_t last_active_ms_ = 0;
};

}  // namespace edged::backend
