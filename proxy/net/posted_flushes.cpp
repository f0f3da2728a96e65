// proxy/net/posted_flushes.cpp — see posted_flushes.h.
#include "proxy/net/posted_flushes.h"

namespace edged::net {

void PostedFlushes::post(Entry& e) {
  if (e.posted() || closed_) return;
  if (!initialized_) {
    uv_check_init(loop_, &check_);
    check_.data = this;
    initialized_ = true;
  }
  e.next = head_;
  if (head_) head_->pprev = &e.next;
  head_ = &e;
  e.pprev = &head_;
  if (!active_) {
    uv_check_start(&check_, onCheck);
    active_ = true;
  }
}

void PostedFlushes::cancel(Entry& e) {
  if (!e.posted()) return;
  *e.pprev = e.next;
  if (e.next) e.next->pprev = e.pprev;
  e.next = nullptr;
  e.pprev = nullptr;
}

void PostedFlushes::close() {
  while (head_) cancel(*head_);
  closed_ = true;
  if (initialized_) uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
}

void PostedFlushes::onCheck(uv_check_t* h) {
  auto* self = static_cast<PostedFlushes*>(h->data);
  // An entry is unlinked before it runs, so it may post itself or others again (those run in
  // this same pass) or cancel others.
  while (Entry* e = self->head_) {
    cancel(*e);
    e->fn(e->owner);
  }
  uv_check_stop(&self->check_);
  self->active_ = false;
}

}  // namespace edged::net
