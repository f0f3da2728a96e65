// cache/second_tier.h — SecondTier: what the cache filter asks of a cache shared by several edged
// instances behind the in-process one (Redis, in shared_tier/): a lookup bounded by a timeout,
// fire-and-forget stores, and purges that reach every instance. Plus the tier's counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace edged::cache {

// Process-wide numbers of the second tier (summed over workers; atomics).
struct SecondTierCounters {
  std::atomic<uint64_t> hits{0};        // lookups answered with a usable entry
  std::atomic<uint64_t> misses{0};      // lookups that found nothing usable (timeouts included)
  std::atomic<uint64_t> timeouts{0};    // lookups slower than the timeout (counted as misses too)
  std::atomic<uint64_t> corrupt{0};     // values under the prefix that failed the format check
  std::atomic<uint64_t> errors{0};      // failed commands and connections
  std::atomic<uint64_t> skipped{0};     // lookups not tried: breaker open
  std::atomic<uint64_t> stores{0};      // entries written
  std::atomic<uint64_t> purges_published{0};
  std::atomic<uint64_t> purges_received{0};  // purges from other instances applied here
  std::atomic<uint64_t> breaker_opens{0};
  std::atomic<int64_t> breakers_open{0};     // workers whose breaker is open now (0: closed)
  std::atomic<uint64_t> subscribed{0};       // 1 while the purge subscription is live
  std::atomic<uint64_t> pubsub_lag_ms_last{0};   // publish -> applied, last message (wall clocks)
  std::atomic<uint64_t> pubsub_lag_ms_sum{0};
  // Collapsing across instances (cache.shared.collapse).
  std::atomic<uint64_t> locks_acquired{0};       // misses here and in Redis that took the fill lock
  std::atomic<uint64_t> lock_waits{0};           // ... that found it held by another fill and waited
  std::atomic<uint64_t> lock_waits_served{0};    // waits that ended with the other fill's copy, served
  std::atomic<uint64_t> lock_wait_timeouts{0};   // waits that reached lock_timeout (to the origin)
  std::atomic<uint64_t> lock_waits_released{0};  // waits whose lock went without a copy (to the origin)
};

// How a lookup ended. `value` is empty on a miss, an error or a timeout, and valid during the
// call only. `lock` (collapsing lookups only): non-zero when this exchange holds the key's fill
// lock: it must end it with SecondTier::unlock() (after its store(), if any). `waited`: the copy
// is another instance's fill that this lookup waited for.
struct SecondTierAnswer {
  std::string_view value;
  uint64_t lock = 0;
  bool waited = false;
};

// The exchange waiting for a lookup (the cache filter).
class SecondTierLookup {
 public:
  // Exactly once per lookup() that returned true, unless cancel() came first; never from inside
  // lookup().
  virtual void onSecondTierResult(const SecondTierAnswer& answer) = 0;

 protected:
  ~SecondTierLookup() = default;
};

enum class PurgeKind : uint8_t { Key, Prefix, Tag };

// One per worker and configuration generation; every call on the worker's thread.
class SecondTier {
 public:
  virtual ~SecondTier() = default;
  // Starts a lookup of the object `key`; false when it is not tried at all (breaker open): a miss
  // at once. The answer comes within the configured timeout. With `collapse` (the exchange would
  // fill the key from the origin) and collapsing configured, a miss also takes the key's fill
  // lock; when another instance holds it the lookup waits for that fill's copy (up to the
  // configured lock_timeout) and answers with it, or with a miss when the wait ends without one.
  virtual bool lookup(std::string_view key, SecondTierLookup& waiter, bool collapse) = 0;
  // The waiter goes away: its answer is dropped.
  virtual void cancel(SecondTierLookup& waiter) = 0;
  // Writes `value` under `key` with a TTL and adds it to the tags' sets; asynchronous, no answer.
  virtual void store(std::string_view key, std::string value, uint64_t ttl_seconds,
                     std::span<const std::string> tags) = 0;
  // Gives back a fill lock a collapsing lookup took (only while it is still this exchange's):
  // after store() when the fill was copied, at once when it will not be.
  virtual void unlock(std::string_view key, uint64_t lock) = 0;
  // Deletes the tier's copies (a key: all its encodings; a prefix of keys; a tag's keys) and tells
  // every other instance to purge its memory likewise. Asynchronous.
  virtual void purge(PurgeKind kind, std::string_view value) = 0;
  // The largest body the tier takes.
  virtual uint64_t maxObject() const = 0;
  // Closes every handle and frees the tier once they are closed (the worker's loop must run on);
  // pending lookups are dropped without an answer. The owner's last call.
  virtual void release() = 0;
};

}  // namespace edged::cache
