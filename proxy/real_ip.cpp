// proxy/real_ip.cpp — walks the list from its end without splitting it into a container.
#include "proxy/real_ip.h"

namespace edged::proxy {
namespace {

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view realClientIp(std::string_view peer, std::span<const std::string_view> header_values,
                              const CidrSet& trusted) {
  if (!trusted.contains(peer)) return peer;
  std::string_view current = peer;
  for (size_t line = header_values.size(); line-- > 0;) {
    std::string_view rest = header_values[line];
    while (true) {
      const size_t comma = rest.rfind(',');
      const std::string_view item = trimOws(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      if (!item.empty()) {  // empty list elements are allowed and mean nothing (RFC 9110 §5.6.1)
        const auto a = parseIpAddress(item);
        if (!a) return current;
        current = item;
        if (!trusted.contains(*a)) return current;
      }
      if (comma == std::string_view::npos) break;
      rest = rest.substr(0, comma);
    }
  }
  return current;
}

std::string_view realClientIp(std::string_view peer, std::span<const std::string_view> header_values,
                              const CidrSet& trusted, bool recursive) {
  if (recursive) return realClientIp(peer, header_values, trusted);
  if (!trusted.contains(peer)) return peer;
  for (size_t line = header_values.size(); line-- > 0;) {
    const std::string_view v = header_values[line];
    const size_t comma = v.rfind(',');
    const std::string_view item = trimOws(comma == std::string_view::npos ? v : v.substr(comma + 1));
    if (item.empty()) continue;
    return parseIpAddress(item) ? item : peer;
  }
  return peer;
}

}  // namespace edged::proxy
