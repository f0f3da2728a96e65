// tests/fuzz/proxy_protocol.cpp — the PROXY protocol v1/v2 header parser on arbitrary bytes, with
// its contract checked: a verdict on a prefix is never contradicted by more bytes, and a parsed
// header never claims more bytes than it was given.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/proxy_protocol.h"

using edged::proxy::ProxyHeader;
using edged::proxy::ProxyHeaderResult;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  ProxyHeader whole;
  const ProxyHeaderResult r = edged::proxy::parseProxyHeader(all, whole);
  if (r == ProxyHeaderResult::Done && (whole.length == 0 || whole.length > size)) __builtin_trap();
  // Fed in two pieces, as reads would: Done/Invalid on the first part must stay the verdict.
  const size_t cut = size ? data[0] % size : 0;
  ProxyHeader part;
  const ProxyHeaderResult first = edged::proxy::parseProxyHeader(all.substr(0, cut), part);
  if (first == ProxyHeaderResult::Done && (r != ProxyHeaderResult::Done || part.length != whole.length)) __builtin_trap();
  if (first == ProxyHeaderResult::Invalid && r != ProxyHeaderResult::Invalid) __builtin_trap();
  return 0;
}
