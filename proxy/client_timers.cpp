// proxy/client_timers.cpp — one uv timer, armed for the earliest of the heap's top and the
// oldest idle connection's keep-alive expiry; a deadline that moves later is not re-armed (the
// timer fires early, the connection finds its deadline not reached and schedules it again).
#include "proxy/client_timers.h"

#include <algorithm>

#include "proxy/client_connection.h"

namespace edged::proxy {

bool ClientTimers::listed(const ClientConnection* c) const { return c->idle_prev_ || idle_head_ == c; }

void ClientTimers::addIdle(ClientConnection* c, uint64_t since, uint64_t keepalive_ms) {
  if (idle_tail_) since = std::max(since, idle_tail_->idle_since_);
  c->idle_since_ = since;
  c->idle_prev_ = idle_tail_;
  c->idle_next_ = nullptr;
  if (idle_tail_) idle_tail_->idle_next_ = c;
  else idle_head_ = c;
  idle_tail_ = c;
  ++idle_count_;
  keepalive_ms_ = keepalive_ms;
  if (idle_head_ == c) arm(since + keepalive_ms);
}

void ClientTimers::removeIdle(ClientConnection* c) {
  if (!listed(c)) return;
  if (c->idle_prev_) c->idle_prev_->idle_next_ = c->idle_next_;
  else idle_head_ = c->idle_next_;
  if (c->idle_next_) c->idle_next_->idle_prev_ = c->idle_prev_;
  else idle_tail_ = c->idle_prev_;
  c->idle_prev_ = c->idle_next_ = nullptr;
  --idle_count_;
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
  if (const DeadlineNode* n = heap_.top()) due = n->due;
  if (idle_head_) {
    const uint64_t d = idle_head_->idle_since_ + keepalive_ms_;
    if (due == 0 || d < due) due = d;
  }
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
  while (DeadlineNode* n = heap_.popExpired(now)) static_cast<ActiveClient*>(n->owner)->conn_->onDeadline();
  while (idle_head_ && idle_head_->idle_since_ + keepalive_ms_ <= now) {
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
