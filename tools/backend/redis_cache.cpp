// tools/backend/redis_cache.cpp — hiredis 0.14 has no command timeout in its async API: a timer
// fails a context whose oldest command is overdue by freeing it (hiredis then answers every
// pending callback with a null reply), which also counts against the breaker.
#include "tools/backend/redis_cache.h"

#include <cstdio>
#include <cstring>

#include "tools/backend/formats.h"

namespace edged::backend {

namespace {
// ARGV: channel, marker ("LSN\n"), ttl, payload. A marker replaces every copy, so a reader that
// was already out with an older row cannot put it back (the fill script compares LSNs).
constexpr const char* kInvalidateScript =
    "local members = redis.call('SMEMBERS', KEYS[1]) "
    "for i = 1, #members do redis.call('SET', members[i], ARGV[2], 'EX', ARGV[3]) end "
    "redis.call('DEL', KEYS[1]) "
    "for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[2], 'EX', ARGV[3]) end "
    "redis.call('PUBLISH', ARGV[1], ARGV[4]) "
    "return #members";
// KEYS: key, tag set. ARGV: value, ttl, tag ttl. The 16-digit LSN prefixes compare as strings.
constexpr const char* kFillScript =
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur and string.sub(cur, 1, 16) > string.sub(ARGV[1], 1, 16) then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) "
    "redis.call('SADD', KEYS[2], KEYS[1]) "
    "redis.call('EXPIRE', KEYS[2], ARGV[3]) "
    "return 1";
}  // namespace

RedisCache::RedisCache(uv_loop_t* loop, RedisOptions options, MetricsSlot& metrics, OnInvalidate on_invalidate, OnSubscription on_subscription)
    : loop_(loop), options_(std::move(options)), metrics_(metrics), on_invalidate_(std::move(on_invalidate)),
      on_subscription_(std::move(on_subscription)), breaker_(options_.breaker_threshold, options_.breaker_cooldown_ms) {
  channel_ = options_.prefix + "invalidate";
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_timer_start(timer_, onTimer, 50, 50);
  connectSubscriber();
}

RedisCache::~RedisCache() { close(); }

void RedisCache::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer_ = nullptr;
  if (cmd_) {
    redisAsyncContext* c = cmd_;
    cmd_ = nullptr;
    redisAsyncFree(c);
  }
  if (sub_) {
    redisAsyncContext* s = sub_;
    sub_ = nullptr;
    redisAsyncFree(s);
  }
}

void RedisCache::publishBreaker() {
  const auto s = breaker_.state();
  metrics_.breaker_state.store(s == CircuitBreaker::State::Closed ? 0 : s == CircuitBreaker::State::Open ? 1 : 2);
}

void RedisCache::failure() {
  const uint64_t before = breaker_.opens();
  breaker_.onFailure(uv_now(loop_));
  if (breaker_.opens() != before) {
    metrics_.breaker_opens.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr, "backend: [warn] redis %s:%d: circuit breaker open\n", options_.host.c_str(), options_.port);
  }
  publishBreaker();
}

void RedisCache::onTimer(uv_timer_t* t) {
  auto* self = static_cast<RedisCache*>(t->data);
  const uint64_t now = uv_now(self->loop_);
  if (self->cmd_ && !self->inflight_.empty() && now - self->inflight_.front()->started_ms >= self->options_.command_timeout_ms) {
    std::fprintf(stderr, "backend: [warn] redis command timed out\n");
    redisAsyncContext* c = self->cmd_;
    self->cmd_ = nullptr;
    redisAsyncFree(c);  // answers every pending op with a null reply
    self->failure();
  }
  if (!self->sub_ && now - self->sub_attempt_ms_ >= 500) self->connectSubscriber();
}

redisAsyncContext* RedisCache::commandContext() {
  if (closed_) return nullptr;
  if (cmd_) return cmd_;
  if (!breaker_.allow(uv_now(loop_))) {
    publishBreaker();
    return nullptr;
  }
  publishBreaker();
  redisAsyncContext* c = redis::connectAsync(loop_, options_.host.c_str(), options_.port, this, onCmdConnect, onCmdDisconnect);
  if (!c) {
    failure();
    return nullptr;
  }
  cmd_ = c;
  return cmd_;
}

void RedisCache::onCmdConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisCache*>(ac->data);
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback (its pending ops get null replies).
    if (self->cmd_ == ac) self->cmd_ = nullptr;
    self->failure();
    return;
  }
  if (self->breaker_.state() != CircuitBreaker::State::Closed)
    std::fprintf(stderr, "backend: [info] redis %s:%d: back, circuit breaker closed\n", self->options_.host.c_str(), self->options_.port);
  self->breaker_.onSuccess();
  self->publishBreaker();
}

void RedisCache::onCmdDisconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisCache*>(ac->data);
  if (self->cmd_ == ac) self->cmd_ = nullptr;
  if (status != REDIS_OK && !self->closed_) self->failure();
}

