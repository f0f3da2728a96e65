// upstream/retry_policy.cpp — decideRetry and its helpers.
#include "upstream/retry_policy.h"

namespace edged::upstream {

RetryContext RetryContext::forUpstream(const conf::UpstreamConfig& u) {
  RetryContext c;
  c.retry_on = u.retry_on;
  c.retries = u.retries;
  c.retry_timeout_ms = static_cast<uint64_t>(u.retry_timeout.count());
  return c;
}

uint32_t retryConditionFor(FailureKind failure, int http_status) {
  switch (failure) {
    case FailureKind::ConnectFailed:
    case FailureKind::Error: return conf::kRetryConnectFailure;
    case FailureKind::ConnectTimeout:
    case FailureKind::Timeout: return conf::kRetryTimeout;
    case FailureKind::InvalidResponse: return 0;
    case FailureKind::HttpStatus:
      switch (http_status) {
        case 500: return conf::kRetry500;
        case 502: return conf::kRetry502;
        case 503: return conf::kRetry503;
        case 504: return conf::kRetry504;
        case 429: return conf::kRetry429;
        default: return 0;
      }
  }
  return 0;
}

bool isIdempotentMethod(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

RetryDecision decideRetry(const RetryContext& c) {
  const uint32_t condition = retryConditionFor(c.failure, c.http_status);
  const bool configured = condition != 0 && (c.retry_on & condition) != 0;

  RetryDecision d;
  if (c.failure == FailureKind::HttpStatus) {
    d.action = RetryAction::PassThrough;
    d.status = c.http_status;
    d.server_failed = configured && condition != conf::kRetry429;
  } else {
    d.action = RetryAction::Answer;
    d.status = c.failure == FailureKind::ConnectTimeout || c.failure == FailureKind::Timeout ? 504 : 502;
    d.server_failed = true;
  }
  if (c.response_started) {
    d.action = RetryAction::Abort;
    d.status = 0;
    return d;
  }
  if (!configured) return d;
  // A response head proves the request head went out, whatever the byte counts say.
  const bool sent = c.head_bytes_sent > 0 || c.body_bytes_sent > 0 || c.failure == FailureKind::HttpStatus;
  if (c.body_bytes_sent > 0) return d;
  if (sent && !c.idempotent) return d;
  if (c.tries >= uint64_t{c.retries} + 1) return d;
  if (c.retry_timeout_ms != 0 && c.elapsed_ms >= c.retry_timeout_ms) return d;
  if (!c.untried_server_remains) return d;
  d.action = RetryAction::Retry;
  return d;
}

}  // namespace edged::upstream
