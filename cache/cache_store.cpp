// cache/cache_store.cpp — CacheStore. One mutex per shard guards that shard's index, queues,
// ghost list, tag index and fills; no code path holds two shard locks. The byte total is one
// atomic so that the budget is global, while eviction stays local to a shard (S3-FIFO per shard,
// each shard sized as its fair share of the budget).
#include "cache/cache_store.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <functional>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

namespace edged::cache {

// One primary key: its variants and its place in the S3-FIFO queues.
struct CacheStore::Node {
  // The key's bytes follow the node in the same allocation (create / destroy).
  static Node* create(std::string_view key) {
    void* memory = ::operator new(sizeof(Node) + key.size());
    Node* n = new (memory) Node;
    n->key_size = static_cast<uint32_t>(key.size());
    if (!key.empty()) std::memcpy(reinterpret_cast<char*>(n + 1), key.data(), key.size());
    return n;
  }
  static void destroy(Node* n) {
    n->~Node();
    ::operator delete(n);
  }
  std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_size}; }

  Node* chain = nullptr;  // next in the hash bucket
  Node* prev = nullptr;   // queue links (toward the head / the tail)
  Node* next = nullptr;
  EntryRef first;
  std::unique_ptr<std::vector<EntryRef>> more;  // rare: a second Vary variant onward
  uint64_t bytes = 0;     // the node itself + its variants; charged to first's route gauges
  uint32_t hash = 0;      // the key hash's low bits (bucket and ghost; the shard is from high bits)
  uint32_t key_size : 29 = 0;
  uint32_t freq : 2 = 0;  // 0..3, S3-FIFO's access counter
  uint32_t queue : 1 = 0; // kSmall or kMain

  template <typename F>
  void forEachEntry(F&& f) const {
    if (first) f(first);
    if (more)
      for (const EntryRef& e : *more) f(e);
  }
  size_t entryCount() const { return (first ? 1 : 0) + (more ? more->size() : 0); }
};

void CacheStore::NodeDeleter::operator()(Node* n) const { Node::destroy(n); }

namespace {
constexpr uint8_t kSmall = 0, kMain = 1;
// S3-FIFO: an object leaving the small queue goes to main when it was read at least this often
// while in small (the SOSP'23 paper's threshold), else to the ghost list.
constexpr uint8_t kPromoteFreq = 1;
constexpr uint8_t kMaxFreq = 3;

// Per-route gauges: a node's bytes are charged to the route of its first (newest) entry, each
// entry counts for its own route.
void gaugeBytes(const EntryRef& e, int64_t bytes) {
  if (e && e->gauges()) e->gauges()->bytes.fetch_add(bytes, std::memory_order_relaxed);
}
void gaugeEntries(const EntryRef& e, int64_t n) {
  if (e && e->gauges()) e->gauges()->entries.fetch_add(n, std::memory_order_relaxed);
}
}  // namespace

// What one index node costs beyond its entries: the node and its allocator header, its bucket
// slot, the key's heap bytes.
size_t CacheStore::nodeBytes(size_t key_size) { return sizeof(CacheStore::Node) + key_size + 16 + 8; }

struct CacheStore::Queue {
  Node* head = nullptr;  // newest
  Node* tail = nullptr;  // oldest: evicted first
  uint64_t bytes = 0;
  size_t count = 0;

  void pushHead(Node* n) {
    n->prev = nullptr;
    n->next = head;
    if (head) head->prev = n;
    head = n;
    if (!tail) tail = n;
    bytes += n->bytes;
    ++count;
  }
  void remove(Node* n) {
    if (n->prev) n->prev->next = n->next;
    else head = n->next;
    if (n->next) n->next->prev = n->prev;
    else tail = n->prev;
    n->prev = n->next = nullptr;
    bytes -= n->bytes;
    --count;
  }
};

struct CacheStore::Fill {
  std::string key;
  uint64_t hash = 0;
  uint64_t tag_purges_at_start = 0;
  bool purged = false;
  Waiter* waiters = nullptr;
};

