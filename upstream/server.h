// upstream/server.h — one origin server and its shared, lock-free state: in-flight count, active
// health, passive health (max_fails / fail_timeout), draining, and the slow-start ramp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "conf/config.h"

namespace edged::upstream {

// What the admin API shows for a server.
enum class ServerState {
  Up,
  Down,       // `down: true` in the configuration
  Draining,   // setDraining(true): no new requests
  Unhealthy,  // the active check says so, or passive health marked it unavailable
};
const char* stateName(ServerState state);

// What a server knows of itself at run time, apart from its configuration: counts, health,
// drain. A reload that keeps a server (same upstream, same address) hands this block to the new
// Server object, so health, drain and in-flight counts carry over, and requests that started on
// the old configuration still count against the same server.
struct ServerRuntime {
  static constexpr uint64_t kNever = ~uint64_t{0};
  explicit ServerRuntime(bool healthy) : healthy(healthy), ever_healthy(healthy) {}
  std::atomic<int32_t> active{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<bool> healthy;
  // False only for `initially: unhealthy` until its first passed check: such a server is never
  // a panic candidate (it was never known to work).
  std::atomic<bool> ever_healthy;
  std::atomic<bool> draining{false};
  // Failures of the current window: (start_ms mod 2^40) << 24 | count. Zero when none.
  std::atomic<uint64_t> fail_window{0};
  // Unavailability: 0 = available; else (until_ms + 1) << 1 | probe_claimed.
  std::atomic<uint64_t> unavailable{0};
  std::atomic<uint64_t> recovered_at_ms{kNever};
};

// One origin server, shared by every worker. Configuration is immutable; everything that changes
// is an atomic (in its ServerRuntime), so any worker (or the health checker thread) may call any
// method. Times are milliseconds from the group's Clock.
struct Server {
  // `carried`: the runtime of the same server in the configuration being replaced (reload), or
  // null for a new server.
  Server(const conf::ServerConfig& c, size_t idx, const conf::HealthConfig& health = {},
         std::shared_ptr<ServerRuntime> carried = nullptr);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const conf::ServerConfig config;
  const size_t index;  // position in its group's server list
 private:
  std::shared_ptr<ServerRuntime> rt_;
 public:
  std::atomic<int32_t>& active;      // requests in flight on this server, all workers
  std::atomic<uint64_t>& requests;   // requests sent, all workers
  std::atomic<uint64_t>& failures;   // failed tries (recordFailure counts them)
  const std::shared_ptr<ServerRuntime>& runtime() const { return rt_; }

  const std::string& name() const { return config.address.text; }
  uint32_t weight() const { return config.weight; }

  // ---- passive health (nginx max_fails / fail_timeout) ----
  // A failed try. max_fails failures within fail_timeout make the server unavailable for
  // fail_timeout; after that one request probes it, and a failure of that probe makes it
  // unavailable again at once. Returns true when this call made the server unavailable.
  bool recordFailure(uint64_t now_ms);
  // A successful try. Returns true when it ends a probe, i.e. the server is available again
  // (slow start begins).
  bool recordSuccess(uint64_t now_ms);
  // False while passive health holds the server out (always true when max_fails is 0).
  bool passivelyAvailable(uint64_t now_ms) const;
  // Called by the picker when it chose this server: if the server is due for its probe, the
  // probe is claimed, so other requests keep away until it succeeds or fail_timeout passes.
  void notePicked(uint64_t now_ms);
  // Called by the picker when it chose this server although health holds it out (panic): a
  // passively failed server's try is its probe, so a success brings it back at once and a
  // failure holds it out for another fail_timeout.
  void notePanicPicked();

  // ---- active health (set by the health checker) ----
  bool healthy() const { return rt_->healthy.load(std::memory_order_relaxed); }
  bool everHealthy() const { return rt_->ever_healthy.load(std::memory_order_relaxed); }
  // Returns true when the flag changed; unhealthy -> healthy starts slow start.
  bool setHealthy(bool healthy, uint64_t now_ms);

  // ---- drain ----
  bool draining() const { return rt_->draining.load(std::memory_order_relaxed); }
  void setDraining(bool draining) { rt_->draining.store(draining, std::memory_order_relaxed); }

  // ---- derived ----
  bool atMaxConns() const {
    return config.max_conns != 0 &&
           active.load(std::memory_order_relaxed) >= static_cast<int32_t>(config.max_conns);
  }
  // May get new requests now, capacity aside: not down, healthy, not draining, passively available.
  bool available(uint64_t now_ms) const;
  ServerState state(uint64_t now_ms) const;
  // The weight balancers use: ramps linearly from 1 to weight() over slow_start after the server
  // recovers (active check or passive probe); weight() otherwise, including at start (nginx).
  uint32_t effectiveWeight(uint64_t now_ms) const;

 private:
  static constexpr uint64_t kNever = ServerRuntime::kNever;
  const uint32_t max_fails_;
  const uint64_t fail_timeout_ms_;
  std::atomic<uint64_t>& fail_window_;
  std::atomic<uint64_t>& unavailable_;
  std::atomic<uint64_t>& recovered_at_ms_;
};

}  // namespace edged::upstream
