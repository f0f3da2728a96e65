// tests/unit/upstream/consistent_hash_balancer_test.cpp — ring balance, minimal remapping, and
// where an unusable server's keys go.
#include <doctest.h>

#include <charconv>
#include <string>
#include <vector>

#include "upstream_test_support.h"

namespace edged::upstream {
namespace {
using namespace testing;
using conf::BalanceAlgorithm;

constexpr int kKeys = 100000;

std::vector<conf::ServerConfig> fiveServers(std::vector<uint32_t> weights = {1, 1, 1, 1, 1}) {
  std::vector<conf::ServerConfig> v;
  for (size_t i = 0; i < weights.size(); ++i)
    v.push_back(server("10.0.0." + std::to_string(i + 1) + ":8080", weights[i]));
  return v;
}

std::string key(int i) { return "/users/" + std::to_string(i); }

// The server each key maps to, as its address's last digit ("10.0.0.3:8080" -> 3; 0 = none).
// Plain loops and one assertion at the end: 100,000 picks stay fast under the sanitizers.
std::vector<uint8_t> assign(UpstreamPicker& p, const TriedSet& tried = {}, int keys = kKeys) {
  std::vector<uint8_t> out(static_cast<size_t>(keys));
  char k[32] = "/users/";
  int missing = 0;
  for (int i = 0; i < keys; ++i) {
    char* end = std::to_chars(k + 7, k + sizeof k, i).ptr;
    const Server* s = p.pick(tried, std::string_view(k, static_cast<size_t>(end - k)));
    if (!s) ++missing;
    out[i] = s ? static_cast<uint8_t>(s->name()[7] - '0') : 0;
  }
  CHECK(missing == 0);
  return out;
}

uint8_t id(const Server& s) { return static_cast<uint8_t>(s.name()[7] - '0'); }

TEST_SUITE("upstream/hash") {

TEST_CASE("the same key always goes to the same server, in every worker") {
  UpstreamGroup g(upstream(fiveServers(), BalanceAlgorithm::Hash));
  auto p1 = g.makePicker();
  auto p2 = g.makePicker();
  for (int i = 0; i < 100; ++i) {
    Server* s = p1->pick({}, key(i));
    CHECK(p1->pick({}, key(i)) == s);
    CHECK(p2->pick({}, key(i)) == s);
  }
}

TEST_CASE("equal weights share the keys evenly") {
  UpstreamGroup g(upstream(fiveServers(), BalanceAlgorithm::Hash));
  auto p = g.makePicker();
  int count[6] = {};
  for (uint8_t n : assign(*p)) count[n]++;
  CHECK(count[0] == 0);
  for (int i = 1; i <= 5; ++i) {
    INFO("server " << i << " got " << count[i]);
    CHECK(count[i] > kKeys / 5 * 90 / 100);
    CHECK(count[i] < kKeys / 5 * 110 / 100);
  }
}

TEST_CASE("keys are shared in proportion to weight") {
  UpstreamGroup g(upstream(fiveServers({1, 2, 3, 2, 2}), BalanceAlgorithm::Hash));
  auto p = g.makePicker();
  int count[6] = {};
  for (uint8_t n : assign(*p)) count[n]++;
  for (size_t i = 0; i < 5; ++i) {
    const auto& s = at(g, i);
    const double expected = double(kKeys) * s.weight() / 10;
    INFO(s.name() << " got " << count[id(s)] << ", expected about " << expected);
    CHECK(count[id(s)] > expected * 0.9);
    CHECK(count[id(s)] < expected * 1.1);
  }
}

TEST_CASE("removing one of five servers moves only that server's keys") {
  UpstreamGroup before(upstream(fiveServers(), BalanceAlgorithm::Hash));
  const auto a = assign(*before.makePicker());
  for (size_t removed = 0; removed < 5; ++removed) {
    CAPTURE(removed);
    auto four = fiveServers();
    four.erase(four.begin() + static_cast<long>(removed));
    UpstreamGroup after(upstream(four, BalanceAlgorithm::Hash));
    const auto b = assign(*after.makePicker());
    const uint8_t gone = id(at(before, removed));
    int moved = 0, moved_from_others = 0;
    for (int i = 0; i < kKeys; ++i) {
      if (a[i] == b[i]) continue;
      ++moved;
      if (a[i] != gone) ++moved_from_others;
    }
    INFO("removing server " << int(gone) << " moved " << moved << " keys");
    CHECK(moved <= kKeys / 5 + kKeys * 2 / 100);
    CHECK(moved_from_others == 0);
  }
}

TEST_CASE("an unusable server's keys go to the next server on the ring, and only those move") {
  UpstreamGroup g(upstream(fiveServers(), BalanceAlgorithm::Hash));
  auto p = g.makePicker();
  constexpr int n = 20000;
  const auto a = assign(*p, {}, n);
  at(g, 2).setHealthy(false, 0);
  const auto b = assign(*p, {}, n);
  at(g, 2).setHealthy(true, 0);
  const uint8_t out = id(at(g, 2));
  int others_moved = 0, stayed = 0, heirs[6] = {};
  for (int i = 0; i < n; ++i) {
    if (a[i] != out) {
      others_moved += a[i] != b[i];
    } else {
      stayed += b[i] == out;
      heirs[b[i]]++;
    }
  }
  CHECK(others_moved == 0);
  CHECK(stayed == 0);
  // Its points are scattered over the ring, so its keys spread over the others.
  for (int i = 1; i <= 5; ++i)
    if (i != out) CHECK(heirs[i] > 0);

  // Trying a key's server and finding it tried lands on the same next server as it being down.
  TriedSet tried;
  tried.insert(2);
  CHECK(assign(*p, tried, n) == b);
  // Draining: the same.
  at(g, 2).setDraining(true);
  CHECK(assign(*p, {}, n) == b);
  at(g, 2).setDraining(false);
  CHECK(assign(*p, {}, n) == a);
}

TEST_CASE("every server tried: AllTried") {
  UpstreamGroup g(upstream(fiveServers(), BalanceAlgorithm::Hash));
  auto p = g.makePicker();
  TriedSet tried;
  for (size_t i = 0; i < 5; ++i) tried.insert(i);
  CHECK(p->choose(tried, "k").why == PickFailure::AllTried);
}

TEST_CASE("backups have their own ring, used only when no primary can be") {
  auto servers = fiveServers();
  servers[3].backup = servers[4].backup = true;
  UpstreamGroup g(upstream(servers, BalanceAlgorithm::Hash));
  auto p = g.makePicker();
  for (int i = 0; i < 200; ++i) CHECK_FALSE(p->pick({}, key(i))->config.backup);
  for (size_t i = 0; i < 3; ++i) at(g, i).setDraining(true);
  int count[6] = {};
  for (int i = 0; i < 2000; ++i) count[id(*p->pick({}, key(i)))]++;
  CHECK(count[1] + count[2] + count[3] == 0);
  CHECK(count[4] > 0);
  CHECK(count[5] > 0);
}

TEST_CASE("hash64 is stable and spreads nearby inputs") {
  CHECK(hash64("") == hash64(""));
  CHECK(hash64("a") != hash64("b"));
  const uint64_t diff = hash64("key1") ^ hash64("key2");
  CHECK((diff >> 32) != 0);
}

}  // TEST_SUITE
}  // namespace
}  // namespace edged::upstream
