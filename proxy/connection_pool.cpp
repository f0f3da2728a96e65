// proxy/connection_pool.cpp — LIFO idle lists: the most recently used connection is the one
// least likely to have been closed by the origin.
#include "proxy/connection_pool.h"

#include <algorithm>

#include "proxy/upstream_connection.h"
#include "proxy/worker.h"

namespace edged::proxy {

namespace {
constexpr uint64_t kDefaultIdleMs = 60'000;  // nginx upstream keepalive_timeout

// Retire a pooled connection before the origin's advertised idle timeout runs out, with room for
// the time the response spent in flight: Node closes exactly `timeout` after its response ended.
uint64_t idleBudget(uint64_t hint_ms) {
  if (hint_ms == 0) return kDefaultIdleMs;
  const uint64_t budget = hint_ms >= 2000 ? hint_ms - 1000 : hint_ms / 2;
  return std::min(budget, kDefaultIdleMs);
}
}  // namespace

ConnectionPool::~ConnectionPool() { closeAll(); }

UpstreamConnection* ConnectionPool::take(size_t slot, uint64_t now) {
  if (slot >= idle_.size()) return nullptr;
  auto& list = idle_[slot];
  while (!list.empty()) {
    UpstreamConnection* c = list.back();
    list.pop_back();
    worker_.metrics().poolIdle(slot, -1);
    if (c->idleDeadline() > now && !c->closing()) return c;
    c->close();
  }
  return nullptr;
}

bool ConnectionPool::bindTo(UpstreamConnection* c, WorkerGen& current) {
  if (&c->gen() == &current) return true;
  const Generation::ServerRef* ref = current.generation().serverAt(c->slot());
  if (!ref) return false;
  c->rebind(current, ref->upstream, *ref->server);
  return true;
}

void ConnectionPool::put(UpstreamConnection* c) {
  // Pooled connections belong to the current generation, so an old one can be freed.
  if (!bindTo(c, worker_.gen())) {
    c->close();
    return;
  }
  const size_t slot = c->slot();
  if (slot >= idle_.size()) idle_.resize(slot + 1);
  auto& list = idle_[slot];
  if (list.size() >= c->gen().config().upstreams[c->upstreamIndex()].keepalive) {
    c->close();
    return;
  }
  const uint64_t now = uv_now(worker_.loop());
  c->becomeIdle(now + idleBudget(c->keepaliveHintMs()));
  list.push_back(c);
  worker_.metrics().poolIdle(slot, +1);
}

void ConnectionPool::forget(UpstreamConnection* c) {
  if (c->slot() >= idle_.size()) return;
  auto& list = idle_[c->slot()];
  const auto it = std::remove(list.begin(), list.end(), c);
  if (it != list.end()) worker_.metrics().poolIdle(c->slot(), -1);
  list.erase(it, list.end());
}

void ConnectionPool::adopt(WorkerGen& current) {
  for (size_t slot = 0; slot < idle_.size(); ++slot) {
    auto& list = idle_[slot];
    size_t kept = 0;
    const uint32_t limit = [&]() -> uint32_t {
      const Generation::ServerRef* ref = current.generation().serverAt(slot);
      return ref ? current.config().upstreams[ref->upstream].keepalive : 0;
    }();
    for (UpstreamConnection* c : list) {
      if (kept < limit && bindTo(c, current)) {
        list[kept++] = c;
      } else {
        worker_.metrics().poolIdle(slot, -1);
        c->close();
      }
    }
    list.resize(kept);
  }
}

void ConnectionPool::closeAll() {
  for (size_t slot = 0; slot < idle_.size(); ++slot) {
    for (UpstreamConnection* c : idle_[slot]) {
      worker_.metrics().poolIdle(slot, -1);
      c->close();
    }
    idle_[slot].clear();
  }
}

size_t ConnectionPool::idleCount() const {
  size_t n = 0;
  for (const auto& list : idle_) n += list.size();
  return n;
}

}  // namespace edged::proxy
