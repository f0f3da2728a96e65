// cache/shared_tier/redis_tier.h — RedisTier: one worker's SecondTier. One hiredis connection on
// the worker's loop; lookups are GETs answered within the timeout (a timer answers the overdue
// ones with a miss); stores are SET with a TTL (plus tag sets, one script); purges go to the
// process's SharedTierHub. A circuit breaker stops trying while Redis fails and probes it back.
#pragma once

#include <uv.h>

#include <deque>
#include <memory>
#include <string>

#include "cache/shared_tier/shared_tier.h"
#include "proxy/redis/redis.h"

namespace edged::cache::shared_tier {

class RedisTier final : public SecondTier {
 public:
  RedisTier(uv_loop_t* loop, std::shared_ptr<SharedTierHub> hub, SecondTierCounters& counters);
  RedisTier(const RedisTier&) = delete;
  RedisTier& operator=(const RedisTier&) = delete;

  bool lookup(std::string_view key, SecondTierLookup& waiter) override;
  void cancel(SecondTierLookup& waiter) override;
  void store(std::string_view key, std::string value, uint64_t ttl_seconds,
             std::span<const std::string> tags) override;
  void purge(PurgeKind kind, std::string_view value) override;
  uint64_t maxObject() const override { return options_.max_object; }
  void release() override;

 private:
  ~RedisTier() override;
  struct Pending {
    uint64_t id;
    SecondTierLookup* waiter;  // null once cancelled, and for a probe
    uint64_t deadline_ms;
    bool probe = false;        // the breaker's own PING: its timeout counts as a failure
  };
  // The connection to send on, connecting when there is none; null while the breaker is open.
  redisAsyncContext* context();
  // Opens the timer on first use (on the worker's thread); false once released.
  bool handles();
  void dropContext();
  void failure();
  void success();
  void armTimer();
  void onTimer();
  // The breaker's cooldown is over: a PING probes Redis even when no request comes.
  void onProbeTimer();
  static void onGetReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void onStoreReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void onConnect(const redisAsyncContext* ac, int status);
  static void onDisconnect(const redisAsyncContext* ac, int status);

  uv_loop_t* loop_;
  std::shared_ptr<SharedTierHub> hub_;
  const SharedTierOptions& options_;  // the hub's
  SecondTierCounters& counters_;
  redis::CircuitBreaker breaker_;
  bool breaker_counted_open_ = false;
  redisAsyncContext* ctx_ = nullptr;
  uv_timer_t timer_{};
  uv_timer_t probe_timer_{};
  int open_timers_ = 0;  // closed ones are counted down; the last close frees the tier
  bool timer_armed_ = false;
  bool timer_open_ = false;
  bool released_ = false;
  uint64_t next_id_ = 1;
  uint64_t master_gen_ = 0;  // the hub's master generation ctx_ was made for
  std::deque<Pending> pending_;  // lookups in send order
  std::string key_scratch_;
};

}  // namespace edged::cache::shared_tier
