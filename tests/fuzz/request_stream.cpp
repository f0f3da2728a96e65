// tests/fuzz/request_stream.cpp — a client's byte stream through llhttp in request mode with the
// client side's callbacks (ParsedHead with the head size limit, the HTTP/0.9 check on the URL
// span, the obs-fold check on value spans, the request line / Host checks of
// proxy/request_checks at headers complete, HPE_PAUSED after each message for pipelining), fed
// in pieces whose size comes from the first byte. Also as the client side does: the HTTP/1.2 ->
// HTTP/1.1 rewrite in the read buffer, 505 for a major version other than 1, 400 for an empty
// field name, and the 501/400 decision on a method llhttp refuses.
#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http/http.h"
#include "proxy/http1/chunk_extension_fix.h"
#include "proxy/request_checks.h"

namespace {

using edged::proxy::HeaderId;

constexpr size_t kMaxHead = 16 * 1024;

struct State {
  edged::proxy::ParsedHead head;
  edged::proxy::http1::ChunkExtensionFix chunk_fix;  // as ActiveClient / UpstreamConnection
  const char* buffer_begin = nullptr;  // this piece's first byte (ActiveClient: the read buffer's)
  const char* buffer_end = nullptr;
  char parsed_tail = 0;                // the last byte before the piece that is not SP/HTAB
  bool version_pending = false;        // the target ended a piece: its version waits
  int reject = 0;
};

int limit(State* s, size_t bytes, int status) {
  if (bytes <= kMaxHead) return 0;
  s->reject = status;
  return -1;
}
int onMessageBegin(llhttp_t* p) {
  auto* s = static_cast<State*>(p->data);
  s->head.reset();
  s->reject = 0;
  return 0;
}
int onUrl(llhttp_t* p, const char* at, size_t n) {
  auto* s = static_cast<State*>(p->data);
  if (edged::proxy::urlEndsWithoutVersion(at, n, s->buffer_end)) {
    s->reject = 400;
    return -1;
  }
  // ActiveClient::checkTarget: the version after the target may be rewritten in place.
  char* const begin = const_cast<char*>(s->buffer_begin);
  s->version_pending = at + n == s->buffer_end;
  if (at + n < s->buffer_end) edged::proxy::readMinorVersionAsOne(begin + (at + n - s->buffer_begin), s->buffer_end);
  return limit(s, s->head.addTarget(at, n), 414);
}
int onVersion(llhttp_t* p, const char*, size_t) {
  if (p->http_major < 2) return 0;
  static_cast<State*>(p->data)->reject = 505;
  return -1;
}
int onVersionComplete(llhttp_t* p) {
  if (p->http_major == 1) return 0;
  static_cast<State*>(p->data)->reject = 505;
  return -1;
}
int onHeaderField(llhttp_t* p, const char* at, size_t n) {
  auto* s = static_cast<State*>(p->data);
  return limit(s, s->head.addField(at, n), 431);
}
int onHeaderValue(llhttp_t* p, const char* at, size_t n) {
  auto* s = static_cast<State*>(p->data);
  if (edged::proxy::valueContinuesFoldedLine(at, n, s->buffer_begin, s->parsed_tail)) {
    s->reject = 400;
    return -1;
  }
  return limit(s, s->head.addValue(at, n), 431);
}
int onHeaderValueComplete(llhttp_t* p) {
  auto* s = static_cast<State*>(p->data);
  s->head.endValue();
  if (s->head.size() == 0 || s->head.name(s->head.size() - 1).empty()) {
    s->reject = 400;
    return -1;
  }
  return 0;
}
int onHeadersComplete(llhttp_t* p) {
  auto* s = static_cast<State*>(p->data);
  int host_count = 0;
  const std::string_view host = s->head.find(HeaderId::Host, &host_count);
  const auto method = static_cast<llhttp_method_t>(p->method);
  const edged::proxy::RequestLineVerdict v =
      edged::proxy::checkRequestLine(llhttp_method_name(method), s->head.target(), host, host_count, p->http_major);
  if (v.status) {
    s->reject = v.status;
    return -1;
  }
  // What routing and forwarding rely on: the routed target is the head's target or a part of it.
  const std::string_view t = s->head.target();
  if (!v.target.empty() && (v.target.data() < t.data() || v.target.data() + v.target.size() > t.data() + t.size()))
    __builtin_trap();
  if (v.host_from_target && v.route_host.empty()) __builtin_trap();
  return 0;
}
int onMessageComplete(llhttp_t*) { return HPE_PAUSED; }

int onChunkExtensionValue(llhttp_t* p, const char* at, size_t n) {
  static_cast<State*>(p->data)->chunk_fix.onValue(at, n);
  return 0;
}
int onChunkExtensionValueComplete(llhttp_t* p) { return static_cast<State*>(p->data)->chunk_fix.onValueComplete(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + (data[0] & 0x7f);
  // A mutable copy, as the client's read buffer is (the version rewrite writes into it).
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const char* p = input.data();
  const char* end = input.data() + input.size();

  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_message_begin = onMessageBegin;
  settings.on_url = onUrl;
  settings.on_version = onVersion;
  settings.on_version_complete = onVersionComplete;
  settings.on_header_field = onHeaderField;
  settings.on_header_value = onHeaderValue;
  settings.on_header_value_complete = onHeaderValueComplete;
  settings.on_headers_complete = onHeadersComplete;
  settings.on_message_complete = onMessageComplete;
  settings.on_chunk_extension_value = onChunkExtensionValue;
  settings.on_chunk_extension_value_complete = onChunkExtensionValueComplete;
  State state;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  parser.data = &state;

  while (p < end) {
    size_t n = static_cast<size_t>(end - p) < piece ? static_cast<size_t>(end - p) : piece;
    // ClientConnection::processInput: a pending version waits for its bytes (here: the piece
    // grows to the rest of the input), and the last byte parsed is kept for the obs-fold check.
    if (state.version_pending) {
      char* const at = const_cast<char*>(p);
      if (!edged::proxy::versionAfterTargetReady(at, n)) {
        n = static_cast<size_t>(end - p);
        if (!edged::proxy::versionAfterTargetReady(at, n)) return 0;
      }
      state.version_pending = false;
    }
    state.buffer_begin = p;
    state.buffer_end = p + n;
    const llhttp_errno_t err = llhttp_execute(&parser, p, n);
    const char* const parsed_end = err == HPE_OK ? p + n : llhttp_get_error_pos(&parser);
    for (const char* q = parsed_end; q > p; --q) {
      if (q[-1] != ' ' && q[-1] != '\t') {
        state.parsed_tail = q[-1];
        break;
      }
    }
    if (err == HPE_OK) {
      p += n;
    } else if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {  // pipelined: the next request
      // (or the chunk-extension fix's pause: parse again from the ';' it stepped over)
      p = llhttp_get_error_pos(&parser) - (err == HPE_PAUSED && state.chunk_fix.takeRefeed() ? 1 : 0);
      if (err == HPE_PAUSED) llhttp_resume(&parser);
      else llhttp_resume_after_upgrade(&parser);
    } else {
      // the client side answers 4xx (501 for a method token llhttp does not know) and closes
      // (0: the name goes on past this piece; the client side waits for the rest of it)
      if (err == HPE_INVALID_METHOD && edged::proxy::unknownMethodStatus(llhttp_get_error_pos(&parser), p + n) == 0)
        (void)edged::proxy::unknownMethodStatus(llhttp_get_error_pos(&parser), end);
      return 0;
    }
  }
  return 0;
}
