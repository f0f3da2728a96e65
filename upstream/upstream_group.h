// upstream/upstream_group.h — the servers of one configured upstream, shared by all workers.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "conf/config.h"
#include "upstream/clock.h"
#include "upstream/hash_key.h"
#include "upstream/hash_ring.h"
#include "upstream/rng.h"
#include "upstream/server.h"

namespace edged::upstream {

class UpstreamPicker;

// The servers of one configured upstream; shared by all workers, immutable but for Server
// atomics. Also holds what the workers' pickers share: the clock and, for `balance: hash`, the
// rings (built once here, not per worker).
class UpstreamGroup {
 public:
  // `clock` must outlive the group and be thread-safe. `previous`: the group of the same name in
  // the configuration this one replaces (reload); its servers whose address stays hand their
  // runtime (counts, health, drain) to the new ones.
  explicit UpstreamGroup(const conf::UpstreamConfig& config, const Clock& clock = steadyClock(),
                         const UpstreamGroup* previous = nullptr);
  const conf::UpstreamConfig& config() const { return config_; }
  const std::string& name() const { return config_.name; }
  std::span<const std::unique_ptr<Server>> servers() const { return servers_; }
  const Clock& clock() const { return clock_; }
  uint64_t nowMs() const { return clock_.nowMs(); }
  // Whether the proxy must compute a hash key for pick(), and which (parsed `hash_key`).
  bool needsHashKey() const { return config_.balance == conf::BalanceAlgorithm::Hash; }
  const HashKey& hashKey() const { return hash_key_; }

  // A per-worker picker: balancer state belongs to the worker that uses it. `rng` feeds
  // random_two; null means a SplitMix64 seeded from std::random_device.
  std::unique_ptr<UpstreamPicker> makePicker(std::unique_ptr<Rng> rng = nullptr) const;

 private:
  friend class UpstreamPicker;
  conf::UpstreamConfig config_;
  const Clock& clock_;
  HashKey hash_key_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<Server*> primaries_, backups_;
  std::unique_ptr<HashRing> primary_ring_, backup_ring_;  // balance: hash only
};

}  // namespace edged::upstream
