#include "proxy/metrics/layout.h"

#include <set>
#include <string_view>

namespace edged::metrics {

namespace {

// The loader rejects duplicate routes, servers and listeners, but a Config built by hand (tests,
// future config sources) might not; two series with one label set would make the whole scrape
// invalid, so a repeated value gets its index appended instead.
void makeUnique(std::vector<std::string>& labels, size_t begin, size_t end) {
  std::set<std::string_view> seen;
  for (size_t i = begin; i < end; ++i) {
    if (!seen.insert(labels[i]).second) {
      labels[i] += "#" + std::to_string(i - begin);
      seen.insert(labels[i]);
    }
  }
}

}  // namespace

namespace {
size_t slotOf(std::map<std::string, size_t>& ids, const std::string& key) {
  return ids.emplace(key, ids.size()).first->second;
}
}  // namespace

Layout::Layout(const conf::Config& config, const Layout* previous) {
  if (previous) {
    route_ids_ = previous->route_ids_;
    upstream_ids_ = previous->upstream_ids_;
    server_ids_ = previous->server_ids_;
    listener_ids_ = previous->listener_ids_;
  }
  routes_.reserve(config.routes.size() + 1);
  for (const conf::RouteConfig& r : config.routes) routes_.push_back(r.host + r.prefix);
  makeUnique(routes_, 0, routes_.size());
  routes_.push_back("unmatched");

  server_base_.push_back(0);
  for (const conf::UpstreamConfig& u : config.upstreams) {
    upstreams_.push_back(u.name);
    const size_t begin = servers_.size();
    for (const conf::ServerConfig& s : u.servers) servers_.push_back(s.address.text);
    makeUnique(servers_, begin, servers_.size());
    server_base_.push_back(servers_.size());
  }
  makeUnique(upstreams_, 0, upstreams_.size());

  for (const conf::ListenerConfig& l : config.listeners) listeners_.push_back(l.address.text);
  makeUnique(listeners_, 0, listeners_.size());

  for (const std::string& r : routes_) route_slots_.push_back(slotOf(route_ids_, r));
  for (const std::string& u : upstreams_) upstream_slots_.push_back(slotOf(upstream_ids_, u));
  for (size_t u = 0; u < upstreams_.size(); ++u) {
    for (size_t i = server_base_[u]; i < server_base_[u + 1]; ++i) {
      // Upstream names cannot hold a NUL: the key is unambiguous.
      server_slots_.push_back(slotOf(server_ids_, upstreams_[u] + '\0' + servers_[i]));
    }
  }
  for (const std::string& l : listeners_) listener_slots_.push_back(slotOf(listener_ids_, l));
}

const std::string& Layout::routeLabel(size_t route) const {
  return route < routes_.size() ? routes_[route] : routes_.back();
}

}  // namespace edged::metrics
