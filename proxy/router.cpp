// proxy/router.cpp — route matching: longest prefix, then host-specific before host-less.
#include <algorithm>

#include "proxy/router.h"

#include "proxy/http/http.h"

namespace edged::proxy {

namespace {
std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return out;
}

std::string_view stripPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    auto end = host.find(']');
    return end == std::string_view::npos ? host : host.substr(0, end + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}
}  // namespace

Router::Router(const std::vector<conf::RouteConfig>& routes) {
  entries_.reserve(routes.size());
  for (size_t i = 0; i < routes.size(); ++i)
    entries_.push_back({routes[i].prefix, toLower(stripPort(routes[i].host)), i});
  // Longest prefix first; at equal length host-specific first; then file order.
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    if (a.prefix.size() != b.prefix.size()) return a.prefix.size() > b.prefix.size();
    return !a.host.empty() && b.host.empty();
  });
}

std::optional<size_t> Router::match(std::string_view host, std::string_view path) const {
  const std::string_view bare = stripPort(host);
  for (const Entry& e : entries_) {
    if (path.substr(0, e.prefix.size()) != e.prefix) continue;
    if (!e.host.empty() && !equalsIgnoreCase(e.host, bare)) continue;
    return e.index;
  }
  return std::nullopt;
}

}  // namespace edged::proxy
