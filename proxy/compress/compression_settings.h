// proxy/compress/compression_settings.h — the `compression:` configuration as a plain struct.
// The conf module parses YAML into it (top level = defaults, a route may turn it off or override
// fields); the defaults below are those of the spec.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proxy/compress/algorithm.h"

namespace edged::compress {

struct CompressionLevels {
  int gzip = 6;  // zlib 1..9
  int br = 4;    // brotli quality 0..11
  int zstd = 3;  // zstd 1..19 (negative = fast modes)
};

struct CompressionSettings {
  bool enabled = true;  // false for a route's `compression: off`
  // Server preference, used only when the client's q-values tie. Algorithms not listed are never
  // produced.
  std::vector<Algorithm> algorithms{Algorithm::Brotli, Algorithm::Zstd, Algorithm::Gzip};
  uint64_t min_length = 1024;  // skip when Content-Length is known and smaller
  CompressionLevels level;
  // Media types, lower case, without parameters; "type/*" matches a whole top-level type and
  // "*/*" everything.
  std::vector<std::string> types{"text/*", "application/json", "application/javascript",
                                 "application/xml", "image/svg+xml"};

  int levelFor(Algorithm a) const {
    switch (a) {
      case Algorithm::Gzip: return level.gzip;
      case Algorithm::Brotli: return level.br;
      case Algorithm::Zstd: return level.zstd;
      case Algorithm::None: break;
    }
    return 0;
  }
};

}  // namespace edged::compress