struct CacheStore::Shard {
  mutable std::mutex mutex;
  std::vector<Node*> buckets = std::vector<Node*>(16, nullptr);
  size_t nodes = 0;
  size_t entries = 0;
  uint64_t bytes = 0;
  Queue small, main;
  // Ghost: hashes of keys recently evicted from small, FIFO-bounded by main's key count.
  std::unordered_map<uint64_t, uint64_t> ghost;  // hash -> sequence number
  std::deque<std::pair<uint64_t, uint64_t>> ghost_fifo;
  uint64_t ghost_seq = 0;
  std::unordered_multimap<std::string, Node*> tags;
  std::unordered_map<std::string_view, std::unique_ptr<Fill>> fills;  // views into Fill::key

  Node* find(std::string_view key, uint64_t hash) const {
    const auto h = static_cast<uint32_t>(hash);
    for (Node* n = buckets[h & (buckets.size() - 1)]; n; n = n->chain)
      if (n->hash == h && n->key() == key) return n;
    return nullptr;
  }
  void link(Node* n) {
    if (nodes + 1 > buckets.size()) {
      std::vector<Node*> grown(buckets.size() * 2, nullptr);
      for (Node* head : buckets)
        while (head) {
          Node* next = head->chain;
          Node*& slot = grown[head->hash & (grown.size() - 1)];
          head->chain = slot;
          slot = head;
          head = next;
        }
      buckets.swap(grown);
    }
    Node*& slot = buckets[n->hash & (buckets.size() - 1)];
    n->chain = slot;
    slot = n;
    ++nodes;
  }
  void unlink(Node* n) {
    Node** p = &buckets[n->hash & (buckets.size() - 1)];
    while (*p != n) p = &(*p)->chain;
    *p = n->chain;
    --nodes;
  }
  bool ghostTake(uint64_t hash) { return ghost.erase(hash) > 0; }
  void ghostAdd(uint64_t hash) {
    ghost[hash] = ++ghost_seq;
    ghost_fifo.emplace_back(hash, ghost_seq);
    const size_t cap = std::max<size_t>(main.count, 16);
    while (ghost.size() > cap && !ghost_fifo.empty()) {
      auto [h, seq] = ghost_fifo.front();
      ghost_fifo.pop_front();
      auto it = ghost.find(h);
      if (it != ghost.end() && it->second == seq) ghost.erase(it);
    }
    while (ghost_fifo.size() > 2 * cap + 16) {  // stale records of re-added hashes
      auto [h, seq] = ghost_fifo.front();
      ghost_fifo.pop_front();
      auto it = ghost.find(h);
      if (it != ghost.end() && it->second == seq) ghost.erase(it);
    }
  }
};

namespace {
uint64_t hashKey(std::string_view key) {
  // std::hash is not guaranteed to mix; a final avalanche keeps shard and bucket bits independent.
  uint64_t h = std::hash<std::string_view>{}(key);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}
}  // namespace

FillPermit& FillPermit::operator=(FillPermit&& o) noexcept {
  if (this != &o) {
    abandon();
    store_ = o.store_;
    fill_ = o.fill_;
    o.store_ = nullptr;
    o.fill_ = nullptr;
  }
  return *this;
}

BypassReason FillPermit::commit(EntryBuilder&& builder, EntryRef* stored) {
  assert(fill_);
  CacheStore* store = store_;
  auto* fill = static_cast<CacheStore::Fill*>(fill_);
  store_ = nullptr;
  fill_ = nullptr;
  return store->commit(fill, std::move(builder), stored);
}

void FillPermit::abandon() {
  if (!fill_) return;
  CacheStore* store = store_;
  auto* fill = static_cast<CacheStore::Fill*>(fill_);
  store_ = nullptr;
  fill_ = nullptr;
  store->abandon(fill);
}

CacheStore::CacheStore(StoreConfig config) : config_(config), budget_(config.budget_bytes) {
  shard_count_ = 1;
  while (shard_count_ < std::max<size_t>(config.shards, 1)) shard_count_ *= 2;
  shards_ = std::make_unique<Shard[]>(shard_count_);
}

