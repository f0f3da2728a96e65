// tests/unit/proxy/net/transport_test.cpp — Transport and WriteQueue over a socketpair on a private
// loop (no network): batches arrive whole and in order, a write the socket cannot take at once
// finishes through one pending write while later bytes wait for the next batch, shutdown() sends
// the FIN only after the pending writes, and close() cancels pending writes (UV_ECANCELED) before
// the owner hears onTransportClosed().
#include <doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "proxy/net/net.h"

namespace edged::net {
namespace {

// One end: a Transport, the WriteQueue toward it, and what happened, in order.
struct End {
  Transport transport;
  WriteQueue out{this, onWritten};
  std::string got;
  std::vector<std::string> events;
  std::vector<int> write_status;
  char room[4096];

  static void onWritten(void* self, int status) {
    auto* e = static_cast<End*>(self);
    e->write_status.push_back(status);
    e->events.push_back(status == 0 ? "written" : status == UV_ECANCELED ? "cancelled" : "write error");
  }
  void onTransportAlloc(uv_buf_t* buf) { *buf = uv_buf_init(room, sizeof room); }
  void onTransportRead(ssize_t nread, const uv_buf_t* buf) {
    if (nread > 0) got.append(buf->base, static_cast<size_t>(nread));
    else if (nread == UV_EOF) events.push_back("eof");
    else if (nread < 0) events.push_back("read error");
  }
  void onTransportClosed() { events.push_back("closed"); }
};
static_assert(TransportHandler<End>);

// An owner's small fields fill the padding after its Transport (ClientConnection relies on it to
// cost an idle connection nothing over a bare socket handle).
struct SmallOwner {
  [[no_unique_address]] Transport transport;
  uint16_t a;
  uint8_t b;
  bool c;
};
static_assert(sizeof(SmallOwner) == sizeof(Transport));

struct Pair {
  uv_loop_t loop;
  End a, b;
  Pair() {
    REQUIRE(uv_loop_init(&loop) == 0);
    signal(SIGPIPE, SIG_IGN);  // as the daemon does: a write to a closed peer fails, not kills
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    // Small socket buffers: a megabyte cannot go out in one try.
    const int small = 4096;
    setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    REQUIRE(a.transport.open(&loop, &a) == 0);
    REQUIRE(b.transport.open(&loop, &b) == 0);
    REQUIRE(a.transport.adopt(fds[0]) == 0);
    REQUIRE(b.transport.adopt(fds[1]) == 0);
  }
  // Runs the loop until `done()` or a bound of iterations.
  template <typename F>
  bool runUntil(F done) {
    for (int i = 0; i < 100000 && !done(); ++i) uv_run(&loop, UV_RUN_ONCE);
    return done();
  }
  void closeBoth() {
    if (!a.transport.closing()) a.transport.close(&a);
    if (!b.transport.closing()) b.transport.close(&b);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
};

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i % 23));
  return s;
}

TEST_CASE("Transport: a batch of borrowed and copied pieces arrives whole and in order") {
  BufferPool pool;
  Pair p;
  IoBuf* buf = pool.get();
  std::memcpy(buf->data(), "0123456789", 10);
  p.a.out.appendCopy("HEAD ");
  p.a.out.append(buf, buf->data(), 4);
  p.a.out.append(buf, buf->data() + 4, 6);  // contiguous: the same piece
  p.a.out.appendCopy(" TAIL");
  CHECK(buf->refs == 2u);
  CHECK(p.a.out.flush(p.a.transport) == 0);
  // The socket took it all at once: nothing in flight, no write callback, the reference let go.
  CHECK(p.a.out.idle());
  CHECK_FALSE(p.a.out.writing());
  CHECK(buf->refs == 1u);
  CHECK(p.b.transport.startReading(&p.b) == 0);
  CHECK(p.runUntil([&] { return p.b.got.size() >= 20; }));
  CHECK(p.b.got == "HEAD 0123456789 TAIL");
  CHECK(p.a.write_status.empty());
  release(buf);
  p.closeBoth();
}

