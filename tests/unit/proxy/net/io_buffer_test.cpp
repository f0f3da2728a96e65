// tests/unit/proxy/net/io_buffer_test.cpp — BufferPool free list and IoBuf/BufRef reference counting.
#include <doctest.h>

#include <cstring>
#include <utility>
#include <vector>

#include "proxy/net/net.h"

namespace edged::net {
namespace {

TEST_CASE("BufferPool::get hands out a fresh buffer with one reference, full capacity, its pool") {
  BufferPool pool;
  IoBuf* b = pool.get();
  REQUIRE(b != nullptr);
  CHECK(b->refs == 1u);
  CHECK(b->capacity == BufferPool::kBufferSize);
  CHECK(b->pool == &pool);
  // The whole capacity is writable (ASan would object otherwise).
  std::memset(b->data(), 'x', b->capacity);
  CHECK(b->data() == reinterpret_cast<char*>(b + 1));
  release(b);
}

TEST_CASE("retain/release count references; the last release returns the buffer to the pool") {
  BufferPool pool;
  IoBuf* b = pool.get();
  retain(b);
  retain(b);
  CHECK(b->refs == 3u);
  release(b);
  CHECK(b->refs == 2u);
  release(b);
  CHECK(b->refs == 1u);
  release(b);  // back on the free list
  IoBuf* again = pool.get();
  CHECK(again == b);
  CHECK(again->refs == 1u);  // reset on reuse
  CHECK(again->capacity == BufferPool::kBufferSize);
  CHECK(again->pool == &pool);
  release(again);
}

TEST_CASE("BufferPool reuses freed buffers last-in first-out and allocates when empty") {
  BufferPool pool;
  IoBuf* a = pool.get();
  IoBuf* b = pool.get();
  CHECK(a != b);
  release(a);
  release(b);
  IoBuf* first = pool.get();
  IoBuf* second = pool.get();
  CHECK(first == b);
  CHECK(second == a);
  IoBuf* third = pool.get();  // free list empty: a new buffer, distinct from the live ones
  CHECK(third != a);
  CHECK(third != b);
  release(first);
  release(second);
  release(third);
}

TEST_CASE("BufferPool keeps at most max_free buffers on its free list") {
  BufferPool pool(2);
  IoBuf* a = pool.get();
  IoBuf* b = pool.get();
  IoBuf* c = pool.get();
  release(a);
  release(b);
  release(c);  // over the bound: freed, not kept
  // Were c kept it would come back first (LIFO).
  IoBuf* x = pool.get();
  IoBuf* y = pool.get();
  CHECK(x == b);
  CHECK(y == a);
  IoBuf* z = pool.get();  // the free list held only two
  CHECK(z != a);
  CHECK(z != b);
  release(x);
  release(y);
  release(z);
}

TEST_CASE("BufferPool with max_free 0 keeps nothing") {
  BufferPool pool(0);
  IoBuf* a = pool.get();
  IoBuf* keep = pool.get();
  release(a);  // freed at once
  IoBuf* b = pool.get();
  CHECK(b != keep);
  CHECK(b->refs == 1u);
  CHECK(b->pool == &pool);
  release(b);
  release(keep);
}

TEST_CASE("BufRef adopts one reference and releases it when destroyed") {
  BufferPool pool;
  IoBuf* raw = pool.get();
  {
    BufRef ref(raw);
    CHECK(ref.get() == raw);
    CHECK(ref->refs == 1u);
    CHECK(static_cast<bool>(ref));
    CHECK(ref.unique());
    retain(raw);
    CHECK_FALSE(ref.unique());
    release(raw);
    CHECK(ref.unique());
  }
  CHECK(pool.get() == raw);  // returned to the pool by the destructor
  release(raw);
}

TEST_CASE("BufRef: empty, reset, move construction and move assignment") {
  BufferPool pool;
  SUBCASE("default is empty") {
    BufRef ref;
    CHECK_FALSE(static_cast<bool>(ref));
    CHECK(ref.get() == nullptr);
    CHECK_FALSE(ref.unique());
    ref.reset();  // harmless
  }
  SUBCASE("reset releases once and empties") {
    IoBuf* raw = pool.get();
    retain(raw);
    BufRef ref(raw);
    ref.reset();
    CHECK_FALSE(ref);
    CHECK(raw->refs == 1u);
    ref.reset();
    CHECK(raw->refs == 1u);
    release(raw);
  }
  SUBCASE("move construction transfers without touching the count") {
    IoBuf* raw = pool.get();
    BufRef a(raw);
    BufRef b(std::move(a));
    CHECK_FALSE(a);  // NOLINT(bugprone-use-after-move)
    CHECK(b.get() == raw);
    CHECK(raw->refs == 1u);
  }
  SUBCASE("move assignment releases the old target and takes the new one") {
    IoBuf* x = pool.get();
    IoBuf* y = pool.get();
    retain(x);  // observe x after the assignment releases it
    BufRef a(x);
    BufRef b(y);
    a = std::move(b);
    CHECK(x->refs == 1u);
    CHECK(a.get() == y);
    CHECK(y->refs == 1u);
    CHECK_FALSE(b);  // NOLINT(bugprone-use-after-move)
    release(x);
  }
  SUBCASE("self move assignment keeps the reference") {
    IoBuf* raw = pool.get();
    BufRef a(raw);
    BufRef& alias = a;
    a = std::move(alias);
    CHECK(a.get() == raw);
    CHECK(raw->refs == 1u);
  }
  SUBCASE("BufRefs in a vector survive reallocation") {
    std::vector<BufRef> refs;
    IoBuf* raw = pool.get();
    for (int i = 0; i < 20; ++i) {
      retain(raw);
      refs.emplace_back(raw);
    }
    CHECK(raw->refs == 21u);
    refs.clear();
    CHECK(raw->refs == 1u);
    release(raw);
  }
}

TEST_CASE("an ExternalBuf holds its owner until its last reference goes") {
  int owner = 1;  // one reference, adopted by the buffer
  IoBuf* b = wrapExternal(&owner, [](const void* o) { --*static_cast<int*>(const_cast<void*>(o)); });
  CHECK(b->pool == nullptr);
  retain(b);  // a write queue's reference
  release(b);
  CHECK(owner == 1);
  release(b);
  CHECK(owner == 0);
}

TEST_CASE("released ExternalBufs are reused by the same thread, at most kMax kept") {
  int owner = 0;
  auto drop = [](const void* o) { --*static_cast<int*>(const_cast<void*>(o)); };
  ++owner;
  IoBuf* a = wrapExternal(&owner, drop);
  release(a);
  const size_t kept = external_buf_cache.count;
  ++owner;
  IoBuf* b = wrapExternal(&owner, drop);
  CHECK(b == a);  // the one just released
  CHECK(external_buf_cache.count == kept - 1);
  CHECK(b->refs == 1u);
  CHECK(static_cast<ExternalBuf*>(b)->object == &owner);
  release(b);
  // A burst of releases keeps at most kMax for reuse; the rest are freed (LeakSanitizer checks).
  std::vector<IoBuf*> many;
  for (size_t i = 0; i < ExternalBufCache::kMax + 10; ++i) {
    ++owner;
    many.push_back(wrapExternal(&owner, drop));
  }
  for (IoBuf* x : many) release(x);
  CHECK(external_buf_cache.count == ExternalBufCache::kMax);
  CHECK(owner == 0);
}

TEST_CASE("BufferPool::prefill fills the free list up to its bound, written through once") {
  BufferPool pool(8);
  pool.prefill(3);
  CHECK(pool.freeCount() == 3u);
  pool.prefill(20);  // bounded by max_free
  CHECK(pool.freeCount() == 8u);
  pool.prefill(4);   // already above: nothing more
  CHECK(pool.freeCount() == 8u);
  std::vector<IoBuf*> got;
  for (int i = 0; i < 8; ++i) got.push_back(pool.get());  // from the free list
  CHECK(pool.freeCount() == 0u);
  for (IoBuf* b : got) {
    CHECK(b->refs == 1u);
    CHECK(b->pool == &pool);
    CHECK(b->data()[0] == 0);  // written through (zeroed) by prefill
    CHECK(b->data()[b->capacity - 1] == 0);
    release(b);
  }
  CHECK(pool.freeCount() == 8u);
}

}  // namespace
}  // namespace edged::net