CacheStore::~CacheStore() {
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& s = shards_[i];
    assert(s.fills.empty() && "a FillPermit outlived the store");
    for (Node* head : s.buckets)
      while (head) {
        Node* next = head->chain;
        Node::destroy(head);
        head = next;
      }
  }
}

CacheStore::Shard& CacheStore::shardFor(uint64_t hash) const { return shards_[(hash >> 40) & (shard_count_ - 1)]; }

EntryRef CacheStore::matchLocked(Node* node, std::span<const FieldView> fields, const KeyOptions& options) const {
  EntryRef found;
  node->forEachEntry([&](const EntryRef& e) {
    if (found) return;
    if (e->vary().names.empty() || secondaryKeyMatches(e->vary(), fields, options, e->varyKey())) found = e;
  });
  return found;
}

EntryRef CacheStore::lookup(std::string_view key, std::span<const FieldView> fields, const KeyOptions& options) {
  const uint64_t hash = hashKey(key);
  Shard& s = shardFor(hash);
  std::lock_guard lock(s.mutex);
  Node* n = s.find(key, hash);
  EntryRef e = n ? matchLocked(n, fields, options) : nullptr;
  if (e) {
    if (n->freq < kMaxFreq) ++n->freq;
    hits_.fetch_add(1, std::memory_order_relaxed);
  } else {
    misses_.fetch_add(1, std::memory_order_relaxed);
  }
  return e;
}

CacheStore::Begin CacheStore::fillOrWaitLocked(Shard& s, std::string_view key, uint64_t hash, Waiter* waiter) {
  Begin b;
  auto it = s.fills.find(key);
  if (it != s.fills.end()) {
    if (!waiter) {
      b.kind = Begin::Kind::Busy;
      return b;
    }
    assert(!waiter->fill_);
    Fill* f = it->second.get();
    waiter->fill_ = f;
    waiter->shard_ = static_cast<uint32_t>(&s - shards_.get());
    waiter->prev_ = nullptr;
    waiter->next_ = f->waiters;
    if (f->waiters) f->waiters->prev_ = waiter;
    f->waiters = waiter;
    b.kind = Begin::Kind::Wait;
    return b;
  }
  auto fill = std::make_unique<Fill>();
  fill->key.assign(key);
  fill->hash = hash;
  fill->tag_purges_at_start = tag_purges_.load(std::memory_order_acquire);
  Fill* raw = fill.get();
  s.fills.emplace(std::string_view(raw->key), std::move(fill));
  b.kind = Begin::Kind::Fill;
  b.permit = FillPermit(this, raw);
  return b;
}

