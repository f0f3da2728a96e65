// proxy/metrics/labels.h — the closed label sets that do not come from the config (method,
// code class, failure reason, compression algorithm) and their label-value spellings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edged::metrics {

enum class Method : uint8_t { Get, Head, Post, Put, Delete, Patch, Options, Other };
inline constexpr size_t kMethodCount = 8;

// Exact, case-sensitive match (RFC 9110 §9.1: method names are case-sensitive); anything else,
// including "get", is Other.
Method methodFromName(std::string_view name);
// "GET", "HEAD", ..., "other".
std::string_view methodLabel(Method m);

// 1xx..5xx as index 0..4. A status outside 100..599 (0 = nothing was sent) counts as 5xx: the
// exchange failed, and the label set stays the five classes the spec names.
inline constexpr size_t kCodeClassCount = 5;
inline size_t codeClassIndex(int status) {
  if (status < 100 || status > 599) return 4;
  return static_cast<size_t>(status / 100 - 1);
}
// "1xx".."5xx" for index 0..4.
std::string_view codeClassLabel(size_t index);

enum class FailureReason : uint8_t {
  ConnectFailed,
  ConnectTimeout,
  SendTimeout,
  ReadTimeout,
  UpstreamClosed,
  BadResponse
};
inline constexpr size_t kFailureReasonCount = 6;
// "connect_failed", "connect_timeout", "send_timeout", "read_timeout", "upstream_closed",
// "bad_response".
std::string_view failureReasonLabel(FailureReason r);

enum class Algorithm : uint8_t { Gzip, Brotli, Zstd };
inline constexpr size_t kAlgorithmCount = 3;
// The Content-Encoding tokens: "gzip", "br", "zstd".
std::string_view algorithmLabel(Algorithm a);

}  // namespace edged::metrics
