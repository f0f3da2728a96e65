#include "proxy/metrics/exposition_writer.h"

#include <charconv>
#include <cmath>

#include "proxy/metrics/histogram_buckets.h"

namespace edged::metrics {

namespace {

std::string_view typeName(MetricType t) {
  switch (t) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return "gauge";
    case MetricType::Histogram: return "histogram";
  }
  return "untyped";
}

template <typename Int>
void appendInt(std::string& out, Int v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

void ExpositionWriter::family(std::string_view name, std::string_view help, MetricType type) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  appendHelp(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += typeName(type);
  out_ += '\n';
}

void ExpositionWriter::head(std::string_view name, std::initializer_list<Label> labels,
                            std::string_view extra_name, std::string_view extra_value) {
  out_ += name;
  if (labels.size() == 0 && extra_name.empty()) {
    out_ += ' ';
    return;
  }
  char sep = '{';
  auto one = [&](std::string_view n, std::string_view v) {
    out_ += sep;
    out_ += n;
    out_ += "=\"";
    appendLabelValue(out_, v);
    out_ += '"';
    sep = ',';
  };
  for (const Label& l : labels) one(l.name, l.value);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out_ += "} ";
}

void ExpositionWriter::sample(std::string_view name, std::initializer_list<Label> labels,
                              uint64_t value) {
  head(name, labels);
  appendInt(out_, value);
  out_ += '\n';
}

void ExpositionWriter::sample(std::string_view name, std::initializer_list<Label> labels,
                              int64_t value) {
  head(name, labels);
  appendInt(out_, value);
  out_ += '\n';
}

void ExpositionWriter::sample(std::string_view name, std::initializer_list<Label> labels,
                              double value) {
  head(name, labels);
  appendDouble(out_, value);
  out_ += '\n';
}

void ExpositionWriter::histogram(std::string_view name, std::initializer_list<Label> labels,
                                 const uint64_t* buckets, uint64_t sum_ns) {
  std::string series(name);
  const size_t base = series.size();
  series += "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    cumulative += buckets[i];
    head(series, labels, "le", kBucketLabels[i]);
    appendInt(out_, cumulative);
    out_ += '\n';
  }
  series.resize(base);
  series += "_sum";
  // Whole seconds and the remainder apart, so a large sum keeps its nanosecond digits as far as a
  // double can carry them.
  sample(series, labels,
         static_cast<double>(sum_ns / 1'000'000'000) +
             static_cast<double>(sum_ns % 1'000'000'000) / 1e9);
  series.resize(base);
  series += "_count";
  sample(series, labels, cumulative);
}

void ExpositionWriter::appendLabelValue(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void ExpositionWriter::appendHelp(std::string& out, std::string_view help) {
  for (const char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void ExpositionWriter::appendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    // Shortest digits that read back exactly, in plain notation for the range Go's strconv
    // ('g', -1) uses it (1e-4 <= |v| < 1e21), so 0.0004 reads as 0.0004 and not 4e-04.
    char buf[64];  // at most 21 integer digits, or 4 zeros + 17 digits after the point
    const double a = std::fabs(v);
    const auto r = (a == 0 || (a >= 1e-4 && a < 1e21))
                       ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                       : std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

}  // namespace edged::metrics
