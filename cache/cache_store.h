// cache/cache_store.h — CacheStore: the one in-process cache all worker threads share under one
// memory budget: a sharded index (primary key -> Vary variants), S3-FIFO eviction per shard,
// purge by key / prefix / tag, and request collapsing through FillPermit and Waiter.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_entry.h"
#include "cache/cache_key.h"
#include "cache/fill_permit.h"
#include "cache/waiter.h"

namespace edged::cache {

struct StoreConfig {
  uint64_t budget_bytes = 64ull << 20;
  uint64_t max_object_bytes = 8ull << 20;
  size_t shards = 64;          // rounded up to a power of two
  size_t max_variants = 16;    // Vary variants kept per primary key (the oldest goes first)
};

struct StoreStats {
  uint64_t used_bytes = 0;
  uint64_t budget_bytes = 0;
  uint64_t keys = 0;
  uint64_t entries = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t inserts = 0;
  uint64_t evictions = 0;
};

class CacheStore {
 public:
  explicit CacheStore(StoreConfig config);
  // Every FillPermit must be gone and no Waiter registered.
  ~CacheStore();
  CacheStore(const CacheStore&) = delete;
  CacheStore& operator=(const CacheStore&) = delete;

  // The stored variant of `primary_key` that matches the request's Vary-listed fields; null when
  // none. Counts a hit or a miss and marks the key as used for eviction.
  EntryRef lookup(std::string_view primary_key, std::span<const FieldView> request_fields, const KeyOptions& options);

  struct Begin {
    enum class Kind : uint8_t {
      Hit,   // `entry` matches
      Fill,  // no match and nobody filling: `permit` is yours
      Wait,  // another exchange fills the key: the waiter is registered and will be woken
      Busy,  // another exchange fills the key and no waiter was given: go to the origin, don't store
    };
    Kind kind = Kind::Busy;
    EntryRef entry;
    FillPermit permit;
  };
  // lookup(), and on a miss the fill permit or a place in the key's waiting list, atomically.
  Begin lookupOrFill(std::string_view primary_key, std::span<const FieldView> request_fields,
                     const KeyOptions& options, Waiter* waiter);
  // The permit for a key whatever is stored (revalidation, refresh); Wait / Busy as above.
  Begin beginFill(std::string_view primary_key, Waiter* waiter);
  // Unregisters a waiter. False when it was not registered (anymore): its wake-up has then
  // already been handed to its Waker.
  bool cancelWait(Waiter* waiter);

  // Purges; each returns the number of entries (variants) removed. A fill in progress on a purged
  // key will not store its entry.
  size_t purgeKey(std::string_view primary_key);
  size_t purgePrefix(std::string_view prefix);
  size_t purgeTag(std::string_view tag);

  // Attaches a compressed encoding to a stored entry (first one per encoding wins) and accounts
  // for it; false when the entry is no longer stored under `primary_key` or already has it.
  bool attachEncoding(std::string_view primary_key, const EntryRef& entry, EncodedBody body);

  // A new budget; applies at once by evicting.
  void setBudget(uint64_t bytes);
  uint64_t maxObject() const { return config_.max_object_bytes; }
  StoreStats stats() const;

 private:
  friend class FillPermit;
  struct Node;
  struct Queue;
  struct Fill;
  struct Shard;
  struct NodeDeleter {
    void operator()(Node* n) const;
  };
  using NodePtr = std::unique_ptr<Node, NodeDeleter>;

  static size_t nodeBytes(size_t key_size);
  Shard& shardFor(uint64_t hash) const;
  BypassReason commit(Fill* fill, EntryBuilder&& builder, EntryRef* stored);
  void abandon(Fill* fill);
  void finishFill(Shard& shard, Fill* fill, FillOutcome outcome);  // shard lock held
  EntryRef matchLocked(Node* node, std::span<const FieldView> request_fields, const KeyOptions& options) const;
  Begin fillOrWaitLocked(Shard& shard, std::string_view key, uint64_t hash, Waiter* waiter);
  void enforceBudget(size_t start_shard);
  // Evicts one key from the shard by S3-FIFO; the bytes freed (0 when the shard is empty).
  uint64_t evictOneLocked(Shard& shard, std::vector<NodePtr>& dead);
  void removeLocked(Shard& shard, Node* node, std::vector<NodePtr>& dead);
  static void countEviction(const Node* node);
  size_t purgeIfLocked(Shard& shard, std::string_view prefix, bool exact, std::vector<NodePtr>& dead);

  StoreConfig config_;
  std::unique_ptr<Shard[]> shards_;
  size_t shard_count_ = 0;
  std::atomic<uint64_t> budget_;
  std::atomic<int64_t> used_{0};
  std::atomic<uint64_t> tag_purges_{0};
  std::atomic<size_t> evict_cursor_{0};
  std::atomic<uint64_t> hits_{0}, misses_{0}, inserts_{0}, evictions_{0};
};

}  // namespace edged::cache
