// proxy/access_rules.cpp — a linear scan: route rule lists are short.
#include "proxy/access_rules.h"

namespace edged::proxy {

AccessRules::AccessRules(const std::vector<conf::RouteConfig::AccessRule>& rules) {
  for (const auto& r : rules) {
    Rule rule{r.allow, {}};
    if (!rule.cidr.add(r.cidr)) continue;  // cannot happen: the loader checked it
    has_allow_ = has_allow_ || r.allow;
    rules_.push_back(std::move(rule));
  }
}

bool AccessRules::allows(const IpAddress& client) const {
  for (const Rule& r : rules_)
    if (r.cidr.contains(client)) return r.allow;
  return !has_allow_;
}

bool AccessRules::allows(std::string_view client) const {
  if (rules_.empty()) return true;
  const auto a = parseIpAddress(client);
  if (!a) return !has_allow_;
  return allows(*a);
}

}  // namespace edged::proxy
