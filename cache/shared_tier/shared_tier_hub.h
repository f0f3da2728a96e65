// cache/shared_tier/shared_tier_hub.h — SharedTierHub: the process's one thread for cluster-wide
// purges. It owns a uv loop with two Redis connections: one runs the purge script (delete the
// copies and tag sets, then PUBLISH), one is subscribed to the channel and applies the purges of
// other instances to this process's memory. Purges wait in a queue until Redis took them.
#pragma once

#include "proxy/redis/redis.h"
#include <uv.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "cache/shared_tier/shared_tier.h"

namespace edged::cache::shared_tier {

class SharedTierHub {
 public:
  SharedTierHub(const SharedTierOptions& options, SecondTierCounters& counters, ApplyPurge apply);
  // Stops the thread: closes every handle and runs its loop to the end.
  ~SharedTierHub();
  SharedTierHub(const SharedTierHub&) = delete;
  SharedTierHub& operator=(const SharedTierHub&) = delete;

  void publish(PurgeKind kind, std::string_view value);  // any thread
  const SharedTierOptions& options() const { return options_; }
  // The Redis to use now (with Sentinel: the master it named last); false while not known. Any
  // thread. `generation` changes whenever the address does.
  bool master(std::string& host, int& port, uint64_t& generation) const;
  uint64_t generation() const { return master_gen_.load(std::memory_order_acquire); }
  // This process's random id, and a new number for a fill lock it takes (any thread): the lock's
  // value, so that only its owner deletes it.
  const std::string& instance() const { return instance_; }
  uint64_t nextLockId() { return next_lock_id_.fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Purge {
    PurgeKind kind;
    std::string value;
    uint64_t published_ms;  // wall clock, for the receivers' lag
  };
  void run();
  void onAsync();
  void onTick();
  void sendQueued();
  void connectPublisher();
  void connectSubscriber();
  void closeAll();
  void connectSentinel();
  void setMaster(std::string_view host, int port);
  static void onMasterAddr(redisAsyncContext* ac, void* reply, void* privdata);
  static void onSwitchMaster(redisAsyncContext* ac, void* reply, void* privdata);
  static void onSentinelConnect(const redisAsyncContext* ac, int status);
  static void onSentinelDisconnect(const redisAsyncContext* ac, int status);
  static void onPurgeReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void onMessage(redisAsyncContext* ac, void* reply, void* privdata);
  static void onPubConnect(const redisAsyncContext* ac, int status);
  static void onPubDisconnect(const redisAsyncContext* ac, int status);
  static void onSubConnect(const redisAsyncContext* ac, int status);
  static void onSubDisconnect(const redisAsyncContext* ac, int status);

  SharedTierOptions options_;
  SecondTierCounters& counters_;
  ApplyPurge apply_;
  std::string instance_;  // random id: this process's own messages are skipped
  std::string channel_;
  uv_loop_t loop_{};
  uv_async_t async_{};
  uv_timer_t tick_{};
  redisAsyncContext* pub_ = nullptr;
  redisAsyncContext* sub_ = nullptr;
  bool pub_ready_ = false;      // connected
  bool sub_connected_ = false;
  uint64_t pub_started_ms_ = 0;  // when the connect began (loop time)
  uint64_t sub_started_ms_ = 0;
  std::deque<Purge> unsent_;    // loop thread: waiting for a connection
  std::deque<Purge> inflight_;  // loop thread: sent, reply pending (in order)
  mutable std::mutex master_mutex_;
  std::string master_host_;  // guarded by master_mutex_; empty while unknown
  int master_port_ = 0;      // guarded by master_mutex_
  std::atomic<uint64_t> master_gen_{0};
  std::atomic<uint64_t> next_lock_id_{1};
  redisAsyncContext* sentinel_ = nullptr;  // loop thread
  bool sentinel_connected_ = false;
  uint64_t sentinel_started_ms_ = 0;
  size_t sentinel_index_ = 0;
  std::mutex mutex_;
  std::deque<Purge> incoming_;  // guarded by mutex_
  bool stopping_ = false;       // guarded by mutex_
  bool closed_ = false;         // loop thread
  std::thread thread_;
};

}  // namespace edged::cache::shared_tier
