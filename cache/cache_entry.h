// cache/cache_entry.h — CacheEntry: one stored response (head, body, the facts its reuse
// decisions need, its Vary variant key and tags), immutable once built and shared through
// EntryRef (an intrusive count: one allocation per entry). A small body lives in that same
// allocation after the head; a large one is a list of BodyBuffers. Compressed encodings of the
// body can be attached after the fact.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
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

// What one route holds in the store right now (a gauge per route: entries and bytes stored, and
// how many of its keys were evicted). Owned by the caller, which must keep it alive as long as
// the store may hold entries that point at it; updated by the store under its shard locks.
struct StoreGauges {
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> entries{0};
  std::atomic<uint64_t> evictions{0};
};

class EntryRef;

// The stored fields a hit never sends: it writes its own Content-Length and Age. create() keeps
// them at the end of the head blob; the cache filter drops them on the field-by-field path.
bool replacedOnHit(std::string_view name);

class CacheEntry {
 public:
  // A body of at most this many bytes is stored inside the entry's own allocation.
  static constexpr size_t kInlineBody = 16 * 1024;
  // Bits of the head's layout (hitFields()), beside the stored facts' bits 1, 2 and 4.
  static constexpr uint8_t kHitSplitFlag = 8, kHasDateFlag = 16;

  struct Parts {
    StoredHead head;
    std::vector<BufferRef> body;    // the body as buffers; or
    std::string small_body;         // (when `body` is empty) the body, copied into the entry
    StoredFacts facts;
    VaryList vary;                  // the response's Vary (never star: such responses are not stored)
    std::string vary_key;           // secondaryKey(vary, request) of the request that filled it
    std::vector<std::string> tags;  // purge tags
    StoreGauges* gauges = nullptr;  // the route's store gauges (null: not counted per route)
  };
  // One allocation holding the entry, its head and (when small) its body.
  static EntryRef create(Parts parts);

  CacheEntry(const CacheEntry&) = delete;
  CacheEntry& operator=(const CacheEntry&) = delete;

  HeadView head() const { return HeadView(status_, {tail(), head_size_}); }
  // The stored fields a whole-response hit sends as they are, as serialized "name: value\r\n"
  // lines: all but Content-Length and Age (the core writes its own length; the cache its own Age),
  // which create() puts at the end of the blob. False when the entry cannot hand them out so
  // (a head with a hop-by-hop field, as a foreign second-tier copy may have, or a long tail):
  // then the caller filters head() field by field. `has_date`: the lines include a Date.
  bool hitFields(std::string_view& fields, bool& has_date) const {
    if (!(flags_ & kHitSplitFlag)) return false;
    fields = {tail(), head_size_ - hit_tail_};
    has_date = flags_ & kHasDateFlag;
    return true;
  }
  // The body in order, as views valid while a reference to the entry is held.
  size_t chunkCount() const { return chunk_count_ == 0 ? (body_size_ ? 1 : 0) : chunk_count_; }
  std::string_view chunk(size_t i) const {
    return chunk_count_ == 0 ? std::string_view(tail() + head_size_, body_size_) : chunks_[i].view();
  }
  // The body's buffers when it is not inline (empty span when it is).
  std::span<const BufferRef> buffers() const { return {chunks_, chunk_count_}; }
  uint64_t bodySize() const { return body_size_; }
  StoredFacts facts() const;
  const VaryList& vary() const;
  std::string_view varyKey() const;
  std::span<const std::string> tags() const;
  StoreGauges* gauges() const { return gauges_; }

  // The encoding attached for `encoding`, or null. Safe from any thread.
  std::shared_ptr<const EncodedBody> encoded(std::string_view encoding) const;

  // Everything this entry costs in memory, encodings attached so far included.
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  friend class CacheStore;
  friend class EntryRef;
  CacheEntry() = default;
  ~CacheEntry();
  void retain() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() const;
  const char* tail() const { return reinterpret_cast<const char*>(this + 1); }
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

  // Packed: this object, the head blob and a small body are one allocation, the bulk of the
  // index overhead per entry (tools/bench/cache_eviction_bench).
  mutable std::atomic<uint32_t> refs_{1};
  uint32_t head_size_ = 0;
  uint32_t chunk_count_ = 0;       // 0: the body (body_size_ bytes) follows the head inline
  uint16_t status_ = 0;
  uint8_t flags_ = 0;
  uint8_t hit_tail_ = 0;           // bytes of Content-Length / Age lines at the end of the head blob
  uint64_t body_size_ = 0;
  uint32_t response_time_ = 0;     // seconds since the epoch (clamped to 0..2106)
  uint32_t initial_age_ = 0;       // seconds, saturated
  uint32_t lifetime_ = 0;
  uint32_t stale_while_revalidate_ = kNone;
  uint32_t stale_if_error_ = kNone;
  static constexpr uint32_t kNone = UINT32_MAX;
  BufferRef* chunks_ = nullptr;    // chunk_count_ buffers when the body is not inline
  StoreGauges* gauges_ = nullptr;
  Extras* extras_ = nullptr;
  mutable std::atomic<Encodings*> encodings_{nullptr};
  mutable std::atomic<size_t> bytes_{0};
};

// A counted reference to a CacheEntry (safe to copy and drop from any thread).
class EntryRef {
 public:
  EntryRef() = default;
  EntryRef(std::nullptr_t) {}  // NOLINT: as null as a shared_ptr
  EntryRef(const EntryRef& o) : entry_(o.entry_) { if (entry_) entry_->retain(); }
  EntryRef(EntryRef&& o) noexcept : entry_(std::exchange(o.entry_, nullptr)) {}
  EntryRef& operator=(EntryRef o) noexcept {
    std::swap(entry_, o.entry_);
    return *this;
  }
  ~EntryRef() { if (entry_) entry_->release(); }

  void reset() { EntryRef().swap(*this); }
  void swap(EntryRef& o) noexcept { std::swap(entry_, o.entry_); }
  const CacheEntry* get() const { return entry_; }
  const CacheEntry* operator->() const { return entry_; }
  const CacheEntry& operator*() const { return *entry_; }
  explicit operator bool() const { return entry_ != nullptr; }
  friend bool operator==(const EntryRef& a, const EntryRef& b) { return a.entry_ == b.entry_; }

  // One more / one less reference, for a holder that keeps the entry as a raw pointer (a write
  // in flight: proxy::BodyOwner).
  static void retainRaw(const void* entry) { static_cast<const CacheEntry*>(entry)->retain(); }
  static void releaseRaw(const void* entry) { static_cast<const CacheEntry*>(entry)->release(); }

 private:
  friend class CacheEntry;
  const CacheEntry* entry_ = nullptr;
};

}  // namespace edged::cache
