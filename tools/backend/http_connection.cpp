// tools/backend/http_connection.cpp — parsing stops at each message end (HPE_PAUSED) and resumes
// when the response is complete, so handlers never see two requests of one connection at once.
#include "tools/backend/http_connection.h"

#include <cstdio>
#include <utility>

#include "proxy/http/http.h"

namespace edged::backend {

namespace {
HttpConnection* from(llhttp_t* p) { return static_cast<HttpConnection*>(p->data); }
}  // namespace

HttpConnection::HttpConnection(HttpServerContext& ctx) : ctx_(ctx), writes_(this, &HttpConnection::onWritten) {
  llhttp_settings_init(&settings_);
  settings_.on_url = onUrl;
  settings_.on_header_field = onHeaderField;
  settings_.on_header_value = onHeaderValue;
  settings_.on_header_value_complete = onHeaderValueComplete;
  settings_.on_headers_complete = onHeadersComplete;
  settings_.on_body = onBody;
  settings_.on_message_complete = onMessageComplete;
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

void HttpConnection::accept(net::Listener& listener, HttpServerContext& ctx) {
  auto conn = std::make_shared<HttpConnection>(ctx);
  ctx.open.insert(conn);
  if (conn->transport_.open(ctx.loop, conn.get()) != 0 || conn->transport_.accept(listener) != 0) {
    conn->close();
    return;
  }
  conn->transport_.setNoDelay(true);
  conn->last_active_ms_ = uv_now(ctx.loop);
  conn->transport_.startReading(conn.get());
}

void HttpConnection::close() {
  if (closed_) return;
  closed_ = true;
  // Whoever waits for the queue to drain learns of the close (and releases what it holds).
  auto waiting = std::exchange(drain_, nullptr);
  if (in_request_) {
    in_request_ = false;
    --ctx_.in_flight;
  }
  transport_.close(this);
  if (waiting) waiting();
}

void HttpConnection::onTransportClosed() {
  // The set's reference is the last one the loop holds; handlers may still hold theirs.
  HttpServerContext& ctx = ctx_;
  if (reading_) {
    net::release(reading_);
    reading_ = nullptr;
  }
  auto keep = shared_from_this();
  ctx.open.erase(keep);
}

void HttpConnection::onTransportAlloc(uv_buf_t* buf) {
  if (!reading_) reading_ = ctx_.buffers.get();
  *buf = uv_buf_init(reading_->data(), reading_->capacity);
}

void HttpConnection::onTransportRead(ssize_t nread, const uv_buf_t*) {
  auto* self = this;
  if (nread < 0) {
    self->close();
    return;
  }
  if (nread == 0) return;
  self->last_active_ms_ = uv_now(self->ctx_.loop);
  self->pending_.append(self->reading_->data(), static_cast<size_t>(nread));
  // Keep the pooled buffer for the next read only while this connection is actively reading.
  net::release(self->reading_);
  self->reading_ = nullptr;
  auto keep = self->shared_from_this();
  self->parsePending();
}

void HttpConnection::parsePending() {
  if (parsing_) return;  // a handler answered synchronously: the loop below continues
  parsing_ = true;
  while (!closed_ && !in_request_ && !pending_.empty()) {
    const llhttp_errno_t err = llhttp_execute(&parser_, pending_.data(), pending_.size());
    if (err == HPE_OK) {
      pending_.clear();
      break;
    }
    if (err != HPE_PAUSED) {
      parsing_ = false;
      rejectAndClose(reject_status_ ? reject_status_ : 400);
      return;
    }
    const size_t used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - pending_.data());
    pending_.erase(0, used);
    llhttp_resume(&parser_);
    // A complete request: hand it to the handler.
    in_request_ = true;
    ++ctx_.in_flight;
    transport_.stopReading();
    ctx_.handler(shared_from_this());
  }
  parsing_ = false;
  if (closed_) return;
  if (!in_request_) {
    if (ctx_.draining && pending_.empty() && writes_.idle()) {
      close();
      return;
    }
    transport_.startReading(this);
  }
}

int HttpConnection::onUrl(llhttp_t* p, const char* at, size_t n) {
  auto* self = from(p);
  if (self->head_.addTarget(at, n) > self->ctx_.limits.max_head_bytes) return self->reject_status_ = 414, -1;
  return 0;
}
int HttpConnection::onHeaderField(llhttp_t* p, const char* at, size_t n) {
  auto* self = from(p);
  if (self->head_.addField(at, n) > self->ctx_.limits.max_head_bytes) return self->reject_status_ = 431, -1;
  return 0;
}
int HttpConnection::onHeaderValue(llhttp_t* p, const char* at, size_t n) {
  auto* self = from(p);
  if (self->head_.addValue(at, n) > self->ctx_.limits.max_head_bytes) return self->reject_status_ = 431, -1;
  return 0;
}
int HttpConnection::onHeaderValueComplete(llhttp_t* p) {
  from(p)->head_.endValue();
  return 0;
}
int HttpConnection::onHeadersComplete(llhttp_t* p) {
  auto* self = from(p);
  // An oversized body is refused before any of it is read.
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > self->ctx_.limits.max_body_bytes) return self->reject_status_ = 413, -1;
  return 0;
}
int HttpConnection::onBody(llhttp_t* p, const char* at, size_t n) {
  auto* self = from(p);
  if (self->body_.size() + n > self->ctx_.limits.max_body_bytes) return self->reject_status_ = 413, -1;
  self->body_.append(at, n);
  return 0;
}
int HttpConnection::onMessageComplete(llhttp_t* p) {
  auto* self = from(p);
  self->method_ = static_cast<llhttp_method_t>(p->method);
  self->keep_alive_ = llhttp_should_keep_alive(p) != 0;
  self->target_.assign(self->head_.target());
  const std::string_view t = self->target_;
  const size_t q = t.find('?');
  self->path_ = t.substr(0, q);
  self->query_ = q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
  return HPE_PAUSED;
}

