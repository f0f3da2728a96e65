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
};

// Per-worker: filters the available servers into tiers (primaries, then backups, reached only
// while no primary can be used) and asks the tier's balancer. Balancers never see health: the
// picker filters first. Not thread-safe; allocates nothing per pick.
class UpstreamPicker {
 public:
  UpstreamPicker(const UpstreamGroup& group, std::unique_ptr<Rng> rng = nullptr);

  // The server for the next try, skipping servers in `tried`. `hash_key` is the request's key
  // when group().needsHashKey(), else ignored. Does not touch Server::active: the caller counts
  // the request in flight while it is on the server.
  PickResult choose(const TriedSet& tried, std::string_view hash_key = {});
  // choose(), server only: nullptr when none.
  Server* pick(const TriedSet& tried, std::string_view hash_key = {}) { return choose(tried, hash_key).server; }
  // Whether choose() could find a server now, without advancing any balancer state.
  bool anyUntriedAvailable(const TriedSet& tried) const;

  const UpstreamGroup& group() const { return group_; }

 private:
  bool usable(const Server& s, uint64_t now_ms) const { return s.available(now_ms) && !s.atMaxConns(); }
  std::unique_ptr<Balancer> makeBalancer(const HashRing* ring);

  const UpstreamGroup& group_;
  std::unique_ptr<Rng> rng_;
  std::unique_ptr<Balancer> primary_balancer_, backup_balancer_;
  std::vector<Candidate> scratch_;
};

}  // namespace edged::upstream
