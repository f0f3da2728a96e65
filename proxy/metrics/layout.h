// proxy/metrics/layout.h — the label values of one loaded config (routes, upstreams, servers,
// listeners), resolved once so the hot path indexes flat arrays instead of looking names up.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "conf/config.h"

namespace edged::metrics {

// Positions are those of one config (route i is Config::routes[i]); slots are where a label's
// cells live in every WorkerMetrics, stable across reloads: a Layout built with `previous` keeps
// the slot of every label that stays and gives new labels new slots (slots are never reused, so
// a series that comes back continues its counts). The first Layout's slots equal its positions.
class Layout {
 public:
  // Copies every label value out of `config`; the Layout does not refer to it afterwards.
  explicit Layout(const conf::Config& config, const Layout* previous = nullptr);

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
    return servers_[server_base_[upstream] + server];
  }
  // The stable slot of (upstream, server).
  size_t serverSlot(size_t upstream, size_t server) const {
    return server_slots_[server_base_[upstream] + server];
  }
  size_t totalServers() const { return servers_.size(); }

  size_t listenerCount() const { return listeners_.size(); }
  const std::string& listenerLabel(size_t listener) const { return listeners_[listener]; }

  // Stable slots of positions (routeSlot(unmatchedRoute()) included).
  size_t routeSlot(size_t route) const { return route_slots_[route]; }
  size_t upstreamSlot(size_t upstream) const { return upstream_slots_[upstream]; }
  size_t listenerSlot(size_t listener) const { return listener_slots_[listener]; }
  // One past the highest slot given so far (this Layout and those before it).
  size_t routeCapacity() const { return route_ids_.size(); }
  size_t upstreamCapacity() const { return upstream_ids_.size(); }
  size_t serverCapacity() const { return server_ids_.size(); }
  size_t listenerCapacity() const { return listener_ids_.size(); }

 private:
  std::vector<std::string> routes_;  // one per route, then "unmatched"; never empty
  std::vector<std::string> upstreams_;
  std::vector<size_t> server_base_;  // upstreamCount() + 1 entries; the last is totalServers()
  std::vector<std::string> servers_;
  std::vector<std::string> listeners_;
  std::vector<size_t> route_slots_, upstream_slots_, server_slots_, listener_slots_;
  // Every label ever given a slot, with it (carried from the previous Layout).
  std::map<std::string, size_t> route_ids_, upstream_ids_, server_ids_, listener_ids_;
};

}  // namespace edged::metrics
