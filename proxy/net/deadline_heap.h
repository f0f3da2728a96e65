// proxy/net/deadline_heap.h — an intrusive binary min-heap of deadlines (uv_now milliseconds): the
// nodes live inside their owners, the heap only holds pointers to them, so scheduling, moving
// and cancelling a deadline allocate nothing once the vector has grown. One per worker (through
// ClientTimers); never touched from another thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edged::net {

struct DeadlineNode {
  static constexpr uint32_t kUnscheduled = UINT32_MAX;
  uint64_t due = 0;              // valid while scheduled
  uint32_t pos = kUnscheduled;   // index in the heap
  void* owner = nullptr;         // what the deadline belongs to (the heap never reads it)
  bool scheduled() const { return pos != kUnscheduled; }
};

class DeadlineHeap {
 public:
  // Inserts `n`, or moves it when already scheduled (earlier or later).
  void schedule(DeadlineNode* n, uint64_t due);
  // Removes `n` when scheduled; otherwise nothing.
  void cancel(DeadlineNode* n);
  // The earliest node, or null when empty.
  DeadlineNode* top() const { return v_.empty() ? nullptr : v_.front(); }
  // Removes and returns the earliest node when it is due at `now` (due <= now); else null.
  DeadlineNode* popExpired(uint64_t now);
  size_t size() const { return v_.size(); }
  bool empty() const { return v_.empty(); }

 private:
  void place(DeadlineNode* n, size_t i) {
    v_[i] = n;
    n->pos = static_cast<uint32_t>(i);
  }
  void up(size_t i);
  void down(size_t i);
  void removeAt(size_t i);

  std::vector<DeadlineNode*> v_;
};

inline void DeadlineHeap::schedule(DeadlineNode* n, uint64_t due) {
  if (n->scheduled()) {
    const uint64_t old = n->due;
    n->due = due;
    if (due < old) up(n->pos);
    else if (due > old) down(n->pos);
    return;
  }
  n->due = due;
  v_.push_back(n);
  n->pos = static_cast<uint32_t>(v_.size() - 1);
  up(n->pos);
}

inline void DeadlineHeap::cancel(DeadlineNode* n) {
  if (n->scheduled()) removeAt(n->pos);
}

inline DeadlineNode* DeadlineHeap::popExpired(uint64_t now) {
  if (v_.empty() || v_.front()->due > now) return nullptr;
  DeadlineNode* n = v_.front();
  removeAt(0);
  return n;
}

inline void DeadlineHeap::removeAt(size_t i) {
  DeadlineNode* gone = v_[i];
  DeadlineNode* last = v_.back();
  v_.pop_back();
  gone->pos = DeadlineNode::kUnscheduled;
  if (i == v_.size()) return;  // it was the last one
  place(last, i);
  // The moved node may belong above or below its new place.
  if (i > 0 && last->due < v_[(i - 1) / 2]->due) up(i);
  else down(i);
}

inline void DeadlineHeap::up(size_t i) {
  DeadlineNode* n = v_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (v_[parent]->due <= n->due) break;
    place(v_[parent], i);
    i = parent;
  }
  place(n, i);
}

inline void DeadlineHeap::down(size_t i) {
  DeadlineNode* n = v_[i];
  const size_t size = v_.size();
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && v_[child + 1]->due < v_[child]->due) ++child;
    if (n->due <= v_[child]->due) break;
    place(v_[child], i);
    i = child;
  }
  place(n, i);
}

}  // namespace edged::net
