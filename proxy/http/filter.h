// proxy/http/filter.h — the exchange filter interface: how modules (compression, the cache, test
// filters) take part in an exchange without the core knowing them (nginx phases and body filters,
// HAProxy flt_ops, Envoy filter chains, Pingora's ProxyHttp hooks). main.cpp declares the chain's
// order in one list; the Session runs the request phase in that order and the response phases in
// reverse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "proxy/http/header.h"
#include "proxy/http/message.h"
#include "proxy/http/termination.h"

namespace edged::proxy {

enum class FilterAction : uint8_t {
  Continue,  // go on with the next filter / phase
  Respond,   // answer with the LocalResponse the filter filled in; the origin is not asked
  Wait,      // (request phase only) park the exchange; the filter calls Resumer::resume later
};

// A counted owner of body bytes (a cache entry): the core takes one reference with retain() and
// gives it back with release() once the bytes it wrote by reference are sent (or dropped), which
// may be after the exchange ended. Both may be called on the worker's thread only.
struct BodyOwner {
  const void* object = nullptr;
  void (*retain)(const void* object) = nullptr;
  void (*release)(const void* object) = nullptr;
};

// A response a filter answers with (a cache hit, a purge result, a 304, a test's local answer).
// Every view must stay valid until the filter's onFinish().
struct LocalResponse {
  int status = 0;
  std::string_view reason;                // empty: the standard phrase
  std::span<const Header> headers;        // no framing fields: the core frames the body
  // Fields already serialized as HTTP/1 lines ("Name: value\r\n"), sent before `headers` as they
  // are: no hop-by-hop or framing fields among them (a cache hit's stored head). `raw_has_date`:
  // they include a Date, so the core adds none.
  std::string_view raw_fields;
  bool raw_has_date = false;
  std::string_view body;                  // (when body_parts is empty)
  std::span<const std::string_view> body_parts;  // the body in pieces, in order (then `body` is unused)
  // When set, the body's bytes belong to it and are written by reference (no copy): they stay
  // valid past onFinish() for as long as the owner is retained. Otherwise they are copied.
  BodyOwner body_owner;
  bool has_body = true;                   // false: no body at all (204, 304, a HEAD's answer)
};

// Implemented by the Session; a filter never sees the Session.
class Resumer {
 public:
  // Exactly once after onRequest returned Wait, never after onFinish(). `action` is Continue
  // (go on with the next filter) or Respond (the LocalResponse given to onRequest is filled in).
  // The exchange continues from its worker's posted queue, never inside this call, so a filler
  // waking 500 waiters does not recurse. Must be called on the exchange's own worker thread.
  virtual void resume(FilterAction action) = 0;
  // The client's address as text ("192.0.2.1", "2001:db8::1"; after real_ip when configured),
  // for a filter's access rules (the cache's PURGE). Valid until the filter's onFinish().
  virtual std::string_view clientAddress() = 0;
  // Starts a background exchange: this exchange's request again, with `method` (GET or HEAD)
  // and no body, without the fields that would make it partial or conditional (Range, If-Range,
  // If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since) or carry a body or an
  // upgrade. It runs soon, from the worker's posted queue, with no client attached: routing and
  // the whole filter chain as for any request (RequestHead::background is set, so a filter knows
  // it), the origin's response read and dropped, one access-log line. Bounded by the upstream
  // timeouts; aborted at shutdown. False when it cannot start (shutting down, too many running,
  // or this exchange is itself a background one). Callable from onRequest only.
  virtual bool startBackground(std::string_view method) = 0;

 protected:
  ~Resumer() = default;
};

// Where a body filter puts its output: the next filter toward the client, or the client.
class FilterSink {
 public:
  virtual ~FilterSink() = default;
  virtual void append(std::string_view bytes) = 0;
};

// The request about to go to the origin: a filter may change the method (a cache turns HEAD into
// GET) and add or remove fields (conditional revalidation). Added views must stay valid until
// the filter's onFinish().
struct UpstreamRequest {
  std::string_view method;
  std::string_view target;
  std::vector<Header>& headers;
};

// The final response head before it goes to the client. A filter may rewrite status and fields,
// and sets `filter_body` to see the body (compression, a cache tee).
struct ResponseEdit {
  int status;
  std::string_view reason;
  std::vector<Header>& headers;
  bool has_body;                 // false for HEAD, 204, 304
  bool upgraded;                 // a 101: the tunnel is never filtered (not called)
  bool filter_body = false;      // out: this filter wants onResponseBody
  bool body_unchanged = false;   // out, with filter_body: the bytes go on as they come (a tee),
                                 // so the origin's Content-Length still describes them
};

// What a filter adds to its exchange's access-log line (views valid until its release()).
struct LogNotes {
  std::string_view cache;         // the cache's state: HIT, MISS, STALE, UPDATING, REVALIDATED, ...
  std::string_view cache_detail;  // why, when there is more to say (bypass reasons)
};

// One per exchange it attached to. Calls happen on the exchange's worker thread, in this order:
// onRequest, [onUpstreamRequest, per try], onResponseHead, onResponseBody/onFlush..., onFinish.
class ExchangeFilter {
 public:
  virtual FilterAction onRequest(const RequestHead&, LocalResponse&, Resumer&) { return FilterAction::Continue; }
  virtual void onUpstreamRequest(UpstreamRequest&) {}
  // Continue, or Respond with `local` to replace the origin's response entirely (304 -> stored
  // 200). Local responses from a filter do not pass this phase for the filter that made them.
  virtual FilterAction onResponseHead(ResponseEdit&, LocalResponse&) { return FilterAction::Continue; }
  // The origin failed before a response head (no server, connect error, timeout, closed): the
  // core would answer `status` (502/503/504). Respond with `local` to answer instead (a cache's
  // stale-if-error); Continue lets the next filter (in response order) or the core answer.
  virtual FilterAction onUpstreamError(int /*status*/, LocalResponse&) { return FilterAction::Continue; }
  // Body bytes in; `end` on the last call (then `in` may be empty). Returns false on a failure
  // (the client connection is then closed: the response cannot be completed).
  virtual bool onResponseBody(std::string_view in, bool end, FilterSink& out) {
    out.append(in);
    return true;
  }
  // The origin paused: push out everything held so far (server-sent events stay prompt).
  virtual bool onFlush(FilterSink&) { return true; }
  // The last call, exactly once, on every path (complete, error, client gone, local answer).
  virtual void onFinish(Termination) {}
  // After onFinish, before release(): the filter's part of the access-log line.
  virtual void annotateLog(LogNotes&) const {}
  // After onFinish: the filter goes back to its factory (freed or pooled).
  virtual void release() = 0;

 protected:
  virtual ~ExchangeFilter() = default;
};

// One per worker and configuration generation (not thread-safe).
class FilterFactory {
 public:
  virtual ~FilterFactory() = default;
  // A filter for this exchange, or null when it has nothing to do with it. `route` indexes
  // Config::routes (Config::routes.size() when none matched). Should not allocate per request
  // (pool the filters).
  virtual ExchangeFilter* attach(const RequestHead& request, size_t route) = 0;
  // The worker is finishing and its loop runs until every handle is closed: close what the
  // factory keeps open across exchanges (the cache's connection to a shared tier). No exchange
  // is left; attach() is not called again.
  virtual void closeHandles() {}
};

}  // namespace edged::proxy
