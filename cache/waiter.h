// cache/waiter.h — the wait contract of request collapsing: a Waiter parked on a key that another
// exchange is filling, and the Waker that carries its wake-up to the waiter's own thread.
#pragma once

#include <cstdint>

namespace edged::cache {

enum class FillOutcome : uint8_t {
  Committed,  // the filler stored an entry: look the key up again
  Abandoned,  // the filler gave up (error, not storable, purged): go to the origin yourself
};

class Waiter;

class Waker {
 public:
  virtual ~Waker() = default;
  // Called on the filler's thread, with the store's shard lock held, exactly once per registered
  // waiter that was not cancelled. It must only hand (waiter, outcome) to the waiter's own thread
  // (the worker's mailbox) and return; it must not call into the CacheStore.
  virtual void wake(Waiter* waiter, FillOutcome outcome) = 0;
};

// Owned by the waiting exchange. Registered with CacheStore::lookupOrFill; it must stay alive
// until CacheStore::cancelWait() returned true or until its wake-up was delivered.
class Waiter {
 public:
  explicit Waiter(Waker& waker) : waker_(&waker) {}
  virtual ~Waiter() = default;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  Waker& waker() const { return *waker_; }
  // Run by the Waker's owner on the waiter's own thread.
  virtual void onFillOutcome(FillOutcome outcome) = 0;

 private:
  friend class CacheStore;
  Waker* waker_;
  Waiter* prev_ = nullptr;
  Waiter* next_ = nullptr;
  void* fill_ = nullptr;        // the fill it waits on; null when not registered (guarded by the shard lock)
  uint32_t shard_ = UINT32_MAX;  // the shard of its last registration (touched by its own thread only)
};

}  // namespace edged::cache