bool RedisCache::command(std::function<void(redisReply*)> done, int argc, const char** argv, const size_t* lens) {
  redisAsyncContext* c = commandContext();
  if (!c) {
    metrics_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    if (done) done(nullptr);
    return false;
  }
  auto* op = new Op{this, std::move(done), uv_now(loop_), {}};
  inflight_.push_back(op);
  op->pos = std::prev(inflight_.end());
  if (redisAsyncCommandArgv(c, onReply, op, argc, argv, lens) != REDIS_OK) {
    inflight_.erase(op->pos);
    metrics_.redis_errors.fetch_add(1, std::memory_order_relaxed);
    auto cb = std::move(op->done);
    delete op;
    if (cb) cb(nullptr);
    return false;
  }
  return true;
}

void RedisCache::onReply(redisAsyncContext*, void* reply, void* privdata) {
  auto* op = static_cast<Op*>(privdata);
  RedisCache* self = op->self;
  self->inflight_.erase(op->pos);
  auto* r = static_cast<redisReply*>(reply);
  if (!r) {
    self->metrics_.redis_errors.fetch_add(1, std::memory_order_relaxed);
  } else if (self->breaker_.state() != CircuitBreaker::State::Closed) {
    self->breaker_.onSuccess();
    self->publishBreaker();
  }
  auto cb = std::move(op->done);
  delete op;
  if (cb) cb(r);
}

void RedisCache::get(const std::string& key, GetDone done) {
  const std::string full = options_.prefix + key;
  const char* argv[] = {"GET", full.c_str()};
  const size_t lens[] = {3, full.size()};
  command([done = std::move(done)](redisReply* r) {
    if (redis::isString(r)) return done(std::string(redis::text(r)));
    done(std::nullopt);
  }, 2, argv, lens);
}

void RedisCache::set(const std::string& key, const std::string& value, int64_t user_id) {
  const std::string full = options_.prefix + key;
  // The tag set lives a little longer than what it lists, so it never misses a live key.
  const std::string tag = options_.prefix + "tag:user:" + std::to_string(user_id);
  const std::string ttl = std::to_string(options_.ttl_seconds);
  const std::string tag_ttl = std::to_string(options_.ttl_seconds + 60);
  const char* argv[] = {"EVAL", kFillScript, "2", full.c_str(), tag.c_str(), value.c_str(), ttl.c_str(), tag_ttl.c_str()};
  const size_t lens[] = {4, std::strlen(kFillScript), 1, full.size(), tag.size(), value.size(), ttl.size(), tag_ttl.size()};
  command(nullptr, 8, argv, lens);
}

void RedisCache::invalidate(int64_t user_id, uint64_t lsn, const std::vector<std::string>& keys, std::function<void(bool)> done) {
  std::vector<std::string> args;
  args.reserve(keys.size() + 8);
  args.push_back("EVAL");
  args.push_back(kInvalidateScript);
  args.push_back(std::to_string(keys.size() + 1));
  args.push_back(options_.prefix + "tag:user:" + std::to_string(user_id));
  std::string payload = fixedLsn(lsn) + "\n";
  const std::string marker = payload;
  for (const std::string& k : keys) {
    args.push_back(options_.prefix + k);
    payload += k;
    payload += '\n';
  }
  args.push_back(channel_);
  args.push_back(marker);
  args.push_back(std::to_string(options_.ttl_seconds));
  args.push_back(payload);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.c_str());
    lens.push_back(a.size());
  }
  command([done = std::move(done)](redisReply* r) { done(!redis::failed(r)); }, static_cast<int>(argv.size()), argv.data(), lens.data());
}

void RedisCache::connectSubscriber() {
  if (closed_ || sub_) return;
  sub_attempt_ms_ = uv_now(loop_);
  // A refused connect is reported (onSubConnect) by edged_redis's loop adapter: with hiredis's
  // own, sub_ stayed set forever and the subscription never came back after a Redis restart.
  redisAsyncContext* s = redis::connectAsync(loop_, options_.host.c_str(), options_.port, this, onSubConnect, onSubDisconnect);
  if (!s) return;
  sub_ = s;
  const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
  const size_t lens[] = {9, channel_.size()};
  redisAsyncCommandArgv(s, onSubMessage, this, 2, argv, lens);
}

void RedisCache::onSubConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisCache*>(ac->data);
  if (status != REDIS_OK && self->sub_ == ac) self->sub_ = nullptr;
}

void RedisCache::onSubDisconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<RedisCache*>(ac->data);
  if (self->sub_ == ac) self->sub_ = nullptr;
  if (self->sub_live_) {
    self->sub_live_ = false;
    if (!self->closed_) self->on_subscription_(false);
  }
}

void RedisCache::onSubMessage(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<RedisCache*>(privdata);
  auto* r = static_cast<redisReply*>(reply);
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  const redisReply* kind = r->element[0];
  if (kind->type != REDIS_REPLY_STRING) return;
  const std::string_view k(kind->str, kind->len);
  if (k == "subscribe") {
    if (!self->sub_live_ && self->sub_ == ac) {
      self->sub_live_ = true;
      self->on_subscription_(true);
    }
  } else if (k == "message" && r->element[2]->type == REDIS_REPLY_STRING) {
    self->metrics_.invalidations_received.fetch_add(1, std::memory_order_relaxed);
    self->on_invalidate_(std::string_view(r->element[2]->str, r->element[2]->len));
  }
}

}  // namespace edged::backend
