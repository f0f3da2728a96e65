// cache/fill_permit.h — FillPermit: the one right to fill a key (RAII). Committing stores the
// entry and wakes the waiters with Committed; dropping it uncommitted wakes them with Abandoned.
#pragma once

#include "cache/cache_entry.h"
#include "cache/cache_policy.h"
#include "cache/entry_builder.h"

namespace edged::cache {

class CacheStore;

class FillPermit {
 public:
  FillPermit() = default;
  FillPermit(FillPermit&& o) noexcept : store_(o.store_), fill_(o.fill_) { o.store_ = nullptr; o.fill_ = nullptr; }
  FillPermit& operator=(FillPermit&& o) noexcept;
  ~FillPermit() { abandon(); }

  explicit operator bool() const { return fill_ != nullptr; }

  // Stores the built entry under the permit's key. Refused (and the waiters told Abandoned) when
  // the body did not end cleanly (Incomplete), went over max_object (TooLarge) or a purge of the
  // key, a prefix of it or (for a tagged entry) any tag ran since the permit was granted (Purged).
  // The permit is spent either way. Returns BypassReason::None when stored.
  // `stored` (when given) receives the entry when it was stored (the second tier copies it).
  BypassReason commit(EntryBuilder&& builder, EntryRef* stored = nullptr);
  // Gives the permit back without storing; waiters are told Abandoned.
  void abandon();

 private:
  friend class CacheStore;
  FillPermit(CacheStore* store, void* fill) : store_(store), fill_(fill) {}
  CacheStore* store_ = nullptr;
  void* fill_ = nullptr;
};

}  // namespace edged::cache
