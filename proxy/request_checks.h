// proxy/request_checks.h — RFC 9112 / RFC 9110 checks of a request line and Host, as pure
// functions: what a request must look like before edged routes and forwards it.
#pragma once

#include <cstddef>
#include <string_view>

namespace edged::proxy {

// RFC 3986 host (reg-name, IPv4address, or an IP-literal in brackets: IPv6 or IPvFuture). An
// empty reg-name is valid syntax (RFC 9112 §3.2: a target without authority sends `Host:` empty).
bool validUriHost(std::string_view host);
// The Host field value: uri-host [ ":" port ], port being digits only (RFC 9110 §7.2) and at
// most 65535. No userinfo, no path, no spaces.
bool validHostField(std::string_view value);

// The parts of an absolute-form target (RFC 9112 §3.2.2): "http://authority/path?query".
struct AbsoluteTarget {
  std::string_view scheme;     // "http" or "https", as sent
  std::string_view authority;  // host [":" port], never empty
  std::string_view path;       // from the first '/' or '?' on; empty when there is neither
};
enum class TargetForm : unsigned char {
  Origin,    // "/path?query"
  Absolute,  // "http://host/path": see AbsoluteTarget
  Asterisk,  // "*" (OPTIONS only)
  Invalid,   // anything else, or an absolute form whose scheme is not http(s), whose authority
             // is empty, carries userinfo or is not host[:port]
};
// Classifies `target`; fills `abs` for TargetForm::Absolute. Control characters, spaces, '#'
// (a fragment is never part of a request target, RFC 9112 §3.2) make it Invalid.
TargetForm classifyTarget(std::string_view target, AbsoluteTarget& abs);

// The verdict on a request line and its Host, before routing.
struct RequestLineVerdict {
  int status = 0;                  // 0: go on; else the answer (400, 405)
  std::string_view route_host;     // the authority of an absolute target, else the Host value
  std::string_view target;         // what to route on and forward: the path of an absolute
                                   // target (may be empty or start with '?': the caller adds '/')
  bool host_from_target = false;   // absolute form: Host for the origin is `route_host`
};
// `method` as llhttp names it ("GET", "TRACE", ...). `host` is the Host value when `host_count`
// is 1. A major version other than 1 is 505 (RFC 9112 §2.3: llhttp parses "HTTP/2.0", which
// also catches an HTTP/2 preface sent to an HTTP/1 port); TRACE is answered 405 (RFC 9110
// §9.3.8: it may echo credentials; edges refuse it); an invalid Host or target is 400.
RequestLineVerdict checkRequestLine(std::string_view method, std::string_view target,
                                    std::string_view host, int host_count, int http_major = 1);

// Max-Forwards = 1*DIGIT (RFC 9110 §7.6.2); -1 when malformed. Values above 2^31 - 1 saturate
// (any larger number means "forward" just the same).
long parseMaxForwards(std::string_view value);

// HTTP/0.9 ("GET /\r\n"): llhttp's on_url span `at`/`n` ended at a CR or LF, not at the space
// before "HTTP/1.x". `buffer_end` is the end of the bytes handed to llhttp_execute: a span that
// reaches it was cut by the read and says nothing yet.
bool urlEndsWithoutVersion(const char* at, size_t n, const char* buffer_end);

// llhttp knows a fixed list of methods and refuses any other (HPE_INVALID_METHOD) at the byte
// `error_pos` where the name left its list. 501 when the request line still reads as a method
// token (RFC 9110 §9.1: case-sensitive, any tchar): tchars from there up to a SP. Such a request
// names a method edged does not implement (RFC 9110 §15.6.2), where a method that is not a token
// ("GE(T", a leading space) is a malformed request line: 400. 0 while the buffer ends among the
// name's tchars (a client that sends a byte at a time): the answer waits for more bytes, up to a
// name of 64.
int unknownMethodStatus(const char* error_pos, const char* buffer_end);

// RFC 9110 §2.5: a message whose major version is 1 and whose minor version is higher than 1
// is processed as HTTP/1.1. llhttp (strict) refuses "HTTP/1.2", so the version is rewritten in
// the read buffer before llhttp reaches it: `after_target` is the byte after the request
// target; " HTTP/1.x" with x in 2..9 followed by CR or LF becomes " HTTP/1.1". False (nothing
// changed) otherwise, including when the buffer ends before the line does.
bool readMinorVersionAsOne(char* after_target, const char* buffer_end);

// The read ended with the request target, so the version is still to come: `data`, `n` are the
// bytes read since. False while they hold only part of " HTTP/1.x" and its CR or LF (wait for
// more: at most 9 bytes); true once the version is there (rewritten by readMinorVersionAsOne),
// the line ended without one, or no SP came yet (the target goes on: llhttp reads it).
bool versionAfterTargetReady(char* data, size_t n);

// Transfer-Encoding: whether the last coding of a field value is "chunked" (parameters and case
// ignored). A request whose final coding is not chunked has no knowable length: 400 and close
// (RFC 9112 §6.3), where an unknown coding before a final chunked is 501.
bool finalCodingIsChunked(std::string_view transfer_encoding);

// obs-fold (RFC 9112 §5.2): llhttp joins a field line that starts with SP/HTAB to the value
// before it; the span of that value piece is `at`, `n` bytes. True when only SP/HTAB stand
// between `at` and a preceding LF, i.e. the piece begins a continuation line. An empty piece is
// never one: llhttp reports an empty value as a 0-byte span at the start of the next line. `buffer_begin`: the start of
// the memory before `at` that may be looked at; `before_buffer`: the last byte other than SP/HTAB
// received before it (a read may end anywhere in the line, even between the LF and the SP). A
// server may reject or unfold; edged rejects (400), however the bytes were split.
bool valueContinuesFoldedLine(const char* at, size_t n, const char* buffer_begin, char before_buffer);

// What edged allows (the Allow of its 405 answers): every method but CONNECT and TRACE.
inline constexpr std::string_view kAllowedMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH";

}  // namespace edged::proxy
