// tests/unit/proxy/net/posted_flushes_test.cpp — work posted during a loop iteration runs once, after
// the I/O phase of that same iteration; cancelled entries never run; the handle closes cleanly.
#include <doctest.h>
#include <uv.h>

#include <string>

#include "proxy/net/net.h"

namespace edged::net {
namespace {

struct Probe {
  PostedFlushes::Entry entry;
  std::string* trace = nullptr;
  char name = '?';
  PostedFlushes* queue = nullptr;
  Probe* also = nullptr;  // posted from this one's run
  Probe(std::string* t, char n, PostedFlushes* q) : trace(t), name(n), queue(q) {
    entry.owner = this;
    entry.fn = [](void* owner) {
      auto* self = static_cast<Probe*>(owner);
      *self->trace += self->name;
      if (self->also) self->queue->post(self->also->entry);
    };
  }
};

TEST_CASE("posted flushes run once, after the iteration's I/O, and can be cancelled") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  std::string trace;
  {
    PostedFlushes q(&loop);
    Probe a(&trace, 'a', &q), b(&trace, 'b', &q), c(&trace, 'c', &q), d(&trace, 'd', &q);

    // Posted from an I/O-phase callback (a zero timer stands in for a read): runs in that pass.
    struct Ctx { PostedFlushes* q; Probe* a; Probe* b; std::string* trace; } ctx{&q, &a, &b, &trace};
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &ctx;
    uv_timer_start(&t, [](uv_timer_t* h) {
      auto* x = static_cast<Ctx*>(h->data);
      *x->trace += 'T';
      x->q->post(x->a->entry);
      x->q->post(x->a->entry);  // twice: still once
      x->q->post(x->b->entry);
    }, 0, 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(trace.size() == 3);
    CHECK(trace[0] == 'T');
    CHECK(trace.find('a') != std::string::npos);
    CHECK(trace.find('b') != std::string::npos);
    CHECK_FALSE(a.entry.posted());

    // Nothing posted: another pass calls nothing.
    trace.clear();
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(trace.empty());

    // A cancelled entry never runs; one posted from a run runs in the same pass.
    q.post(c.entry);
    q.post(d.entry);
    PostedFlushes::cancel(c.entry);
    d.also = &a;
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(trace == "da");

    // Entries still posted at close are dropped; the loop then has no open handle.
    trace.clear();
    q.post(b.entry);
    q.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(trace.empty());
    CHECK_FALSE(b.entry.posted());
  }
  CHECK(uv_loop_close(&loop) == 0);
}

}  // namespace
}  // namespace edged::net
