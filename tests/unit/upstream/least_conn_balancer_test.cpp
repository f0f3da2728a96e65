// tests/unit/upstream/least_conn_balancer_test.cpp — fewest active relative to weight, WRR ties.
#include <doctest.h>

#include "upstream_test_support.h"

namespace edged::upstream {
namespace {
using namespace testing;
using conf::BalanceAlgorithm;

TEST_SUITE("upstream/least_conn") {

TEST_CASE("the server with the fewest active requests wins") {
  UpstreamGroup g(upstream({server("a"), server("b"), server("c")}, BalanceAlgorithm::LeastConn));
  auto p = g.makePicker();
  at(g, 0).active = 3;
  at(g, 1).active = 1;
  at(g, 2).active = 2;
  CHECK(picks(*p, 3) == "bbb");
  at(g, 1).active = 4;
  CHECK(picks(*p, 2) == "cc");
}

TEST_CASE("active counts are compared relative to weight") {
  UpstreamGroup g(upstream({server("a", 3), server("b", 1)}, BalanceAlgorithm::LeastConn));
  auto p = g.makePicker();
  at(g, 0).active = 5;  // 5/3 < 2/1
  at(g, 1).active = 2;
  CHECK(picks(*p, 1) == "a");
  at(g, 0).active = 7;  // 7/3 > 2/1
  CHECK(picks(*p, 1) == "b");
}

TEST_CASE("requests counted in flight spread the load") {
  UpstreamGroup g(upstream({server("a", 2), server("b", 1)}, BalanceAlgorithm::LeastConn));
  auto p = g.makePicker();
  std::string seq;
  for (int i = 0; i < 6; ++i) {
    Server* s = p->pick({});
    s->active.fetch_add(1);
    seq += s->name();
  }
  // 0/2 = 0/1: tie, WRR gives a; 1/2 > 0/1: b; 1/2 < 1/1: a; 2/2 = 1/1: tie, WRR gives b;
  // 2/2 < 2/1: a; 3/2 < 2/1: a.
  CHECK(seq == "ababaa");
  CHECK(at(g, 0).active.load() == 4);
  CHECK(at(g, 1).active.load() == 2);
}

TEST_CASE("ties are broken by the smooth weighted round robin cursor") {
  UpstreamGroup g(upstream({server("a", 5), server("b"), server("c")}, BalanceAlgorithm::LeastConn));
  auto p = g.makePicker();
  CHECK(picks(*p, 14) == "aabacaa" "aabacaa");
}

TEST_CASE("ties among a subset rotate within that subset") {
  UpstreamGroup g(upstream({server("a"), server("b"), server("c"), server("d")}, BalanceAlgorithm::LeastConn));
  auto p = g.makePicker();
  at(g, 0).active = 1;
  at(g, 2).active = 1;
  CHECK(picks(*p, 4) == "bdbd");
}

TEST_CASE("tried servers are skipped even when least loaded") {
  UpstreamGroup g(upstream({server("a"), server("b"), server("c")}, BalanceAlgorithm::LeastConn));
  auto p = g.makePicker();
  at(g, 0).active = 0;
  at(g, 1).active = 2;
  at(g, 2).active = 1;
  TriedSet tried;
  tried.insert(0);
  CHECK(picks(*p, 2, tried) == "cc");
  tried.insert(2);
  CHECK(picks(*p, 1, tried) == "b");
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::upstream
