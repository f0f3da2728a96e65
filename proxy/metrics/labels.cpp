#include "proxy/metrics/labels.h"

#include <array>

namespace edged::metrics {

namespace {
constexpr std::array<std::string_view, kMethodCount> kMethodNames = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};
constexpr std::array<std::string_view, kCodeClassCount> kCodeClasses = {"1xx", "2xx", "3xx", "4xx",
                                                                        "5xx"};
constexpr std::array<std::string_view, kFailureReasonCount> kReasons = {
    "connect_failed", "connect_timeout", "send_timeout",
    "read_timeout",   "upstream_closed", "bad_response"};
constexpr std::array<std::string_view, kAlgorithmCount> kAlgorithms = {"gzip", "br", "zstd"};
}  // namespace

Method methodFromName(std::string_view name) {
  // The last entry ("other") is lower case, so a request method spelled "other" cannot match it.
  for (size_t i = 0; i + 1 < kMethodNames.size(); ++i) {
    if (name == kMethodNames[i]) return static_cast<Method>(i);
  }
  return Method::Other;
}

std::string_view methodLabel(Method m) {
  const auto i = static_cast<size_t>(m);
  return i < kMethodNames.size() ? kMethodNames[i] : kMethodNames.back();
}

std::string_view codeClassLabel(size_t index) {
  return index < kCodeClasses.size() ? kCodeClasses[index] : kCodeClasses.back();
}

std::string_view failureReasonLabel(FailureReason r) {
  const auto i = static_cast<size_t>(r);
  return i < kReasons.size() ? kReasons[i] : std::string_view("unknown");
}

std::string_view algorithmLabel(Algorithm a) {
  const auto i = static_cast<size_t>(a);
  return i < kAlgorithms.size() ? kAlgorithms[i] : std::string_view("unknown");
}

}  // namespace edged::metrics
