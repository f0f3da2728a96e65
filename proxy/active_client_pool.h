// proxy/active_client_pool.h — one worker's free list of ActiveClient objects: a connection
// borrows one when a request's first bytes arrive and gives it back when idle again. At most
// kMaxFree wait in the list (the rest are freed), so memory stays bounded after a burst.
#pragma once

#include <cstddef>

namespace edged::proxy {

class ActiveClient;
class Worker;

class ActiveClientPool {
 public:
  static constexpr size_t kMaxFree = 256;

  ActiveClientPool() = default;
  ActiveClientPool(const ActiveClientPool&) = delete;
  ActiveClientPool& operator=(const ActiveClientPool&) = delete;
  ~ActiveClientPool();

  // A recycled object when one waits, else a new one. Never null.
  ActiveClient* acquire(Worker& worker);
  // Takes `x` back: recycled (its Session ended, no write in flight) and kept or freed.
  void release(ActiveClient* x);

 private:
  ActiveClient* free_ = nullptr;  // through ActiveClient::next_free
  size_t free_count_ = 0;
};

}  // namespace edged::proxy