void HttpConnection::appendHead(int status, std::string_view content_type, std::string_view extra, const char* framing) {
  writes_.appendBuilt([&](std::string& s) {
    char line[64];
    const int n = std::snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
    s.append(line, static_cast<size_t>(n));
    s += proxy::reasonPhrase(status);
    s += "\r\n";
    if (!content_type.empty()) {
      s += "Content-Type: ";
      s += content_type;
      s += "\r\n";
    }
    s += framing;
    s += extra;
    if (!keep_alive_ || ctx_.draining) s += "Connection: close\r\n";
    s += "\r\n";
  });
  if (ctx_.on_response) ctx_.on_response(status);
}

void HttpConnection::respond(int status, std::string_view content_type, std::string_view extra_headers, std::string_view body) {
  if (closed_ || !in_request_) return;
  char framing[64];
  const bool bodiless = status == 204 || status == 304;
  if (bodiless)
    framing[0] = 0;
  else
    std::snprintf(framing, sizeof framing, "Content-Length: %zu\r\n", body.size());
  appendHead(status, bodiless ? std::string_view() : content_type, extra_headers, framing);
  if (!bodiless && method_ != HTTP_HEAD) writes_.appendCopy(body);
  finishResponse();
}

void HttpConnection::respondJsonError(int status, std::string_view message, std::string_view extra_headers) {
  std::string body = "{\"error\":{\"status\":" + std::to_string(status) + ",\"message\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') body += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) body += c;
  }
  body += "\"}}";
  respond(status, "application/json", extra_headers, body);
}

void HttpConnection::beginStream(int status, std::string_view content_type, std::string_view extra_headers) {
  if (closed_ || !in_request_) return;
  streaming_ = true;
  appendHead(status, content_type, extra_headers, "Transfer-Encoding: chunked\r\n");
  writes_.flush(transport_);
}

void HttpConnection::streamWrite(std::string_view bytes) {
  if (closed_ || !streaming_ || bytes.empty()) return;
  writes_.appendBuilt([&](std::string& s) {
    char size[24];
    s.append(size, proxy::writeChunkHeader(bytes.size(), size));
    s += bytes;
    s += proxy::kChunkTrailer;
  });
  if (writes_.flush(transport_) < 0) close();
}

void HttpConnection::endStream() {
  if (closed_ || !streaming_) return;
  streaming_ = false;
  writes_.appendCopy(proxy::kLastChunk);
  finishResponse();
}

void HttpConnection::finishResponse() {
  head_.reset();
  head_.releaseExcess(16 * 1024);
  body_.clear();
  if (body_.capacity() > 64 * 1024) std::string().swap(body_);
  drain_ = nullptr;
  in_request_ = false;
  --ctx_.in_flight;
  if (!keep_alive_ || ctx_.draining) close_after_write_ = true;
  if (writes_.flush(transport_) < 0) {
    close();
    return;
  }
  last_active_ms_ = uv_now(ctx_.loop);
  if (close_after_write_) {
    if (writes_.idle()) close();
    return;
  }
  parsePending();
}

void HttpConnection::rejectAndClose(int status) {
  if (in_request_) return close();
  in_request_ = true;
  ++ctx_.in_flight;
  keep_alive_ = false;
  respondJsonError(status, status == 413 ? "request body too large" : status == 431 ? "request header fields too large" : "malformed HTTP request");
}

void HttpConnection::onWritten(void* owner, int status) {
  auto* self = static_cast<HttpConnection*>(owner);
  if (self->closed_) return;
  if (status < 0) {
    self->close();
    return;
  }
  self->last_active_ms_ = uv_now(self->ctx_.loop);
  if (self->close_after_write_ && self->writes_.idle()) {
    self->close();
    return;
  }
  if (self->drain_ && self->writes_.queuedBytes() <= self->drain_low_) {
    auto fn = std::exchange(self->drain_, nullptr);
    auto keep = self->shared_from_this();
    fn();
  }
}

}  // namespace edged::backend
