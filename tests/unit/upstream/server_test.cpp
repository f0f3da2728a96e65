// tests/unit/upstream/server_test.cpp — passive health, slow start, drain, and the admin state.
#include <doctest.h>

#include "upstream_test_support.h"

namespace edged::upstream {
namespace {
using namespace testing;

conf::HealthConfig passive(uint32_t max_fails, int64_t fail_timeout_ms) {
  conf::HealthConfig h;
  h.max_fails = max_fails;
  h.fail_timeout = std::chrono::milliseconds(fail_timeout_ms);
  return h;
}

TEST_SUITE("upstream/server") {

TEST_CASE("max_fails failures within fail_timeout make the server unavailable for fail_timeout") {
  Server s(server("a"), 0, passive(3, 10000));
  CHECK_FALSE(s.recordFailure(0));
  CHECK_FALSE(s.recordFailure(1000));
  CHECK(s.passivelyAvailable(1000));
  CHECK(s.recordFailure(2000));
  CHECK(s.failures.load() == 3);
  CHECK_FALSE(s.passivelyAvailable(2000));
  CHECK_FALSE(s.passivelyAvailable(11999));
  CHECK(s.state(5000) == ServerState::Unhealthy);
  CHECK(s.passivelyAvailable(12000));  // tried again after fail_timeout
  CHECK(s.state(12000) == ServerState::Up);
}

TEST_CASE("failures spread wider than fail_timeout do not accumulate") {
  Server s(server("a"), 0, passive(3, 10000));
  CHECK_FALSE(s.recordFailure(0));
  CHECK_FALSE(s.recordFailure(6000));
  CHECK_FALSE(s.recordFailure(10000));  // the window from t=0 is over: a new one starts
  CHECK_FALSE(s.recordFailure(19000));
  CHECK(s.passivelyAvailable(19000));
  CHECK(s.recordFailure(19999));  // 10000, 19000, 19999: three within 10 s
  CHECK_FALSE(s.passivelyAvailable(20000));
}

TEST_CASE("after the hold: the probe's success ends it, its failure restarts it at once") {
  Server s(server("a"), 0, passive(2, 1000));
  s.recordFailure(0);
  CHECK(s.recordFailure(10));
  CHECK_FALSE(s.recordSuccess(500));  // a request from before the mark: proves nothing
  CHECK_FALSE(s.passivelyAvailable(500));
  CHECK_FALSE(s.recordFailure(600));  // nor does a straggler failure extend the hold
  CHECK(s.passivelyAvailable(1010));

  s.notePicked(1010);  // the probe
  CHECK_FALSE(s.passivelyAvailable(1011));
  CHECK(s.recordFailure(1200));  // one failure of the probe suffices
  CHECK_FALSE(s.passivelyAvailable(2199));
  CHECK(s.passivelyAvailable(2200));

  s.notePicked(2200);
  CHECK(s.recordSuccess(2300));
  CHECK(s.passivelyAvailable(2300));
  CHECK_FALSE(s.recordFailure(2400));  // a fresh window: max_fails again
  CHECK(s.recordFailure(2500));
}

TEST_CASE("passive health works with wall-clock sized times") {
  Server s(server("a"), 0, passive(2, 10000));
  const uint64_t t = 1735689600000;  // 2025-01-01 in ms since the Unix epoch
  CHECK_FALSE(s.recordFailure(t));
  CHECK_FALSE(s.recordFailure(t + 10000));  // outside the window
  CHECK(s.recordFailure(t + 19999));
  CHECK_FALSE(s.passivelyAvailable(t + 29998));
  CHECK(s.passivelyAvailable(t + 29999));
}

TEST_CASE("max_fails 0 disables passive accounting") {
  Server s(server("a"), 0, passive(0, 10000));
  for (int i = 0; i < 100; ++i) CHECK_FALSE(s.recordFailure(i));
  CHECK(s.passivelyAvailable(50));
  CHECK(s.failures.load() == 100);
}

TEST_CASE("slow start ramps the effective weight from 1 to weight after recovery") {
  auto c = server("a", 9);
  c.slow_start = std::chrono::milliseconds(1000);
  Server s(c, 0);
  CHECK(s.effectiveWeight(0) == 9);  // at start: no ramp (nginx)
  CHECK(s.setHealthy(false, 100));
  CHECK_FALSE(s.setHealthy(false, 200));
  CHECK(s.setHealthy(true, 10000));
  CHECK(s.effectiveWeight(10000) == 1);
  CHECK(s.effectiveWeight(10250) == 3);
  CHECK(s.effectiveWeight(10500) == 5);
  CHECK(s.effectiveWeight(10999) == 8);
  CHECK(s.effectiveWeight(11000) == 9);
  CHECK(s.effectiveWeight(99000) == 9);
}

TEST_CASE("slow start also follows a passive recovery") {
  auto c = server("a", 5);
  c.slow_start = std::chrono::milliseconds(400);
  Server s(c, 0, passive(1, 1000));
  s.recordFailure(0);
  s.notePicked(1000);
  CHECK(s.recordSuccess(1000));
  CHECK(s.effectiveWeight(1000) == 1);
  CHECK(s.effectiveWeight(1200) == 3);
  CHECK(s.effectiveWeight(1400) == 5);
}

TEST_CASE("no slow start: the weight is the weight") {
  Server s(server("a", 4), 0);
  s.setHealthy(false, 0);
  s.setHealthy(true, 10);
  CHECK(s.effectiveWeight(10) == 4);
}

TEST_CASE("the admin state: down, draining, unhealthy, up") {
  conf::HealthConfig h;
  h.check = conf::HealthCheckConfig{};
  h.check->initially_healthy = false;
  Server s(server("a"), 0, h);
  CHECK_FALSE(s.healthy());
  CHECK(s.state(0) == ServerState::Unhealthy);
  s.setHealthy(true, 0);
  CHECK(s.state(0) == ServerState::Up);
  s.setDraining(true);
  CHECK(s.state(0) == ServerState::Draining);
  CHECK_FALSE(s.available(0));
  CHECK(std::string(stateName(s.state(0))) == "draining");

  auto d = server("d");
  d.down = true;
  Server down(d, 1);
  CHECK(down.state(0) == ServerState::Down);
  CHECK(down.healthy());  // no check configured: healthy
  CHECK(std::string(stateName(ServerState::Unhealthy)) == "unhealthy");
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::upstream

namespace edged::upstream {
namespace {
using namespace testing;

TEST_SUITE("upstream/reload") {

TEST_CASE("a group built on its predecessor hands over the runtime of servers that stay") {
  ManualClock clock;
  conf::UpstreamConfig before = upstream({server("a"), server("b")});
  conf::HealthCheckConfig check;
  check.initially_healthy = true;
  before.health.check = check;
  UpstreamGroup old(before, clock);
  Server& a = *old.servers()[0];
  Server& b = *old.servers()[1];
  a.active.fetch_add(2);
  a.requests.fetch_add(7);
  a.setDraining(true);
  b.setHealthy(false, 0);

  conf::UpstreamConfig after = upstream({server("c"), server("b", 5), server("a")});
  after.health.check = check;
  UpstreamGroup next(after, clock, &old);
  const Server& na = *next.servers()[2];
  const Server& nb = *next.servers()[1];
  const Server& nc = *next.servers()[0];
  CHECK(na.active.load() == 2);
  CHECK(na.requests.load() == 7);
  CHECK(na.draining());
  CHECK(na.index == 2);
  CHECK_FALSE(nb.healthy());
  CHECK(nb.weight() == 5);  // configuration comes from the new file
  CHECK(nc.active.load() == 0);
  CHECK(nc.healthy());
  // Both objects count the same requests: one started on the old config ends on either.
  a.active.fetch_sub(1);
  CHECK(na.active.load() == 1);
}

TEST_CASE("without active checks a carried unhealthy flag is cleared") {
  ManualClock clock;
  conf::UpstreamConfig before = upstream({server("a")});
  before.health.check = conf::HealthCheckConfig{};
  UpstreamGroup old(before, clock);
  old.servers()[0]->setHealthy(false, 0);
  UpstreamGroup next(upstream({server("a")}), clock, &old);
  CHECK(next.servers()[0]->healthy());
}

}
}  // namespace
}  // namespace edged::upstream
