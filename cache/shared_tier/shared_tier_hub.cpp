// cache/shared_tier/shared_tier_hub.cpp — SharedTierHub. A purge is applied to local memory by
// whoever asked (the filter, the admin endpoint) before it gets here; here it becomes one Lua
// script run atomically in Redis (delete the copies, then PUBLISH), so an instance that hears
// the message finds Redis already clean and cannot refill its memory from a stale copy.
#include "cache/shared_tier/shared_tier_hub.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <random>

#include "proxy/redis/redis.h"

namespace edged::cache::shared_tier {

namespace {

// ARGV: prefix, kind (k / p / t), value, channel, message. Returns the copies deleted.
constexpr const char* kPurgeScript =
    "local p, kind, v = ARGV[1], ARGV[2], ARGV[3] "
    "local n = 0 "
    "if kind == 'k' then "
    "  for _, e in ipairs({'identity', 'gzip', 'br', 'zstd'}) do n = n + redis.call('DEL', p .. 'o:' .. v .. '#' .. e) end "
    "elseif kind == 'p' then "
    "  local pat = p .. 'o:' .. string.gsub(v, '([%*%?%[%]\\\\])', '\\\\%1') .. '*' "
    "  local cursor = '0' "
    "  repeat "
    "    local r = redis.call('SCAN', cursor, 'MATCH', pat, 'COUNT', 1000) "
    "    cursor = r[1] "
    "    for _, k in ipairs(r[2]) do n = n + redis.call('DEL', k) end "
    "  until cursor == '0' "
    "elseif kind == 't' then "
    "  local t = p .. 't:' .. v "
    "  for _, k in ipairs(redis.call('SMEMBERS', t)) do n = n + redis.call('DEL', k) end "
    "  redis.call('DEL', t) "
    "end "
    "redis.call('PUBLISH', ARGV[4], ARGV[5]) "
    "return n";

constexpr size_t kMaxUnsent = 100000;

uint64_t wallMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

char kindChar(PurgeKind k) { return k == PurgeKind::Key ? 'k' : k == PurgeKind::Prefix ? 'p' : 't'; }

}  // namespace

SharedTierHub::SharedTierHub(const SharedTierOptions& options, SecondTierCounters& counters, ApplyPurge apply)
    : options_(options), counters_(counters), apply_(std::move(apply)) {
  std::random_device rd;
  char id[17];
  std::snprintf(id, sizeof id, "%08x%08x", rd(), rd());
  instance_ = id;
  channel_ = options_.key_prefix + "purge";
  if (options_.sentinels.empty()) {
    master_host_ = options_.host;
    master_port_ = options_.port;
  }
  uv_loop_init(&loop_);
  async_.data = this;
  uv_async_init(&loop_, &async_, [](uv_async_t* a) { static_cast<SharedTierHub*>(a->data)->onAsync(); });
  thread_ = std::thread([this] { run(); });
}

SharedTierHub::~SharedTierHub() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  uv_async_send(&async_);
  thread_.join();
}

void SharedTierHub::publish(PurgeKind kind, std::string_view value) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    incoming_.push_back({kind, std::string(value), wallMs()});
  }
  uv_async_send(&async_);
}

void SharedTierHub::run() {
  uv_timer_init(&loop_, &tick_);
  tick_.data = this;
  // Reconnects and retries: a purge taken while Redis was away goes out once it is back.
  uv_timer_start(&tick_, [](uv_timer_t* t) { static_cast<SharedTierHub*>(t->data)->onTick(); }, 100, 100);
  connectSentinel();
  connectPublisher();
  connectSubscriber();
  onAsync();  // what was published before the loop ran
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop_) != 0) std::fprintf(stderr, "edged: [alert] shared cache tier: handles still open at exit\n");
}

void SharedTierHub::onAsync() {
  bool stop;
  {
    std::lock_guard lock(mutex_);
    stop = stopping_;
    for (Purge& p : incoming_) {
      if (unsent_.size() < kMaxUnsent) unsent_.push_back(std::move(p));
      else counters_.errors.fetch_add(1, std::memory_order_relaxed);
    }
    incoming_.clear();
  }
  if (stop) return closeAll();
  sendQueued();
}

