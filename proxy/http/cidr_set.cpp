// proxy/http/cidr_set.cpp — parsing with inet_pton (pure: no resolver), matching by whole bytes then
// one masked byte. Sets are short (a few trusted networks), so a linear scan beats a trie.
#include "proxy/http/cidr_set.h"

#include <arpa/inet.h>

#include <cstring>

namespace edged::proxy {
namespace {

constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool prefixMatches(const IpAddress& a, const IpAddress& base, unsigned bits) {
  const unsigned whole = bits / 8;
  if (std::memcmp(a.bytes.data(), base.bytes.data(), whole) != 0) return false;
  if (const unsigned rest = bits % 8; rest != 0) {
    const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    if ((a.bytes[whole] & mask) != (base.bytes[whole] & mask)) return false;
  }
  return true;
}

}  // namespace

bool IpAddress::isV4() const { return std::memcmp(bytes.data(), kMapped, sizeof kMapped) == 0; }

std::optional<IpAddress> parseIpAddress(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    // inet_pton(AF_INET) takes only the dotted quad (no "127.1", no octal), as wanted.
    if (inet_pton(AF_INET, buf, a.bytes.data() + 12) != 1) return std::nullopt;
    std::memcpy(a.bytes.data(), kMapped, sizeof kMapped);
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  return a;
}

bool CidrSet::add(std::string_view cidr) {
  const size_t slash = cidr.find('/');
  const auto base = parseIpAddress(cidr.substr(0, slash));
  if (!base) return false;
  const bool v4 = base->isV4() && cidr.substr(0, slash).find(':') == std::string_view::npos;
  unsigned bits = v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    const std::string_view len = cidr.substr(slash + 1);
    if (len.empty() || len.size() > 3) return false;
    unsigned n = 0;
    for (char c : len) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n > bits) return false;
    bits = n;
  }
  if (v4) bits += 96;
  // No host bits past the prefix.
  for (unsigned i = bits; i < 128; ++i)
    if (base->bytes[i / 8] & (0x80 >> (i % 8))) return false;
  prefixes_.push_back({*base, static_cast<uint8_t>(bits)});
  return true;
}

bool CidrSet::contains(const IpAddress& a) const {
  for (const Prefix& p : prefixes_)
    if (prefixMatches(a, p.base, p.bits)) return true;
  return false;
}

bool CidrSet::contains(std::string_view address_text) const {
  const auto a = parseIpAddress(address_text);
  return a && contains(*a);
}

}  // namespace edged::proxy