TEST_CASE("Transport: what the socket cannot take goes out in one pending write; later bytes form the next batch") {
  BufferPool pool;
  Pair p;
  std::string sent;
  std::vector<IoBuf*> bufs;
  for (int i = 0; i < 16; ++i) {  // 1 MiB in 16 borrowed pieces
    IoBuf* buf = pool.get();
    const std::string bytes = pattern(BufferPool::kBufferSize, static_cast<char>('a' + i));
    std::memcpy(buf->data(), bytes.data(), bytes.size());
    p.a.out.append(buf, buf->data(), bytes.size());
    sent += bytes;
    bufs.push_back(buf);
  }
  CHECK(p.a.out.flush(p.a.transport) == 0);
  REQUIRE(p.a.out.writing());  // the rest of the batch is one pending write
  // Queued while that write is in flight: waits for it, then goes as the next batch.
  p.a.out.appendCopy("after");
  sent += "after";
  CHECK(p.a.out.flush(p.a.transport) == 0);
  CHECK(p.a.out.writing());
  CHECK(p.a.out.queuedBytes() > 5u);
  CHECK(p.b.transport.startReading(&p.b) == 0);
  CHECK(p.runUntil([&] { return p.b.got.size() >= sent.size() && p.a.out.idle(); }));
  CHECK(p.b.got.size() == sent.size());
  CHECK(p.b.got.compare(sent) == 0);
  // One callback per completed pending write: the first batch's, and the second's unless the
  // socket took that one at once.
  REQUIRE_FALSE(p.a.write_status.empty());
  CHECK(p.a.write_status.size() <= 2u);
  for (int s : p.a.write_status) CHECK(s == 0);
  for (IoBuf* buf : bufs) {
    CHECK(buf->refs == 1u);  // every piece let go once written
    release(buf);
  }
  p.closeBoth();
}

TEST_CASE("Transport: shutdown() sends the FIN after every pending byte") {
  Pair p;
  const std::string big = pattern(512 * 1024, 'A');
  p.a.out.appendCopy(big);
  CHECK(p.a.out.flush(p.a.transport) == 0);
  REQUIRE(p.a.out.writing());
  CHECK(p.a.transport.shutdown() == 0);
  CHECK(p.b.transport.startReading(&p.b) == 0);
  CHECK(p.runUntil([&] { return !p.b.events.empty(); }));
  REQUIRE(p.b.events.size() == 1u);
  CHECK(p.b.events[0] == "eof");
  CHECK(p.b.got.size() == big.size());
  CHECK(p.b.got.compare(big) == 0);  // not decomposed: no megabyte in a failure message
  // The sending side still reads (lingering close): the peer's bytes arrive after our FIN.
  CHECK(p.a.transport.startReading(&p.a) == 0);
  p.b.out.appendCopy("late");
  CHECK(p.b.out.flush(p.b.transport) == 0);
  CHECK(p.runUntil([&] { return p.a.got == "late"; }));
  p.closeBoth();
}

TEST_CASE("Transport: close() with a pending write cancels it before the owner hears closed") {
  BufferPool pool;
  Pair p;
  IoBuf* buf = pool.get();
  std::memset(buf->data(), 'x', BufferPool::kBufferSize);
  for (int i = 0; i < 8; ++i) p.a.out.append(buf, buf->data(), BufferPool::kBufferSize - static_cast<size_t>(i));
  CHECK(p.a.out.flush(p.a.transport) == 0);
  REQUIRE(p.a.out.writing());  // the peer never reads: the write stays pending
  CHECK(buf->refs > 1u);
  p.a.transport.close(&p.a);
  CHECK(p.a.transport.closing());
  CHECK(p.runUntil([&] { return !p.a.events.empty() && p.a.events.back() == "closed"; }));
  REQUIRE(p.a.events.size() == 2u);
  CHECK(p.a.events[0] == "cancelled");
  CHECK(p.a.events[1] == "closed");
  CHECK_FALSE(p.a.out.writing());
  CHECK(buf->refs == 1u);  // the cancelled batch let go of its pieces
  // The peer sees the end.
  CHECK(p.b.transport.startReading(&p.b) == 0);
  CHECK(p.runUntil([&] { return !p.b.events.empty(); }));
  CHECK(p.b.events.back() == "eof");
  release(buf);
  p.closeBoth();
}

TEST_CASE("Transport: stopReading() holds reads back until startReading()") {
  Pair p;
  CHECK(p.b.transport.startReading(&p.b) == 0);
  CHECK(p.b.transport.reading());
  p.b.transport.stopReading();
  CHECK_FALSE(p.b.transport.reading());
  p.a.out.appendCopy("hello");
  CHECK(p.a.out.flush(p.a.transport) == 0);
  for (int i = 0; i < 5; ++i) uv_run(&p.loop, UV_RUN_NOWAIT);
  CHECK(p.b.got.empty());
  CHECK(p.b.transport.startReading(&p.b) == 0);
  CHECK(p.runUntil([&] { return p.b.got == "hello"; }));
  p.closeBoth();
}

}  // namespace
}  // namespace edged::net
