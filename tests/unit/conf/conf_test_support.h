// tests/unit/conf/conf_test_support.h — what the conf tests share: a 9-line valid base config,
// the error lines a load produced, and a doctest printer that shows them one per line.
#pragma once

#include <doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& lines) {
    std::string out = "{";
    for (const auto& line : lines) out += "\n  \"" + line + "\"";
    out += lines.empty() ? "}" : "\n}";
    return String(out.c_str());
  }
};
}  // namespace doctest

namespace edged::conf::test {

using Errors = std::vector<std::string>;

// Loads text expected to be invalid; returns its errors as "t.yaml:L:C: path: message".
inline Errors errorsOf(std::string_view yaml) {
  const LoadResult result = loadConfigString(yaml, "t.yaml");
  CHECK(result.config == nullptr);
  CHECK_FALSE(result.ok());
  Errors out;
  for (const auto& e : result.errors) out.push_back(e.str());
  return out;
}

inline std::string joinErrors(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) out += e.str() + "\n";
  return out;
}

// A valid config of 9 lines; tests append their own lines from line 10 on.
inline constexpr std::string_view kBase = R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
routes:
  - match: { prefix: / }
    upstream: api
)";

inline std::string withBase(std::string_view tail) { return std::string(kBase) + std::string(tail); }

}  // namespace edged::conf::test
