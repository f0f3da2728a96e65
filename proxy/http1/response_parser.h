// proxy/http1/response_parser.h — the llhttp callbacks of a response parser: status, reason,
// version, header fields and framing into a ResponseHead; the owner decides the rest.
#pragma once

#include <llhttp.h>

#include <cstddef>

#include "proxy/http/http.h"
#include "proxy/http1/chunk_extension_fix.h"

namespace edged::proxy::http1 {

// The head is complete: status, version, Content-Length and framing from the parser.
void takeResponseHead(const llhttp_t& p, ResponseHead& h);

// Settings for llhttp_init(HTTP_RESPONSE) whose `data` points at an H, which provides:
//   ResponseHead& parsedResponse();                    the head being filled
//   int onResponseHead(llhttp_t* p);                   the head is filled: an llhttp callback result
//   int onResponseBodyData(const char* at, size_t n);  0, or -1 to stop
//   int onResponseEnd(llhttp_t* p);                    an llhttp callback result
//   ChunkExtensionFix& chunkExtensionFix();           see chunk_extension_fix.h
//   size_t maxResponseHeadBytes();                     the head's size limit (status line + fields)
//   int onResponseHeadTooLarge();                      past it: an llhttp callback result (-1)
template <class H>
class ResponseParser {
 public:
  static const llhttp_settings_t* settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t x;
      llhttp_settings_init(&x);
      x.on_message_begin = onMessageBegin;
      x.on_status = onStatus;
      x.on_header_field = onHeaderField;
      x.on_header_value = onHeaderValue;
      x.on_header_value_complete = onHeaderValueComplete;
      x.on_headers_complete = onHeadersComplete;
      x.on_body = onBody;
      x.on_message_complete = onMessageComplete;
      x.on_chunk_extension_value = onChunkExtensionValue;
      x.on_chunk_extension_value_complete = onChunkExtensionValueComplete;
      return x;
    }();
    return &s;
  }

 private:
  static H& owner(llhttp_t* p) { return *static_cast<H*>(p->data); }
  static int onMessageBegin(llhttp_t* p) {
    owner(p).parsedResponse().reset();
    return 0;
  }
  // Every piece of the head is copied: its size is bounded whatever the origin sends (nginx's
  // proxy_buffer_size: "upstream sent too big header").
  static int limit(llhttp_t* p, size_t head_bytes) {
    H& h = owner(p);
    return head_bytes > h.maxResponseHeadBytes() ? h.onResponseHeadTooLarge() : 0;
  }
  static int onStatus(llhttp_t* p, const char* at, size_t n) {
    return limit(p, owner(p).parsedResponse().fields.addTarget(at, n));
  }
  static int onHeaderField(llhttp_t* p, const char* at, size_t n) {
    return limit(p, owner(p).parsedResponse().fields.addField(at, n));
  }
  static int onHeaderValue(llhttp_t* p, const char* at, size_t n) {
    return limit(p, owner(p).parsedResponse().fields.addValue(at, n));
  }
  static int onHeaderValueComplete(llhttp_t* p) {
    // ": v" (no field name) makes the response invalid (502), never a line forwarded to the client.
    return owner(p).parsedResponse().fields.endValue() ? 0 : -1;
  }
  static int onHeadersComplete(llhttp_t* p) {
    H& h = owner(p);
    takeResponseHead(*p, h.parsedResponse());
    return h.onResponseHead(p);
  }
  static int onBody(llhttp_t* p, const char* at, size_t n) { return owner(p).onResponseBodyData(at, n); }
  static int onMessageComplete(llhttp_t* p) { return owner(p).onResponseEnd(p); }
  static int onChunkExtensionValue(llhttp_t* p, const char* at, size_t n) {
    owner(p).chunkExtensionFix().onValue(at, n);
    return 0;
  }
  static int onChunkExtensionValueComplete(llhttp_t* p) { return owner(p).chunkExtensionFix().onValueComplete(); }
};

}  // namespace edged::proxy::http1
