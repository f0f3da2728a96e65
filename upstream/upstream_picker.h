// upstream/upstream_picker.h — one worker's view of an UpstreamGroup: picks the server of a try.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "upstream/balancer.h"
#include "upstream/rng.h"
#include "upstream/tried_set.h"
#include "upstream/upstream_group.h"

namespace edged::upstream {

enum class PickFailure {
  None,
  NoneAvailable,  // no server of the group can take a request now: each is down, unhealthy,
                  // draining, passively failed or at max_conns -> 503
  AllTried,       // some servers can take requests, and this request tried every one -> 502
};
// 503 for NoneAvailable, 502 for AllTried (0 for None).
int statusFor(PickFailure failure);

struct PickResult {
  Server* server = nullptr;  // null when `why` != None
  PickFailure why = PickFailure::None;
  // No server of the group was usable, so the pick ignored health (passive and active) and chose
  // among all of them (Envoy's panic routing; nginx never marks a lone server down). The caller
  // counts it (edged_upstream_panic_total).
  bool panic = false;
};

// Per-worker: filters the available servers into tiers (primaries, then backups, reached only
// while no primary can be used) and asks the tier's balancer. Balancers never see health: the
// picker filters first. When no server of either tier is usable, it picks again, tier by tier,
// among the servers that health alone holds out (panic): one bad answer from the only server of
// a group must not turn into 503 for everyone for fail_timeout. Servers configured `down`,
// draining, at max_conns, never yet seen healthy (`initially: unhealthy` before its first passed
// check) or in `tried` are never panic candidates. Not thread-safe; allocates nothing per pick.
class UpstreamPicker {
 public:
  UpstreamPicker(const UpstreamGroup& group, std::unique_ptr<Rng> rng = nullptr);

  // The server for the next try, skipping servers in `tried`. `hash_key` is the request's key
  // when group().needsHashKey(), else ignored. Does not touch Server::active: the caller counts
  // the request in flight while it is on the server.
  PickResult choose(const TriedSet& tried, std::string_view hash_key = {});
  // choose(), server only: nullptr when none.
  Server* pick(const TriedSet& tried, std::string_view hash_key = {}) { return choose(tried, hash_key).server; }
  // Whether choose() could find a server now (panic included), without advancing any balancer
  // state.
  bool anyUntriedAvailable(const TriedSet& tried) const;

  const UpstreamGroup& group() const { return group_; }

 private:
  bool usable(const Server& s, uint64_t now_ms) const { return s.available(now_ms) && !s.atMaxConns(); }
  // Usable if health were ignored: what panic routing may pick.
  static bool panicCandidate(const Server& s) {
    return !s.config.down && !s.draining() && !s.atMaxConns() && s.everHealthy();
  }
  bool anyUsable(uint64_t now_ms) const;
  std::unique_ptr<Balancer> makeBalancer(const HashRing* ring);

  const UpstreamGroup& group_;
  std::unique_ptr<Rng> rng_;
  std::unique_ptr<Balancer> primary_balancer_, backup_balancer_;
  std::vector<Candidate> scratch_;
};

}  // namespace edged::upstream
