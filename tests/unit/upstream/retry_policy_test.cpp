// tests/unit/upstream/retry_policy_test.cpp — the retry decision as a table: method x bytes sent x
// condition x tries x timeout x response started x servers left.
#include <doctest.h>

#include <string>

#include "upstream/upstream.h"

namespace edged::upstream {
namespace {

using F = FailureKind;
using A = RetryAction;
constexpr uint32_t kDefault = conf::kRetryConnectFailure | conf::kRetryTimeout;
constexpr uint32_t kAll = kDefault | conf::kRetry500 | conf::kRetry502 | conf::kRetry503 | conf::kRetry504 |
                          conf::kRetry429;

struct Row {
  const char* what;
  F failure;
  int http_status;
  uint32_t retry_on;
  const char* method;
  uint64_t head_sent, body_sent;
  uint32_t tries, retries;
  uint64_t elapsed, retry_timeout;
  bool response_started, untried_left;
  A action;
  int status;
  bool server_failed;
};

// clang-format off
const Row kTable[] = {
  // what                                   failure            http mask     method   head body  tries retries elapsed timeout started left  -> action          status failed
  {"connect refused, GET",                  F::ConnectFailed,  0,   kDefault, "GET",    0,   0,   1,    1,      0,      0,      false,  true,  A::Retry,          502, true},
  {"connect refused, POST: nothing sent",   F::ConnectFailed,  0,   kDefault, "POST",   0,   0,   1,    1,      0,      0,      false,  true,  A::Retry,          502, true},
  {"connect timeout, PATCH: nothing sent",  F::ConnectTimeout, 0,   kDefault, "PATCH",  0,   0,   1,    1,      0,      0,      false,  true,  A::Retry,          504, true},
  {"connect refused, not configured",       F::ConnectFailed,  0,   conf::kRetryTimeout, "GET", 0, 0, 1, 1,     0,      0,      false,  true,  A::Answer,         502, true},
  {"connect timeout, not configured",       F::ConnectTimeout, 0,   conf::kRetryConnectFailure, "GET", 0, 0, 1, 1, 0,  0,      false,  true,  A::Answer,         504, true},
  {"connect refused, no retries",           F::ConnectFailed,  0,   kDefault, "GET",    0,   0,   1,    0,      0,      0,      false,  true,  A::Answer,         502, true},
  {"connect refused, tries used up",        F::ConnectFailed,  0,   kDefault, "GET",    0,   0,   3,    2,      0,      0,      false,  true,  A::Answer,         502, true},
  {"connect refused, one try left",         F::ConnectFailed,  0,   kDefault, "GET",    0,   0,   2,    2,      0,      0,      false,  true,  A::Retry,          502, true},
  {"connect refused, no server left",       F::ConnectFailed,  0,   kDefault, "GET",    0,   0,   1,    1,      0,      0,      false,  false, A::Answer,         502, true},
  {"retry_timeout passed",                  F::ConnectFailed,  0,   kDefault, "GET",    0,   0,   1,    1,      500,    500,    false,  true,  A::Answer,         502, true},
  {"retry_timeout not yet passed",          F::ConnectFailed,  0,   kDefault, "GET",    0,   0,   1,    1,      499,    500,    false,  true,  A::Retry,          502, true},
  {"retry_timeout 0: no limit",             F::ConnectFailed,  0,   kDefault, "GET",    0,   0,   1,    1,      999999, 0,      false,  true,  A::Retry,          502, true},
  {"error after head, GET",                 F::Error,          0,   kDefault, "GET",    80,  0,   1,    1,      0,      0,      false,  true,  A::Retry,          502, true},
  {"error after head, POST",                F::Error,          0,   kDefault, "POST",   80,  0,   1,    1,      0,      0,      false,  true,  A::Answer,         502, true},
  {"error after part of a head, POST",      F::Error,          0,   kDefault, "POST",   1,   0,   1,    1,      0,      0,      false,  true,  A::Answer,         502, true},
  {"error mid-body, PUT",                   F::Error,          0,   kDefault, "PUT",    80,  10,  1,    1,      0,      0,      false,  true,  A::Answer,         502, true},
  {"read timeout, GET",                     F::Timeout,        0,   kDefault, "GET",    80,  0,   1,    1,      0,      0,      false,  true,  A::Retry,          504, true},
  {"read timeout, POST",                    F::Timeout,        0,   kDefault, "POST",   80,  0,   1,    1,      0,      0,      false,  true,  A::Answer,         504, true},
  {"read timeout, PUT with body sent",      F::Timeout,        0,   kDefault, "PUT",    80,  100, 1,    1,      0,      0,      false,  true,  A::Answer,         504, true},
  {"read timeout after response started",   F::Timeout,        0,   kDefault, "GET",    80,  0,   1,    1,      0,      0,      true,   true,  A::Abort,          0,   true},
  {"error after response started",          F::Error,          0,   kAll,     "GET",    80,  0,   1,    5,      0,      0,      true,   true,  A::Abort,          0,   true},
  {"invalid response head: never retried",  F::InvalidResponse,0,   kAll,     "GET",    80,  0,   1,    1,      0,      0,      false,  true,  A::Answer,         502, true},
  {"503, configured, GET",                  F::HttpStatus,     503, kAll,     "GET",    80,  0,   1,    1,      0,      0,      false,  true,  A::Retry,          503, true},
  {"503, not configured: relayed",          F::HttpStatus,     503, kDefault, "GET",    80,  0,   1,    1,      0,      0,      false,  true,  A::PassThrough,    503, false},
  {"503, configured, POST: relayed",        F::HttpStatus,     503, kAll,     "POST",   80,  0,   1,    1,      0,      0,      false,  true,  A::PassThrough,    503, true},
  {"503, POST, byte counts missing",        F::HttpStatus,     503, kAll,     "POST",   0,   0,   1,    1,      0,      0,      false,  true,  A::PassThrough,    503, true},
  {"503, configured, tries used up",        F::HttpStatus,     503, kAll,     "GET",    80,  0,   2,    1,      0,      0,      false,  true,  A::PassThrough,    503, true},
  {"500, configured, DELETE",               F::HttpStatus,     500, conf::kRetry500, "DELETE", 80, 0, 1, 1,     0,      0,      false,  true,  A::Retry,          500, true},
  {"502, only 504 configured",              F::HttpStatus,     502, conf::kRetry504, "GET", 80, 0,  1,    1,      0,      0,      false,  true,  A::PassThrough,    502, false},
  {"504, configured, HEAD",                 F::HttpStatus,     504, conf::kRetry504, "HEAD", 80, 0, 1,    1,      0,      0,      false,  true,  A::Retry,          504, true},
  {"429, configured: retried, no failure",  F::HttpStatus,     429, kAll,     "GET",    80,  0,   1,    1,      0,      0,      false,  true,  A::Retry,          429, false},
  {"404 is never a condition",              F::HttpStatus,     404, kAll,     "GET",    80,  0,   1,    1,      0,      0,      false,  true,  A::PassThrough,    404, false},
  {"503 after the body went out",           F::HttpStatus,     503, kAll,     "PUT",    80,  5,   1,    1,      0,      0,      false,  true,  A::PassThrough,    503, true},
  {"503, no server left",                   F::HttpStatus,     503, kAll,     "GET",    80,  0,   1,    1,      0,      0,      false,  false, A::PassThrough,    503, true},
  {"503, retry_timeout passed",             F::HttpStatus,     503, kAll,     "GET",    80,  0,   1,    1,      10,     5,      false,  true,  A::PassThrough,    503, true},
};
// clang-format on

TEST_SUITE("upstream/retry_policy") {

TEST_CASE("the decision table") {
  for (const Row& r : kTable) {
    CAPTURE(std::string(r.what));
    RetryContext c;
    c.failure = r.failure;
    c.http_status = r.http_status;
    c.retry_on = r.retry_on;
    c.idempotent = isIdempotentMethod(r.method);
    c.head_bytes_sent = r.head_sent;
    c.body_bytes_sent = r.body_sent;
    c.tries = r.tries;
    c.retries = r.retries;
    c.elapsed_ms = r.elapsed;
    c.retry_timeout_ms = r.retry_timeout;
    c.response_started = r.response_started;
    c.untried_server_remains = r.untried_left;
    const RetryDecision d = decideRetry(c);
    CHECK(d.action == r.action);
    CHECK(d.status == r.status);
    CHECK(d.server_failed == r.server_failed);
  }
}

TEST_CASE("idempotent methods per RFC 9110") {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) CHECK(isIdempotentMethod(m));
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", ""}) CHECK_FALSE(isIdempotentMethod(m));
}

TEST_CASE("forUpstream copies the upstream's retry settings") {
  conf::UpstreamConfig u;
  u.retries = 3;
  u.retry_on = conf::kRetry503;
  u.retry_timeout = std::chrono::milliseconds(750);
  const RetryContext c = RetryContext::forUpstream(u);
  CHECK(c.retries == 3);
  CHECK(c.retry_on == conf::kRetry503);
  CHECK(c.retry_timeout_ms == 750);
}

TEST_CASE("each failure falls under its condition") {
  CHECK(retryConditionFor(F::ConnectFailed, 0) == conf::kRetryConnectFailure);
  CHECK(retryConditionFor(F::Error, 0) == conf::kRetryConnectFailure);
  CHECK(retryConditionFor(F::ConnectTimeout, 0) == conf::kRetryTimeout);
  CHECK(retryConditionFor(F::Timeout, 0) == conf::kRetryTimeout);
  CHECK(retryConditionFor(F::InvalidResponse, 0) == 0);
  CHECK(retryConditionFor(F::HttpStatus, 429) == conf::kRetry429);
  CHECK(retryConditionFor(F::HttpStatus, 501) == 0);
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::upstream
