// proxy/loop_mailbox.cpp — LoopMailbox.
#include "proxy/loop_mailbox.h"

namespace edged::proxy {

void LoopMailbox::init(uv_loop_t* loop) {
  uv_async_init(loop, &async_, [](uv_async_t* a) { static_cast<LoopMailbox*>(a->data)->drain(); });
  async_.data = this;
  std::lock_guard lock(mutex_);
  open_ = true;
}

void LoopMailbox::close() {
  {
    std::lock_guard lock(mutex_);
    if (!open_) return;
    open_ = false;
    queue_.clear();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void LoopMailbox::postFromAnyThread(void (*fn)(void*), void* arg) {
  std::lock_guard lock(mutex_);
  if (!open_) return;
  queue_.emplace_back(fn, arg);
  // Under the lock: close() cannot run uv_close between the check and the send.
  uv_async_send(&async_);
}

void LoopMailbox::drain() {
  {
    std::lock_guard lock(mutex_);
    batch_.swap(queue_);
  }
  for (auto [fn, arg] : batch_) fn(arg);
  batch_.clear();
}

}  // namespace edged::proxy
