// proxy/health_checker.h — active health checks: one checker for the whole process, on the main
// thread's uv loop, probing every server of every upstream that configures `health.check` with a
// connection-per-check `GET <path>` and feeding the verdicts to upstream::HealthState / Server.
//
// libuv lifetime (the rules atop proxy/upstream_connection.h): each server's timers live in a
// heap-allocated per-server record, each check's Transport in a heap-allocated probe; both are
// freed only in their last close callback, never from inside another callback of theirs. After
// stop() nothing is active or open once the loop has run the close callbacks.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "upstream/upstream.h"

namespace edged::net::tls {
class TlsClientContext;
}

namespace edged::proxy {

// Runs on the main thread's uv loop. One instance for the process; checks every server of every
// upstream whose config has health.check (servers marked `down: true` are skipped). Every method
// must be called on the loop's thread. Servers are shared with the workers: the checker only
// calls Server::setHealthy, which is atomic.
class HealthChecker {
 public:
  // `groups` must outlive the checker's handles (i.e. until the loop ran stop()'s close
  // callbacks).
  // `tls`: parallel to `groups` (may be shorter): the client TLS context of an https upstream,
  // whose checks then run over TLS with its verification and SNI.
  HealthChecker(uv_loop_t* loop, std::vector<upstream::UpstreamGroup*> groups,
                std::vector<std::shared_ptr<net::tls::TlsClientContext>> tls = {});
  // Calls stop() if it was not called. The per-server records free themselves in their close
  // callbacks, so destroying the checker before the loop ran them is safe.
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Makes each server's active-health flag agree with its HealthState (`initially: unhealthy`
  // servers are out until `rise` checks pass), then arms every server's first check at a random
  // point within its interval. Call once.
  void start();
  // Stops checking: cancels running checks (connecting or reading) and closes every handle; the
  // loop then ends once the close callbacks ran. Idempotent; no state change is logged after it.
  void stop();
  // For the admin API: the last check result of `s` ("ok 200", "timeout", "refused",
  // "status 503", "closed", "bad response", "error <libuv name>"), or "" if none yet, if `s` is
  // not checked, or after stop().
  std::string lastResult(const upstream::Server& s) const;
  // Number of servers being checked.
  size_t checkedServers() const { return targets_.size(); }

 private:
  struct Target;  // one checked server: its HealthState, interval and timeout timers
  struct Probe;   // one check in flight: its socket and request
  friend struct Target;
  friend struct Probe;

  uint64_t jitteredInterval(uint64_t interval_ms);  // interval ± 10%
  uint64_t firstDelay(uint64_t interval_ms);        // uniform in [0, interval)

  uv_loop_t* loop_;
  std::vector<upstream::UpstreamGroup*> groups_;
  std::vector<std::shared_ptr<net::tls::TlsClientContext>> tls_;
  std::vector<Target*> targets_;  // each frees itself once stopped and closed
  std::unordered_map<const upstream::Server*, Target*> by_server_;
  std::mt19937_64 rng_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace edged::proxy
