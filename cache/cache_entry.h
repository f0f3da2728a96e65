// cache/cache_entry.h — CacheEntry: one stored response (head, body buffers, the facts its reuse
// decisions need, its Vary variant key and tags), immutable once built; compressed encodings of
// the body can be attached after the fact.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/body_buffer.h"
#include "cache/cache_policy.h"
#include "cache/field_values.h"
#include "cache/stored_head.h"

namespace edged::cache {

// A compressed encoding of an entry's body, produced once and kept beside the identity body.
struct EncodedBody {
  std::string encoding;  // "gzip", "br", "zstd"
  StoredHead head;       // the head to send with it (Content-Encoding, Vary, ETag as the filter made them)
  std::vector<BufferRef> chunks;
  uint64_t size = 0;
  size_t bytes() const;
};

class CacheEntry {
 public:
  struct Parts {
    StoredHead head;
    std::vector<BufferRef> body;
    StoredFacts facts;
    VaryList vary;                  // the response's Vary (never star: such responses are not stored)
    std::string vary_key;           // secondaryKey(vary, request) of the request that filled it
    std::vector<std::string> tags;  // purge tags
  };
  explicit CacheEntry(Parts parts);
  ~CacheEntry();
  CacheEntry(const CacheEntry&) = delete;
  CacheEntry& operator=(const CacheEntry&) = delete;

  const StoredHead& head() const { return head_; }
  std::span<const BufferRef> body() const {
    return chunk_count_ == 1 ? std::span<const BufferRef>(&body_.one, 1)
                             : std::span<const BufferRef>(body_.many, chunk_count_);
  }
  uint64_t bodySize() const { return body_size_; }
  StoredFacts facts() const;
  const VaryList& vary() const;
  std::string_view varyKey() const;
  std::span<const std::string> tags() const;

  // The encoding attached for `encoding`, or null. Safe from any thread.
  std::shared_ptr<const EncodedBody> encoded(std::string_view encoding) const;

  // Everything this entry costs in memory, encodings attached so far included.
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  friend class CacheStore;
  // Attaches an encoding (first one wins); returns the bytes added, 0 if one was already there.
  size_t attach(std::shared_ptr<const EncodedBody> body) const;

  // Rarely present parts, out of line so that a plain entry stays small.
  struct Extras {
    VaryList vary;
    std::string vary_key;
    std::vector<std::string> tags;
  };
  struct Encodings {
    std::mutex mutex;
    std::vector<std::shared_ptr<const EncodedBody>> list;
  };

  // The fields are ordered and packed so that the object and make_shared's control block fit one
  // 128-byte allocation (the index overhead per entry; tools/bench/cache_eviction_bench).
  StoredHead head_;
  // The body: one chunk inline (the common small body), several in an array (chunk_count_ says which).
  union Body {
    BufferRef one;
    BufferRef* many;
    Body() : many(nullptr) {}
    ~Body() {}
  } body_;
  uint64_t body_size_ = 0;
  uint32_t response_time_ = 0;     // seconds since the epoch (clamped to 0..2106)
  uint32_t initial_age_ = 0;       // seconds, saturated
  uint32_t lifetime_ = 0;
  uint32_t stale_while_revalidate_ = kNone;
  uint32_t stale_if_error_ = kNone;
  uint32_t chunk_count_ : 28 = 0;
  uint32_t flags_ : 4 = 0;
  static constexpr uint32_t kNone = UINT32_MAX;
  std::unique_ptr<Extras> extras_;
  mutable std::atomic<Encodings*> encodings_{nullptr};
  mutable std::atomic<size_t> bytes_{0};
};

using EntryRef = std::shared_ptr<const CacheEntry>;

}  // namespace edged::cache
