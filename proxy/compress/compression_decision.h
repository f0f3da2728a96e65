// proxy/compress/compression_decision.h — the one place that decides whether a response is
// compressed and with what (h2o compress.c `on_setup_ostream`), and the header changes that follow.
#pragma once

#include <span>
#include <string_view>

#include "proxy/compress/algorithm.h"
#include "proxy/compress/compression_settings.h"
#include "proxy/compress/header_edits.h"
#include "proxy/http/http.h"

namespace edged::compress {

struct CompressionInput {
  std::string_view method;                   // the request method
  std::span<const Header> request_headers;   // reads Accept-Encoding and Range
  int status = 200;                          // the origin's status
  std::span<const Header> response_headers;  // the origin's head
  bool upgraded = false;                     // the connection is switching protocols (tunnel)
};

struct CompressionDecision {
  Algorithm algo = Algorithm::None;  // None: send the body as it is
  // Merge "Accept-Encoding" into Vary: set when compressing, and when the response would have
  // been compressed for another Accept-Encoding (shared caches must keep the variants apart).
  bool add_vary = false;
};

// Skips, in this order: compression off, upgraded connection or 101, HEAD, 1xx/204/304, 206 or a
// request with Range, an existing Content-Encoding, Cache-Control: no-transform, a media type not
// in settings.types (parameters ignored; a response without Content-Type is skipped), a known
// Content-Length of 0 or under settings.min_length. Everything up to here is a property of the
// response alone: no Vary. Then the client's Accept-Encoding picks the algorithm (see
// AcceptEncoding::choose); whatever it picks, add_vary is true.
CompressionDecision decideCompression(const CompressionSettings& settings, const CompressionInput& in);

// The head changes for `decision`. When compressing: Content-Encoding set to the token, Vary
// merged, Content-Length and Accept-Ranges removed (the proxy sends chunked), a strong ETag made
// weak. When only add_vary: the Vary merge. Vary is merged into one field ("Origin" ->
// "Origin, Accept-Encoding") and left alone when it already holds Accept-Encoding or "*".
// The edits may view `response_headers`, which must outlive them.
HeaderEdits compressionHeaderEdits(std::span<const Header> response_headers,
                                   const CompressionDecision& decision);

// True when `content_type` ("Text/HTML; charset=utf-8") matches one of `types`.
bool mediaTypeListed(std::string_view content_type, std::span<const std::string> types);

}  // namespace edged::compress
