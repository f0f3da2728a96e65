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

ConnectionPool::ConnectionPool(const SharedState& shared) {
  const auto& ups = shared.config->upstreams;
  idle_.resize(ups.size());
  limits_.resize(ups.size());
  for (size_t i = 0; i < ups.size(); ++i) {
    idle_[i].resize(ups[i].servers.size());
    limits_[i] = ups[i].keepalive;
  }
}

ConnectionPool::~ConnectionPool() { closeAll(); }

UpstreamConnection* ConnectionPool::take(size_t upstream_index, const upstream::Server& server, uint64_t now) {
  auto& list = idle_[upstream_index][server.index];
  while (!list.empty()) {
    UpstreamConnection* c = list.back();
    list.pop_back();
    c->worker_.metrics().poolIdle(upstream_index, server.index, -1);
    if (c->idleDeadline() > now && !c->closing()) return c;
    c->close();
  }
  return nullptr;
}

void ConnectionPool::put(UpstreamConnection* c) {
  auto& list = idle_[c->upstreamIndex()][c->server().index];
  if (list.size() >= limits_[c->upstreamIndex()]) {
    c->close();
    return;
  }
  const uint64_t now = uv_now(c->worker_.loop());
  c->becomeIdle(now + idleBudget(c->keepalive_hint_ms_));
  list.push_back(c);
  c->worker_.metrics().poolIdle(c->upstreamIndex(), c->server().index, +1);
}

void ConnectionPool::forget(UpstreamConnection* c) {
  auto& list = idle_[c->upstreamIndex()][c->server().index];
  const auto it = std::remove(list.begin(), list.end(), c);
  if (it != list.end()) c->worker_.metrics().poolIdle(c->upstreamIndex(), c->server().index, -1);
  list.erase(it, list.end());
}

void ConnectionPool::closeAll() {
  for (auto& per_upstream : idle_)
    for (auto& list : per_upstream) {
      for (UpstreamConnection* c : list) {
        c->worker_.metrics().poolIdle(c->upstreamIndex(), c->server().index, -1);
        c->close();
      }
      list.clear();
    }
}

size_t ConnectionPool::idleCount() const {
  size_t n = 0;
  for (const auto& per_upstream : idle_)
    for (const auto& list : per_upstream) n += list.size();
  return n;
}

}  // namespace edged::proxy
