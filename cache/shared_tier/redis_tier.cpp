// cache/shared_tier/redis_tier.cpp — RedisTier. hiredis 0.14 has no command timeout in its async
// API, so a timer answers each lookup that is overdue with a miss and counts it against the
// breaker; the late reply is dropped (its id is no longer pending). When the breaker opens the
// connection is freed (hiredis answers what is still pending with null replies) and a new one is
// made for the probe after the cooldown, which also follows a restarted Redis.
#include "cache/shared_tier/redis_tier.h"

#include <algorithm>
#include <charconv>
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

// KEYS: the object, its lock. ARGV: the lock's value, its ttl in ms. A copy stored since the GET
// missed is answered (a bulk string: checked and taken in the same step, so no fill that ended in
// between is repeated); else 1 when this lookup took the lock, 0 when another fill holds it.
constexpr const char* kLockScript =
    "local v = redis.call('GET', KEYS[1]) if v then return v end "
    "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end "
    "return 0";
// KEYS: the lock. ARGV: the value its owner set: deleted only while it is still that owner's.
constexpr const char* kUnlockScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

// A waiter polls its lock and the copy after 10 ms, then at doubling intervals up to 100 ms:
// a waiter is served at most ~100 ms after the copy landed, at ~55 polls over a 5 s wait.
constexpr uint64_t kFirstPollMs = 10;
constexpr uint64_t kMaxPollMs = 100;
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
    uv_timer_init(loop_, &poll_timer_);
    poll_timer_.data = this;
    timer_open_ = true;
    open_timers_ = 3;
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
  for (auto& c : collapses_) {
    c->waiter = nullptr;
    c->waiting = false;
  }
  waiting_ = 0;
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
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_timer_), closed);
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
  redisAsyncContext* c = redis::connectAsync(loop_, host.c_str(), port, this, onConnect, onDisconnect, connectTimeoutMs());
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
  track({id, nullptr, uv_now(loop_) + options_.timeout_ms, true, Step::Probe});
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

bool RedisTier::lookup(std::string_view key, SecondTierLookup& waiter, bool collapse) {
  redisAsyncContext* c = context();
  if (!c) {
    counters_.skipped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Collapse* slot = collapse && options_.collapse ? takeSlot(waiter, key) : nullptr;
  if (!slot) {
    key_scratch_.assign(options_.key_prefix);
    key_scratch_ += "o:";
    key_scratch_ += key;
  }
  const std::string& k = slot ? slot->object_key : key_scratch_;
  const uint64_t id = next_id_++;
  // The GET in RESP, formatted here: hiredis's argv formatter costs about 1,500 instructions and
  // several allocations a command, on every local miss.
  char length[24];
  const auto [length_end, ec] = std::to_chars(length, length + sizeof length, k.size());
  command_scratch_.assign("*2\r\n$3\r\nGET\r\n$");
  command_scratch_.append(length, length_end).append("\r\n").append(k).append("\r\n");
  if (redisAsyncFormattedCommand(c, onGetReply, reinterpret_cast<void*>(static_cast<uintptr_t>(id)),
                                 command_scratch_.data(), command_scratch_.size()) != REDIS_OK) {
    if (slot) slot->waiter = nullptr;
    failure();
    return false;
  }
  track({id, &waiter, uv_now(loop_) + options_.timeout_ms, false, Step::Get, slot});
  armTimer();
  return true;
}

void RedisTier::cancel(SecondTierLookup& waiter) {
  for (Pending& p : pending_)
    if (p.waiter == &waiter) {
      // A lock the script may still take for nobody: deleted right after it (same connection).
      if (p.step == Step::Lock && p.collapse) sendUnlock(p.collapse->lock_key, p.collapse->lock);
      p.waiter = nullptr;
      p.collapse = nullptr;
    }
  for (auto& c : collapses_) {
    if (c->waiter != &waiter) continue;
    if (c->waiting) --waiting_;
    c->waiter = nullptr;
    c->waiting = false;
  }
}

void RedisTier::track(const Pending& p) {
  auto at = std::upper_bound(pending_.begin(), pending_.end(), p.deadline_ms,
                             [](uint64_t d, const Pending& q) { return d < q.deadline_ms; });
  pending_.insert(at, p);
}

RedisTier::Collapse* RedisTier::takeSlot(SecondTierLookup& waiter, std::string_view key) {
  Collapse* slot = nullptr;
  for (auto& c : collapses_)
    if (!c->waiter) {
      slot = c.get();
      break;
    }
  if (!slot) slot = collapses_.emplace_back(std::make_unique<Collapse>()).get();
  slot->waiter = &waiter;
  slot->object_key.assign(options_.key_prefix).append("o:").append(key);
  slot->lock_key.assign(options_.key_prefix).append("lock:").append(key);
  slot->lock = 0;
  slot->waiting = false;
  return slot;
}

void RedisTier::answer(Collapse* slot, SecondTierLookup* waiter, const SecondTierAnswer& a) {
  if (slot) {
    if (slot->waiting) --waiting_;
    slot->waiter = nullptr;
    slot->waiting = false;
  }
  waiter->onSecondTierResult(a);
}

const std::string& RedisTier::lockValue(uint64_t lock) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, lock);
  lock_scratch_.assign(hub_->instance()).append(1, ':').append(digits, end);
  return lock_scratch_;
}