void SharedTierHub::onTick() {
  if (closed_) return;
  // A connect that does not complete within a second (a lost SYN; a refused one is reported by
  // edged_redis's loop adapter) is given up and tried again.
  const uint64_t now = uv_now(&loop_);
  if (pub_ && !pub_ready_ && now - pub_started_ms_ >= 1000) {
    redisAsyncContext* c = pub_;
    pub_ = nullptr;
    redisAsyncFree(c);
  }
  if (sub_ && !sub_connected_ && now - sub_started_ms_ >= 1000) {
    redisAsyncContext* s = sub_;
    sub_ = nullptr;
    redisAsyncFree(s);
  }
  if (sentinel_ && !sentinel_connected_ && now - sentinel_started_ms_ >= 1000) {
    redisAsyncContext* s = sentinel_;
    sentinel_ = nullptr;
    redisAsyncFree(s);
    ++sentinel_index_;  // the next one
  }
  if (!sentinel_) connectSentinel();
  if (!pub_) connectPublisher();
  if (!sub_) connectSubscriber();
  sendQueued();
}

void SharedTierHub::sendQueued() {
  if (closed_ || !pub_ || !pub_ready_) return;
  while (!unsent_.empty()) {
    Purge& p = unsent_.front();
    const char kind[2] = {kindChar(p.kind), 0};
    const std::string message = instance_ + " " + std::to_string(p.published_ms) + " " + kind + " " + p.value;
    const char* argv[] = {"EVAL", kPurgeScript, "0", options_.key_prefix.c_str(), kind, p.value.c_str(), channel_.c_str(), message.c_str()};
    const size_t lens[] = {4, std::strlen(kPurgeScript), 1, options_.key_prefix.size(), 1, p.value.size(), channel_.size(), message.size()};
    if (redisAsyncCommandArgv(pub_, onPurgeReply, nullptr, 8, argv, lens) != REDIS_OK) return;
    inflight_.push_back(std::move(p));
    unsent_.pop_front();
  }
}

void SharedTierHub::onPurgeReply(redisAsyncContext* ac, void* reply, void*) {
  auto* self = static_cast<SharedTierHub*>(ac->data);
  if (self->inflight_.empty()) return;
  Purge p = std::move(self->inflight_.front());
  self->inflight_.pop_front();
  auto* r = static_cast<redisReply*>(reply);
  if (!redis::failed(r)) {
    self->counters_.purges_published.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  self->counters_.errors.fetch_add(1, std::memory_order_relaxed);
  if (r) {
    std::fprintf(stderr, "edged: [error] shared cache tier: purge script failed: %.*s\n", static_cast<int>(r->len), r->str);
    return;
  }
  // The connection went away before Redis answered: sent again once it is back (a purge is
  // idempotent, so one that did run costs only a second message).
  if (!self->closed_ && self->unsent_.size() < kMaxUnsent) self->unsent_.push_front(std::move(p));
}

bool SharedTierHub::master(std::string& host, int& port, uint64_t& generation) const {
  std::lock_guard lock(master_mutex_);
  if (master_host_.empty()) return false;
  host = master_host_;
  port = master_port_;
  generation = master_gen_.load(std::memory_order_relaxed);
  return true;
}

void SharedTierHub::setMaster(std::string_view host, int port) {
  {
    std::lock_guard lock(master_mutex_);
    if (host == master_host_ && port == master_port_) return;
    master_host_ = host;
    master_port_ = port;
    master_gen_.fetch_add(1, std::memory_order_release);  // the workers reconnect on their next call
  }
  std::fprintf(stderr, "edged: [info] shared cache tier: master %s is %.*s:%d\n", options_.master.c_str(),
               static_cast<int>(host.size()), host.data(), port);
  for (redisAsyncContext** c : {&pub_, &sub_}) {
    if (redisAsyncContext* old = *c) {
      *c = nullptr;
      redisAsyncFree(old);
    }
  }
  counters_.subscribed.store(0, std::memory_order_relaxed);
  connectPublisher();
  connectSubscriber();
}

// With Sentinel: one connection to one of them asks for the master's address, then listens for
// +switch-master (a failover); when it is lost the next Sentinel is asked.
void SharedTierHub::connectSentinel() {
  if (closed_ || sentinel_ || options_.sentinels.empty()) return;
  const auto& [host, port] = options_.sentinels[sentinel_index_ % options_.sentinels.size()];
  redisAsyncContext* s = redis::connectAsync(&loop_, host.c_str(), port, this, onSentinelConnect, onSentinelDisconnect);
  if (!s) {
    ++sentinel_index_;
    return;
  }
  sentinel_ = s;
  sentinel_connected_ = false;
  sentinel_started_ms_ = uv_now(&loop_);
  const char* ask[] = {"SENTINEL", "get-master-addr-by-name", options_.master.c_str()};
  const size_t ask_lens[] = {8, 23, options_.master.size()};
  // SUBSCRIBE only once this answered: hiredis 0.14 would take an array reply that arrives in
  // subscribed mode for a message.
  redisAsyncCommandArgv(s, onMasterAddr, this, 3, ask, ask_lens);
}

void SharedTierHub::onSentinelConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<SharedTierHub*>(ac->data);
  if (self->sentinel_ != ac) return;
  if (status != REDIS_OK) {
    self->sentinel_ = nullptr;
    ++self->sentinel_index_;
  } else {
    self->sentinel_connected_ = true;
  }
}

