// proxy/compress/algorithm.h — the content codings edged can produce and their HTTP tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace edged::compress {

enum class Algorithm : uint8_t { None, Gzip, Brotli, Zstd };

// The Content-Encoding / Accept-Encoding token: "gzip", "br", "zstd"; "identity" for None.
constexpr std::string_view encodingToken(Algorithm a) {
  switch (a) {
    case Algorithm::Gzip: return "gzip";
    case Algorithm::Brotli: return "br";
    case Algorithm::Zstd: return "zstd";
    case Algorithm::None: break;
  }
  return "identity";
}

// The algorithm a configuration name ("gzip", "br", "zstd", case-insensitive) stands for, or
// nullopt. For the conf module.
std::optional<Algorithm> algorithmFromToken(std::string_view token);

}  // namespace edged::compress