CacheStore::Begin CacheStore::lookupOrFill(std::string_view key, std::span<const FieldView> fields,
                                           const KeyOptions& options, Waiter* waiter) {
  const uint64_t hash = hashKey(key);
  Shard& s = shardFor(hash);
  std::lock_guard lock(s.mutex);
  if (Node* n = s.find(key, hash)) {
    if (EntryRef e = matchLocked(n, fields, options)) {
      if (n->freq < kMaxFreq) ++n->freq;
      hits_.fetch_add(1, std::memory_order_relaxed);
      Begin b;
      b.kind = Begin::Kind::Hit;
      b.entry = std::move(e);
      return b;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return fillOrWaitLocked(s, key, hash, waiter);
}

CacheStore::Begin CacheStore::beginFill(std::string_view key, Waiter* waiter) {
  const uint64_t hash = hashKey(key);
  Shard& s = shardFor(hash);
  std::lock_guard lock(s.mutex);
  return fillOrWaitLocked(s, key, hash, waiter);
}

bool CacheStore::cancelWait(Waiter* w) {
  // fill_ is cleared by the filler under the shard lock, so it is read under that lock only; the
  // shard index was written by this (the waiter's) thread at registration.
  if (w->shard_ == UINT32_MAX) return false;
  Shard& s = shards_[w->shard_];
  w->shard_ = UINT32_MAX;
  std::lock_guard lock(s.mutex);
  Fill* f = static_cast<Fill*>(w->fill_);
  if (!f) return false;
  if (w->prev_) w->prev_->next_ = w->next_;
  else f->waiters = w->next_;
  if (w->next_) w->next_->prev_ = w->prev_;
  w->prev_ = w->next_ = nullptr;
  w->fill_ = nullptr;
  return true;
}

void CacheStore::finishFill(Shard& s, Fill* f, FillOutcome outcome) {
  Waiter* w = f->waiters;
  while (w) {
    Waiter* next = w->next_;
    w->prev_ = w->next_ = nullptr;
    w->fill_ = nullptr;
    w->waker().wake(w, outcome);
    w = next;
  }
  s.fills.erase(std::string_view(f->key));  // frees f
}

void CacheStore::abandon(Fill* f) {
  Shard& s = shardFor(f->hash);
  std::lock_guard lock(s.mutex);
  finishFill(s, f, FillOutcome::Abandoned);
}

BypassReason CacheStore::commit(Fill* f, EntryBuilder&& builder, EntryRef* stored) {
  Shard& s = shardFor(f->hash);
  BypassReason refusal = BypassReason::None;
  if (!builder.complete()) refusal = BypassReason::Incomplete;
  else if (builder.tooLarge() || builder.size() > config_.max_object_bytes) refusal = BypassReason::TooLarge;
  EntryRef entry;
  if (refusal == BypassReason::None) {
    entry = CacheEntry::create(builder.release());
    if (entry->bytes() + nodeBytes(f->key.size()) > budget_.load(std::memory_order_relaxed)) refusal = BypassReason::TooLarge;
  }
  std::vector<NodePtr> dead;
  std::vector<EntryRef> replaced;
  {
    std::lock_guard lock(s.mutex);
    if (refusal == BypassReason::None &&
        (f->purged || (!entry->tags().empty() && tag_purges_.load(std::memory_order_acquire) != f->tag_purges_at_start)))
      refusal = BypassReason::Purged;
    if (refusal != BypassReason::None) {
      finishFill(s, f, FillOutcome::Abandoned);
      return refusal;
    }
    Node* n = s.find(f->key, f->hash);
    if (!n) {
      n = Node::create(f->key);
      n->hash = static_cast<uint32_t>(f->hash);
      n->bytes = nodeBytes(f->key.size());
      s.link(n);
      n->queue = s.ghostTake(n->hash) ? kMain : kSmall;
      (n->queue == kMain ? s.main : s.small).pushHead(n);
      s.bytes += n->bytes;
      used_.fetch_add(static_cast<int64_t>(n->bytes), std::memory_order_relaxed);
    }
    // Variants: one with the same Vary list and key is replaced; a different Vary list means the
    // origin changed what it varies on, so the old variants go.
    std::vector<EntryRef> kept;
    n->forEachEntry([&](const EntryRef& e) {
      if (e->vary().names == entry->vary().names && e->varyKey() != entry->varyKey()) kept.push_back(e);
      else replaced.push_back(e);
    });
    while (kept.size() + 1 > config_.max_variants && !kept.empty()) {
      replaced.push_back(kept.front());
      kept.erase(kept.begin());
    }
    Queue& q = n->queue == kMain ? s.main : s.small;
    uint64_t old_bytes = n->bytes;
    uint64_t new_bytes = nodeBytes(f->key.size()) + entry->bytes();
    for (const EntryRef& e : kept) new_bytes += e->bytes() + sizeof(EntryRef);
    // Tag index: drop the replaced entries' tags, add the new one's.
    for (const EntryRef& e : replaced)
      for (const std::string& t : e->tags()) {
        auto [a, b] = s.tags.equal_range(t);
        for (auto it = a; it != b; ++it)
          if (it->second == n) { s.tags.erase(it); break; }
      }
    for (const std::string& t : entry->tags()) s.tags.emplace(t, n);
    s.entries += 1 + kept.size();
    s.entries -= n->entryCount();
    gaugeBytes(n->first, -static_cast<int64_t>(old_bytes));
    for (const EntryRef& e : replaced) gaugeEntries(e, -1);
    gaugeBytes(entry, static_cast<int64_t>(new_bytes));
    gaugeEntries(entry, 1);
    n->first = entry;
    if (kept.empty()) n->more.reset();
    else n->more = std::make_unique<std::vector<EntryRef>>(std::move(kept));
    q.bytes += new_bytes - old_bytes;
    s.bytes += new_bytes - old_bytes;
    used_.fetch_add(static_cast<int64_t>(new_bytes) - static_cast<int64_t>(old_bytes), std::memory_order_relaxed);
    n->bytes = new_bytes;
    inserts_.fetch_add(1, std::memory_order_relaxed);
    finishFill(s, f, FillOutcome::Committed);
  }
  if (stored) *stored = entry;
  enforceBudget(static_cast<size_t>(&s - shards_.get()));
  return BypassReason::None;
}

void CacheStore::removeLocked(Shard& s, Node* n, std::vector<NodePtr>& dead) {
  (n->queue == kMain ? s.main : s.small).remove(n);
  s.unlink(n);
  n->forEachEntry([&](const EntryRef& e) {
    for (const std::string& t : e->tags()) {
      auto [a, b] = s.tags.equal_range(t);
      for (auto it = a; it != b; ++it)
        if (it->second == n) { s.tags.erase(it); break; }
    }
  });
  s.entries -= n->entryCount();
  gaugeBytes(n->first, -static_cast<int64_t>(n->bytes));
  n->forEachEntry([](const EntryRef& e) { gaugeEntries(e, -1); });
  s.bytes -= n->bytes;
  used_.fetch_sub(static_cast<int64_t>(n->bytes), std::memory_order_relaxed);
  dead.emplace_back(n);  // freed after the lock is released
}

void CacheStore::countEviction(const Node* n) {
  if (n->first && n->first->gauges()) n->first->gauges()->evictions.fetch_add(1, std::memory_order_relaxed);
}

uint64_t CacheStore::evictOneLocked(Shard& s, std::vector<NodePtr>& dead) {
  const uint64_t fair = budget_.load(std::memory_order_relaxed) / shard_count_;
  const uint64_t small_target = fair / 10;
  while (s.small.count + s.main.count > 0) {
    if (s.small.count > 0 && (s.small.bytes > small_target || s.main.count == 0)) {
      Node* n = s.small.tail;
      if (n->freq >= kPromoteFreq) {
        // Read while in small: it earned a place in main.
        s.small.remove(n);
        n->freq = 0;
        n->queue = kMain;
        s.main.pushHead(n);
        continue;
      }
      const uint64_t freed = n->bytes;
      s.ghostAdd(n->hash);
      countEviction(n);
      removeLocked(s, n, dead);
      evictions_.fetch_add(1, std::memory_order_relaxed);
      return freed;
    }
    Node* n = s.main.tail;
    if (n->freq > 0) {
      --n->freq;
      s.main.remove(n);
      s.main.pushHead(n);
      continue;
    }
    const uint64_t freed = n->bytes;
    countEviction(n);
    removeLocked(s, n, dead);
    evictions_.fetch_add(1, std::memory_order_relaxed);
    return freed;
  }
  return 0;
}

void CacheStore::enforceBudget(size_t start) {
  // The shard that just grew evicts down to its fair share first; the others follow round-robin
  // when the total is still over (uneven shards, a budget cut).
  const auto over = [&] { return used_.load(std::memory_order_relaxed) > static_cast<int64_t>(budget_.load(std::memory_order_relaxed)); };
  if (!over()) return;
  std::vector<NodePtr> dead;
  {
    Shard& s = shards_[start];
    std::lock_guard lock(s.mutex);
    const uint64_t fair = budget_.load(std::memory_order_relaxed) / shard_count_;
    while (over() && s.bytes > fair && evictOneLocked(s, dead) > 0) {}
  }
  size_t idle_rounds = 0;
  while (over() && idle_rounds < shard_count_) {
    const size_t i = evict_cursor_.fetch_add(1, std::memory_order_relaxed) & (shard_count_ - 1);
    Shard& s = shards_[i];
    std::lock_guard lock(s.mutex);
    idle_rounds = evictOneLocked(s, dead) > 0 ? 0 : idle_rounds + 1;
  }
}

size_t CacheStore::purgeIfLocked(Shard& s, std::string_view key, bool exact, std::vector<NodePtr>& dead) {
  size_t removed = 0;
  if (exact) {
    if (Node* n = s.find(key, hashKey(key))) {
      removed += n->entryCount();
      removeLocked(s, n, dead);
    }
    auto it = s.fills.find(key);
    if (it != s.fills.end()) it->second->purged = true;
    return removed;
  }
  std::vector<Node*> victims;
  for (Node* head : s.buckets)
    for (Node* n = head; n; n = n->chain)
      if (n->key().starts_with(key)) victims.push_back(n);
  for (Node* n : victims) {
    removed += n->entryCount();
    removeLocked(s, n, dead);
  }
  for (auto& [k, f] : s.fills)
    if (k.starts_with(key)) f->purged = true;
  return removed;
}

size_t CacheStore::purgeKey(std::string_view key) {
  Shard& s = shardFor(hashKey(key));
  std::vector<NodePtr> dead;
  std::lock_guard lock(s.mutex);
  return purgeIfLocked(s, key, true, dead);
}

size_t CacheStore::purgePrefix(std::string_view prefix) {
  size_t removed = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    std::vector<NodePtr> dead;
    std::lock_guard lock(shards_[i].mutex);
    removed += purgeIfLocked(shards_[i], prefix, false, dead);
  }
  return removed;
}

size_t CacheStore::purgeTag(std::string_view tag) {
  // Bumped before the scan: a fill committing after this point sees the change and, if tagged,
  // is refused (it may carry this tag), so no purged entry is resurrected.
  tag_purges_.fetch_add(1, std::memory_order_acq_rel);
  size_t removed = 0;
  const std::string t(tag);
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& s = shards_[i];
    std::vector<NodePtr> dead;
    std::lock_guard lock(s.mutex);
    std::vector<Node*> victims;
    auto [a, b] = s.tags.equal_range(t);
    for (auto it = a; it != b; ++it)
      if (std::find(victims.begin(), victims.end(), it->second) == victims.end()) victims.push_back(it->second);
    for (Node* n : victims) {
      removed += n->entryCount();
      removeLocked(s, n, dead);
    }
  }
  return removed;
}

