// tests/unit/proxy/net/write_queue_test.cpp — WriteQueue queuing and byte accounting without a socket:
// references taken on IoBufs, copies, and release by discardPending, reset and the destructor.
#include <doctest.h>

#include <cstring>
#include <string>

#include "proxy/net/net.h"

namespace edged::net {
namespace {

int done_calls = 0;
void onDone(void*, int) { ++done_calls; }

TEST_CASE("WriteQueue: a new queue is idle and empty") {
  WriteQueue q(nullptr, onDone);
  CHECK(q.queuedBytes() == 0u);
  CHECK(q.idle());
  CHECK_FALSE(q.writing());
}

TEST_CASE("WriteQueue: append takes one reference per piece and counts bytes") {
  BufferPool pool;
  IoBuf* buf = pool.get();
  std::memset(buf->data(), 'a', 100);
  {
    WriteQueue q(nullptr, onDone);
    q.append(buf, buf->data(), 10);
    CHECK(buf->refs == 2u);
    CHECK(q.queuedBytes() == 10u);
    CHECK_FALSE(q.idle());
    CHECK_FALSE(q.writing());
    // Contiguous with the previous piece of the same buffer: merged, no extra reference.
    q.append(buf, buf->data() + 10, 5);
    CHECK(buf->refs == 2u);
    CHECK(q.queuedBytes() == 15u);
    // Not contiguous: a second piece and a second reference.
    q.append(buf, buf->data() + 50, 20);
    CHECK(buf->refs == 3u);
    CHECK(q.queuedBytes() == 35u);
    // Zero bytes: nothing queued, no reference.
    q.append(buf, buf->data() + 70, 0);
    CHECK(buf->refs == 3u);
    CHECK(q.queuedBytes() == 35u);
  }
  // The destructor released every reference the queue took.
  CHECK(buf->refs == 1u);
  release(buf);
  CHECK(pool.get() == buf);  // back on the free list
  release(buf);
}

TEST_CASE("WriteQueue: pieces from different buffers each hold their own reference") {
  BufferPool pool;
  IoBuf* a = pool.get();
  IoBuf* b = pool.get();
  {
    WriteQueue q(nullptr, onDone);
    q.append(a, a->data(), 100);
    q.append(b, b->data() + 100, 200);  // contiguous address-wise with nothing of a
    q.append(a, a->data() + 100, 1);    // a again, after b: a new piece
    CHECK(a->refs == 3u);
    CHECK(b->refs == 2u);
    CHECK(q.queuedBytes() == 301u);
  }
  CHECK(a->refs == 1u);
  CHECK(b->refs == 1u);
  release(a);
  release(b);
}

TEST_CASE("WriteQueue: the queue keeps a buffer alive after its owner lets go") {
  BufferPool pool;
  IoBuf* buf = pool.get();
  {
    WriteQueue q(nullptr, onDone);
    q.append(buf, buf->data(), 64);
    {
      BufRef owner(buf);  // the reader's reference, dropped here
    }
    CHECK(buf->refs == 1u);  // only the queue's
    IoBuf* other = pool.get();
    CHECK(other != buf);  // not on the free list while queued
    release(other);
  }
  // Queue gone: the buffer went back to the pool (LIFO, so it is handed out first).
  IoBuf* again = pool.get();
  CHECK(again == buf);
  release(again);
}

TEST_CASE("WriteQueue: appendCopy and reserveCopy count bytes and take no references") {
  BufferPool pool;
  IoBuf* buf = pool.get();
  WriteQueue q(nullptr, onDone);
  q.appendCopy("HTTP/1.1 200 OK\r\n\r\n");
  CHECK(q.queuedBytes() == 19u);
  q.appendCopy("");
  CHECK(q.queuedBytes() == 19u);
  char* p = q.reserveCopy(6);
  REQUIRE(p != nullptr);
  std::memcpy(p, "5\r\nab\r", 6);  // writable
  CHECK(q.queuedBytes() == 25u);
  q.append(buf, buf->data(), 5);
  CHECK(buf->refs == 2u);
  CHECK(q.queuedBytes() == 30u);
  char* p2 = q.reserveCopy(2);
  std::memcpy(p2, "\r\n", 2);
  CHECK(q.queuedBytes() == 32u);
  CHECK(buf->refs == 2u);
  CHECK_FALSE(q.idle());
  q.discardPending();
  CHECK(buf->refs == 1u);
  release(buf);
}

TEST_CASE("WriteQueue: copies are independent of the caller's storage") {
  // A big copy after a small one forces the arena to grow; nothing must read freed memory (ASan).
  WriteQueue q(nullptr, onDone);
  {
    std::string s(10, 'x');
    q.appendCopy(s);
  }
  std::string big(100000, 'y');
  q.appendCopy(big);
  CHECK(q.queuedBytes() == 100010u);
}

TEST_CASE("WriteQueue: discardPending drops queued bytes and references; the queue is reusable") {
  BufferPool pool;
  IoBuf* a = pool.get();
  IoBuf* b = pool.get();
  WriteQueue q(nullptr, onDone);
  q.appendCopy("head");
  q.append(a, a->data(), 10);
  q.append(b, b->data(), 10);
  CHECK(q.queuedBytes() == 24u);
  q.discardPending();
  CHECK(q.queuedBytes() == 0u);
  CHECK(q.idle());
  CHECK(a->refs == 1u);
  CHECK(b->refs == 1u);
  q.discardPending();  // twice is harmless
  CHECK(a->refs == 1u);

  q.append(a, a->data() + 1, 3);
  q.appendCopy("x");
  CHECK(q.queuedBytes() == 4u);
  CHECK(a->refs == 2u);
  q.discardPending();
  CHECK(a->refs == 1u);
  release(a);
  release(b);
  CHECK(done_calls == 0);  // nothing was written, so no completion
}

TEST_CASE("WriteQueue: reset drops everything queued and the byte total, for reuse on another stream") {
  BufferPool pool;
  IoBuf* a = pool.get();
  WriteQueue q(nullptr, onDone);
  q.appendCopy("HTTP/1.1 200 OK\r\n\r\n");
  q.append(a, a->data(), 10);
  CHECK(a->refs == 2u);
  q.reset(8 * 1024);
  CHECK(a->refs == 1u);
  CHECK(q.idle());
  CHECK(q.queuedBytes() == 0u);
  CHECK(q.appendedTotal() == 0u);
  // Reused: counts from zero again. A huge copy is given back at the next reset (bounded
  // memory for a recycled queue); nothing must read freed memory afterwards (ASan).
  q.appendCopy(std::string(100000, 'z'));
  CHECK(q.appendedTotal() == 100000u);
  q.reset(8 * 1024);
  q.appendCopy("again");
  CHECK(q.queuedBytes() == 5u);
  q.discardPending();
  release(a);
}

TEST_CASE("WriteQueue: flush with nothing queued does not start a write") {
  WriteQueue q(nullptr, onDone);
  Transport never_opened;
  CHECK(q.flush(never_opened) == 0);  // returns before touching the transport
  CHECK(q.idle());
  CHECK_FALSE(q.writing());
}

TEST_CASE("WriteQueue: appendBuilt queues what the builder appends, in place, and counts it") {
  BufferPool pool;
  IoBuf* buf = pool.get();
  WriteQueue q(nullptr, onDone);
  q.appendCopy("abc");
  size_t seen = 0;
  q.appendBuilt([&](std::string& s) {
    seen = s.size();  // earlier copies are there; the builder only appends
    s.append("HTTP/1.1 200 OK\r\n\r\n");
  });
  CHECK(seen == 3u);
  CHECK(q.queuedBytes() == 22u);
  CHECK(q.appendedTotal() == 22u);
  q.appendBuilt([](std::string&) {});  // nothing appended: nothing queued
  CHECK(q.queuedBytes() == 22u);
  q.append(buf, buf->data(), 10);
  CHECK(buf->refs == 2u);
  // A big build after a borrowed piece grows the arena; nothing may read freed memory (ASan).
  q.appendBuilt([](std::string& s) { s.append(100000, 'h'); });
  CHECK(q.queuedBytes() == 100032u);
  CHECK(q.appendedTotal() == 100032u);
  q.discardPending();
  CHECK(q.queuedBytes() == 0u);
  CHECK(buf->refs == 1u);
  release(buf);
}

}  // namespace
}  // namespace edged::net