// A connect gets 5 lookup timeouts (at least 100 ms, at most 1 s): one that takes longer (a
// blackholed address, a lost SYN) is given up and counted as a failure; the lookups queued on it
// are answered as misses then, or by their own timeout before.
uint64_t RedisTier::connectTimeoutMs() const {
  return std::clamp<uint64_t>(options_.timeout_ms * 5, 100, 1000);
}

bool RedisTier::sendLock(Collapse* slot, uint64_t deadline_ms) {
  redisAsyncContext* c = context();
  if (!c) return false;
  slot->lock = hub_->nextLockId();
  const std::string& value = lockValue(slot->lock);
  char ttl[24];
  const auto [end, ec] = std::to_chars(ttl, ttl + sizeof ttl, options_.lock_ttl_ms);
  const uint64_t id = next_id_++;
  const char* argv[] = {"EVAL", kLockScript, "2", slot->object_key.data(), slot->lock_key.data(), value.data(), ttl};
  const size_t lens[] = {4, std::strlen(kLockScript), 1, slot->object_key.size(), slot->lock_key.size(), value.size(),
                         static_cast<size_t>(end - ttl)};
  if (redisAsyncCommandArgv(c, onGetReply, reinterpret_cast<void*>(static_cast<uintptr_t>(id)), 7, argv, lens) != REDIS_OK)
    return false;
  track({id, slot->waiter, deadline_ms, false, Step::Lock, slot});
  armTimer();
  return true;
}

bool RedisTier::sendPoll(Collapse* slot) {
  redisAsyncContext* c = context();
  if (!c) return false;
  const uint64_t id = next_id_++;
  const char* argv[] = {"MGET", slot->lock_key.data(), slot->object_key.data()};
  const size_t lens[] = {4, slot->lock_key.size(), slot->object_key.size()};
  if (redisAsyncCommandArgv(c, onGetReply, reinterpret_cast<void*>(static_cast<uintptr_t>(id)), 3, argv, lens) != REDIS_OK)
    return false;
  track({id, slot->waiter, uv_now(loop_) + options_.timeout_ms, false, Step::Poll, slot});
  armTimer();
  return true;
}

// The slot polls again after its interval (never past its wait's end).
void RedisTier::waitForPoll(Collapse* slot, uint64_t now) {
  slot->next_poll_ms = std::min(now + slot->interval_ms, slot->wait_until_ms);
  slot->waiting = true;
  ++waiting_;
  armPollTimer();
}

void RedisTier::armPollTimer() {
  if (released_ || !timer_open_) return;
  if (waiting_ == 0) {
    uv_timer_stop(&poll_timer_);
    return;
  }
  uint64_t due = UINT64_MAX;
  for (const auto& c : collapses_)
    if (c->waiting) due = std::min(due, c->next_poll_ms);
  const uint64_t now = uv_now(loop_);
  uv_timer_start(&poll_timer_, [](uv_timer_t* t) { static_cast<RedisTier*>(t->data)->onPollTimer(); },
                 due > now ? due - now : 0, 0);
}

