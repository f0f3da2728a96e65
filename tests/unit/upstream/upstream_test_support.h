// tests/unit/upstream/upstream_test_support.h — a manual clock, a scripted rng, config builders.
#pragma once

#include <doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "upstream/upstream.h"

namespace edged::upstream::testing {

struct ManualClock final : Clock {
  uint64_t now = 0;
  uint64_t nowMs() const override { return now; }
};

// Returns the scripted values in order; running out is a test failure.
struct ScriptedRng final : Rng {
  explicit ScriptedRng(std::vector<uint64_t> v) : values(std::move(v)) {}
  uint64_t next() override {
    REQUIRE_MESSAGE(pos < values.size(), "rng drawn more often than scripted");
    return values[pos++];
  }
  std::vector<uint64_t> values;
  size_t pos = 0;
};

inline conf::ServerConfig server(std::string name, uint32_t weight = 1) {
  conf::ServerConfig s;
  s.address.text = std::move(name);
  s.weight = weight;
  return s;
}

inline conf::UpstreamConfig upstream(std::vector<conf::ServerConfig> servers,
                                     conf::BalanceAlgorithm balance = conf::BalanceAlgorithm::RoundRobin) {
  conf::UpstreamConfig u;
  u.name = "test";
  u.balance = balance;
  u.hash_key = "$uri";
  u.servers = std::move(servers);
  return u;
}

// The names of the next `n` picks, concatenated ("" for a failed pick is written as "-").
inline std::string picks(UpstreamPicker& picker, int n, const TriedSet& tried = {}) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    Server* s = picker.pick(tried);
    out += s ? s->name() : "-";
  }
  return out;
}

inline Server& at(const UpstreamGroup& g, size_t i) { return *g.servers()[i]; }

}  // namespace edged::upstream::testing
