// proxy/redis/loop_adapter.cpp — the hooks. hiredis calls addRead after every read and addWrite
// for every command: both are flag updates here; the uv_poll changes (an epoll_ctl each) only
// when what it must watch really changes. A write is not attempted before the connect completed:
// hiredis would take SO_ERROR == 0 of a connect in progress for success.
#include "proxy/redis/loop_adapter.h"

#include <sys/socket.h>

#include <cstdlib>

namespace edged::redis {

namespace {

struct LoopEvents {
  redisAsyncContext* context = nullptr;  // null once hiredis cleaned up
  uv_poll_t poll{};
  uv_prepare_t flush{};
  uv_timer_t connect_timer{};  // the connect's deadline (not started without one)
  int polled = 0;             // the events the poll is started with
  bool reading = false;       // hiredis wants reads
  bool writing = false;       // hiredis has bytes to write
  bool poll_writes = false;   // ... and waits for writability (short write, connect in progress)
  int open_handles = 3;
};

bool connected(const LoopEvents* p) { return p->context && (p->context->c.flags & REDIS_CONNECTED); }

void updatePoll(LoopEvents* p) {
  const int want = (p->reading ? UV_READABLE : 0) | (p->poll_writes ? UV_WRITABLE : 0);
  if (want == p->polled) return;
  p->polled = want;
  if (want) uv_poll_start(&p->poll, want, [](uv_poll_t* h, int status, int events) {
    auto* q = static_cast<LoopEvents*>(h->data);
    if (status < 0) {
      // libuv stopped the poll (POLLERR: a refused connect, a reset). hiredis finds the socket's
      // error in either handler and reports it (connect callback or disconnect).
      q->polled = 0;
      if (!q->context) return;
      if (!connected(q)) redisAsyncHandleWrite(q->context);
      else redisAsyncHandleRead(q->context);
      if (q->context) updatePoll(q);
      return;
    }
    if (q->context && (events & UV_READABLE)) redisAsyncHandleRead(q->context);
    if (q->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(q->context);
  });
  else uv_poll_stop(&p->poll);
}

// The prepare handle: what this iteration queued, in one write, before the loop blocks.
void onFlush(uv_prepare_t* h) {
  auto* p = static_cast<LoopEvents*>(h->data);
  uv_prepare_stop(h);
  if (!p->context || !p->writing || p->poll_writes) return;
  redisAsyncHandleWrite(p->context);  // may free the context (p->context is then null)
  if (p->context && p->writing) {     // short write: wait for room
    p->poll_writes = true;
    updatePoll(p);
  }
}

void addRead(void* privdata) {
  auto* p = static_cast<LoopEvents*>(privdata);
  p->reading = true;
  updatePoll(p);
}

void delRead(void* privdata) {
  auto* p = static_cast<LoopEvents*>(privdata);
  p->reading = false;
  updatePoll(p);
}

void addWrite(void* privdata) {
  auto* p = static_cast<LoopEvents*>(privdata);
  p->writing = true;
  if (p->poll_writes) return;
  if (!connected(p)) {  // the connect completes when the socket turns writable
    p->poll_writes = true;
    updatePoll(p);
    return;
  }
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&p->flush))) uv_prepare_start(&p->flush, onFlush);
}

void delWrite(void* privdata) {
  auto* p = static_cast<LoopEvents*>(privdata);
  p->writing = false;
  uv_prepare_stop(&p->flush);
  if (p->poll_writes) {
    p->poll_writes = false;
    updatePoll(p);
  }
}

void cleanup(void* privdata) {
  auto* p = static_cast<LoopEvents*>(privdata);
  p->context = nullptr;
  auto closed = [](uv_handle_t* h) {
    auto* q = static_cast<LoopEvents*>(h->data);
    if (--q->open_handles == 0) delete q;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->flush), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->connect_timer), closed);
}

// The connect did not complete in time: shutdown(2) aborts it (Linux: the socket's error becomes
// ECONNRESET), and hiredis, asked to write, finds the error and reports the failed connect (its
// connect callback with REDIS_ERR, then it frees the context: cleanup() above).
void onConnectTimeout(uv_timer_t* t) {
  auto* p = static_cast<LoopEvents*>(t->data);
  if (!p->context || connected(p)) return;
  shutdown(p->context->c.fd, SHUT_RDWR);
  redisAsyncHandleWrite(p->context);
}

}  // namespace

bool attachLoop(redisAsyncContext* ac, uv_loop_t* loop, uint64_t connect_timeout_ms) {
  if (ac->ev.data) return false;
  auto* p = new LoopEvents;
  if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
    delete p;
    return false;
  }
  uv_prepare_init(loop, &p->flush);
  uv_timer_init(loop, &p->connect_timer);
  p->poll.data = p;
  p->flush.data = p;
  p->connect_timer.data = p;
  if (connect_timeout_ms > 0) uv_timer_start(&p->connect_timer, onConnectTimeout, connect_timeout_ms, 0);
  p->context = ac;
  ac->ev.addRead = addRead;
  ac->ev.delRead = delRead;
  ac->ev.addWrite = addWrite;
  ac->ev.delWrite = delWrite;
  ac->ev.cleanup = cleanup;
  ac->ev.data = p;
  return true;
}

}  // namespace edged::redis
