// tests/fuzz/real_ip.cpp — CIDR rules and the X-Forwarded-For walk on arbitrary text: the input's
// lines are trusted prefixes up to an empty line, then the peer, then header lines. The answer
// must be the peer or an item of a header, and an untrusted peer is always the answer.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "proxy/http/cidr_set.h"
#include "proxy/real_ip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    lines.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  edged::proxy::CidrSet trusted;
  size_t i = 0;
  for (; i < lines.size() && !lines[i].empty(); ++i) trusted.add(lines[i]);
  ++i;
  const std::string_view peer = i < lines.size() ? lines[i] : std::string_view("127.0.0.1");
  std::vector<std::string_view> values;
  for (++i; i < lines.size(); ++i) values.push_back(lines[i]);
  const std::string_view got = edged::proxy::realClientIp(peer, values, trusted);
  if (!trusted.contains(peer) && got != peer) __builtin_trap();
  bool inside = got.data() == peer.data() && got.size() == peer.size();
  for (std::string_view v : values)
    inside = inside || (got.data() >= v.data() && got.data() + got.size() <= v.data() + v.size());
  if (!inside) __builtin_trap();
  return 0;
}
