// proxy/http/parsed_head.h — the start line target and header fields of one message, assembled from
// llhttp's piecewise callbacks (a piece may be split across reads) into one reusable string, each
// field name classified once (HeaderId) as soon as it is complete.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/header.h"

namespace edged::proxy {

class ParsedHead {
 public:
  ParsedHead() = default;
  void reset() {
    store_.clear();
    fields_.clear();
    target_ = {};
    last_ = Last::None;
    bytes_ = 0;
  }
  // After reset(): gives back storage above `keep` bytes (one huge head must not pin its
  // buffers in a recycled owner forever).
  void releaseExcess(size_t keep) {
    if (store_.capacity() > keep) std::string().swap(store_);
    if (fields_.capacity() * sizeof(fields_[0]) > keep) decltype(fields_)().swap(fields_);
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
      fields_.push_back({{static_cast<uint32_t>(store_.size()), 0}, {0, 0}, HeaderId::Unclassified});
      last_ = Last::Field;
      bytes_ += 4;  // ": " and CRLF
    }
    store_.append(p, n);
    fields_.back().name.len += static_cast<uint32_t>(n);
    return bytes_ += n;
  }
  size_t addValue(const char* p, size_t n) {
    if (last_ != Last::Value) {
      Field& f = fields_.back();
      f.value.off = static_cast<uint32_t>(store_.size());
      f.id = classifyHeader(view(f.name));  // the name is complete once its value begins
      last_ = Last::Value;
    }
    store_.append(p, n);
    fields_.back().value.len += static_cast<uint32_t>(n);
    return bytes_ += n;
  }
  // The field's value is complete: spaces and tabs around it are trimmed off (once, here). A field
  // that ended with no value bytes still needs its (empty) value. False when the field has no
  // name (": v", which llhttp takes): not a field line (field-name = token, RFC 9110 §5.1).
  bool endValue() {
    if (last_ == Last::Field) {
      Field& f = fields_.back();
      f.value = {static_cast<uint32_t>(store_.size()), 0};
      f.id = classifyHeader(view(f.name));
    } else if (last_ == Last::Value) {
      Span& v = fields_.back().value;
      while (v.len && isSpace(store_[v.off + v.len - 1])) --v.len;
      while (v.len && isSpace(store_[v.off])) ++v.off, --v.len;
    }
    last_ = Last::Value;
    return !fields_.empty() && fields_.back().name.len != 0;
  }

  std::string_view target() const { return view(target_); }
  // Bytes of target and header lines as counted for the size limit ("name: value\r\n" each).
  size_t bytes() const { return bytes_; }
  size_t size() const { return fields_.size(); }
  std::string_view name(size_t i) const { return view(fields_[i].name); }
  // Trimmed once endValue() ran for it (llhttp calls it for every field).
  std::string_view value(size_t i) const { return view(fields_[i].value); }
  // The class of name(i); Unclassified only for a field whose value has not begun.
  HeaderId id(size_t i) const { return fields_[i].id; }

  // Fills `out` with views of every header, ids included (valid until the next reset/add).
  void headers(std::vector<Header>& out) const {
    out.resize(fields_.size());
    for (size_t i = 0; i < fields_.size(); ++i) out[i] = {name(i), value(i), fields_[i].id};
  }
  // First value of the headers with this id (not Other), or empty; `count` gets how many there are.
  std::string_view find(HeaderId id, int* count = nullptr) const {
    std::string_view first;
    int n = 0;
    for (const Field& f : fields_) {
      if (f.id == id && n++ == 0) first = view(f.value);
    }
    if (count) *count = n;
    return first;
  }
  // The same by name, case-insensitively; a name edged classifies is found by its id.
  std::string_view find(std::string_view name, int* count = nullptr) const {
    if (const HeaderId id = classifyHeader(name); id != HeaderId::Other) return find(id, count);
    std::string_view first;
    int n = 0;
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (equalsIgnoreCase(this->name(i), name) && n++ == 0) first = value(i);
    }
    if (count) *count = n;
    return first;
  }

 private:
  struct Span {
    uint32_t off = 0, len = 0;
  };
  struct Field {
    Span name, value;
    HeaderId id;
  };
  enum class Last : uint8_t { None, Field, Value };
  // Spans always lie inside store_.
  std::string_view view(Span s) const { return {store_.data() + s.off, s.len}; }
  static bool isSpace(char c) { return c == ' ' || c == '\t'; }
  std::string store_;
  std::vector<Field> fields_;
  Span target_;
  Last last_ = Last::None;
  size_t bytes_ = 0;
};

}  // namespace edged::proxy
