// upstream/retry_policy.h — the one function that decides whether a failed try is retried on
// another server, and what the client gets otherwise.
#pragma once

#include <cstdint>
#include <string_view>

#include "conf/config.h"

namespace edged::upstream {

// How a try failed.
enum class FailureKind {
  ConnectFailed,    // connect refused / unreachable / reset during connect: nothing was sent
  ConnectTimeout,   // no connection within the connect timeout: nothing was sent
  Error,            // the connection failed while sending the request or before a response head
  Timeout,          // send or read timeout before a response head
  InvalidResponse,  // the origin's response head did not parse
  HttpStatus,       // a complete response head with `http_status` (500, 502, 503, 504, 429, ...)
};

struct RetryContext {
  FailureKind failure = FailureKind::ConnectFailed;
  int http_status = 0;              // for FailureKind::HttpStatus
  uint32_t retry_on = 0;            // conf::RetryOn mask of the upstream
  uint32_t tries = 1;               // tries made so far, the failed one included
  uint32_t retries = 0;             // extra tries allowed (UpstreamConfig::retries)
  uint64_t elapsed_ms = 0;          // since the first try began
  uint64_t retry_timeout_ms = 0;    // 0 = no limit
  bool idempotent = true;           // isIdempotentMethod(method)
  uint64_t head_bytes_sent = 0;     // bytes of the request head written to the origin on this try
  uint64_t body_bytes_sent = 0;     // bytes of the request body written to the origin on this try
  bool response_started = false;    // any response byte already relayed to the client
  bool untried_server_remains = false;  // UpstreamPicker::anyUntriedAvailable(tried)

  // retry_on, retries and retry_timeout_ms from the upstream's configuration.
  static RetryContext forUpstream(const conf::UpstreamConfig& upstream);
};

enum class RetryAction {
  Retry,        // pick another server (choose()) and try again
  Answer,       // answer the client with `status` (502 or 504)
  PassThrough,  // relay the origin's response as it is
  Abort,        // the response already started: close the client connection (truncate)
};

struct RetryDecision {
  RetryAction action = RetryAction::Answer;
  // Answer: the status to send. Retry: the status to send if no server can be chosen after all.
  // PassThrough: the origin's status. Abort: 0.
  int status = 502;
  // Whether the failure counts against the server's passive health (Server::recordFailure):
  // transport failures always; an HTTP status only when it is a configured 500/502/503/504
  // condition (nginx: 429, like 403/404, is never a server failure).
  bool server_failed = false;
};

// Retry only on a configured condition, while tries remain, retry_timeout has not passed and an
// untried server remains; never once a response byte reached the client, never once a body byte
// was sent (the body is not kept), never for a non-idempotent method once any byte was sent
// (RFC 9110 §9.2.2; nginx proxy_next_upstream; Pingora). A connect failure sent nothing, so it is
// always retryable when configured.
RetryDecision decideRetry(const RetryContext& context);

// The conf::RetryOn bit a failure falls under; 0 when no condition covers it.
uint32_t retryConditionFor(FailureKind failure, int http_status);

// GET, HEAD, OPTIONS, TRACE, PUT, DELETE (RFC 9110 §9.2.2); method names are case-sensitive.
bool isIdempotentMethod(std::string_view method);

}  // namespace edged::upstream
