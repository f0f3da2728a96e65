// cache/shared_tier/redis_tier.h — RedisTier: one worker's SecondTier. One hiredis connection on
// the worker's loop; lookups are GETs answered within the timeout (a timer answers the overdue
// ones with a miss); stores are SET with a TTL (plus tag sets, one script); purges go to the
// process's SharedTierHub. A circuit breaker stops trying while Redis fails and probes it back.
// Collapsing across instances: a lookup that misses takes the key's fill lock (one script, that
// also answers with a copy stored meanwhile); when another instance holds it, the lookup polls
// the lock and the copy (one MGET) at growing intervals until the copy is there, the lock is
// gone, or lock_timeout passed.
#pragma once

#include <uv.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "cache/shared_tier/shared_tier.h"
#include "proxy/redis/redis.h"

namespace edged::cache::shared_tier {

class RedisTier final : public SecondTier {
 public:
  RedisTier(uv_loop_t* loop, std::shared_ptr<SharedTierHub> hub, SecondTierCounters& counters);
  RedisTier(const RedisTier&) = delete;
  RedisTier& operator=(const RedisTier&) = delete;

  bool lookup(std::string_view key, SecondTierLookup& waiter, bool collapse) override;
  void cancel(SecondTierLookup& waiter) override;
  void store(std::string_view key, std::string value, uint64_t ttl_seconds,
             std::span<const std::string> tags) override;
  void unlock(std::string_view key, uint64_t lock) override;
  void purge(PurgeKind kind, std::string_view value) override;
  uint64_t maxObject() const override { return options_.max_object; }
  void release() override;

 private:
  ~RedisTier() override;
  // One collapsing lookup: its keys, then its wait on another instance's fill. Pooled (the
  // strings keep their capacity): no allocation per lookup once warm.
  struct Collapse {
    SecondTierLookup* waiter = nullptr;  // null: the slot is free
    std::string object_key;  // P"o:"KEY
    std::string lock_key;    // P"lock:"KEY
    uint64_t lock = 0;       // the lock id this lookup offered
    uint64_t wait_until_ms = 0;
    uint64_t next_poll_ms = 0;
    uint64_t interval_ms = 0;
    bool waiting = false;    // between two polls
  };
  enum class Step : uint8_t { Get, Lock, Poll, Probe };
  struct Pending {
    uint64_t id;
    SecondTierLookup* waiter;  // null once cancelled, and for a probe
    uint64_t deadline_ms;
    bool probe = false;        // the breaker's own PING: its timeout counts as a failure
    Step step = Step::Get;
    Collapse* collapse = nullptr;  // a collapsing lookup's slot (valid while waiter is set)
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
  // Keeps pending_ in deadline order (a lock step keeps its lookup's deadline).
  void track(const Pending& p);
  Collapse* takeSlot(SecondTierLookup& waiter, std::string_view key);
  // Frees the slot and answers its waiter.
  void answer(Collapse* slot, SecondTierLookup* waiter, const SecondTierAnswer& a);
  // The lock step after a miss: false when it could not be sent.
  bool sendLock(Collapse* slot, uint64_t deadline_ms);
  bool sendPoll(Collapse* slot);
  void onReply(const Pending& p, redisReply* r);
  void waitForPoll(Collapse* slot, uint64_t now);
  void armPollTimer();
  void onPollTimer();
  const std::string& lockValue(uint64_t lock);
  void sendUnlock(const std::string& lock_key, uint64_t lock);
  uint64_t connectTimeoutMs() const;
  static void onStoreReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void onUnlockReply(redisAsyncContext* ac, void* reply, void* privdata);
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
  uv_timer_t poll_timer_{};  // the next poll of a collapsing wait
  int open_timers_ = 0;  // closed ones are counted down; the last close frees the tier
  bool timer_armed_ = false;
  bool timer_open_ = false;
  bool released_ = false;
  uint64_t next_id_ = 1;
  uint64_t master_gen_ = 0;  // the hub's master generation ctx_ was made for
  std::deque<Pending> pending_;  // lookups in send order
  std::string key_scratch_;
  std::string command_scratch_;  // a GET in RESP, formatted by lookup()
  std::string lock_scratch_, ttl_scratch_;
  std::vector<std::unique_ptr<Collapse>> collapses_;
  size_t waiting_ = 0;  // slots between polls
};

}  // namespace edged::cache::shared_tier
