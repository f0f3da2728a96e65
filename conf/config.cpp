// conf/config.cpp — the small behaviours of the plain config structs (lookups, error formatting).
#include "conf/config.h"

namespace edged::conf {

const UpstreamConfig* Config::findUpstream(std::string_view name) const {
  for (const auto& upstream : upstreams) {
    if (upstream.name == name) return &upstream;
  }
  return nullptr;
}

std::string ConfigError::str() const {
  std::string out = file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!key_path.empty()) out += key_path + ": ";
  out += message;
  return out;
}

}  // namespace edged::conf
