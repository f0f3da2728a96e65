// proxy/active_client_pool.cpp — LIFO, so the object reused next is the one most recently warm.
#include "proxy/active_client_pool.h"

#include "proxy/active_client.h"

namespace edged::proxy {

ActiveClientPool::~ActiveClientPool() {
  while (ActiveClient* x = free_) {
    free_ = x->next_free;
    delete x;
  }
}

ActiveClient* ActiveClientPool::acquire(Worker& worker) {
  if (ActiveClient* x = free_) {
    free_ = x->next_free;
    x->next_free = nullptr;
    --free_count_;
    return x;
  }
  return new ActiveClient(worker);
}

void ActiveClientPool::release(ActiveClient* x) {
  x->recycle();
  if (free_count_ >= kMaxFree) {
    delete x;
    return;
  }
  x->next_free = free_;
  free_ = x;
  ++free_count_;
}

}  // namespace edged::proxy
