// cache/cache_entry.cpp — CacheEntry.
#include "cache/cache_entry.h"

#include <algorithm>
#include <cassert>
#include <new>

namespace edged::cache {
namespace {

constexpr uint8_t kNoCache = 1, kNeverStale = 2, kValidator = 4;

uint32_t clamp32(int64_t v) { return static_cast<uint32_t>(std::clamp<int64_t>(v, 0, UINT32_MAX - 1)); }

const VaryList kNoVary;

}  // namespace

size_t EncodedBody::bytes() const {
  size_t n = sizeof(EncodedBody) + encoding.capacity() + head.bytes() + chunks.capacity() * sizeof(BufferRef);
  for (const BufferRef& c : chunks) n += c.get()->bytes();
  return n;
}

CacheEntry::CacheEntry(Parts p) : head_(std::move(p.head)) {
  head_.shrink();
  assert(p.body.size() < (1u << 28));
  chunk_count_ = static_cast<uint32_t>(p.body.size());
  if (chunk_count_ == 1) {
    new (&body_.one) BufferRef(std::move(p.body.front()));
  } else if (chunk_count_ > 1) {
    body_.many = new BufferRef[chunk_count_];
    for (uint32_t i = 0; i < chunk_count_; ++i) body_.many[i] = std::move(p.body[i]);
  }
  for (const BufferRef& b : body()) body_size_ += b.size();
  const StoredFacts& f = p.facts;
  response_time_ = static_cast<uint32_t>(std::clamp<int64_t>(f.response_time, 0, UINT32_MAX));
  initial_age_ = clamp32(f.initial_age);
  lifetime_ = clamp32(f.freshness_lifetime);
  if (f.stale_while_revalidate) stale_while_revalidate_ = clamp32(*f.stale_while_revalidate);
  if (f.stale_if_error) stale_if_error_ = clamp32(*f.stale_if_error);
  flags_ = static_cast<uint8_t>((f.no_cache ? kNoCache : 0) | (f.never_stale ? kNeverStale : 0) |
                                (f.has_validator ? kValidator : 0));
  size_t extra_bytes = 0;
  if (!p.vary.names.empty() || !p.vary_key.empty() || !p.tags.empty()) {
    extras_ = std::make_unique<Extras>(Extras{std::move(p.vary), std::move(p.vary_key), std::move(p.tags)});
    extra_bytes = sizeof(Extras) + extras_->vary_key.capacity() + extras_->tags.capacity() * sizeof(std::string) +
                  extras_->vary.names.capacity() * sizeof(std::string);
    for (const std::string& s : extras_->vary.names) extra_bytes += s.size() > 15 ? s.capacity() : 0;
    for (const std::string& s : extras_->tags) extra_bytes += s.size() > 15 ? s.capacity() : 0;
  }
  // The shared_ptr control block sits beside the object (make_shared): counted as 16 bytes.
  size_t n = sizeof(CacheEntry) + 16 + head_.bytes() + (chunk_count_ > 1 ? chunk_count_ * sizeof(BufferRef) : 0) + extra_bytes;
  for (const BufferRef& b : body()) n += b.get()->bytes();
  bytes_.store(n, std::memory_order_relaxed);
}

CacheEntry::~CacheEntry() {
  if (chunk_count_ == 1) body_.one.~BufferRef();
  else if (chunk_count_ > 1) delete[] body_.many;
  delete encodings_.load(std::memory_order_acquire);
}

StoredFacts CacheEntry::facts() const {
  StoredFacts f;
  f.response_time = response_time_;
  f.initial_age = initial_age_;
  f.freshness_lifetime = lifetime_;
  f.no_cache = flags_ & kNoCache;
  f.never_stale = flags_ & kNeverStale;
  f.has_validator = flags_ & kValidator;
  if (stale_while_revalidate_ != kNone) f.stale_while_revalidate = stale_while_revalidate_;
  if (stale_if_error_ != kNone) f.stale_if_error = stale_if_error_;
  return f;
}

const VaryList& CacheEntry::vary() const { return extras_ ? extras_->vary : kNoVary; }
std::string_view CacheEntry::varyKey() const { return extras_ ? std::string_view(extras_->vary_key) : std::string_view{}; }
std::span<const std::string> CacheEntry::tags() const {
  return extras_ ? std::span<const std::string>(extras_->tags) : std::span<const std::string>{};
}

std::shared_ptr<const EncodedBody> CacheEntry::encoded(std::string_view encoding) const {
  Encodings* e = encodings_.load(std::memory_order_acquire);
  if (!e) return nullptr;
  std::lock_guard lock(e->mutex);
  for (const auto& b : e->list)
    if (b->encoding == encoding) return b;
  return nullptr;
}

size_t CacheEntry::attach(std::shared_ptr<const EncodedBody> body) const {
  Encodings* e = encodings_.load(std::memory_order_acquire);
  if (!e) {
    auto* fresh = new Encodings;
    if (encodings_.compare_exchange_strong(e, fresh, std::memory_order_acq_rel)) e = fresh;
    else delete fresh;  // another thread won; `e` now holds its pointer
  }
  std::lock_guard lock(e->mutex);
  for (const auto& b : e->list)
    if (b->encoding == body->encoding) return 0;
  const size_t added = body->bytes() + sizeof(std::shared_ptr<const EncodedBody>) + 16 +
                       (e->list.empty() ? sizeof(Encodings) : 0);
  e->list.push_back(std::move(body));
  bytes_.fetch_add(added, std::memory_order_relaxed);
  return added;
}

}  // namespace edged::cache
static_assert(sizeof(edged::cache::CacheEntry) <= 104, "CacheEntry + make_shared control block should fit 128-byte malloc chunks");
