// cache/shared_tier/shared_tier.h — the face of edged_shared_tier: the cache's second tier in
// Redis (hiredis on libuv), shared by every edged instance that names the same Redis and prefix.
// Per worker a RedisTier (one connection on the worker's own loop: lookups bounded by a timeout
// behind a circuit breaker, asynchronous stores); per process a SharedTierHub (its own thread and
// loop: purges deleted in Redis and published on a channel, other instances' purges applied).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/second_tier.h"

struct uv_loop_s;

namespace edged::cache::shared_tier {

struct SharedTierOptions {
  std::string host = "127.0.0.1";  // numeric address (when no sentinels)
  int port = 6379;
  std::vector<std::pair<std::string, int>> sentinels;  // or: ask these for `master`'s address
  std::string master;
  std::string key_prefix = "edged:";
  uint64_t max_object = 1ull << 20;
  uint64_t timeout_ms = 20;
  uint32_t breaker_threshold = 3;   // consecutive failures that open the breaker
  uint64_t breaker_cooldown_ms = 1000;
  bool collapse = true;             // collapsing across instances: a fill lock per key in Redis
  uint64_t lock_timeout_ms = 5000;  // a waiter's longest wait for another instance's fill
  uint64_t lock_ttl_ms = 5000;      // the lock's expiry
  bool operator==(const SharedTierOptions&) const = default;
};

// Redis layout under the prefix P: P"o:"KEY objects (KEY = primary key '#' encoding), P"t:"TAG
// sets of the object keys carrying TAG, P"lock:"KEY fill locks (value: instance and lock id,
// expiring after lock_ttl), channel P"purge".
class SharedTierHub;

// Applies a purge another instance published to this process's memory; returns entries removed.
using ApplyPurge = std::function<size_t(PurgeKind kind, std::string_view value)>;

// Starts the hub's thread. `counters` and `apply` must outlive it.
std::shared_ptr<SharedTierHub> startHub(const SharedTierOptions& options, SecondTierCounters& counters,
                                        ApplyPurge apply);
// Deletes the Redis copies and tells every instance (this one skips its own message); any thread.
void publishPurge(SharedTierHub& hub, PurgeKind kind, std::string_view value);
const SharedTierOptions& hubOptions(const SharedTierHub& hub);

// One worker's tier on its loop (freed by SecondTier::release()).
SecondTier* makeRedisTier(uv_loop_s* loop, std::shared_ptr<SharedTierHub> hub, SecondTierCounters& counters);

}  // namespace edged::cache::shared_tier