void RedisTier::onPollTimer() {
  const uint64_t now = uv_now(loop_);
  // By index: answering a waiter may (in principle) start another lookup, which may add a slot.
  for (size_t i = 0; i < collapses_.size(); ++i) {
    Collapse* c = collapses_[i].get();
    if (!c->waiting || c->next_poll_ms > now) continue;
    c->waiting = false;
    --waiting_;
    if (now >= c->wait_until_ms) {
      counters_.lock_wait_timeouts.fetch_add(1, std::memory_order_relaxed);
      answer(c, c->waiter, {});
    } else if (!sendPoll(c)) {
      answer(c, c->waiter, {});
    }
  }
  armPollTimer();
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
    Collapse* slot = pending_.front().collapse;
    const bool probe = pending_.front().probe;
    const Step pending_step = pending_.front().step;
    pending_.pop_front();
    if (probe) overdue = true;
    if (!w) continue;
    overdue = true;
    counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
    if (slot && pending_step == Step::Lock) sendUnlock(slot->lock_key, slot->lock);  // a late taken lock
    answer(slot, w, {});
  }
  if (overdue) failure();  // may free the connection (its late replies are dropped)
  armTimer();
}

void RedisTier::onGetReply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<RedisTier*>(ac->data);
  const uint64_t id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(privdata));
  auto* r = static_cast<redisReply*>(reply);
  Pending p{0, nullptr, 0};
  for (auto it = self->pending_.begin(); it != self->pending_.end(); ++it) {
    if (it->id != id) continue;
    p = *it;
    self->pending_.erase(it);
    break;
  }
  if (!redis::failed(r) && !self->released_) self->success();
  if (!p.waiter) return;  // timed out or cancelled (or a probe)
  self->onReply(p, r);
}

// A reply for a live lookup: a GET, the lock step or a poll. A null reply (the connection went
// away) never sends a next step.
void RedisTier::onReply(const Pending& p, redisReply* r) {
  Collapse* slot = p.collapse;
  switch (p.step) {
    case Step::Get:
      if (redis::isString(r)) return answer(slot, p.waiter, {redis::text(r)});
      if (slot && r && r->type == REDIS_REPLY_NIL && !released_ && sendLock(slot, uv_now(loop_) + options_.timeout_ms)) return;
      break;
    case Step::Lock:
      if (redis::isString(r)) return answer(slot, p.waiter, {redis::text(r)});  // stored meanwhile
      if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        counters_.locks_acquired.fetch_add(1, std::memory_order_relaxed);
        return answer(slot, p.waiter, {{}, slot->lock});
      }
      if (r && r->type == REDIS_REPLY_INTEGER) {  // another instance fills it: wait for its copy
        counters_.lock_waits.fetch_add(1, std::memory_order_relaxed);
        const uint64_t now = uv_now(loop_);
        slot->wait_until_ms = now + options_.lock_timeout_ms;
        slot->interval_ms = kFirstPollMs;
        return waitForPoll(slot, now);
      }
      break;
    case Step::Poll:
      if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (redis::isString(r->element[1])) return answer(slot, p.waiter, {redis::text(r->element[1]), 0, true});
        if (r->element[0]->type == REDIS_REPLY_NIL) {  // the fill ended without a copy, or its lock expired
          counters_.lock_waits_released.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        const uint64_t now = uv_now(loop_);
        if (now >= slot->wait_until_ms) {
          counters_.lock_wait_timeouts.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        slot->interval_ms = std::min(slot->interval_ms * 2, kMaxPollMs);
        return waitForPoll(slot, now);
      }
      break;
    case Step::Probe:
      return;
  }
  if (r && r->type == REDIS_REPLY_ERROR) counters_.errors.fetch_add(1, std::memory_order_relaxed);
  answer(slot, p.waiter, {});
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

void RedisTier::unlock(std::string_view key, uint64_t lock) {
  // As a store: only a closed breaker sends it (else the lock expires by itself).
  key_scratch_.assign(options_.key_prefix).append("lock:").append(key);
  sendUnlock(key_scratch_, lock);
}

void RedisTier::sendUnlock(const std::string& lock_key, uint64_t lock) {
  if (released_ || !lock || breaker_.state() != redis::CircuitBreaker::State::Closed) return;
  redisAsyncContext* c = context();
  if (!c) return;
  const std::string& value = lockValue(lock);
  const char* argv[] = {"EVAL", kUnlockScript, "1", lock_key.data(), value.data()};
  const size_t lens[] = {4, std::strlen(kUnlockScript), 1, lock_key.size(), value.size()};
  if (redisAsyncCommandArgv(c, onUnlockReply, nullptr, 5, argv, lens) != REDIS_OK)
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
}

void RedisTier::onUnlockReply(redisAsyncContext* ac, void* reply, void*) {
  auto* self = static_cast<RedisTier*>(ac->data);
  if (redis::failed(static_cast<redisReply*>(reply))) self->counters_.errors.fetch_add(1, std::memory_order_relaxed);
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
