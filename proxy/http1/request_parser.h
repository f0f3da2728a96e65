// proxy/http1/request_parser.h — the llhttp callbacks of a request parser: method, version,
// target and header fields, framing, keep-alive and upgrade into a RequestHead, with the head
// size limits (414 for the target, 431 for the header lines); the owner decides the rest.
#pragma once

#include <llhttp.h>

#include <cstddef>

#include "proxy/http/http.h"
#include "proxy/http1/chunk_extension_fix.h"

namespace edged::proxy::http1 {

// The method and version llhttp has seen so far (the request line may be all there is: a
// request refused before its head ended still gets logged with them).
void takeRequestLine(const llhttp_t& p, RequestHead& r);
// The head is complete: request line, framing, keep-alive and upgrade from the parser.
void takeRequestHead(const llhttp_t& p, RequestHead& r);

// Settings for llhttp_init(HTTP_REQUEST) whose `data` points at an H, which provides:
//   RequestHead& parsedRequest();                     the head being filled
//   size_t maxHeadBytes();                            limits.max_header_bytes
//   void onRequestBegin();                            a request's first byte (its head is reset)
//   void refuseHead(int status);                      the head is refused; parsing stops
//   int checkTarget(const char* at, size_t n);        0, or a status refusing this target piece
//   int checkFieldValue(const char* at, size_t n);    0, or a status refusing this value piece
//   int onRequestHead();                              the head is filled: an llhttp callback result
//   int onRequestBodyData(const char* at, size_t n);  0, or -1 to stop
//   int onRequestChunkHeader(uint64_t size);          0, or -1 to stop (a chunk's size line)
//   int onRequestEnd();                               an llhttp callback result
//   ChunkExtensionFix& chunkExtensionFix();           see chunk_extension_fix.h
template <class H>
class RequestParser {
 public:
  static const llhttp_settings_t* settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t x;
      llhttp_settings_init(&x);
      x.on_message_begin = onMessageBegin;
      x.on_url = onUrl;
      x.on_version = onVersion;
      x.on_version_complete = onVersionComplete;
      x.on_header_field = onHeaderField;
      x.on_header_value = onHeaderValue;
      x.on_header_value_complete = onHeaderValueComplete;
      x.on_headers_complete = onHeadersComplete;
      x.on_body = onBody;
      x.on_chunk_header = onChunkHeader;
      x.on_message_complete = onMessageComplete;
      x.on_chunk_extension_value = onChunkExtensionValue;
      x.on_chunk_extension_value_complete = onChunkExtensionValueComplete;
      return x;
    }();
    return &s;
  }

 private:
  static H& owner(llhttp_t* p) { return *static_cast<H*>(p->data); }
  // The head has grown to `bytes`: past the owner's limit it is refused with `status`.
  static int limit(H& h, size_t bytes, int status) {
    if (bytes <= h.maxHeadBytes()) return 0;
    h.refuseHead(status);
    return -1;
  }
  static int onMessageBegin(llhttp_t* p) {
    H& h = owner(p);
    h.parsedRequest().reset();
    h.onRequestBegin();
    return 0;
  }
  static int onUrl(llhttp_t* p, const char* at, size_t n) {
    H& h = owner(p);
    if (const int status = h.checkTarget(at, n); status != 0) {
      h.refuseHead(status);
      return -1;
    }
    return limit(h, h.parsedRequest().fields.addTarget(at, n), 414);
  }
  // RFC 9112 §2.3 / RFC 9110 §15.6.6: edged speaks HTTP/1.x only. A major version of 2 or more
  // is 505 as soon as its digit is read (llhttp would call "HTTP/3.0" merely invalid); HTTP/0.9,
  // which llhttp takes, is 505 too (takeRequestLine reads major 0 as "no request line yet").
  static int onVersion(llhttp_t* p, const char*, size_t) {
    if (p->http_major < 2) return 0;
    owner(p).refuseHead(505);
    return -1;
  }
  static int onVersionComplete(llhttp_t* p) {
    if (p->http_major == 1) return 0;
    owner(p).refuseHead(505);
    return -1;
  }
  static int onHeaderField(llhttp_t* p, const char* at, size_t n) {
    H& h = owner(p);
    return limit(h, h.parsedRequest().fields.addField(at, n), 431);
  }
  static int onHeaderValue(llhttp_t* p, const char* at, size_t n) {
    H& h = owner(p);
    if (const int status = h.checkFieldValue(at, n); status != 0) {
      h.refuseHead(status);
      return -1;
    }
    return limit(h, h.parsedRequest().fields.addValue(at, n), 431);
  }
  static int onHeaderValueComplete(llhttp_t* p) {
    H& h = owner(p);
    if (!h.parsedRequest().fields.endValue()) {  // ": v": no field name
      h.refuseHead(400);
      return -1;
    }
    return 0;
  }
  static int onHeadersComplete(llhttp_t* p) {
    H& h = owner(p);
    takeRequestHead(*p, h.parsedRequest());
    return h.onRequestHead();
  }
  static int onBody(llhttp_t* p, const char* at, size_t n) { return owner(p).onRequestBodyData(at, n); }
  static int onMessageComplete(llhttp_t* p) { return owner(p).onRequestEnd(); }
  // llhttp keeps the size of the chunk whose size line just ended in content_length.
  static int onChunkHeader(llhttp_t* p) { return owner(p).onRequestChunkHeader(p->content_length); }
  static int onChunkExtensionValue(llhttp_t* p, const char* at, size_t n) {
    owner(p).chunkExtensionFix().onValue(at, n);
    return 0;
  }
  static int onChunkExtensionValueComplete(llhttp_t* p) { return owner(p).chunkExtensionFix().onValueComplete(); }
};

}  // namespace edged::proxy::http1
