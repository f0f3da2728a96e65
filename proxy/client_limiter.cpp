// proxy/client_limiter.cpp — nginx's limit_req arithmetic (excess in thousandths of a request,
// drained by elapsed time times the rate) in a sharded table.
#include "proxy/client_limiter.h"

#include <algorithm>
#include <cstring>

namespace edged::proxy {

size_t ClientLimiter::Hash::operator()(const IpAddress& a) const {
  uint64_t lo, hi;
  std::memcpy(&lo, a.bytes.data(), 8);
  std::memcpy(&hi, a.bytes.data() + 8, 8);
  uint64_t h = (lo ^ (hi * 0x9e3779b97f4a7c15ull));
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 29;
  return static_cast<size_t>(h);
}

namespace {
uint64_t perMinute(const ClientLimits& l) {
  return l.rate_per_second ? uint64_t{l.rate_per_second} * 60 : l.rate_per_minute;
}
}  // namespace

ClientLimiter::ClientLimiter(const ClientLimits& limits)
    : per_shard_(limits.max_clients / kShards ? limits.max_clients / kShards : 1) {
  update(limits);
}

void ClientLimiter::update(const ClientLimits& limits) {
  rate_per_minute_.store(perMinute(limits), std::memory_order_relaxed);
  burst_.store(limits.burst, std::memory_order_relaxed);
  connections_.store(limits.connections, std::memory_order_relaxed);
}

uint32_t ClientLimiter::retryAfterSeconds() const {
  const uint64_t rpm = rate_per_minute_.load(std::memory_order_relaxed);
  if (rpm == 0) return 1;
  return static_cast<uint32_t>(std::max<uint64_t>(1, (60 + rpm - 1) / rpm));
}

// FNV-1a twice with different offsets: not adversary-proof, but a collision only merges two
// keys' buckets.
IpAddress ClientLimiter::keyOf(std::string_view value) {
  IpAddress a;
  uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
  for (unsigned char c : value) {
    h1 = (h1 ^ c) * 0x100000001b3ull;
    h2 = (h2 ^ c) * 0x100000001b3ull;
  }
  h2 ^= value.size();
  std::memcpy(a.bytes.data(), &h1, 8);
  std::memcpy(a.bytes.data() + 8, &h2, 8);
  a.bytes[0] |= 0x80;  // never an IPv4-mapped form, so never equal to a real IPv4 client
  return a;
}

ClientLimiter::Shard& ClientLimiter::shardOf(const IpAddress& a) { return shards_[(Hash{}(a) >> 7) % kShards]; }

// The bucket's level now, before this request: negative once it has been empty for a while.
int64_t ClientLimiter::drained(const Entry& e, uint64_t now_ms) const {
  const uint64_t elapsed = now_ms > e.last_ms ? now_ms - e.last_ms : 0;
  // Thousandths of a request: rate/s * ms = rate/min * ms / 60.
  const uint64_t drain = elapsed * rate_per_minute_.load(std::memory_order_relaxed) / 60;
  if (drain >= static_cast<uint64_t>(e.excess_milli) + 1000) return -1000;
  return e.excess_milli - static_cast<int64_t>(drain);
}

void ClientLimiter::evict(Shard& s, uint64_t now_ms) {
  for (auto it = s.entries.begin(); it != s.entries.end();) {
    if (it->second.connections == 0 && drained(it->second, now_ms) <= -1000) it = s.entries.erase(it);
    else ++it;
  }
  if (s.entries.size() < per_shard_) return;
  for (auto it = s.entries.begin(); it != s.entries.end(); ++it) {
    if (it->second.connections == 0) {
      s.entries.erase(it);
      return;
    }
  }
}

bool ClientLimiter::allowRequest(const IpAddress& client, uint64_t now_ms) {
  const uint32_t burst = burst_.load(std::memory_order_relaxed);
  if (rate_per_minute_.load(std::memory_order_relaxed) == 0) return true;
  Shard& s = shardOf(client);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.entries.find(client);
  if (it == s.entries.end()) {
    if (s.entries.size() >= per_shard_) evict(s, now_ms);
    s.entries.emplace(client, Entry{0, now_ms, 0});  // a new client's first request is free
    return true;
  }
  Entry& e = it->second;
  int64_t excess = drained(e, now_ms) + 1000;
  if (excess < 0) excess = 0;
  if (excess > int64_t{burst} * 1000) return false;
  e.excess_milli = excess;
  e.last_ms = now_ms;
  return true;
}

bool ClientLimiter::acquireConnection(const IpAddress& client) {
  const uint32_t limit = connections_.load(std::memory_order_relaxed);
  if (limit == 0) return true;
  Shard& s = shardOf(client);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.entries.find(client);
  if (it == s.entries.end()) {
    if (s.entries.size() >= per_shard_) evict(s, 0);
    it = s.entries.emplace(client, Entry{}).first;
  }
  if (it->second.connections >= limit) return false;
  ++it->second.connections;
  return true;
}

// Not skipped when the limit is now 0: a reload may have turned it off after the acquire.
void ClientLimiter::releaseConnection(const IpAddress& client) {
  Shard& s = shardOf(client);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.entries.find(client);
  if (it != s.entries.end() && it->second.connections > 0) --it->second.connections;
}

size_t ClientLimiter::trackedClients() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.entries.size();
  }
  return n;
}

}  // namespace edged::proxy
