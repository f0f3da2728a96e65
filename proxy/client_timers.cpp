// proxy/client_timers.cpp — one uv timer, armed for the earliest of the heap's top, the oldest
// quiet connection's end of grace and the oldest idle connection's keep-alive expiry; a deadline
// that moves later is not re-armed (the timer fires early, the connection finds its deadline not
// reached and schedules it again).
#include "proxy/client_timers.h"

#include <algorithm>
#include <cassert>

#include "proxy/client_connection.h"

namespace edged::proxy {

namespace {
// The FIFOs are threaded through their elements' own TimerFifoLink: O(1) append and removal
// from anywhere, no allocation.
template <class T, TimerFifoLink<T> T::*L>
struct Fifo {
  static bool contains(const T* head, const T* x) { return (x->*L).prev != nullptr || head == x; }
  static void pushBack(T*& head, T*& tail, T* x) {
    (x->*L).prev = tail;
    (x->*L).next = nullptr;
    if (tail) (tail->*L).next = x;
    else head = x;
    tail = x;
  }
  static void remove(T*& head, T*& tail, T* x) {
    TimerFifoLink<T>& l = x->*L;
    if (l.prev) (l.prev->*L).next = l.next;
    else head = l.next;
    if (l.next) (l.next->*L).prev = l.prev;
    else tail = l.prev;
    l.prev = l.next = nullptr;
  }
};
}  // namespace

struct ClientTimers::IdleFifo : Fifo<ClientConnection, &ClientConnection::idle> {};
struct ClientTimers::QuietFifo : Fifo<ActiveClient, &ActiveClient::quiet> {};

void ClientTimers::addIdle(ClientConnection* c, uint64_t since, uint64_t keepalive_ms) {
  assert(!IdleFifo::contains(idle_head_, c));
  if (idle_tail_) since = std::max(since, idle_tail_->idle.since);
  c->idle.since = since;
  IdleFifo::pushBack(idle_head_, idle_tail_, c);
  keepalive_ms_ = keepalive_ms;
  if (idle_head_ == c) arm(since + keepalive_ms);
}

void ClientTimers::removeIdle(ClientConnection* c) {
  if (!IdleFifo::contains(idle_head_, c)) return;
  IdleFifo::remove(idle_head_, idle_tail_, c);
}

void ClientTimers::addQuiet(ActiveClient* x, uint64_t now) {
  if (QuietFifo::contains(quiet_head_, x)) return;
  x->quiet.since = now;  // uv_now never goes back: the list stays in order
  QuietFifo::pushBack(quiet_head_, quiet_tail_, x);
  if (quiet_head_ == x) arm(now + kQuietMs);
}

void ClientTimers::removeQuiet(ActiveClient* x) {
  if (!QuietFifo::contains(quiet_head_, x)) return;
  QuietFifo::remove(quiet_head_, quiet_tail_, x);
}

void ClientTimers::schedule(DeadlineNode& n, uint64_t due) {
  if (n.scheduled() && n.due <= due) return;
  // A deadline already passed while the timer runs waits for the next millisecond, so one run
  // always ends.
  if (running_ && due <= run_now_) due = run_now_ + 1;
  heap_.schedule(&n, due);
  arm(due);
}

void ClientTimers::cancel(DeadlineNode& n) { heap_.cancel(&n); }

void ClientTimers::arm(uint64_t due) {
  if (running_ || closed_) return;  // run() arms when it ends
  if (armed_due_ != 0 && armed_due_ <= due) return;
  if (!initialized_) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    initialized_ = true;
  }
  const uint64_t now = uv_now(loop_);
  uv_timer_start(&timer_, onTimer, due > now ? due - now : 0, 0);
  armed_due_ = due;
}

void ClientTimers::rearm(uint64_t now) {
  uint64_t due = 0;
  auto consider = [&due](uint64_t d) {
    if (due == 0 || d < due) due = d;
  };
  if (const DeadlineNode* n = heap_.top()) consider(n->due);
  if (quiet_head_) consider(quiet_head_->quiet.since + kQuietMs);
  if (idle_head_) consider(idle_head_->idle.since + keepalive_ms_);
  if (due == 0) return;  // nothing waits: the timer stays stopped
  arm(std::max(due, now + 1));
}

void ClientTimers::onTimer(uv_timer_t* t) {
  auto* self = static_cast<ClientTimers*>(t->data);
  self->armed_due_ = 0;
  self->run(uv_now(t->loop));
}

void ClientTimers::run(uint64_t now) {
  running_ = true;
  run_now_ = now;
  while (DeadlineNode* n = heap_.popExpired(now)) static_cast<ActiveClient*>(n->owner)->connection()->onDeadline();
  while (quiet_head_ && quiet_head_->quiet.since + kQuietMs <= now) {
    ActiveClient* x = quiet_head_;
    removeQuiet(x);
    x->connection()->onQuietExpired();
  }
  while (idle_head_ && idle_head_->idle.since + keepalive_ms_ <= now) {
    ClientConnection* c = idle_head_;
    removeIdle(c);
    c->onKeepaliveExpired();
  }
  running_ = false;
  rearm(now);
}

void ClientTimers::close() {
  closed_ = true;
  if (initialized_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

}  // namespace edged::proxy
