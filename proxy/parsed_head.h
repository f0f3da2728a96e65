// proxy/parsed_head.h — the start line target and header fields of one message, assembled from
// llhttp's piecewise callbacks (a piece may be split across reads) into one reusable string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/proxy.h"

namespace edged::proxy {

class ParsedHead {
 public:
  ParsedHead() = default;
  void reset() {
    store_.clear();
    spans_.clear();
    target_ = {};
    last_ = Last::None;
    bytes_ = 0;
  }
  // After reset(): gives back storage above `keep` bytes (one huge head must not pin its
  // buffers in a recycled owner forever).
  void releaseExcess(size_t keep) {
    if (store_.capacity() > keep) std::string().swap(store_);
    if (spans_.capacity() * sizeof(spans_[0]) > keep) decltype(spans_)().swap(spans_);
  }
  // Each returns the head's byte count so far (for the header size limit).
  size_t addTarget(const char* p, size_t n) {
    if (target_.len == 0) target_.off = static_cast<uint32_t>(store_.size());
    store_.append(p, n);
    target_.len += static_cast<uint32_t>(n);
    return bytes_ += n;
  }
  size_t addField(const char* p, size_t n) {
    if (last_ != Last::Field) {
      spans_.push_back({{static_cast<uint32_t>(store_.size()), 0}, {0, 0}});
      last_ = Last::Field;
      bytes_ += 4;  // ": " and CRLF
    }
    store_.append(p, n);
    spans_.back().first.len += static_cast<uint32_t>(n);
    return bytes_ += n;
  }
  size_t addValue(const char* p, size_t n) {
    if (last_ != Last::Value) {
      spans_.back().second.off = static_cast<uint32_t>(store_.size());
      last_ = Last::Value;
    }
    store_.append(p, n);
    spans_.back().second.len += static_cast<uint32_t>(n);
    return bytes_ += n;
  }
  // A field that ended with no value bytes still needs its (empty) value.
  void endValue() {
    if (last_ == Last::Field) spans_.back().second = {static_cast<uint32_t>(store_.size()), 0};
    last_ = Last::Value;
  }

  std::string_view target() const { return view(target_); }
  // Bytes of target and header lines as counted for the size limit ("name: value\r\n" each).
  size_t bytes() const { return bytes_; }
  size_t size() const { return spans_.size(); }
  std::string_view name(size_t i) const { return view(spans_[i].first); }
  std::string_view value(size_t i) const { return trimmed(view(spans_[i].second)); }

  // Fills `out` with views of every header (valid until the next reset/add).
  void headers(std::vector<Header>& out) const {
    out.clear();
    for (size_t i = 0; i < spans_.size(); ++i) out.push_back({name(i), value(i)});
  }
  // First value of `name`, or empty; `count` gets how many headers have that name.
  std::string_view find(std::string_view name, int* count = nullptr) const {
    std::string_view first;
    int n = 0;
    for (size_t i = 0; i < spans_.size(); ++i) {
      if (equalsIgnoreCase(this->name(i), name)) {
        if (n++ == 0) first = value(i);
      }
    }
    if (count) *count = n;
    return first;
  }

 private:
  struct Span {
    uint32_t off = 0, len = 0;
  };
  enum class Last : uint8_t { None, Field, Value };
  std::string_view view(Span s) const { return std::string_view(store_).substr(s.off, s.len); }
  static std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    return s;
  }
  std::string store_;
  std::vector<std::pair<Span, Span>> spans_;
  Span target_;
  Last last_ = Last::None;
  size_t bytes_ = 0;
};

}  // namespace edged::proxy
