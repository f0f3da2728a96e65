// upstream/upstream_group.cpp — a configured upstream's servers, tiers and rings.
#include "upstream/upstream_group.h"

#include "upstream/upstream_picker.h"

namespace edged::upstream {

UpstreamGroup::UpstreamGroup(const conf::UpstreamConfig& config, const Clock& clock,
                             const UpstreamGroup* previous)
    : config_(config), clock_(clock) {
  // The loader validated hash_key; an unparsable one falls back to the client address.
  if (auto k = parseHashKey(config_.hash_key)) hash_key_ = *k;
  servers_.reserve(config_.servers.size());
  for (size_t i = 0; i < config_.servers.size(); ++i) {
    std::shared_ptr<ServerRuntime> carried;
    if (previous) {
      for (const auto& old : previous->servers_) {
        if (old->name() == config_.servers[i].address.text) {
          carried = old->runtime();
          break;
        }
      }
    }
    servers_.push_back(std::make_unique<Server>(config_.servers[i], i, config_.health, std::move(carried)));
    (servers_.back()->config.backup ? backups_ : primaries_).push_back(servers_.back().get());
  }
  if (config_.balance == conf::BalanceAlgorithm::Hash) {
    primary_ring_ = std::make_unique<HashRing>(primaries_);
    backup_ring_ = std::make_unique<HashRing>(backups_);
  }
}

std::unique_ptr<UpstreamPicker> UpstreamGroup::makePicker(std::unique_ptr<Rng> rng) const {
  return std::make_unique<UpstreamPicker>(*this, std::move(rng));
}

}  // namespace edged::upstream
