// cache/entry_builder.h — EntryBuilder: collects a response being filled (head, facts, body
// chunks as they stream) and knows whether it may still become an entry (size, clean end).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_entry.h"

namespace edged::cache {

class EntryBuilder {
 public:
  // `max_object`: a body larger than this is not stored (the bytes already copied are dropped).
  EntryBuilder(CacheEntry::Parts head_parts, uint64_t max_object);

  // Copies one body chunk into the entry's buffers; small chunks are coalesced up to 16 KiB.
  void append(std::string_view bytes);
  // The body ended cleanly (framing complete); without it the entry is never stored.
  void finish() { complete_ = true; }

  bool tooLarge() const { return too_large_; }
  bool complete() const { return complete_; }
  uint64_t size() const { return size_; }

 private:
  friend class CacheStore;
  void flushPending();
  // The parts with every pending byte flushed; the builder is spent.
  CacheEntry::Parts release();

  CacheEntry::Parts parts_;
  std::string pending_;
  uint64_t max_object_;
  uint64_t size_ = 0;
  bool too_large_ = false;
  bool complete_ = false;
};

}  // namespace edged::cache
