// proxy/filter.h — the response filter interface: how modules such as compression act on a
// response without the core knowing them (HAProxy flt_ops, nginx body filters). main.cpp builds
// one FilterFactory per worker; a factory looks at each final response head and may rewrite its
// headers and return a BodyFilter for that one body.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/proxy.h"

namespace edged::proxy {

// Where a body filter puts its output.
class FilterSink {
 public:
  virtual ~FilterSink() = default;
  virtual void append(std::string_view bytes) = 0;
};

// Transforms one response body, chunk by chunk. Output may lag input until flush().
class BodyFilter {
 public:
  virtual ~BodyFilter() = default;
  virtual bool write(std::string_view in, FilterSink& out) = 0;
  // The origin paused: push out everything so far (server-sent events arrive promptly).
  virtual bool flush(FilterSink& out) = 0;
  // The body ended.
  virtual bool finish(FilterSink& out) = 0;
  // "gzip", "br" or "zstd": for metrics.
  virtual std::string_view name() const = 0;
};

struct FilterRequest {
  std::string_view method;
  std::span<const Header> headers;
  size_t route;        // index into Config::routes, or Config::routes.size() when none matched
  bool upgraded;       // a tunnel: never filtered
};

class FilterFactory {
 public:
  virtual ~FilterFactory() = default;
  // Sees a final (>= 200) response head. May rewrite `headers` in place (values it adds stay
  // valid until its next call) and return a filter for the body, or null to leave it alone.
  virtual std::unique_ptr<BodyFilter> onResponseHead(const FilterRequest& request, int status,
                                                     std::vector<Header>& headers) = 0;
};

}  // namespace edged::proxy
