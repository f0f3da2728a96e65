// proxy/net/io_buffer.h — fixed-size reference-counted read buffers from a per-worker free list, so
// body bytes are forwarded by reference (never copied) and steady-state reads allocate nothing;
// and ExternalBuf, the same reference for bytes another owner keeps (a cache entry's body).
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

namespace edged::net {

class BufferPool;

struct IoBuf {
  uint32_t refs;
  uint32_t capacity;
  BufferPool* pool;  // null: an ExternalBuf
  char* data() { return reinterpret_cast<char*>(this + 1); }
};

// Bytes that live elsewhere (a cache entry's body), queued by reference like an IoBuf's: the
// buffer holds one reference to `object` and calls drop(object) when its last reference goes.
struct ExternalBuf : IoBuf {
  const void* object;
  void (*drop)(const void* object);
};
// Freed ExternalBufs kept per thread for the next wrapExternal() (one per cache hit), at most
// kMax of them; `object` links them. An ExternalBuf is released on the thread that made it (the
// exchange's worker), so the list is never shared.
struct ExternalBufCache {
  static constexpr size_t kMax = 1024;
  ExternalBuf* head = nullptr;
  size_t count = 0;
  ExternalBufCache() = default;
  ExternalBufCache(const ExternalBufCache&) = delete;
  ExternalBufCache& operator=(const ExternalBufCache&) = delete;
  ~ExternalBufCache() {
    while (head) {
      ExternalBuf* next = static_cast<ExternalBuf*>(const_cast<void*>(head->object));
      delete head;
      head = next;
    }
  }
  ExternalBuf* take() {
    ExternalBuf* b = head;
    if (!b) return new ExternalBuf;
    head = static_cast<ExternalBuf*>(const_cast<void*>(b->object));
    --count;
    return b;
  }
  void give(ExternalBuf* b) {
    if (count == kMax) {
      delete b;
      return;
    }
    b->object = head;
    head = b;
    ++count;
  }
};
inline thread_local ExternalBufCache external_buf_cache;

// A new ExternalBuf (one reference) that adopts one reference to `object`.
inline IoBuf* wrapExternal(const void* object, void (*drop)(const void*)) {
  ExternalBuf* b = external_buf_cache.take();
  b->refs = 1;
  b->capacity = 0;
  b->pool = nullptr;
  b->object = object;
  b->drop = drop;
  return b;
}

// Owned by one worker; never touched from another thread.
class BufferPool {
 public:
  static constexpr uint32_t kBufferSize = 64 * 1024;
  explicit BufferPool(size_t max_free = 64) : max_free_(max_free) {}
  ~BufferPool() {
    for (IoBuf* b : free_) std::free(b);
  }
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  IoBuf* get() {
    IoBuf* b;
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    } else {
      b = allocate();
    }
    b->refs = 1;
    return b;
  }
  // Fills the free list up to `n` buffers (at most its bound), each written through once so
  // that its pages are present: a worker starts with them warm. A burst of new exchanges (200
  // slow readers arriving at once) otherwise touches fresh memory page by page, and on a
  // paravirtualised VM a page fault costs 29-42 µs, the faults of both workers serialised on the
  // process's memory map.
  void prefill(size_t n) {
    if (n > max_free_) n = max_free_;
    free_.reserve(max_free_);
    while (free_.size() < n) {
      IoBuf* b = allocate();
      std::memset(b->data(), 0, b->capacity);
      free_.push_back(b);
    }
  }
  size_t freeCount() const { return free_.size(); }
  void put(IoBuf* b) {
    if (free_.size() < max_free_)
      free_.push_back(b);
    else
      std::free(b);
  }

 private:
  IoBuf* allocate() {
    void* mem = std::malloc(sizeof(IoBuf) + kBufferSize);
    if (!mem) throw std::bad_alloc();
    auto* b = static_cast<IoBuf*>(mem);
    b->capacity = kBufferSize;
    b->pool = this;
    return b;
  }

  size_t max_free_;
  std::vector<IoBuf*> free_;
};

inline void retain(IoBuf* b) { ++b->refs; }
inline void release(IoBuf* b) {
  assert(b->refs > 0);
  if (--b->refs != 0) return;
  if (b->pool) {
    b->pool->put(b);
    return;
  }
  auto* e = static_cast<ExternalBuf*>(b);
  e->drop(e->object);
  external_buf_cache.give(e);
}

// Move-only owning reference.
class BufRef {
 public:
  BufRef() = default;
  explicit BufRef(IoBuf* b) : b_(b) {}  // adopts one reference
  BufRef(BufRef&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  BufRef& operator=(BufRef&& o) noexcept {
    if (this != &o) {
      reset();
      b_ = std::exchange(o.b_, nullptr);
    }
    return *this;
  }
  BufRef(const BufRef&) = delete;
  BufRef& operator=(const BufRef&) = delete;
  ~BufRef() { reset(); }
  void reset() {
    if (b_) release(std::exchange(b_, nullptr));
  }
  IoBuf* get() const { return b_; }
  IoBuf* operator->() const { return b_; }
  explicit operator bool() const { return b_ != nullptr; }
  bool unique() const { return b_ && b_->refs == 1; }

 private:
  IoBuf* b_ = nullptr;
};

}  // namespace edged::net
