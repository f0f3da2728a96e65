// proxy/router.h — route matching: host + path -> index into Config::routes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace edged::proxy {

// Longest matching prefix wins; at equal length a route naming the host beats a host-less one.
// Host is compared case-insensitively with any ":port" removed.
class Router {
 public:
  explicit Router(const std::vector<conf::RouteConfig>& routes);
  // Index into the routes given to the constructor, or nullopt when nothing matches.
  std::optional<size_t> match(std::string_view host, std::string_view path) const;

 private:
  struct Entry {
    std::string prefix;
    std::string host;  // lower case, empty = any
    size_t index;
  };
  std::vector<Entry> entries_;  // sorted by prefix length, longest first
};

}  // namespace edged::proxy
