// proxy/http/cidr_set.h — IP addresses (IPv4 and IPv6 in one form) and a set of CIDR prefixes with
// its membership test: what access rules (allow/deny) and trusted proxies (real_ip) are made of.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace edged::proxy {

// An IPv4 address is kept as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so that one prefix
// list serves both families and a client on a dual-stack socket matches its IPv4 rules.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool isV4() const;
  bool operator==(const IpAddress&) const = default;
};

// "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"; also "[2001:db8::1]". nullopt otherwise
// (no port, no zone id, no surrounding spaces).
std::optional<IpAddress> parseIpAddress(std::string_view text);

class CidrSet {
 public:
  // "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). False (and nothing added)
  // when malformed: a prefix length out of range, or bits set past the prefix ("10.0.0.1/8"), as
  // that is almost always a typo for another network.
  bool add(std::string_view cidr);
  bool contains(const IpAddress& a) const;
  bool contains(std::string_view address_text) const;
  bool empty() const { return prefixes_.empty(); }
  size_t size() const { return prefixes_.size(); }

 private:
  struct Prefix {
    IpAddress base;
    uint8_t bits;  // of the 128-bit form
  };
  std::vector<Prefix> prefixes_;
};

}  // namespace edged::proxy
