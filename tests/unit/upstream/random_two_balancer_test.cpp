// tests/unit/upstream/random_two_balancer_test.cpp — two weighted draws, the less loaded wins.
#include <doctest.h>

#include "upstream_test_support.h"

namespace edged::upstream {
namespace {
using namespace testing;
using conf::BalanceAlgorithm;

TEST_SUITE("upstream/random_two") {

TEST_CASE("of the two drawn, the one with fewer active requests wins") {
  UpstreamGroup g(upstream({server("a"), server("b"), server("c")}, BalanceAlgorithm::RandomTwo));
  auto* rng = new ScriptedRng({0, 0, 2, 1, 1, 1, 0, 1});
  auto p = g.makePicker(std::unique_ptr<Rng>(rng));
  at(g, 0).active = 5;
  at(g, 1).active = 2;
  at(g, 2).active = 0;
  // draws: (a, then b of {b,c}) -> b; (c, then b of {a,b}) -> c; (b, then c of {a,c}) -> c;
  // (a, then c of {b,c}) -> c
  CHECK(picks(*p, 4) == "bccc");
  CHECK(rng->pos == 8);
}

TEST_CASE("a tie goes to the first drawn") {
  UpstreamGroup g(upstream({server("a"), server("b")}, BalanceAlgorithm::RandomTwo));
  auto* rng = new ScriptedRng({0, 0, 1, 0});
  auto p = g.makePicker(std::unique_ptr<Rng>(rng));
  CHECK(picks(*p, 2) == "ab");
}

TEST_CASE("draws are weighted and load is relative to weight") {
  UpstreamGroup g(upstream({server("a", 3), server("b", 1), server("c", 1)}, BalanceAlgorithm::RandomTwo));
  // total 5: r%5 in 0..2 -> a, 3 -> b, 4 -> c. Second draw excludes the first.
  auto* rng = new ScriptedRng({2, 0, 3, 2, 4, 1});
  auto p = g.makePicker(std::unique_ptr<Rng>(rng));
  at(g, 0).active = 5;  // 5/3
  at(g, 1).active = 2;  // 2/1
  at(g, 2).active = 1;  // 1/1
  // (a, b): 5/3 < 2 -> a. (b, then r=2%4 of {a,c} -> a): a. (c, then r=1%4 of {a,b} -> a): c.
  CHECK(picks(*p, 3) == "aac");
}

TEST_CASE("a single untried candidate is returned without drawing") {
  UpstreamGroup g(upstream({server("a"), server("b")}, BalanceAlgorithm::RandomTwo));
  auto p = g.makePicker(std::make_unique<ScriptedRng>(std::vector<uint64_t>{}));
  TriedSet tried;
  tried.insert(0);
  CHECK(picks(*p, 3, tried) == "bbb");
  tried.insert(1);
  CHECK(p->choose(tried).why == PickFailure::AllTried);
}

TEST_CASE("the default rng spreads picks over every server") {
  UpstreamGroup g(upstream({server("a"), server("b"), server("c")}, BalanceAlgorithm::RandomTwo));
  auto p = g.makePicker();
  int seen[3] = {0, 0, 0};
  for (int i = 0; i < 300; ++i) seen[p->pick({})->index]++;
  CHECK(seen[0] > 0);
  CHECK(seen[1] > 0);
  CHECK(seen[2] > 0);
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::upstream
