// tools/bench/cache_eviction_bench.cpp — two figures for edged's cache store (built by CMake, not
// run by ctest):
//  (a) hit ratio of the store's S3-FIFO against a plain LRU with the same byte budget, on a
//      Zipf(0.9) trace of 1 M requests over 100 k keys, the budget being 10% of the working set;
//  (b) index overhead: bytes per entry beyond key + headers + body, after inserting 1 M small
//      entries (heap in use from mallinfo2(), and the RSS delta).
// usage: cache_eviction_bench [requests keys zipf_s budget_fraction]
#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/cache.h"

using namespace edged::cache;

namespace {

std::vector<uint32_t> zipfTrace(size_t requests, size_t keys, double s, uint64_t seed) {
  std::vector<double> cdf(keys);
  double sum = 0;
  for (size_t i = 0; i < keys; ++i) cdf[i] = (sum += 1.0 / std::pow(static_cast<double>(i + 1), s));
  for (double& c : cdf) c /= sum;
  // Ranks are shuffled over key ids so that popularity is not correlated with key order / shard.
  std::vector<uint32_t> id(keys);
  for (size_t i = 0; i < keys; ++i) id[i] = static_cast<uint32_t>(i);
  std::mt19937_64 rng(seed);
  std::shuffle(id.begin(), id.end(), rng);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<uint32_t> trace(requests);
  for (size_t r = 0; r < requests; ++r) {
    const size_t rank = static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    trace[r] = id[std::min(rank, keys - 1)];
  }
  return trace;
}

std::string keyOf(uint32_t id) { return "http://bench.example/objects/" + std::to_string(id); }

EntryBuilder entry(size_t body_size) {
  CacheEntry::Parts p;
  p.head = makeStoredHead(200, std::vector<FieldView>{{"Content-Type", "application/json"},
                                                      {"Cache-Control", "max-age=3600"}});
  p.facts.freshness_lifetime = 3600;
  EntryBuilder b(std::move(p), 1 << 20);
  b.append(std::string(body_size, 'x'));
  b.finish();
  return b;
}

// Plain LRU by count of equal-cost objects: the baseline.
double lruHitRatio(const std::vector<uint32_t>& trace, size_t capacity) {
  std::list<uint32_t> order;
  std::unordered_map<uint32_t, std::list<uint32_t>::iterator> where;
  size_t hits = 0;
  for (uint32_t k : trace) {
    auto it = where.find(k);
    if (it != where.end()) {
      ++hits;
      order.splice(order.begin(), order, it->second);
      continue;
    }
    order.push_front(k);
    where[k] = order.begin();
    if (order.size() > capacity) {
      where.erase(order.back());
      order.pop_back();
    }
  }
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

double storeHitRatio(const std::vector<uint32_t>& trace, uint64_t budget, size_t shards) {
  StoreConfig c;
  c.budget_bytes = budget;
  c.shards = shards;
  CacheStore store(c);
  KeyOptions o;
  size_t hits = 0;
  for (uint32_t k : trace) {
    const std::string key = keyOf(k);
    CacheStore::Begin b = store.lookupOrFill(key, {}, o, nullptr);
    if (b.kind == CacheStore::Begin::Kind::Hit) ++hits;
    else if (b.permit) b.permit.commit(entry(200));
  }
  const StoreStats st = store.stats();
  std::printf("    [store, %zu shards: %llu keys resident, %llu evictions, %llu bytes used of %llu]\n", shards,
              static_cast<unsigned long long>(st.keys), static_cast<unsigned long long>(st.evictions),
              static_cast<unsigned long long>(st.used_bytes), static_cast<unsigned long long>(st.budget_bytes));
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

long rssKb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t requests = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000000;
  const size_t keys = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100000;
  const double s = argc > 3 ? std::strtod(argv[3], nullptr) : 0.9;
  const double fraction = argc > 4 ? std::strtod(argv[4], nullptr) : 0.10;

  // (a) The cost of one entry as the store accounts it sets both caches' capacity.
  uint64_t per_entry = 0;
  {
    CacheStore probe(StoreConfig{});
    CacheStore::Begin b = probe.beginFill(keyOf(12345), nullptr);
    b.permit.commit(entry(200));
    per_entry = probe.stats().used_bytes;
  }
  const uint64_t budget = static_cast<uint64_t>(static_cast<double>(keys * per_entry) * fraction);
  const std::vector<uint32_t> trace = zipfTrace(requests, keys, s, 42);
  const double lru = lruHitRatio(trace, budget / per_entry);
  const double s3_64 = storeHitRatio(trace, budget, 64);
  const double s3_1 = storeHitRatio(trace, budget, 1);
  std::printf("(a) Zipf(%.2f), %zu requests over %zu keys, budget %.0f%% of the working set (%llu bytes, %llu objects)\n",
              s, requests, keys, fraction * 100, static_cast<unsigned long long>(budget),
              static_cast<unsigned long long>(budget / per_entry));
  std::printf("    LRU                    hit ratio %.4f\n", lru);
  std::printf("    S3-FIFO store, 64 shards hit ratio %.4f\n", s3_64);
  std::printf("    S3-FIFO store, 1 shard   hit ratio %.4f\n", s3_1);

  // (b) Index overhead.
  constexpr size_t kEntries = 1000000;
  malloc_trim(0);
  const size_t heap0 = mallinfo2().uordblks;
  const long rss0 = rssKb();
  uint64_t payload = 0;
  {
    StoreConfig c;
    c.budget_bytes = 1ull << 40;
    CacheStore store(c);
    for (size_t i = 0; i < kEntries; ++i) {
      const std::string key = "http://bench.example/o/" + std::to_string(i);
      EntryBuilder b = entry(64);
      CacheStore::Begin begin = store.beginFill(key, nullptr);
      begin.permit.commit(std::move(b));
    }
    // key + header blob + body bytes, the part that is not index overhead.
    KeyOptions o;
    for (size_t i = 0; i < kEntries; ++i) {
      const std::string key = "http://bench.example/o/" + std::to_string(i);
      EntryRef e = store.lookup(key, {}, o);
      payload += key.size() + e->head().blob().size() + e->bodySize();
    }
    const size_t heap1 = mallinfo2().uordblks;
    const long rss1 = rssKb();
    const StoreStats st = store.stats();
    std::printf("(b) %zu entries: payload (key+headers+body) %.1f bytes/entry\n", kEntries,
                static_cast<double>(payload) / kEntries);
    std::printf("    heap in use (mallinfo2): %.1f bytes/entry -> overhead %.1f bytes/entry\n",
                static_cast<double>(heap1 - heap0) / kEntries,
                (static_cast<double>(heap1 - heap0) - static_cast<double>(payload)) / kEntries);
    std::printf("    RSS delta: %.1f bytes/entry -> overhead %.1f bytes/entry\n",
                static_cast<double>(rss1 - rss0) * 1024 / kEntries,
                (static_cast<double>(rss1 - rss0) * 1024 - static_cast<double>(payload)) / kEntries);
    std::printf("    the store's own accounting: %.1f bytes/entry (used_bytes %llu)\n",
                static_cast<double>(st.used_bytes) / kEntries, static_cast<unsigned long long>(st.used_bytes));
  }
  return 0;
}
