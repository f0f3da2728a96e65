// upstream/server.cpp — passive health, active health flag, slow start. Every field is its own
// atomic: a race between two workers can at worst shift a count by one, never corrupt state.
#include "upstream/server.h"

#include <algorithm>

namespace edged::upstream {
namespace {

constexpr uint64_t kCountBits = 24;
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
// Window starts keep the low 40 bits of the time (34 years of ms): differences are taken modulo
// 2^40, so any clock epoch works.
constexpr uint64_t kTimeMask = (uint64_t{1} << (64 - kCountBits)) - 1;

uint64_t encodeUnavailable(uint64_t until_ms, bool probing) { return ((until_ms + 1) << 1) | (probing ? 1 : 0); }
uint64_t untilOf(uint64_t u) { return (u >> 1) - 1; }
bool probingOf(uint64_t u) { return (u & 1) != 0; }

}  // namespace

const char* stateName(ServerState state) {
  switch (state) {
    case ServerState::Up: return "up";
    case ServerState::Down: return "down";
    case ServerState::Draining: return "draining";
    case ServerState::Unhealthy: return "unhealthy";
  }
  return "?";
}

namespace {
std::shared_ptr<ServerRuntime> runtimeFor(const conf::HealthConfig& health, std::shared_ptr<ServerRuntime> carried) {
  if (!carried) return std::make_shared<ServerRuntime>(!health.check || health.check->initially_healthy);
  // Without active checks nothing would ever make a carried unhealthy flag healthy again.
  if (!health.check) {
    carried->healthy.store(true, std::memory_order_relaxed);
    carried->ever_healthy.store(true, std::memory_order_relaxed);
  }
  return carried;
}
}  // namespace

Server::Server(const conf::ServerConfig& c, size_t idx, const conf::HealthConfig& health,
               std::shared_ptr<ServerRuntime> carried)
    : config(c),
      index(idx),
      rt_(runtimeFor(health, std::move(carried))),
      active(rt_->active),
      requests(rt_->requests),
      failures(rt_->failures),
      max_fails_(health.max_fails),
      fail_timeout_ms_(static_cast<uint64_t>(health.fail_timeout.count())),
      fail_window_(rt_->fail_window),
      unavailable_(rt_->unavailable),
      recovered_at_ms_(rt_->recovered_at_ms) {}

bool Server::recordFailure(uint64_t now_ms) {
  failures.fetch_add(1, std::memory_order_relaxed);
  if (max_fails_ == 0) return false;
  const uint64_t u = unavailable_.load(std::memory_order_relaxed);
  if (u != 0) {
    // Still held out and no probe running: a straggler that started before the mark; it says
    // nothing new. Otherwise the probe (or a request let through by an expired hold) failed.
    if (!probingOf(u) && now_ms < untilOf(u)) return false;
    unavailable_.store(encodeUnavailable(now_ms + fail_timeout_ms_, false), std::memory_order_relaxed);
    return true;
  }
  uint64_t w = fail_window_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    const uint64_t start = w >> kCountBits;
    const uint64_t count = w & kCountMask;
    const uint64_t elapsed = ((now_ms & kTimeMask) - start) & kTimeMask;
    // The window opens at its first failure; failures older than fail_timeout do not count.
    if (count == 0 || elapsed >= fail_timeout_ms_)
      next = ((now_ms & kTimeMask) << kCountBits) | 1;
    else
      next = (start << kCountBits) | std::min(count + 1, kCountMask);
  } while (!fail_window_.compare_exchange_weak(w, next, std::memory_order_relaxed));
  if ((next & kCountMask) < max_fails_) return false;
  fail_window_.store(0, std::memory_order_relaxed);
  unavailable_.store(encodeUnavailable(now_ms + fail_timeout_ms_, false), std::memory_order_relaxed);
  return true;
}

bool Server::recordSuccess(uint64_t now_ms) {
  uint64_t u = unavailable_.load(std::memory_order_relaxed);
  if (u == 0) return false;
  // A success that began before the mark does not end it; a probe's (or one after the hold) does.
  if (!probingOf(u) && now_ms < untilOf(u)) return false;
  if (!unavailable_.compare_exchange_strong(u, 0, std::memory_order_relaxed)) return false;
  fail_window_.store(0, std::memory_order_relaxed);
  recovered_at_ms_.store(now_ms, std::memory_order_relaxed);
  return true;
}

bool Server::passivelyAvailable(uint64_t now_ms) const {
  const uint64_t u = unavailable_.load(std::memory_order_relaxed);
  return u == 0 || now_ms >= untilOf(u);
}

void Server::notePicked(uint64_t now_ms) {
  uint64_t u = unavailable_.load(std::memory_order_relaxed);
  if (u == 0 || now_ms < untilOf(u)) return;
  // Losing this race means another worker claimed the probe; this request goes anyway.
  unavailable_.compare_exchange_strong(u, encodeUnavailable(now_ms + fail_timeout_ms_, true),
                                       std::memory_order_relaxed);
}

void Server::notePanicPicked() {
  uint64_t u = unavailable_.load(std::memory_order_relaxed);
  if (u == 0 || probingOf(u)) return;
  // Keeps the hold's end; only marks this try as the probe that may end it early.
  unavailable_.compare_exchange_strong(u, encodeUnavailable(untilOf(u), true), std::memory_order_relaxed);
}

bool Server::setHealthy(bool healthy, uint64_t now_ms) {
  if (healthy) rt_->ever_healthy.store(true, std::memory_order_relaxed);
  const bool was = rt_->healthy.exchange(healthy, std::memory_order_relaxed);
  if (was == healthy) return false;
  if (healthy) recovered_at_ms_.store(now_ms, std::memory_order_relaxed);
  return true;
}

bool Server::available(uint64_t now_ms) const {
  return !config.down && healthy() && !draining() && passivelyAvailable(now_ms);
}

ServerState Server::state(uint64_t now_ms) const {
  if (config.down) return ServerState::Down;
  if (draining()) return ServerState::Draining;
  if (!healthy() || !passivelyAvailable(now_ms)) return ServerState::Unhealthy;
  return ServerState::Up;
}

uint32_t Server::effectiveWeight(uint64_t now_ms) const {
  const uint32_t w = weight();
  const uint64_t ramp = static_cast<uint64_t>(config.slow_start.count());
  const uint64_t since = recovered_at_ms_.load(std::memory_order_relaxed);
  if (ramp == 0 || since == kNever || w <= 1) return w;
  const uint64_t elapsed = now_ms > since ? now_ms - since : 0;
  if (elapsed >= ramp) return w;
  return 1 + static_cast<uint32_t>(uint64_t{w - 1} * elapsed / ramp);
}

}  // namespace edged::upstream
