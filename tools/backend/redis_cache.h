// tools/backend/redis_cache.h — the L2 cache and the invalidation bus in Redis, through hiredis
// on the uv loop: GET/SET with a TTL under a key prefix, tag sets (`tag:user:ID` lists the keys
// that hold user ID), invalidation (one Lua script: the tag's keys and the named keys become
// markers "nothing older than LSN", then PUBLISH to every process), and a subscriber that applies other processes' invalidations to L1. A
// circuit breaker fails calls fast while Redis is down and probes it back.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "proxy/redis/redis.h"
#include "tools/backend/metrics.h"

namespace edged::backend {

using redis::CircuitBreaker;

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string prefix = "edged:";
  uint32_t ttl_seconds = 60;
  uint64_t command_timeout_ms = 250;
  uint32_t breaker_threshold = 3;
  uint64_t breaker_cooldown_ms = 1000;
};

class RedisCache {
 public:
  using GetDone = std::function<void(std::optional<std::string>)>;  // nullopt: miss or failure
  // Keys another process invalidated (without the prefix), one per line.
  using OnInvalidate = std::function<void(std::string_view keys)>;
  // The subscription went live (true: L1 may be used again, from empty) or was lost (false).
  using OnSubscription = std::function<void(bool live)>;

  RedisCache(uv_loop_t* loop, RedisOptions options, MetricsSlot& metrics, OnInvalidate on_invalidate, OnSubscription on_subscription);
  RedisCache(const RedisCache&) = delete;
  RedisCache& operator=(const RedisCache&) = delete;
  ~RedisCache();

  void get(const std::string& key, GetDone done);
  // Values are "<16 hex digit LSN>\n<data>"; empty data is an invalidation marker.
  // Stores `value` under `key` with the TTL unless the key holds a later LSN (one Lua script),
  // and adds the key to the tag set of `user_id`.
  void set(const std::string& key, const std::string& value, int64_t user_id);
  // Marks the keys tagged `user:ID` and `keys` as invalid before `lsn`, and tells every process
  // (payload: the LSN, then the keys, one per line); `done(ok)` after.
  void invalidate(int64_t user_id, uint64_t lsn, const std::vector<std::string>& keys, std::function<void(bool)> done);
  // Frees both contexts (pending callbacks run with failures).
  void close();

  CircuitBreaker::State breakerState() const { return breaker_.state(); }
  bool subscribed() const { return sub_live_; }

 private:
  struct Op {
    RedisCache* self;
    std::function<void(redisReply*)> done;
    uint64_t started_ms;
    std::list<Op*>::iterator pos;
  };
  static void onTimer(uv_timer_t* t);
  static void onReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void onSubMessage(redisAsyncContext* ac, void* reply, void* privdata);
  static void onCmdConnect(const redisAsyncContext* ac, int status);
  static void onCmdDisconnect(const redisAsyncContext* ac, int status);
  static void onSubConnect(const redisAsyncContext* ac, int status);
  static void onSubDisconnect(const redisAsyncContext* ac, int status);
  // A context to send on, connecting if the breaker lets a call through; null: fail fast.
  redisAsyncContext* commandContext();
  bool command(std::function<void(redisReply*)> done, int argc, const char** argv, const size_t* lens);
  void failure();
  void publishBreaker();
  void connectSubscriber();

  uv_loop_t* loop_;
  RedisOptions options_;
  MetricsSlot& metrics_;
  OnInvalidate on_invalidate_;
  OnSubscription on_subscription_;
  CircuitBreaker breaker_;
  uv_timer_t* timer_ = nullptr;
  redisAsyncContext* cmd_ = nullptr;
  redisAsyncContext* sub_ = nullptr;
  bool sub_live_ = false;
  uint64_t sub_attempt_ms_ = 0;
  std::list<Op*> inflight_;
  std::string channel_;
  bool closed_ = false;
};

}  // namespace edged::backend
