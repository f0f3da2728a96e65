// tests/unit/proxy/net/deadline_heap_test.cpp — DeadlineHeap: expiry order, moving a deadline
// earlier and later, cancelling from any position, and a seeded random sequence checked against
// a sorted reference.
#include <doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "proxy/net/net.h"

namespace edged::net {
namespace {

std::vector<int> drain(DeadlineHeap& h, uint64_t now) {
  std::vector<int> out;
  while (DeadlineNode* n = h.popExpired(now)) out.push_back(*static_cast<int*>(n->owner));
  return out;
}

TEST_CASE("DeadlineHeap: nodes expire in deadline order, only when due") {
  int ids[5] = {0, 1, 2, 3, 4};
  DeadlineNode n[5];
  DeadlineHeap h;
  const uint64_t due[5] = {50, 10, 40, 20, 30};
  for (int i = 0; i < 5; ++i) {
    n[i].owner = &ids[i];
    h.schedule(&n[i], due[i]);
  }
  CHECK(h.size() == 5u);
  CHECK(h.top() == &n[1]);
  CHECK(h.popExpired(9) == nullptr);
  CHECK(drain(h, 30) == std::vector<int>{1, 3, 4});
  CHECK_FALSE(n[1].scheduled());
  CHECK(n[0].scheduled());
  CHECK(drain(h, 100) == std::vector<int>{2, 0});
  CHECK(h.empty());
  CHECK(h.top() == nullptr);
}

TEST_CASE("DeadlineHeap: rescheduling moves a node earlier or later; cancel removes it") {
  int ids[4] = {0, 1, 2, 3};
  DeadlineNode n[4];
  DeadlineHeap h;
  for (int i = 0; i < 4; ++i) {
    n[i].owner = &ids[i];
    h.schedule(&n[i], 100 + 10 * static_cast<uint64_t>(i));  // 100 110 120 130
  }
  h.schedule(&n[3], 5);    // earlier: now first
  h.schedule(&n[0], 125);  // later: between 2 and the end
  CHECK(h.size() == 4u);
  CHECK(n[0].due == 125u);
  h.cancel(&n[1]);
  CHECK_FALSE(n[1].scheduled());
  h.cancel(&n[1]);  // not scheduled: nothing happens
  CHECK(h.size() == 3u);
  CHECK(drain(h, 1000) == std::vector<int>{3, 2, 0});
  // A cancelled node can be scheduled again.
  h.schedule(&n[1], 7);
  CHECK(drain(h, 7) == std::vector<int>{1});
}

TEST_CASE("DeadlineHeap: a random mix of schedule, reschedule, cancel and expiry matches a sorted reference") {
  constexpr int kNodes = 200;
  std::vector<int> ids(kNodes);
  std::vector<DeadlineNode> nodes(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    ids[i] = i;
    nodes[i].owner = &ids[i];
  }
  std::map<int, uint64_t> ref;  // scheduled node -> due
  DeadlineHeap h;
  std::mt19937 rng(7);
  uint64_t now = 0;
  for (int step = 0; step < 20000; ++step) {
    const int i = static_cast<int>(rng() % kNodes);
    switch (rng() % 4) {
      case 0:
      case 1: {
        const uint64_t due = now + rng() % 500;
        h.schedule(&nodes[i], due);
        ref[i] = due;
        break;
      }
      case 2:
        h.cancel(&nodes[i]);
        ref.erase(i);
        break;
      case 3: {
        now += rng() % 50;
        // Everything due comes out, earliest first (ties in any order).
        uint64_t last = 0;
        while (DeadlineNode* n = h.popExpired(now)) {
          const int id = *static_cast<int*>(n->owner);
          REQUIRE(ref.count(id) == 1);
          CHECK(ref[id] == n->due);
          CHECK(n->due <= now);
          CHECK(n->due >= last);
          last = n->due;
          ref.erase(id);
        }
        for (const auto& [id, due] : ref) CHECK(due > now);
        break;
      }
    }
    REQUIRE(h.size() == ref.size());
    if (step % 500 == 0)
      for (int k = 0; k < kNodes; ++k) REQUIRE(nodes[k].scheduled() == (ref.count(k) == 1));
  }
}

}  // namespace
}  // namespace edged::net