void SharedTierHub::onSentinelDisconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<SharedTierHub*>(ac->data);
  if (self->sentinel_ != ac) return;
  self->sentinel_ = nullptr;
  ++self->sentinel_index_;
}

void SharedTierHub::onMasterAddr(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<SharedTierHub*>(privdata);
  auto* r = static_cast<redisReply*>(reply);
  if (r && !self->closed_ && self->sentinel_ == ac) {
    const char* sub[] = {"SUBSCRIBE", "+switch-master"};
    const size_t sub_lens[] = {9, 14};
    redisAsyncCommandArgv(ac, onSwitchMaster, self, 2, sub, sub_lens);
  }
  if (self->closed_ || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
    if (r && !self->closed_) std::fprintf(stderr, "edged: [warn] shared cache tier: Sentinel does not know master %s\n", self->options_.master.c_str());
    return;
  }
  self->setMaster(std::string_view(r->element[0]->str, r->element[0]->len), std::atoi(r->element[1]->str));
}

void SharedTierHub::onSwitchMaster(redisAsyncContext*, void* reply, void* privdata) {
  auto* self = static_cast<SharedTierHub*>(privdata);
  auto* r = static_cast<redisReply*>(reply);
  if (self->closed_ || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[2]->type != REDIS_REPLY_STRING ||
      std::string_view(r->element[0]->str, r->element[0]->len) != "message")
    return;
  // "<name> <old ip> <old port> <new ip> <new port>"
  std::string_view m(r->element[2]->str, r->element[2]->len);
  std::vector<std::string_view> words;
  while (!m.empty()) {
    const size_t sp = m.find(' ');
    words.push_back(m.substr(0, sp));
    if (sp == std::string_view::npos) break;
    m.remove_prefix(sp + 1);
  }
  if (words.size() != 5 || words[0] != self->options_.master) return;
  self->setMaster(words[3], std::atoi(std::string(words[4]).c_str()));
}

void SharedTierHub::connectPublisher() {
  if (closed_ || pub_) return;
  std::string host;
  int port = 0;
  uint64_t gen = 0;
  if (!master(host, port, gen)) return;
  redisAsyncContext* c = redis::connectAsync(&loop_, host.c_str(), port, this, onPubConnect, onPubDisconnect);
  if (!c) return;
  pub_ = c;
  pub_ready_ = false;
  pub_started_ms_ = uv_now(&loop_);
  // hiredis finishes a connect only once it has something to write.
  const char* argv[] = {"PING"};
  const size_t lens[] = {4};
  redisAsyncCommandArgv(c, nullptr, nullptr, 1, argv, lens);
}

void SharedTierHub::onPubConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<SharedTierHub*>(ac->data);
  if (self->pub_ != ac) return;
  if (status != REDIS_OK) {
    self->pub_ = nullptr;  // hiredis frees it after this callback
    return;
  }
  self->pub_ready_ = true;
  self->sendQueued();
}

