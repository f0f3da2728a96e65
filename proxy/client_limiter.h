// proxy/client_limiter.h — per-client limits shared by every worker: requests per second as a
// leaky bucket with a burst (nginx limit_req ... nodelay) and connections in flight.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <atomic>
#include <memory>
#include <string_view>
#include <mutex>
#include <unordered_map>

#include "proxy/http/cidr_set.h"

namespace edged::proxy {

struct ClientLimits {
  uint32_t rate_per_second = 0;  // 0: no request rate limit (or rate_per_minute)
  uint32_t rate_per_minute = 0;  // used when rate_per_second is 0 ("30/m")
  uint32_t burst = 0;            // requests above the rate let through at once, then refused
  uint32_t connections = 0;      // 0: no connection limit
  size_t max_clients = 65536;    // tracked addresses, all shards together (memory bound)
};

// Thread-safe: the table is split in shards by a hash of the address, each behind its own mutex,
// so workers seldom contend. Times are milliseconds from any monotonic clock, passed in.
class ClientLimiter {
 public:
  explicit ClientLimiter(const ClientLimits& limits);

  // A reload changed the rate, burst or connection limit (max_clients stays): what is counted
  // is kept, as nginx keeps its zones across reloads. Any thread.
  void update(const ClientLimits& limits);
  // Seconds a refused client should wait before one more request fits (Retry-After), at least 1.
  uint32_t retryAfterSeconds() const;
  // A key for a request header's value (limits.per_client.key), in the same table as addresses:
  // 128 bits of hash, so two values collide about never.
  static IpAddress keyOf(std::string_view value);

  // One request from `client` at `now_ms`: true to serve it, false to refuse it (429). The bucket
  // drains at rate_per_second; a request adds one; more than `burst` waiting means refused, and a
  // refused request adds nothing.
  bool allowRequest(const IpAddress& client, uint64_t now_ms);
  // A new connection from `client`: true if it may stay (then call releaseConnection() when it
  // closes), false when the client already holds `connections`.
  bool acquireConnection(const IpAddress& client);
  void releaseConnection(const IpAddress& client);

  size_t trackedClients() const;
  bool limitsRequests() const { return rate_per_minute_.load(std::memory_order_relaxed) != 0; }
  bool limitsConnections() const { return connections_.load(std::memory_order_relaxed) != 0; }

 private:
  static constexpr size_t kShards = 64;
  struct Entry {
    int64_t excess_milli = 0;  // requests waiting in the bucket, in thousandths
    uint64_t last_ms = 0;
    uint32_t connections = 0;
  };
  struct Hash {
    size_t operator()(const IpAddress& a) const;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<IpAddress, Entry, Hash> entries;
  };
  Shard& shardOf(const IpAddress& a);
  // Makes room in a full shard: drops entries whose bucket has drained and that hold no
  // connection; if none, one that holds no connection.
  void evict(Shard& s, uint64_t now_ms);
  int64_t drained(const Entry& e, uint64_t now_ms) const;

  std::atomic<uint64_t> rate_per_minute_;
  std::atomic<uint32_t> burst_;
  std::atomic<uint32_t> connections_;
  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace edged::proxy
