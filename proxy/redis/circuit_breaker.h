// proxy/redis/circuit_breaker.h — CircuitBreaker: closed / open / half-open around a dependency
// (Redis): after `threshold` consecutive failures nothing is tried for `cooldown_ms`, then one
// probe goes out; its success closes the breaker, its failure opens it again. Time is passed in.
#pragma once

#include <cstdint>

namespace edged::redis {

class CircuitBreaker {
 public:
  enum class State : uint8_t { Closed, Open, HalfOpen };

  CircuitBreaker(uint32_t threshold, uint64_t cooldown_ms) : threshold_(threshold ? threshold : 1), cooldown_ms_(cooldown_ms) {}

  // May a call go out now? In HalfOpen exactly one call (the probe) until it reports.
  bool allow(uint64_t now_ms) {
    switch (state_) {
      case State::Closed: return true;
      case State::Open:
        if (now_ms < open_until_ms_) return false;
        state_ = State::HalfOpen;
        probe_out_ = true;
        return true;
      case State::HalfOpen:
        if (probe_out_) return false;
        probe_out_ = true;
        return true;
    }
    return false;
  }
  void onSuccess() {
    state_ = State::Closed;
    failures_ = 0;
    probe_out_ = false;
  }
  // True when this failure opened a closed breaker (a failed probe re-opens it: false).
  bool onFailure(uint64_t now_ms) {
    if (state_ == State::Closed && ++failures_ < threshold_) return false;
    const bool opened = state_ == State::Closed;
    if (state_ != State::Open) ++opens_;
    state_ = State::Open;
    open_until_ms_ = now_ms + cooldown_ms_;
    probe_out_ = false;
    failures_ = 0;
    return opened;
  }
  State state() const { return state_; }
  uint64_t opens() const { return opens_; }  // moves to Open so far (failed probes included)

 private:
  uint32_t threshold_;
  uint64_t cooldown_ms_;
  State state_ = State::Closed;
  uint32_t failures_ = 0;
  uint64_t open_until_ms_ = 0;
  bool probe_out_ = false;
  uint64_t opens_ = 0;
};

}  // namespace edged::redis
