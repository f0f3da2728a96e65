// upstream/rng.h — the randomness of the upstream module, injected so tests assert exact picks.
#pragma once

#include <cstdint>

namespace edged::upstream {

// A source of uniformly distributed 64-bit values. One per picker (per worker): no locking.
class Rng {
 public:
  virtual ~Rng() = default;
  virtual uint64_t next() = 0;
};

// SplitMix64 (Steele, Lea, Flood 2014): small, fast, good enough to spread load.
class SplitMix64 final : public Rng {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() override;

 private:
  uint64_t state_;
};

}  // namespace edged::upstream
