// tests/unit/upstream/health_state_test.cpp — rise/fall flips exactly on the counted result.
#include <doctest.h>

#include "upstream/upstream.h"

namespace edged::upstream {
namespace {

TEST_SUITE("upstream/health_state") {

TEST_CASE("fall consecutive failures flip to unhealthy, not one before") {
  HealthState h(2, 3, true);
  CHECK_FALSE(h.observe(false));
  CHECK_FALSE(h.observe(false));
  CHECK(h.healthy());
  CHECK(h.observe(false));
  CHECK_FALSE(h.healthy());
  CHECK_FALSE(h.observe(false));  // already unhealthy: no flip
}

TEST_CASE("rise consecutive successes flip to healthy, not one before") {
  HealthState h(2, 3, false);
  CHECK_FALSE(h.observe(true));
  CHECK_FALSE(h.healthy());
  CHECK(h.observe(true));
  CHECK(h.healthy());
  CHECK_FALSE(h.observe(true));
}

TEST_CASE("a result agreeing with the state breaks the streak") {
  HealthState h(2, 3, true);
  CHECK_FALSE(h.observe(false));
  CHECK_FALSE(h.observe(false));
  CHECK_FALSE(h.observe(true));
  CHECK_FALSE(h.observe(false));
  CHECK_FALSE(h.observe(false));
  CHECK(h.healthy());
  CHECK(h.observe(false));

  CHECK_FALSE(h.observe(true));
  CHECK_FALSE(h.observe(false));
  CHECK_FALSE(h.observe(true));
  CHECK(h.observe(true));
}

TEST_CASE("from the configuration: initially unhealthy, and rise 1 / fall 1") {
  conf::HealthCheckConfig c;
  c.initially_healthy = false;
  c.rise = 1;
  c.fall = 1;
  HealthState h(c);
  CHECK_FALSE(h.healthy());
  CHECK(h.observe(true));
  CHECK(h.observe(false));
  CHECK(h.observe(true));
  CHECK(HealthState(conf::HealthCheckConfig{}).healthy());
}

TEST_CASE("rise and fall of 0 behave as 1") {
  HealthState h(0, 0, true);
  CHECK(h.observe(false));
  CHECK(h.observe(true));
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::upstream
