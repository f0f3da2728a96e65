// tests/unit/proxy/redis/circuit_breaker_test.cpp — the breaker both Redis users share: opens
// after `threshold` consecutive failures, lets one probe through after the cooldown, closes on
// its success and opens again on its failure; onFailure() tells a first opening apart, opens()
// counts every move to open (a failed probe too).
#include <doctest.h>

#include "proxy/redis/redis.h"

namespace edged::redis {
namespace {

TEST_CASE("proxy/redis: circuit breaker") {
  using S = CircuitBreaker::State;
  CircuitBreaker b(3, 1000);
  CHECK(b.allow(0));
  CHECK_FALSE(b.onFailure(10));
  b.onSuccess();  // a success in between resets the count
  CHECK_FALSE(b.onFailure(11));
  CHECK_FALSE(b.onFailure(12));
  CHECK(b.state() == S::Closed);
  CHECK(b.onFailure(13));  // the third in a row opens it
  CHECK(b.state() == S::Open);
  CHECK(b.opens() == 1);
  CHECK_FALSE(b.allow(500));
  CHECK(b.allow(1013));  // cooldown over: the probe
  CHECK(b.state() == S::HalfOpen);
  CHECK_FALSE(b.allow(1014));  // one probe at a time
  CHECK_FALSE(b.onFailure(1020));  // the probe failed: open again (not a first opening)
  CHECK(b.state() == S::Open);
  CHECK(b.opens() == 2);
  CHECK_FALSE(b.allow(2000));
  CHECK(b.allow(2020));
  b.onSuccess();
  CHECK(b.state() == S::Closed);
  CHECK(b.allow(2021));
  CHECK(b.opens() == 2);
}

TEST_CASE("proxy/redis: circuit breaker threshold 0 acts as 1") {
  CircuitBreaker b(0, 100);
  CHECK(b.onFailure(0));
  CHECK(b.state() == CircuitBreaker::State::Open);
}

TEST_CASE("proxy/redis: reply helpers") {
  CHECK(failed(nullptr));
  redisReply r{};
  r.type = REDIS_REPLY_ERROR;
  char err[] = "ERR x";
  r.str = err;
  r.len = 5;
  CHECK(failed(&r));
  CHECK_FALSE(isString(&r));
  CHECK(text(&r) == "ERR x");
  r.type = REDIS_REPLY_STRING;
  CHECK_FALSE(failed(&r));
  CHECK(isString(&r));
  r.type = REDIS_REPLY_INTEGER;
  CHECK(text(&r).empty());
}

}  // namespace
}  // namespace edged::redis
