// proxy/metrics/layout.h — the label values of one loaded config (routes, upstreams, servers,
// listeners), resolved once so the hot path indexes flat arrays instead of looking names up.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "conf/config.h"

namespace edged::metrics {

class Layout {
 public:
  // Copies every label value out of `config`; the Layout does not refer to it afterwards.
  explicit Layout(const conf::Config& config);

  // Route index i is Config::routes[i]. One extra index, unmatchedRoute(), counts requests no
  // route matched (answered by edged itself); its label value is "unmatched", which cannot clash
  // with a route label since those always contain '/'.
  size_t routeCount() const { return routes_.size() - 1; }  // configured routes
  size_t routeSlots() const { return routes_.size(); }      // plus the unmatched slot
  size_t unmatchedRoute() const { return routes_.size() - 1; }
  // Host + prefix ("www.example.com/") or the prefix alone ("/api/"); "unmatched" for the extra slot.
  const std::string& routeLabel(size_t route) const;

  size_t upstreamCount() const { return upstreams_.size(); }
  const std::string& upstreamLabel(size_t upstream) const { return upstreams_[upstream]; }
  size_t serverCount(size_t upstream) const {
    return server_base_[upstream + 1] - server_base_[upstream];
  }
  // The server's address text, as in the config ("10.0.0.1:8080").
  const std::string& serverLabel(size_t upstream, size_t server) const {
    return servers_[serverSlot(upstream, server)];
  }
  // Position of (upstream, server) among every server of every upstream.
  size_t serverSlot(size_t upstream, size_t server) const { return server_base_[upstream] + server; }
  size_t totalServers() const { return servers_.size(); }

  size_t listenerCount() const { return listeners_.size(); }
  const std::string& listenerLabel(size_t listener) const { return listeners_[listener]; }

 private:
  std::vector<std::string> routes_;  // one per route, then "unmatched"; never empty
  std::vector<std::string> upstreams_;
  std::vector<size_t> server_base_;  // upstreamCount() + 1 entries; the last is totalServers()
  std::vector<std::string> servers_;
  std::vector<std::string> listeners_;
};

}  // namespace edged::metrics
