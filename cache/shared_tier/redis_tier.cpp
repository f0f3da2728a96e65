// cache/shared_tier/redis_tier.cpp — RedisTier. hiredis 0.14 has no command timeout in its async
// API, so a timer answers each lookup that is overdue with a miss and counts it against the
// breaker; the late reply is dropped (its id is no longer pending). When the breaker opens the
// connection is freed (hiredis answers what is still pending with null replies) and a new one is
// made for the probe after the cooldown, which also follows a restarted Redis.
#include "cache/shared_tier/redis_tier.h"

#include <cstdio>
#include <cstring>
#include <vector>

#include "cache/shared_tier/shared_tier_hub.h"

namespace edged::cache::shared_tier {

namespace {
// KEYS: the object, then its tag sets. ARGV: value, ttl. A tag set lives as long as the longest
// copy it lists (plus a minute), so it never forgets a live copy.
constexpr const char* kStoreScript =
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) "
    "local ttl = tonumber(ARGV[2]) + 60 "
    "for i = 2, #KEYS do "
    "  redis.call('SADD', KEYS[i], KEYS[1]) "
    "  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end "
    "end "
    "return 1";
}  // namespace

RedisTier::RedisTier(uv_loop_t* loop, std::shared_ptr<SharedTierHub> hub, SecondTierCounters& counters)
    : loop_(loop),
      hub_(std::move(hub)),
      options_(hub_->options()),
      counters_(counters),
      breaker_(options_.breaker_threshold, options_.breaker_cooldown_ms) {
  // Made before the worker's loop is initialised, on another thread: the timer starts with the
  // first lookup (handles()).
}

bool RedisTier::handles() {
  if (released_) return false;
  if (!timer_open_) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    uv_timer_init(loop_, &probe_timer_);
    probe_timer_.data = this;
    timer_open_ = true;
    open_timers_ = 2;
  }
  return true;
}

RedisTier::~RedisTier() {
  if (breaker_counted_open_) counters_.breakers_open.fetch_sub(1, std::memory_order_relaxed);
}

void RedisTier::release() {
  if (released_) return;
  released_ = true;
  for (Pending& p : pending_) p.waiter = nullptr;
  dropContext();
  pending_.clear();
  if (!timer_open_) {
    delete this;  // never used: no handle was opened
    return;
  }
  auto closed = [](uv_handle_t* h) {
    auto* self = static_cast<RedisTier*>(h->data);
    if (--self->open_timers_ == 0) delete self;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&probe_timer_), closed);
}

redisAsyncContext* RedisTier::context() {
  if (!handles()) return nullptr;
  if (ctx_ && hub_->generation() != master_gen_) dropContext();  // Sentinel named a new master
  const bool allowed = breaker_.allow(uv_now(loop_));
  if (!allowed) return nullptr;
  if (ctx_) return ctx_;
  std::string host;
  int port = 0;
  if (!hub_->master(host, port, master_gen_)) return nullptr;
  redisAsyncContext* c = redis::connectAsync(loop_, host.c_str(), port, this, onConnect, onDisconnect);
  if (!c) {
    failure();
    return nullptr;
  }
  ctx_ = c;
  return ctx_;
}

void RedisTier::dropContext() {
  if (redisAsyncContext* c = ctx_) {
    ctx_ = nullptr;
    redisAsyncFree(c);  // pending commands are answered with null replies, now
  }
}

void RedisTier::failure() {
  counters_.errors.fetch_add(1, std::memory_order_relaxed);
  if (breaker_.onFailure(uv_now(loop_))) {
    counters_.breaker_opens.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr, "edged: [warn] shared cache tier %s:%d: circuit breaker open\n", options_.host.c_str(), options_.port);
  }
  if (breaker_.state() == redis::CircuitBreaker::State::Open) {
    if (!breaker_counted_open_) {
      breaker_counted_open_ = true;
      counters_.breakers_open.fetch_add(1, std::memory_order_relaxed);
    }
    dropContext();
    if (timer_open_ && !released_)
      uv_timer_start(&probe_timer_, [](uv_timer_t* t) { static_cast<RedisTier*>(t->data)->onProbeTimer(); },
                     options_.breaker_cooldown_ms + 1, 0);
  }
}

void RedisTier::onProbeTimer() {
  if (released_ || breaker_.state() != redis::CircuitBreaker::State::Open) return;  // a lookup probed already
  redisAsyncContext* c = context();
  if (!c) return;  // failure() armed the next probe
  const uint64_t id = next_id_++;
  const char* argv[] = {"PING"};
  const size_t lens[] = {4};
  if (redisAsyncCommandArgv(c, onGetReply, reinterpret_cast<void*>(static_cast<uintptr_t>(id)), 1, argv, lens) != REDIS_OK) {
    failure();
    return;
  }
  pending_.push_back({id, nullptr, uv_now(loop_) + options_.timeout_ms, true});
  armTimer();
}

void RedisTier::success() {
  if (breaker_.state() != redis::CircuitBreaker::State::Closed)
    std::fprintf(stderr, "edged: [info] shared cache tier %s:%d: back, circuit breaker closed\n", options_.host.c_str(), options_.port);
  breaker_.onSuccess();
  if (breaker_counted_open_) {
    breaker_counted_open_ = false;
    counters_.breakers_open.fetch_sub(1, std::memory_order_relaxed);
  }
}

