// proxy/http1/head_repair.h — the two faults of an origin's response head that RFC 9112 lets a
// proxy repair instead of refusing: a bare LF as a line end (§2.2: a recipient MAY take a single
// LF as the terminator) and whitespace between a field name and its colon (§5.1: a proxy MUST
// remove it from a response before forwarding it). llhttp in strict mode refuses both; nginx and
// HAProxy take both from origins. Requests stay strict: this is for responses only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace edged::proxy::http1 {

// Rewrites the head at the start of `raw` (status line, field lines, the empty line) with every
// line ending in CRLF and the whitespace before a field line's colon removed, appended to `out`.
// Everything else is copied as it is, for llhttp to judge: a bare CR, whitespace inside a name, a
// line without a colon. Returns how many bytes of `raw` the head took (through its empty line),
// or 0 when `raw` does not hold the whole head yet (`out` is then left as it was).
size_t repairResponseHead(std::string_view raw, std::string& out);

}  // namespace edged::proxy::http1
