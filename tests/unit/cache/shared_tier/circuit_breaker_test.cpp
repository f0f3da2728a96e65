// tests/unit/cache/shared_tier/circuit_breaker_test.cpp — the shared tier's breaker: opens after
// `threshold` consecutive failures, lets one probe through after the cooldown, closes on its
// success and opens again on its failure.
#include <doctest.h>

#include "cache/shared_tier/circuit_breaker.h"

namespace edged::cache::shared_tier {
namespace {

TEST_CASE("cache/shared_tier: circuit breaker") {
  using S = CircuitBreaker::State;
  CircuitBreaker b(3, 1000);
  CHECK(b.allow(0));
  CHECK_FALSE(b.onFailure(10));
  b.onSuccess();  // a success in between resets the count
  CHECK_FALSE(b.onFailure(11));
  CHECK_FALSE(b.onFailure(12));
  CHECK(b.onFailure(13));  // the third in a row opens it
  CHECK(b.state() == S::Open);
  CHECK_FALSE(b.allow(500));
  CHECK(b.allow(1013));  // cooldown over: the probe
  CHECK(b.state() == S::HalfOpen);
  CHECK_FALSE(b.allow(1014));  // one probe at a time
  CHECK_FALSE(b.onFailure(1020));  // the probe failed: open again (not a new opening)
  CHECK(b.state() == S::Open);
  CHECK_FALSE(b.allow(2000));
  CHECK(b.allow(2020));
  b.onSuccess();
  CHECK(b.state() == S::Closed);
  CHECK(b.allow(2021));
}

}  // namespace
}  // namespace edged::cache::shared_tier
