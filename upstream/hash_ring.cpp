// upstream/hash_ring.cpp — ring construction and lookup.
#include "upstream/hash_ring.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace edged::upstream {

uint64_t hash64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

HashRing::HashRing(std::span<Server* const> servers) {
  uint32_t g = 0;
  for (const Server* s : servers) g = std::gcd(g, s->weight());
  if (g == 0) g = 1;
  size_t total = 0;
  for (const Server* s : servers) total += size_t{s->weight() / g} * kPointsPerWeight;
  points_.reserve(total);
  std::string label;
  for (const Server* s : servers) {
    const uint32_t n = s->weight() / g * kPointsPerWeight;
    for (uint32_t i = 0; i < n; ++i) {
      label.assign(s->name()).append("#").append(std::to_string(i));
      points_.push_back({hash64(label), static_cast<uint32_t>(s->index)});
    }
  }
  // Equal hashes (vanishingly rare) are ordered by server so every worker builds the same ring.
  std::sort(points_.begin(), points_.end(), [](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.server < b.server;
  });
}

size_t HashRing::firstAtOrAfter(uint64_t hash) const {
  auto it = std::lower_bound(points_.begin(), points_.end(), hash,
                             [](const Point& p, uint64_t h) { return p.hash < h; });
  return it == points_.end() ? 0 : static_cast<size_t>(it - points_.begin());
}

}  // namespace edged::upstream