void SharedTierHub::onPubDisconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<SharedTierHub*>(ac->data);
  if (self->pub_ == ac) {
    self->pub_ = nullptr;
    self->pub_ready_ = false;
  }
}

void SharedTierHub::connectSubscriber() {
  if (closed_ || sub_) return;
  std::string host;
  int port = 0;
  uint64_t gen = 0;
  if (!master(host, port, gen)) return;
  redisAsyncContext* s = redis::connectAsync(&loop_, host.c_str(), port, this, onSubConnect, onSubDisconnect);
  if (!s) return;
  sub_ = s;
  sub_connected_ = false;
  sub_started_ms_ = uv_now(&loop_);
  const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
  const size_t lens[] = {9, channel_.size()};
  redisAsyncCommandArgv(s, onMessage, this, 2, argv, lens);
}

void SharedTierHub::onSubConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<SharedTierHub*>(ac->data);
  if (self->sub_ != ac) return;
  if (status != REDIS_OK) self->sub_ = nullptr;
  else self->sub_connected_ = true;
}

void SharedTierHub::onSubDisconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<SharedTierHub*>(ac->data);
  if (self->sub_ != ac) return;
  self->sub_ = nullptr;
  self->counters_.subscribed.store(0, std::memory_order_relaxed);
}

void SharedTierHub::onMessage(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<SharedTierHub*>(privdata);
  auto* r = static_cast<redisReply*>(reply);
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING) return;
  const std::string_view kind(r->element[0]->str, r->element[0]->len);
  if (kind == "subscribe") {
    if (self->sub_ == ac) self->counters_.subscribed.store(1, std::memory_order_relaxed);
    return;
  }
  if (kind != "message" || r->element[2]->type != REDIS_REPLY_STRING) return;
  // "<instance> <published ms> <k|p|t> <value>"
  std::string_view m(r->element[2]->str, r->element[2]->len);
  const size_t a = m.find(' ');
  const size_t b = a == std::string_view::npos ? a : m.find(' ', a + 1);
  if (b == std::string_view::npos || m.size() < b + 3 || m[b + 2] != ' ') return;
  if (m.substr(0, a) == self->instance_) return;  // applied here before it was published
  const char k = m[b + 1];
  if (k != 'k' && k != 'p' && k != 't') return;
  const std::string_view value = m.substr(b + 3);
  self->apply_(k == 'k' ? PurgeKind::Key : k == 'p' ? PurgeKind::Prefix : PurgeKind::Tag, value);
  self->counters_.purges_received.fetch_add(1, std::memory_order_relaxed);
  uint64_t published = 0;
  for (char c : m.substr(a + 1, b - a - 1)) published = published * 10 + static_cast<uint64_t>(c >= '0' && c <= '9' ? c - '0' : 0);
  const uint64_t now = wallMs();
  const uint64_t lag = now > published ? now - published : 0;
  self->counters_.pubsub_lag_ms_last.store(lag, std::memory_order_relaxed);
  self->counters_.pubsub_lag_ms_sum.fetch_add(lag, std::memory_order_relaxed);
}

void SharedTierHub::closeAll() {
  if (closed_) return;
  closed_ = true;
  if (redisAsyncContext* c = pub_) {
    pub_ = nullptr;
    redisAsyncFree(c);
  }
  if (redisAsyncContext* s = sub_) {
    sub_ = nullptr;
    redisAsyncFree(s);
  }
  if (redisAsyncContext* s = sentinel_) {
    sentinel_ = nullptr;
    redisAsyncFree(s);
  }
  counters_.subscribed.store(0, std::memory_order_relaxed);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

std::shared_ptr<SharedTierHub> startHub(const SharedTierOptions& options, SecondTierCounters& counters, ApplyPurge apply) {
  return std::make_shared<SharedTierHub>(options, counters, std::move(apply));
}

void publishPurge(SharedTierHub& hub, PurgeKind kind, std::string_view value) { hub.publish(kind, value); }

const SharedTierOptions& hubOptions(const SharedTierHub& hub) { return hub.options(); }

}  // namespace edged::cache::shared_tier
