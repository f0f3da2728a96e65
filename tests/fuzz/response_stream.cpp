// tests/fuzz/response_stream.cpp — an origin's byte stream through llhttp in response mode with
// the callbacks the origin side uses (ParsedHead for the head, body spans, chunked decoding,
// HPE_PAUSED at each message end as UpstreamConnection does), fed in pieces whose sizes come
// from the first byte so that every split point of a field or chunk size is tried. A head refused
// before any final response is repaired once (bare LF, "name :") and parsed again, as
// UpstreamConnection does.
#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/http/http.h"
#include "proxy/http1/chunk_extension_fix.h"
#include "proxy/http1/head_repair.h"

namespace {

struct State {
  edged::proxy::ParsedHead head;
  edged::proxy::http1::ChunkExtensionFix chunk_fix;  // as ActiveClient / UpstreamConnection
  uint64_t body_bytes = 0;
  bool head_request = false;
  bool final_head = false;  // a head of status >= 200 (or 101) was parsed
};

int onMessageBegin(llhttp_t* p) {
  static_cast<State*>(p->data)->head.reset();
  return 0;
}
int onStatus(llhttp_t* p, const char* at, size_t n) {
  static_cast<State*>(p->data)->head.addTarget(at, n);
  return 0;
}
int onHeaderField(llhttp_t* p, const char* at, size_t n) {
  static_cast<State*>(p->data)->head.addField(at, n);
  return 0;
}
int onHeaderValue(llhttp_t* p, const char* at, size_t n) {
  static_cast<State*>(p->data)->head.addValue(at, n);
  return 0;
}
int onHeaderValueComplete(llhttp_t* p) {
  static_cast<State*>(p->data)->head.endValue();
  return 0;
}
int onHeadersComplete(llhttp_t* p) {
  auto* s = static_cast<State*>(p->data);
  // What the origin side reads of every head.
  (void)s->head.find("keep-alive");
  (void)s->head.find(edged::proxy::HeaderId::ContentLength);
  (void)s->head.find(edged::proxy::HeaderId::TransferEncoding);
  for (size_t i = 0; i < s->head.size(); ++i) (void)s->head.value(i);
  const int status = llhttp_get_status_code(p);
  if (status >= 200 || status == 101) s->final_head = true;
  if (status == 101) return 2;
  return s->head_request && status >= 200 ? 1 : 0;
}
int onBody(llhttp_t* p, const char* at, size_t n) {
  static_cast<State*>(p->data)->body_bytes += n;
  return 0;
}
int onMessageComplete(llhttp_t* p) {
  const int status = llhttp_get_status_code(p);
  if (status < 200 && status != 101) return 0;
  return HPE_PAUSED;
}

int onChunkExtensionValue(llhttp_t* p, const char* at, size_t n) {
  static_cast<State*>(p->data)->chunk_fix.onValue(at, n);
  return 0;
}
int onChunkExtensionValueComplete(llhttp_t* p) { return static_cast<State*>(p->data)->chunk_fix.onValueComplete(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + (data[0] & 0x3f);
  const bool head_request = data[0] & 0x40;
  const char* p = reinterpret_cast<const char*>(data) + 1;
  const char* end = reinterpret_cast<const char*>(data) + size;

  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_message_begin = onMessageBegin;
  settings.on_status = onStatus;
  settings.on_header_field = onHeaderField;
  settings.on_header_value = onHeaderValue;
  settings.on_header_value_complete = onHeaderValueComplete;
  settings.on_headers_complete = onHeadersComplete;
  settings.on_body = onBody;
  settings.on_message_complete = onMessageComplete;
  settings.on_chunk_extension_value = onChunkExtensionValue;
  settings.on_chunk_extension_value_complete = onChunkExtensionValueComplete;
  State state;
  state.head_request = head_request;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_RESPONSE, &settings);
  parser.data = &state;

  bool repaired = false;
  while (p < end) {
    const size_t n = static_cast<size_t>(end - p) < piece ? static_cast<size_t>(end - p) : piece;
    const llhttp_errno_t err = llhttp_execute(&parser, p, n);
    if (err == HPE_OK) {
      p += n;
    } else if (err == HPE_PAUSED) {  // one response done (or the chunk-extension fix's re-feed)
      p = llhttp_get_error_pos(&parser) - (state.chunk_fix.takeRefeed() ? 1 : 0);
      llhttp_resume(&parser);
    } else if (!repaired && !state.final_head) {
      repaired = true;
      const std::string_view raw(reinterpret_cast<const char*>(data) + 1, size - 1);
      std::string fixed;
      const size_t used = edged::proxy::http1::repairResponseHead(raw, fixed);
      if (used == 0) return 0;  // incomplete: the origin side would wait for more
      if (used > raw.size() || fixed.size() < 2 || fixed.compare(fixed.size() - 2, 2, "\r\n") != 0) std::abort();
      for (size_t i = 0; i < fixed.size(); ++i)
        if (fixed[i] == '\n' && (i == 0 || fixed[i - 1] != '\r')) std::abort();  // a bare LF survived
      state.head.reset();
      llhttp_init(&parser, HTTP_RESPONSE, &settings);
      parser.data = &state;
      const llhttp_errno_t again = llhttp_execute(&parser, fixed.data(), fixed.size());
      if (again != HPE_OK && again != HPE_PAUSED && again != HPE_PAUSED_UPGRADE) return 0;
      if (again != HPE_OK) llhttp_resume(&parser);
      p = raw.data() + used;
    } else {
      return 0;  // the origin side closes the connection on any other error
    }
  }
  llhttp_finish(&parser);
  return 0;
}
