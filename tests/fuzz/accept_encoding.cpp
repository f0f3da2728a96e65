// tests/fuzz/accept_encoding.cpp — Accept-Encoding parsing (RFC 9110 §12.5.3) and the coding
// choice; each line of the input is one field line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy/compress/accept_encoding.h"

using edged::compress::AcceptEncoding;
using edged::compress::Algorithm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  AcceptEncoding ae;
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    ae.add(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  constexpr Algorithm kAll[] = {Algorithm::Zstd, Algorithm::Brotli, Algorithm::Gzip};
  const Algorithm chosen = ae.choose(kAll);
  // The choice is one of the offered codings, or none; a chosen coding is acceptable.
  if (chosen != Algorithm::None && ae.quality(chosen) <= 0) std::abort();
  const int q = ae.identityQuality();
  if (q < AcceptEncoding::kUnlisted || q > 1000) std::abort();
  const int v = edged::compress::parseQValue(std::string_view(reinterpret_cast<const char*>(data), size));
  if (v < -1 || v > 1000) std::abort();
  return 0;
}
