// upstream/upstream_picker.cpp — tiers, filtering, and the failure reason.
#include "upstream/upstream_picker.h"

#include <random>

#include "upstream/consistent_hash_balancer.h"
#include "upstream/least_conn_balancer.h"
#include "upstream/random_two_balancer.h"
#include "upstream/smooth_weighted_round_robin.h"

namespace edged::upstream {

int statusFor(PickFailure failure) {
  switch (failure) {
    case PickFailure::None: return 0;
    case PickFailure::NoneAvailable: return 503;
    case PickFailure::AllTried: return 502;
  }
  return 502;
}

UpstreamPicker::UpstreamPicker(const UpstreamGroup& group, std::unique_ptr<Rng> rng)
    : group_(group), rng_(std::move(rng)) {
  if (!rng_) {
    std::random_device rd;
    rng_ = std::make_unique<SplitMix64>((uint64_t{rd()} << 32) ^ rd());
  }
  primary_balancer_ = makeBalancer(group.primary_ring_.get());
  backup_balancer_ = makeBalancer(group.backup_ring_.get());
  scratch_.reserve(group.servers_.size());
}

std::unique_ptr<Balancer> UpstreamPicker::makeBalancer(const HashRing* ring) {
  const size_t n = group_.servers_.size();
  switch (group_.config_.balance) {
    case conf::BalanceAlgorithm::RoundRobin: return std::make_unique<SmoothWeightedRoundRobin>(n);
    case conf::BalanceAlgorithm::LeastConn: return std::make_unique<LeastConnBalancer>(n);
    case conf::BalanceAlgorithm::Hash: return std::make_unique<ConsistentHashBalancer>(*ring, n);
    case conf::BalanceAlgorithm::RandomTwo: return std::make_unique<RandomTwoBalancer>(*rng_);
  }
  return std::make_unique<SmoothWeightedRoundRobin>(n);
}

PickResult UpstreamPicker::choose(const TriedSet& tried, std::string_view hash_key) {
  const uint64_t now = group_.nowMs();
  bool any_usable = false;
  for (int tier = 0; tier < 2; ++tier) {
    const auto& servers = tier == 0 ? group_.primaries_ : group_.backups_;
    scratch_.clear();
    for (Server* s : servers) {
      if (!usable(*s, now)) continue;
      scratch_.push_back({s, s->effectiveWeight(now)});
    }
    if (scratch_.empty()) continue;
    any_usable = true;
    Balancer& b = tier == 0 ? *primary_balancer_ : *backup_balancer_;
    if (auto i = b.pick(scratch_, tried, hash_key)) {
      Server* s = scratch_[*i].server;
      s->notePicked(now);
      return {s, PickFailure::None};
    }
  }
  // Usable servers exist but this request has used them all: the origins failed it (502).
  if (any_usable) return {nullptr, PickFailure::AllTried};
  // Nothing usable: health alone may be wrong (one bad answer marks a lone server down), so try
  // the servers it holds out rather than answer 503 to everyone. The weight is the configured
  // one: a slow-start ramp is about recovered servers, and none is.
  bool any_candidate = false;
  for (int tier = 0; tier < 2; ++tier) {
    const auto& servers = tier == 0 ? group_.primaries_ : group_.backups_;
    scratch_.clear();
    for (Server* s : servers)
      if (panicCandidate(*s)) scratch_.push_back({s, s->weight()});
    if (scratch_.empty()) continue;
    any_candidate = true;
    Balancer& b = tier == 0 ? *primary_balancer_ : *backup_balancer_;
    if (auto i = b.pick(scratch_, tried, hash_key)) {
      Server* s = scratch_[*i].server;
      s->notePanicPicked();
      return {s, PickFailure::None, true};
    }
  }
  // Panic candidates all tried by this request: they failed it (502). None at all: 503.
  return {nullptr, any_candidate ? PickFailure::AllTried : PickFailure::NoneAvailable};
}

bool UpstreamPicker::anyUsable(uint64_t now_ms) const {
  for (const auto& s : group_.servers_)
    if (usable(*s, now_ms)) return true;
  return false;
}

bool UpstreamPicker::anyUntriedAvailable(const TriedSet& tried) const {
  const uint64_t now = group_.nowMs();
  for (const auto& s : group_.servers_)
    if (!tried.contains(s->index) && usable(*s, now)) return true;
  if (anyUsable(now)) return false;
  for (const auto& s : group_.servers_)
    if (!tried.contains(s->index) && panicCandidate(*s)) return true;
  return false;
}

}  // namespace edged::upstream
