// cache/cache_filter.h — the response cache as an exchange filter: lookup and hits (Age, 304 to
// client conditionals, 206 ranges), fills teed from the origin's body, revalidation with the 304
// merge, request collapsing across workers (waiters woken through their worker's mailbox, bounded
// by lock_timeout), invalidation by unsafe methods, PURGE, tags, Cache-Status (RFC 9211).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <memory>
#include <string>
#include <vector>

#include "cache/cache_key.h"
#include "cache/cache_policy.h"
#include "cache/cache_store.h"
#include "cache/second_tier.h"
#include "proxy/http/http.h"

struct uv_loop_s;

namespace edged::proxy {
class WorkerMailbox;
}

namespace edged::cache {

// One route's counters, shared by all workers (atomic), and its store gauges (entries and bytes
// held, evictions), which the store keeps for each entry the route stored.
struct CacheCounters {
  std::atomic<uint64_t> hits{0}, misses{0}, stale{0}, revalidated{0}, refetched{0}, collapsed{0},
      stored{0}, not_stored{0}, invalidations{0}, purges{0}, refreshes{0};
  StoreGauges store;
};

struct RouteCacheSettings {
  bool enabled = false;
  std::string key_template;     // empty: primaryKey() of the request
  KeyOptions key;               // ignore_query, and the encodings compression may produce
  PolicyConfig policy;
  Seconds default_ttl = 0;      // freshness for responses that give none (0: not stored)
  uint64_t lock_timeout_ms = 5000;
  CacheCounters* counters = nullptr;  // this route's (kept by the caller across reloads)
};

// One configuration generation's cache settings, shared by every worker's factory.
struct CacheSettings {
  std::vector<RouteCacheSettings> per_route;  // Config::routes, plus one (disabled) for no route
  std::vector<std::string> tag_headers;       // response fields holding purge tags (not sent on)
  uint64_t max_object = 8ull << 20;
  // Who may send PURGE (proxy/http's CidrSet, as route allow/deny and real_ip use).
  proxy::CidrSet purge_allow;
  bool allowPurgeFrom(std::string_view cidr) { return purge_allow.add(cidr); }  // false if malformed
  bool purgeAllowed(std::string_view address) const { return purge_allow.contains(address); }
  // The second tier's counters when one is configured (kept by the caller across reloads).
  SecondTierCounters* tier_counters = nullptr;
};

class CacheExchangeFilter;

// One per worker and configuration generation (not thread-safe); the store and counters are shared.
class CacheFilterFactory final : public proxy::FilterFactory {
 public:
  CacheFilterFactory(std::shared_ptr<const CacheSettings> settings, CacheStore& store, uv_loop_s* loop,
                     proxy::WorkerMailbox* mailbox);
  ~CacheFilterFactory() override;

  // Null for routes without a cache; otherwise a pooled filter.
  proxy::ExchangeFilter* attach(const proxy::RequestHead& request, size_t route) override;

  // The worker's connection to the second tier (shared by several edged instances); the factory
  // owns it (SecondTier::release() in closeHandles() or the destructor). Before any attach().
  void setSecondTier(SecondTier* tier) { tier_ = tier; }
  void closeHandles() override;

 private:
  friend class CacheExchangeFilter;
  void recycle(CacheExchangeFilter* f) { free_.push_back(f); }

  std::shared_ptr<const CacheSettings> settings_;
  CacheStore& store_;
  uv_loop_s* loop_;
  proxy::WorkerMailbox* mailbox_;
  SecondTier* tier_ = nullptr;
  std::vector<std::unique_ptr<CacheExchangeFilter>> filters_;
  std::vector<CacheExchangeFilter*> free_;
  // stale-while-revalidate: refreshes asked for on this worker whose background exchange has not
  // started yet (it does from the posted queue, soon after), so that a burst of stale requests
  // starts one. The refresh itself holds the key's fill permit: one in flight across workers.
  struct PendingRefresh {
    std::string key;
    EntryRef entry;     // the stale entry to revalidate
    uint64_t since_ms;  // uv_now when asked for
  };
  std::vector<PendingRefresh> refreshes_;
};

}  // namespace edged::cache
