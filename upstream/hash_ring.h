// upstream/hash_ring.h — the ketama-style consistent-hash ring of one tier, and the 64-bit hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "upstream/server.h"

namespace edged::upstream {

// FNV-1a over the bytes, then MurmurHash3's fmix64 finalizer so nearby keys land far apart.
uint64_t hash64(std::string_view bytes);

// Points on a 64-bit circle, kPointsPerWeight per unit of weight (weights divided by their gcd
// first), placed by hashing "<address>#<n>": a server's points depend only on its own address,
// so adding or removing a server moves only the keys of that server. Immutable once built; shared
// by the workers.
class HashRing {
 public:
  static constexpr uint32_t kPointsPerWeight = 160;
  struct Point {
    uint64_t hash;
    uint32_t server;  // Server::index
  };

  explicit HashRing(std::span<Server* const> servers);
  // Index into points() of the first point at or after `hash`, wrapping to 0.
  size_t firstAtOrAfter(uint64_t hash) const;
  std::span<const Point> points() const { return points_; }

 private:
  std::vector<Point> points_;  // sorted by hash
};

}  // namespace edged::upstream
