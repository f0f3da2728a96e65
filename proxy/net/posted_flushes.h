// proxy/net/posted_flushes.h — work left for the end of a loop iteration's I/O: libuv runs check
// handles right after the poll phase, so an entry posted from an I/O callback runs once all of
// this iteration's callbacks (the reads libuv makes back to back included) are done. Used for
// flushes a full read leaves to the read that follows it (UpstreamConnection::readBatchDone):
// whatever libuv does next, the flush happens before the loop sleeps again. One per worker.
#pragma once

#include <uv.h>

namespace edged::net {

class PostedFlushes {
 public:
  // An entry lives inside its owner; it must be cancel()ed before the owner is freed.
  struct Entry {
    void (*fn)(void* owner) = nullptr;
    void* owner = nullptr;
    Entry* next = nullptr;
    Entry** pprev = nullptr;  // null: not posted
    bool posted() const { return pprev != nullptr; }
  };

  explicit PostedFlushes(uv_loop_t* loop) : loop_(loop) {}  // the handle is set up at first use
  PostedFlushes(const PostedFlushes&) = delete;
  PostedFlushes& operator=(const PostedFlushes&) = delete;

  // Calls e.fn(e.owner) once after this iteration's poll phase (nothing if already posted).
  void post(Entry& e);
  static void cancel(Entry& e);
  // Closes the check handle (the worker's end).
  void close();

 private:
  static void onCheck(uv_check_t* h);
  uv_loop_t* loop_;
  uv_check_t check_{};
  Entry* head_ = nullptr;
  bool initialized_ = false;
  bool active_ = false;
  bool closed_ = false;
};

}  // namespace edged::net
