// tests/unit/proxy/access_rules_test.cpp — nginx's order: the first matching rule decides; no
// match denies when an allow rule exists.
#include <doctest.h>

#include "proxy/access_rules.h"

namespace edged::proxy {
namespace {

using Rule = conf::RouteConfig::AccessRule;

TEST_SUITE("proxy/access_rules") {

TEST_CASE("allow only: everything else denied") {
  const AccessRules r({Rule{true, "10.0.0.0/8"}, Rule{true, "::1"}});
  CHECK(r.allows("10.2.3.4"));
  CHECK(r.allows("::1"));
  CHECK_FALSE(r.allows("192.0.2.1"));
  CHECK_FALSE(r.allows("not-an-ip"));
}

TEST_CASE("deny only: everything else allowed") {
  const AccessRules r({Rule{false, "192.0.2.0/24"}});
  CHECK_FALSE(r.allows("192.0.2.7"));
  CHECK(r.allows("198.51.100.1"));
}

TEST_CASE("first match wins, in the order written") {
  const AccessRules deny_first({Rule{false, "10.1.0.0/16"}, Rule{true, "10.0.0.0/8"}});
  CHECK_FALSE(deny_first.allows("10.1.2.3"));
  CHECK(deny_first.allows("10.2.2.3"));
  const AccessRules allow_first({Rule{true, "10.0.0.0/8"}, Rule{false, "10.1.0.0/16"}});
  CHECK(allow_first.allows("10.1.2.3"));  // the allow rule matched first
}

TEST_CASE("no rules: everyone") {
  const AccessRules r;
  CHECK(r.empty());
  CHECK(r.allows("192.0.2.1"));
}

}
}  // namespace
}  // namespace edged::proxy