bool RedisTier::lookup(std::string_view key, SecondTierLookup& waiter) {
  redisAsyncContext* c = context();
  if (!c) {
    counters_.skipped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  key_scratch_.assign(options_.key_prefix);
  key_scratch_ += "o:";
  key_scratch_ += key;
  const uint64_t id = next_id_++;
  const char* argv[] = {"GET", key_scratch_.data()};
  const size_t lens[] = {3, key_scratch_.size()};
  if (redisAsyncCommandArgv(c, onGetReply, reinterpret_cast<void*>(static_cast<uintptr_t>(id)), 2, argv, lens) != REDIS_OK) {
    failure();
    return false;
  }
  pending_.push_back({id, &waiter, uv_now(loop_) + options_.timeout_ms});
  armTimer();
  return true;
}

void RedisTier::cancel(SecondTierLookup& waiter) {
  for (Pending& p : pending_)
    if (p.waiter == &waiter) p.waiter = nullptr;
}

void RedisTier::armTimer() {
  while (!pending_.empty() && !pending_.front().waiter && !pending_.front().probe &&
         pending_.front().deadline_ms <= uv_now(loop_))
    pending_.pop_front();
  if (timer_armed_ || pending_.empty() || released_) return;
  const uint64_t now = uv_now(loop_);
  const uint64_t due = pending_.front().deadline_ms;
  timer_armed_ = true;
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<RedisTier*>(t->data)->onTimer(); }, due > now ? due - now : 0, 0);
}

void RedisTier::onTimer() {
  timer_armed_ = false;
  const uint64_t now = uv_now(loop_);
  bool overdue = false;
  while (!pending_.empty() && pending_.front().deadline_ms <= now) {
    SecondTierLookup* w = pending_.front().waiter;
    const bool probe = pending_.front().probe;
    pending_.pop_front();
    if (probe) overdue = true;
    if (!w) continue;
    overdue = true;
    counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
    w->onSecondTierResult({});
  }
  if (overdue) failure();  // may free the connection (its late replies are dropped)
  armTimer();
}

void RedisTier::onGetReply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<RedisTier*>(ac->data);
  const uint64_t id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(privdata));
  auto* r = static_cast<redisReply*>(reply);
  SecondTierLookup* w = nullptr;
  for (auto it = self->pending_.begin(); it != self->pending_.end(); ++it) {
    if (it->id != id) continue;
    w = it->waiter;
    self->pending_.erase(it);
    break;
  }
  if (!redis::failed(r) && !self->released_) self->success();
  if (!w) return;  // timed out or cancelled
  if (redis::isString(r)) return w->onSecondTierResult(redis::text(r));
  if (r) self->counters_.errors.fetch_add(1, std::memory_order_relaxed);  // an error reply
  w->onSecondTierResult({});
}

void RedisTier::store(std::string_view key, std::string value, uint64_t ttl_seconds, std::span<const std::string> tags) {
  // Writes do not probe a half-open breaker: only a closed one sends them.
  if (released_ || breaker_.state() != redis::CircuitBreaker::State::Closed) return;
  redisAsyncContext* c = context();
  if (!c) return;
  const std::string full = options_.key_prefix + "o:" + std::string(key);
  const std::string ttl = std::to_string(ttl_seconds);
  int rc;
  if (tags.empty()) {
    const char* argv[] = {"SET", full.c_str(), value.data(), "EX", ttl.c_str()};
    const size_t lens[] = {3, full.size(), value.size(), 2, ttl.size()};
    rc = redisAsyncCommandArgv(c, onStoreReply, nullptr, 5, argv, lens);
  } else {
    std::vector<std::string> args{"EVAL", kStoreScript, std::to_string(1 + tags.size()), full};
    for (const std::string& t : tags) args.push_back(options_.key_prefix + "t:" + t);
    args.push_back(std::move(value));
    args.push_back(ttl);
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    rc = redisAsyncCommandArgv(c, onStoreReply, nullptr, static_cast<int>(argv.size()), argv.data(), lens.data());
  }
  if (rc != REDIS_OK) counters_.errors.fetch_add(1, std::memory_order_relaxed);
}

void RedisTier::onStoreReply(redisAsyncContext* ac, void* reply, void*) {
  auto* self = static_cast<RedisTier*>(ac->data);
  auto* r = static_cast<redisReply*>(reply);
  if (!redis::failed(r)) {
    self->counters_.stores.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  self->counters_.errors.fetch_add(1, std::memory_order_relaxed);
  if (r) std::fprintf(stderr, "edged: [error] shared cache tier: store failed: %.*s\n", static_cast<int>(r->len), r->str);
}

void RedisTier::purge(PurgeKind kind, std::string_view value) { hub_->publish(kind, value); }

void RedisTier::onConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisTier*>(ac->data);
  if (self->ctx_ != ac) return;
  if (status != REDIS_OK) {
    self->ctx_ = nullptr;  // hiredis frees it after this callback (pending lookups get null replies)
    self->failure();
    return;
  }
  // Not a success yet: a hung Redis still accepts connections. The first reply closes the breaker.
}

void RedisTier::onDisconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisTier*>(ac->data);
  if (self->ctx_ != ac) return;
  self->ctx_ = nullptr;
  if (status != REDIS_OK && !self->released_) self->failure();
}

SecondTier* makeRedisTier(uv_loop_s* loop, std::shared_ptr<SharedTierHub> hub, SecondTierCounters& counters) {
  return new RedisTier(loop, std::move(hub), counters);
}

}  // namespace edged::cache::shared_tier
