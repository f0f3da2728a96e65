// upstream/upstream.h — server pools shared by all workers: Server state (atomic), the Balancer
// interface and its algorithms, and UpstreamGroup, which picks a server for one try of a request.
// Knows nothing of sockets or libuv: the proxy module owns connections.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "conf/config.h"

namespace edged::upstream {

// One origin server. Shared by every worker: counters are atomics, the rest is immutable.
struct Server {
  Server(const conf::ServerConfig& c, size_t idx) : config(c), index(idx) {}
  const conf::ServerConfig config;
  const size_t index;  // position in its group's server list
  std::atomic<int32_t> active{0};      // requests in flight on this server, all workers
  std::atomic<uint64_t> requests{0};   // requests sent, all workers
  std::atomic<uint64_t> failures{0};

  const std::string& name() const { return config.address.text; }
  uint32_t weight() const { return config.weight; }
};

// The servers a request has already tried: never picked again for that request.
class TriedSet {
 public:
  bool contains(size_t index) const { return index < 64 ? (bits_ >> index) & 1u : containsSlow(index); }
  void insert(size_t index);
  void clear() { bits_ = 0; more_.clear(); }
  bool empty() const { return bits_ == 0 && more_.empty(); }

 private:
  bool containsSlow(size_t index) const;
  uint64_t bits_ = 0;
  std::vector<size_t> more_;
};

// Chooses among candidates. One instance per worker per upstream: state needs no locks.
class Balancer {
 public:
  virtual ~Balancer() = default;
  // Index into `candidates`, or nullopt when every candidate is in `tried`.
  virtual std::optional<size_t> pick(std::span<Server* const> candidates, const TriedSet& tried) = 0;
};

// nginx's smooth weighted round robin: weights {5,1,1} give a a b a c a a, every cycle.
class SmoothWeightedRoundRobin final : public Balancer {
 public:
  explicit SmoothWeightedRoundRobin(size_t server_count) : current_(server_count, 0) {}
  std::optional<size_t> pick(std::span<Server* const> candidates, const TriedSet& tried) override;

 private:
  std::vector<int64_t> current_;  // indexed by Server::index
};

// The servers of one configured upstream; shared by all workers, immutable but for Server atomics.
class UpstreamGroup {
 public:
  explicit UpstreamGroup(const conf::UpstreamConfig& config);
  const conf::UpstreamConfig& config() const { return config_; }
  const std::string& name() const { return config_.name; }
  std::span<const std::unique_ptr<Server>> servers() const { return servers_; }
  // A per-worker picker: balancer state belongs to the worker that uses it.
  std::unique_ptr<class UpstreamPicker> makePicker() const;

 private:
  conf::UpstreamConfig config_;
  std::vector<std::unique_ptr<Server>> servers_;
  friend class UpstreamPicker;
};

// Per-worker view of a group: filters usable servers into tiers (primaries, then backups) and asks
// the balancer. Balancers never see health: the picker filters first.
class UpstreamPicker {
 public:
  explicit UpstreamPicker(const UpstreamGroup& group);
  // A server for the next try, or nullptr when none is usable and untried.
  Server* pick(const TriedSet& tried);
  const UpstreamGroup& group() const { return group_; }

 private:
  bool usable(const Server& s) const;
  const UpstreamGroup& group_;
  std::unique_ptr<Balancer> primary_balancer_;
  std::unique_ptr<Balancer> backup_balancer_;
  std::vector<Server*> primaries_, backups_, scratch_;
};

}  // namespace edged::upstream
