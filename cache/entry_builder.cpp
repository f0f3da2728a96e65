// cache/entry_builder.cpp — EntryBuilder.
#include "cache/entry_builder.h"

namespace edged::cache {
namespace {
// Below this, chunks are gathered into one buffer: a hit then writes few large iovecs, and the
// per-buffer header cost stays negligible.
constexpr size_t kCoalesce = 16 * 1024;
}  // namespace

EntryBuilder::EntryBuilder(CacheEntry::Parts head_parts, uint64_t max_object)
    : parts_(std::move(head_parts)), max_object_(max_object) {}

void EntryBuilder::append(std::string_view bytes) {
  if (too_large_ || bytes.empty()) return;
  size_ += bytes.size();
  if (size_ > max_object_) {
    too_large_ = true;
    parts_.body.clear();
    pending_.clear();
    pending_.shrink_to_fit();
    return;
  }
  if (pending_.empty() && bytes.size() >= kCoalesce) {
    parts_.body.push_back(BodyBuffer::copyOf(bytes));
    return;
  }
  pending_.append(bytes);
  if (pending_.size() >= kCoalesce) flushPending();
}

void EntryBuilder::flushPending() {
  if (pending_.empty()) return;
  parts_.body.push_back(BodyBuffer::copyOf(pending_));
  pending_.clear();
}

CacheEntry::Parts EntryBuilder::release() {
  // A body that never reached kCoalesce is still all in `pending_`: it goes inline into the entry.
  if (!parts_.body.empty()) flushPending();
  else if (parts_.small_body.empty()) parts_.small_body = std::move(pending_);
  else parts_.small_body.append(pending_);
  return std::move(parts_);
}

}  // namespace edged::cache
