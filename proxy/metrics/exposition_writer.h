// proxy/metrics/exposition_writer.h — appends Prometheus text exposition format 0.0.4 to a
// string: family headers (# HELP / # TYPE), samples with escaped label values, number spelling.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace edged::metrics {

struct Label {
  std::string_view name;   // must match [a-zA-Z_][a-zA-Z0-9_]* (the caller's literals do)
  std::string_view value;  // any UTF-8; escaped on output
};

enum class MetricType { Counter, Gauge, Histogram };

class ExpositionWriter {
 public:
  explicit ExpositionWriter(std::string& out) : out_(out) {}

  // "# HELP name help\n# TYPE name type\n". Write once per family, before its samples.
  void family(std::string_view name, std::string_view help, MetricType type);

  // "name{l1="v1",...} value\n"; no braces when `labels` is empty.
  void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, int64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);

  // A whole histogram from non-cumulative bucket counts (one per kBucketLabels entry, +Inf last)
  // and the sum in nanoseconds: name_bucket{...,le="..."} cumulative, name_sum in seconds,
  // name_count equal to the +Inf bucket.
  void histogram(std::string_view name, std::initializer_list<Label> labels,
                 const uint64_t* buckets, uint64_t sum_ns);

  // Label value escaping: backslash, double quote and newline become \\, \" and \n.
  static void appendLabelValue(std::string& out, std::string_view value);
  // HELP text escaping: backslash and newline become \\ and \n (quotes stay as they are).
  static void appendHelp(std::string& out, std::string_view help);
  // Shortest round-trip spelling, plain notation for 1e-4 <= |v| < 1e21 (as Go clients write
  // it), exponent notation outside; "NaN", "+Inf", "-Inf" for the special values.
  static void appendDouble(std::string& out, double v);

 private:
  void head(std::string_view name, std::initializer_list<Label> labels,
            std::string_view extra_name = {}, std::string_view extra_value = {});

  std::string& out_;
};

}  // namespace edged::metrics
