// tests/unit/upstream/upstream_picker_test.cpp — filtering, the backup tier, max_conns, and why a
// pick failed.
#include <doctest.h>

#include "upstream_test_support.h"

namespace edged::upstream {
namespace {
using namespace testing;

conf::UpstreamConfig withBackup() {
  auto c = server("c");
  c.backup = true;
  return upstream({server("a"), server("b"), c});
}

TEST_SUITE("upstream/picker") {

TEST_CASE("backups get nothing while a primary can be used") {
  UpstreamGroup g(withBackup());
  auto p = g.makePicker();
  CHECK(picks(*p, 6) == "ababab");
}

TEST_CASE("the backup tier serves while every primary is unusable, for each reason") {
  ManualClock clock;
  auto cfg = withBackup();
  cfg.servers[0].down = true;  // a is down for good: b's state decides
  cfg.servers[1].max_conns = 2;
  UpstreamGroup g(cfg, clock);
  auto p = g.makePicker();
  Server& b = at(g, 1);
  CHECK(picks(*p, 2) == "bb");

  SUBCASE("unhealthy") {
    b.setHealthy(false, 0);
    CHECK(picks(*p, 2) == "cc");
    b.setHealthy(true, 0);
  }
  SUBCASE("draining") {
    b.setDraining(true);
    CHECK(picks(*p, 2) == "cc");
    b.setDraining(false);
  }
  SUBCASE("at max_conns") {
    b.active = 2;
    CHECK(picks(*p, 2) == "cc");
    b.active = 1;
  }
  SUBCASE("passively failed") {
    b.recordFailure(clock.now);  // max_fails 1
    CHECK(picks(*p, 2) == "cc");
    clock.now += 10000;  // fail_timeout passed: b gets its probe, then the backup again
    CHECK(picks(*p, 2) == "bc");
    CHECK(b.recordSuccess(clock.now));
  }
  // A primary is back: new requests go to it again.
  CHECK(picks(*p, 2) == "bb");
}

TEST_CASE("primaries all tried: the backups are next") {
  UpstreamGroup g(withBackup());
  auto p = g.makePicker();
  TriedSet tried;
  tried.insert(0);
  tried.insert(1);
  CHECK(picks(*p, 2, tried) == "cc");
  tried.insert(2);
  const PickResult r = p->choose(tried);
  CHECK(r.server == nullptr);
  CHECK(r.why == PickFailure::AllTried);
  CHECK(statusFor(r.why) == 502);
}

TEST_CASE("every server at max_conns: nullptr with the 503 reason") {
  auto cfg = withBackup();
  for (auto& s : cfg.servers) s.max_conns = 1;
  UpstreamGroup g(cfg);
  auto p = g.makePicker();
  for (const auto& s : g.servers()) s->active = 1;
  const PickResult r = p->choose({});
  CHECK(r.server == nullptr);
  CHECK(r.why == PickFailure::NoneAvailable);
  CHECK(statusFor(r.why) == 503);
  CHECK(p->pick({}) == nullptr);
  CHECK_FALSE(p->anyUntriedAvailable({}));
  at(g, 2).active = 0;
  CHECK(picks(*p, 1) == "c");
}

TEST_CASE("every server down, draining or never healthy: the 503 reason even with some tried") {
  auto cfg = withBackup();
  cfg.servers[0].down = true;
  conf::HealthCheckConfig check;
  check.initially_healthy = false;
  cfg.health.check = check;
  UpstreamGroup g(cfg);
  auto p = g.makePicker();
  at(g, 2).setDraining(true);  // b was never healthy: no panic candidate either
  TriedSet tried;
  const PickResult r = p->choose(tried);
  CHECK(r.why == PickFailure::NoneAvailable);
  CHECK_FALSE(r.panic);
  tried.insert(1);
  CHECK(p->choose(tried).why == PickFailure::NoneAvailable);
  CHECK_FALSE(p->anyUntriedAvailable({}));
}

TEST_CASE("panic: nothing usable, so the servers health holds out are tried anyway") {
  ManualClock clock;
  auto cfg = withBackup();
  cfg.health.max_fails = 1;
  cfg.health.fail_timeout = std::chrono::milliseconds(1000);
  UpstreamGroup g(cfg, clock);
  auto p = g.makePicker();
  Server &a = at(g, 0), &b = at(g, 1), &c = at(g, 2);

  SUBCASE("every server failed: primaries first, with the normal balancer") {
    a.recordFailure(clock.now);
    b.setHealthy(false, clock.now);
    c.recordFailure(clock.now);
    const PickResult r = p->choose({});
    CHECK(r.panic);
    CHECK(r.why == PickFailure::None);
    CHECK(picks(*p, 3) == "bab");
    CHECK(p->anyUntriedAvailable({}));
    SUBCASE("tried is respected: then the backup, then 502") {
      TriedSet tried;
      tried.insert(0);
      tried.insert(1);
      CHECK(p->anyUntriedAvailable(tried));
      const PickResult rc = p->choose(tried);
      CHECK(rc.server == &c);
      CHECK(rc.panic);
      tried.insert(2);
      CHECK_FALSE(p->anyUntriedAvailable(tried));
      const PickResult none = p->choose(tried);
      CHECK(none.server == nullptr);
      CHECK_FALSE(none.panic);
      CHECK(none.why == PickFailure::AllTried);
    }
  }
  SUBCASE("a usable backup is not panic") {
    a.recordFailure(clock.now);
    b.recordFailure(clock.now);
    const PickResult r = p->choose({});
    CHECK(r.server == &c);
    CHECK_FALSE(r.panic);
  }
  SUBCASE("down, draining and max_conns servers stay out") {
    auto cfg2 = withBackup();
    cfg2.servers[0].down = true;
    cfg2.servers[2].max_conns = 1;
    UpstreamGroup g2(cfg2, clock);
    auto p2 = g2.makePicker();
    at(g2, 1).setHealthy(false, 0);
    at(g2, 2).setHealthy(false, 0);
    at(g2, 2).active = 1;
    CHECK(picks(*p2, 3) == "bbb");
    at(g2, 1).setDraining(true);
    CHECK(p2->choose({}).why == PickFailure::NoneAvailable);
    at(g2, 2).active = 0;
    CHECK(picks(*p2, 2) == "cc");
  }
}

TEST_CASE("panic: a lone server that failed once keeps getting requests; a success brings it back") {
  ManualClock clock;
  auto cfg = upstream({server("a")});
  cfg.health.max_fails = 1;
  cfg.health.fail_timeout = std::chrono::milliseconds(10000);
  UpstreamGroup g(cfg, clock);
  auto p = g.makePicker();
  Server& a = at(g, 0);
  CHECK(a.recordFailure(clock.now));
  CHECK_FALSE(a.available(clock.now));
  clock.now = 10;
  PickResult r = p->choose({});
  CHECK(r.server == &a);
  CHECK(r.panic);
  SUBCASE("the panic try succeeds: available again, no more panic") {
    CHECK(a.recordSuccess(clock.now + 1));
    CHECK(a.available(clock.now + 1));
    r = p->choose({});
    CHECK(r.server == &a);
    CHECK_FALSE(r.panic);
  }
  SUBCASE("the panic try fails: held out again, still tried in panic") {
    CHECK(a.recordFailure(clock.now + 1));
    CHECK_FALSE(a.available(clock.now + 5000));
    r = p->choose({});
    CHECK(r.server == &a);
    CHECK(r.panic);
  }
}

TEST_CASE("a passively failed server gets one probe after fail_timeout") {
  ManualClock clock;
  auto cfg = upstream({server("a"), server("b")});
  cfg.health.max_fails = 1;
  cfg.health.fail_timeout = std::chrono::milliseconds(1000);
  UpstreamGroup g(cfg, clock);
  auto p = g.makePicker();
  CHECK(at(g, 0).recordFailure(clock.now));
  CHECK(picks(*p, 3) == "bbb");
  clock.now = 1000;
  CHECK(picks(*p, 1) == "a");  // the probe
  CHECK(picks(*p, 3) == "bbb");  // others keep away while it runs
  CHECK(at(g, 0).recordSuccess(clock.now + 5));
  CHECK(picks(*p, 4) == "baba");
}

TEST_CASE("anyUntriedAvailable does not move the round robin") {
  UpstreamGroup g(upstream({server("a"), server("b")}));
  auto p = g.makePicker();
  TriedSet tried;
  CHECK(p->anyUntriedAvailable(tried));
  CHECK(picks(*p, 1) == "a");
  CHECK(p->anyUntriedAvailable(tried));
  CHECK(picks(*p, 1) == "b");
  tried.insert(0);
  tried.insert(1);
  CHECK_FALSE(p->anyUntriedAvailable(tried));
}

TEST_CASE("slow start: a recovered server's share ramps with its effective weight") {
  ManualClock clock;
  auto cfg = upstream({server("a", 3), server("b", 3)});
  cfg.servers[0].slow_start = std::chrono::milliseconds(1000);
  UpstreamGroup g(cfg, clock);
  auto p = g.makePicker();
  CHECK(picks(*p, 6) == "ababab");  // at start: full weight (nginx)
  Server& a = at(g, 0);
  a.setHealthy(false, clock.now);
  clock.now = 5000;
  a.setHealthy(true, clock.now);
  CHECK(a.effectiveWeight(clock.now) == 1);
  int got = 0;
  for (int i = 0; i < 8; ++i) got += p->pick({}) == &a;
  CHECK(got == 2);  // weight 1 against 3
  clock.now = 6000;
  got = 0;
  for (int i = 0; i < 6; ++i) got += p->pick({}) == &a;
  CHECK(got == 3);
}

TEST_CASE("the group parses the hash key") {
  auto cfg = upstream({server("a")}, conf::BalanceAlgorithm::Hash);
  cfg.hash_key = "$http_x_user";
  UpstreamGroup g(cfg);
  CHECK(g.needsHashKey());
  CHECK(g.hashKey().kind == HashKeyKind::Header);
  CHECK(g.hashKey().name == "x-user");
  CHECK_FALSE(UpstreamGroup(upstream({server("a")})).needsHashKey());
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::upstream
