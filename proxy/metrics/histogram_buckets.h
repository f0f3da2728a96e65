// proxy/metrics/histogram_buckets.h — the one bucket layout every latency histogram uses:
// 1 ms .. 30 s, bounds kept in nanoseconds so an observation is placed without division.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edged::metrics {

// Upper bounds (inclusive, Prometheus `le`) in nanoseconds.
inline constexpr std::array<uint64_t, 14> kBucketBoundsNs = {
    1'000'000,     2'500'000,     5'000'000,      10'000'000,     25'000'000,
    50'000'000,    100'000'000,   250'000'000,    500'000'000,    1'000'000'000,
    2'500'000'000, 5'000'000'000, 10'000'000'000, 30'000'000'000};
// The same bounds as `le` label values, written once so every scrape prints identical text.
inline constexpr std::array<std::string_view, 15> kBucketLabels = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
    "0.5",   "1",      "2.5",   "5",    "10",    "30",   "+Inf"};
// Finite buckets plus +Inf.
inline constexpr size_t kBucketCount = kBucketBoundsNs.size() + 1;

// Index of the first bucket whose bound is >= ns; kBucketCount - 1 (+Inf) past the last bound.
// Most observations are fast, so a forward scan usually stops within a few comparisons.
inline size_t bucketIndex(uint64_t ns) {
  size_t i = 0;
  while (i < kBucketBoundsNs.size() && ns > kBucketBoundsNs[i]) ++i;
  return i;
}

}  // namespace edged::metrics
