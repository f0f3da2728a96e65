// tools/backend/lru_cache.h — the in-process (L1) cache: string keys, a TTL, a bound on the
// number of entries with least-recently-used eviction (a full cache evicts, it never fails), and
// for each entry the commit LSN its data is known to include (read-your-writes checks it). An
// entry with an empty value is an invalidation marker: "only data from this LSN on is valid".
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace edged::backend {

class LruCache {
 public:
  struct Entry {
    std::string key;
    std::string value;
    uint64_t lsn;         // the data includes every commit up to this LSN
    uint64_t expires_ms;  // monotonic milliseconds
  };

  LruCache(size_t max_entries, uint64_t ttl_ms) : max_entries_(max_entries ? max_entries : 1), ttl_ms_(ttl_ms) {}

  // The live entry for `key`, made most recent; null when absent or expired (then dropped).
  const Entry* get(std::string_view key, uint64_t now_ms) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    auto entry = it->second;
    if (entry->expires_ms <= now_ms) {
      index_.erase(it);
      order_.erase(entry);
      return nullptr;
    }
    order_.splice(order_.begin(), order_, entry);
    return &*entry;
  }

  // Inserts or replaces; evicts the least recently used entries while over the bound.
  void put(std::string_view key, std::string value, uint64_t lsn, uint64_t now_ms) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      auto entry = it->second;
      entry->value = std::move(value);
      entry->lsn = lsn;
      entry->expires_ms = now_ms + ttl_ms_;
      order_.splice(order_.begin(), order_, entry);
      return;
    }
    while (order_.size() >= max_entries_) {
      index_.erase(std::string_view(order_.back().key));
      order_.pop_back();
      ++evictions_;
    }
    order_.push_front(Entry{std::string(key), std::move(value), lsn, now_ms + ttl_ms_});
    index_.emplace(std::string_view(order_.front().key), order_.begin());
  }

  // As put(), unless the entry held already includes a later LSN (an older read must not
  // replace a newer copy or an invalidation marker).
  bool putIfNewer(std::string_view key, std::string value, uint64_t lsn, uint64_t now_ms) {
    auto it = index_.find(key);
    if (it != index_.end() && it->second->lsn > lsn && it->second->expires_ms > now_ms) return false;
    put(key, std::move(value), lsn, now_ms);
    return true;
  }

  bool erase(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    auto entry = it->second;
    index_.erase(it);
    order_.erase(entry);
    return true;
  }

  void clear() {
    index_.clear();
    order_.clear();
  }
  size_t size() const { return order_.size(); }
  uint64_t evictions() const { return evictions_; }

 private:
  size_t max_entries_;
  uint64_t ttl_ms_;
  std::list<Entry> order_;  // most recent first; the index's keys view these entries' keys
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
  uint64_t evictions_ = 0;
};

}  // namespace edged::backend
