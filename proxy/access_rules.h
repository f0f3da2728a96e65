// proxy/access_rules.h — a route's allow/deny rules by client address (nginx allow/deny): the
// first rule that matches decides; with no match, a list that has an `allow` rule denies (its
// implicit last rule is "deny all"), one made only of `deny` rules allows.
#pragma once

#include <vector>

#include "conf/config.h"
#include "proxy/http/cidr_set.h"

namespace edged::proxy {

class AccessRules {
 public:
  AccessRules() = default;
  // The config's rules in order; each CIDR was validated by the loader.
  explicit AccessRules(const std::vector<conf::RouteConfig::AccessRule>& rules);
  bool empty() const { return rules_.empty(); }
  bool allows(const IpAddress& client) const;
  // Text form of the client address; an unparsable one matches no rule.
  bool allows(std::string_view client) const;

 private:
  struct Rule {
    bool allow;
    CidrSet cidr;  // one prefix
  };
  std::vector<Rule> rules_;
  bool has_allow_ = false;
};

}  // namespace edged::proxy
