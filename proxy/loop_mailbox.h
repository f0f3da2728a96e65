// proxy/loop_mailbox.h — LoopMailbox: a worker's thread-safe inbox (a uv_async_t and a locked
// list): another thread posts (fn, arg) and the worker runs it on its own loop (a cache fill on
// one worker waking collapsed waiters on another).
#pragma once

#include <uv.h>

#include <mutex>
#include <utility>
#include <vector>

#include "proxy/proxy.h"

namespace edged::proxy {

class LoopMailbox final : public WorkerMailbox {
 public:
  LoopMailbox() = default;
  LoopMailbox(const LoopMailbox&) = delete;
  LoopMailbox& operator=(const LoopMailbox&) = delete;

  // On the worker's thread, once its loop is initialised.
  void init(uv_loop_t* loop);
  // On the worker's thread at shutdown: what is still queued is dropped, later posts too.
  void close();
  void postFromAnyThread(void (*fn)(void*), void* arg) override;

 private:
  void drain();

  uv_async_t async_{};
  std::mutex mutex_;
  std::vector<std::pair<void (*)(void*), void*>> queue_;  // guarded by mutex_
  std::vector<std::pair<void (*)(void*), void*>> batch_;  // the worker's copy while running
  bool open_ = false;                                      // guarded by mutex_
};

}  // namespace edged::proxy
