// cache/cache_entry.cpp — CacheEntry.
#include "cache/cache_entry.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

#include "cache/field_text.h"
#include "proxy/http/header.h"

namespace edged::cache {
namespace {

constexpr uint8_t kNoCache = 1, kNeverStale = 2, kValidator = 4;

// The head blob for create(): the fields a hit drops (Content-Length, Age) moved after all the
// others, each name's lines kept in their order (RFC 9110 §5.3: only the order of lines of one
// name matters). Returns the flags kHitSplit / kHasDate and the dropped lines' size in `tail`.
uint8_t writeHead(std::string_view blob, int status, char* out, uint8_t& tail) {
  using text::iequals;
  const auto dropped = replacedOnHit;
  const HeadView head(status, blob);
  size_t kept = 0, moved = 0;
  const char* first_moved = nullptr;  // where the first dropped line is in the blob
  bool kept_after_moved = false;      // a kept line follows a dropped one
  bool splittable = true, has_date = false;
  head.forEach([&](FieldView f) {
    const size_t line = f.name.size() + f.value.size() + 4;
    if (dropped(f.name)) {
      if (!first_moved) first_moved = f.name.data();
      moved += line;
      return;
    }
    kept_after_moved |= first_moved != nullptr;
    // What the response head builder would drop field by field (proxy::isHopByHop's names).
    if (proxy::isHopByHop(proxy::classifyHeader(f.name))) splittable = false;
    has_date |= iequals(f.name, "date");
    std::memcpy(out + kept, f.name.data(), line);  // the line as it is in the blob
    kept += line;
  });
  if (moved > 0 && !kept_after_moved) {
    // Already at the end (an entry's own blob, as the second tier hands it back): one copy.
    std::memcpy(out + kept, first_moved, moved);
    kept += moved;
  } else if (moved > 0) {
    head.forEach([&](FieldView f) {
      if (!dropped(f.name)) return;
      const size_t line = f.name.size() + f.value.size() + 4;
      std::memcpy(out + kept, f.name.data(), line);
      kept += line;
    });
  }
  assert(kept == blob.size());
  if (!splittable || moved > UINT8_MAX) {
    tail = 0;
    return 0;
  }
  tail = static_cast<uint8_t>(moved);
  return static_cast<uint8_t>(CacheEntry::kHitSplitFlag | (has_date ? CacheEntry::kHasDateFlag : 0));
}

uint32_t clamp32(int64_t v) { return static_cast<uint32_t>(std::clamp<int64_t>(v, 0, UINT32_MAX - 1)); }

const VaryList kNoVary;

}  // namespace

bool replacedOnHit(std::string_view name) {
  switch (name.size()) {  // most names are neither length: no comparison
    case 14: return text::iequals(name, "content-length");
    case 3: return text::iequals(name, "age");
    default: return false;
  }
}

size_t EncodedBody::bytes() const {
  size_t n = sizeof(EncodedBody) + encoding.capacity() + head.bytes() + chunks.capacity() * sizeof(BufferRef);
  for (const BufferRef& c : chunks) n += c.get()->bytes();
  return n;
}

EntryRef CacheEntry::create(Parts p) {
  const std::string_view blob = p.head.blob();
  // A body given as one small buffer is moved inline too (the second tier's decoded entries).
  if (p.body.size() == 1 && p.small_body.empty() && p.body.front().size() <= kInlineBody) {
    p.small_body.assign(p.body.front().view());
    p.body.clear();
  }
  const bool inline_body = p.body.empty();
  assert(inline_body || p.small_body.empty());
  assert(blob.size() < UINT32_MAX && p.body.size() < UINT32_MAX);
  const size_t tail = blob.size() + (inline_body ? p.small_body.size() : 0);
  void* memory = ::operator new(sizeof(CacheEntry) + tail);
  auto* e = new (memory) CacheEntry;
  char* at = reinterpret_cast<char*>(e + 1);
  const uint8_t head_flags = blob.empty() ? CacheEntry::kHitSplitFlag : writeHead(blob, p.head.status(), at, e->hit_tail_);
  e->head_size_ = static_cast<uint32_t>(blob.size());
  e->status_ = static_cast<uint16_t>(p.head.status());
  if (inline_body) {
    if (!p.small_body.empty()) std::memcpy(at + blob.size(), p.small_body.data(), p.small_body.size());
    e->body_size_ = p.small_body.size();
  } else {
    e->chunk_count_ = static_cast<uint32_t>(p.body.size());
    e->chunks_ = new BufferRef[p.body.size()];
    for (size_t i = 0; i < p.body.size(); ++i) {
      e->body_size_ += p.body[i].size();
      e->chunks_[i] = std::move(p.body[i]);
    }
  }
  const StoredFacts& f = p.facts;
  e->response_time_ = static_cast<uint32_t>(std::clamp<int64_t>(f.response_time, 0, UINT32_MAX));
  e->initial_age_ = clamp32(f.initial_age);
  e->lifetime_ = clamp32(f.freshness_lifetime);
  if (f.stale_while_revalidate) e->stale_while_revalidate_ = clamp32(*f.stale_while_revalidate);
  if (f.stale_if_error) e->stale_if_error_ = clamp32(*f.stale_if_error);
  e->flags_ = static_cast<uint8_t>((f.no_cache ? kNoCache : 0) | (f.never_stale ? kNeverStale : 0) |
                                   (f.has_validator ? kValidator : 0) | head_flags);
  e->gauges_ = p.gauges;
  size_t extra_bytes = 0;
  if (!p.vary.names.empty() || !p.vary_key.empty() || !p.tags.empty()) {
    e->extras_ = new Extras{std::move(p.vary), std::move(p.vary_key), std::move(p.tags)};
    const Extras& x = *e->extras_;
    extra_bytes = sizeof(Extras) + 16 + x.vary_key.capacity() + x.tags.capacity() * sizeof(std::string) +
                  x.vary.names.capacity() * sizeof(std::string);
    for (const std::string& s : x.vary.names) extra_bytes += s.size() > 15 ? s.capacity() : 0;
    for (const std::string& s : x.tags) extra_bytes += s.size() > 15 ? s.capacity() : 0;
  }
  // The allocation and its allocator header (16 bytes counted), out-of-line parts beside it.
  size_t n = sizeof(CacheEntry) + tail + 16 + extra_bytes;
  if (!inline_body) n += e->chunk_count_ * sizeof(BufferRef) + 16;
  for (const BufferRef& b : e->buffers()) n += b.get()->bytes() + 16;
  e->bytes_.store(n, std::memory_order_relaxed);
  EntryRef r;
  r.entry_ = e;
  return r;
}

void CacheEntry::release() const {
  // acq_rel: the last owner must see every write made through other owners before freeing.
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    auto* self = const_cast<CacheEntry*>(this);
    self->~CacheEntry();
    ::operator delete(self);
  }
}

CacheEntry::~CacheEntry() {
  delete[] chunks_;
  delete extras_;
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
static_assert(sizeof(edged::cache::CacheEntry) <= 88, "the fixed part of an entry: keep the index overhead per entry small");
