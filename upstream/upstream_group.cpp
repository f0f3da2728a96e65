// upstream/upstream_group.cpp — a configured upstream's servers and the per-worker picker.
#include "upstream/upstream.h"

namespace edged::upstream {

UpstreamGroup::UpstreamGroup(const conf::UpstreamConfig& config) : config_(config) {
  servers_.reserve(config_.servers.size());
  for (size_t i = 0; i < config_.servers.size(); ++i)
    servers_.push_back(std::make_unique<Server>(config_.servers[i], i));
}

std::unique_ptr<UpstreamPicker> UpstreamGroup::makePicker() const {
  return std::make_unique<UpstreamPicker>(*this);
}

UpstreamPicker::UpstreamPicker(const UpstreamGroup& group)
    : group_(group),
      primary_balancer_(std::make_unique<SmoothWeightedRoundRobin>(group.servers_.size())),
      backup_balancer_(std::make_unique<SmoothWeightedRoundRobin>(group.servers_.size())) {
  for (const auto& s : group.servers_) (s->config.backup ? backups_ : primaries_).push_back(s.get());
  scratch_.reserve(group.servers_.size());
}

bool UpstreamPicker::usable(const Server& s) const {
  if (s.config.down) return false;
  if (s.config.max_conns != 0 &&
      s.active.load(std::memory_order_relaxed) >= static_cast<int32_t>(s.config.max_conns))
    return false;
  return true;
}

Server* UpstreamPicker::pick(const TriedSet& tried) {
  for (auto* tier : {&primaries_, &backups_}) {
    scratch_.clear();
    for (Server* s : *tier)
      if (usable(*s)) scratch_.push_back(s);
    if (scratch_.empty()) continue;
    Balancer& b = tier == &primaries_ ? *primary_balancer_ : *backup_balancer_;
    if (auto i = b.pick(scratch_, tried)) return scratch_[*i];
  }
  return nullptr;
}

}  // namespace edged::upstream
