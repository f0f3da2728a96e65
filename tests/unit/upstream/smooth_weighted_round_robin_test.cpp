// tests/unit/upstream/smooth_weighted_round_robin_test.cpp — nginx's exact pick sequences.
#include <doctest.h>

#include "upstream_test_support.h"

namespace edged::upstream {
namespace {
using namespace testing;

TEST_SUITE("upstream/round_robin") {

TEST_CASE("weights {5,1,1} give a a b a c a a, every cycle") {
  UpstreamGroup g(upstream({server("a", 5), server("b"), server("c")}));
  auto p = g.makePicker();
  CHECK(picks(*p, 21) == "aabacaa" "aabacaa" "aabacaa");
}

TEST_CASE("equal weights rotate") {
  UpstreamGroup g(upstream({server("a"), server("b"), server("c")}));
  auto p = g.makePicker();
  CHECK(picks(*p, 9) == "abcabcabc");
}

TEST_CASE("weights {2,1} interleave and tried servers are skipped") {
  UpstreamGroup g(upstream({server("a", 2), server("b")}));
  auto p = g.makePicker();
  CHECK(picks(*p, 6) == "abaaba");
  TriedSet tried;
  tried.insert(0);
  CHECK(picks(*p, 3, tried) == "bbb");
  tried.insert(1);
  CHECK(p->choose(tried).why == PickFailure::AllTried);
}

TEST_CASE("the balancer alone returns nullopt when every candidate was tried") {
  conf::ServerConfig c = server("a");
  Server s(c, 0);
  SmoothWeightedRoundRobin rr(1);
  Candidate cand{&s, 1};
  TriedSet tried;
  CHECK(rr.pick({&cand, 1}, tried) == std::optional<size_t>(0));
  tried.insert(0);
  CHECK_FALSE(rr.pick({&cand, 1}, tried).has_value());
}

TEST_CASE("pickers of different workers keep separate cursors") {
  UpstreamGroup g(upstream({server("a", 5), server("b"), server("c")}));
  auto p1 = g.makePicker();
  auto p2 = g.makePicker();
  CHECK(picks(*p1, 3) == "aab");
  CHECK(picks(*p2, 7) == "aabacaa");
  CHECK(picks(*p1, 4) == "acaa");
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::upstream