bool CacheStore::attachEncoding(std::string_view key, const EntryRef& entry, EncodedBody body) {
  const uint64_t hash = hashKey(key);
  Shard& s = shardFor(hash);
  auto shared = std::make_shared<const EncodedBody>(std::move(body));
  {
    std::lock_guard lock(s.mutex);
    Node* n = s.find(key, hash);
    if (!n) return false;
    bool present = false;
    n->forEachEntry([&](const EntryRef& e) { present = present || e == entry; });
    if (!present) return false;
    const size_t added = entry->attach(std::move(shared));
    if (added == 0) return false;
    (n->queue == kMain ? s.main : s.small).bytes += added;
    gaugeBytes(n->first, static_cast<int64_t>(added));
    n->bytes += added;
    s.bytes += added;
    used_.fetch_add(static_cast<int64_t>(added), std::memory_order_relaxed);
  }
  enforceBudget(static_cast<size_t>(&s - shards_.get()));
  return true;
}

void CacheStore::setBudget(uint64_t bytes) {
  budget_.store(bytes, std::memory_order_relaxed);
  for (size_t i = 0; i < shard_count_; ++i) enforceBudget(i);
}

StoreStats CacheStore::stats() const {
  StoreStats st;
  st.used_bytes = static_cast<uint64_t>(std::max<int64_t>(0, used_.load(std::memory_order_relaxed)));
  st.budget_bytes = budget_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    st.keys += shards_[i].nodes;
    st.entries += shards_[i].entries;
  }
  st.hits = hits_.load(std::memory_order_relaxed);
  st.misses = misses_.load(std::memory_order_relaxed);
  st.inserts = inserts_.load(std::memory_order_relaxed);
  st.evictions = evictions_.load(std::memory_order_relaxed);
  return st;
}

}  // namespace edged::cache
