// cache/field_values.cpp — Age, Vary, Range, entity-tags.
#include "cache/field_values.h"

#include <algorithm>

#include "cache/field_text.h"

namespace edged::cache {

using namespace text;

std::optional<int64_t> parseAge(std::string_view value) {
  const int64_t v = parseDeltaSeconds(trim(value));
  if (v < 0) return std::nullopt;
  return v;
}

VaryList parseVary(std::span<const std::string_view> lines) {
  VaryList v;
  for (std::string_view line : lines)
    forEachElement(line, [&](std::string_view e) {
      if (e == "*") { v.star = true; return; }
      if (!isToken(e)) return;
      std::string name(e);
      for (char& c : name) c = lower(c);
      v.names.push_back(std::move(name));
    });
  std::sort(v.names.begin(), v.names.end());
  v.names.erase(std::unique(v.names.begin(), v.names.end()), v.names.end());
  return v;
}

namespace {

std::optional<uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!isDigit(c)) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

RangeRequest parseRange(std::string_view value) {
  RangeRequest r;
  value = trim(value);
  const size_t eq = value.find('=');
  if (eq == std::string_view::npos || !iequals(trim(value.substr(0, eq)), "bytes")) return r;
  int count = 0;
  bool bad = false;
  forEachElement(value.substr(eq + 1), [&](std::string_view spec) {
    ++count;
    const size_t dash = spec.find('-');
    if (dash == std::string_view::npos) { bad = true; return; }
    const std::string_view a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
    if (count > 1) return;  // only the first is kept; the kind says Multiple
    if (a.empty()) {
      r.suffix = number(b);
      if (!r.suffix) bad = true;
      return;
    }
    r.first = number(a);
    if (!r.first) { bad = true; return; }
    if (!b.empty()) {
      r.last = number(b);
      if (!r.last || *r.last < *r.first) bad = true;  // RFC 9110 §14.1.1: last < first is invalid
    }
  });
  if (bad || count == 0) {
    r = {};
    r.kind = RangeRequest::Kind::Invalid;
    return r;
  }
  r.kind = count == 1 ? RangeRequest::Kind::Single : RangeRequest::Kind::Multiple;
  return r;
}

std::optional<ByteSpan> resolveRange(const RangeRequest& r, uint64_t length) {
  if (r.kind != RangeRequest::Kind::Single || length == 0) return std::nullopt;
  if (r.suffix) {
    if (*r.suffix == 0) return std::nullopt;  // RFC 9110 §14.1.3: a zero suffix is unsatisfiable
    const uint64_t n = std::min(*r.suffix, length);
    return ByteSpan{length - n, length - 1};
  }
  if (!r.first || *r.first >= length) return std::nullopt;
  const uint64_t last = r.last ? std::min(*r.last, length - 1) : length - 1;
  return ByteSpan{*r.first, last};
}

std::optional<EntityTag> parseEntityTag(std::string_view v) {
  v = trim(v);
  EntityTag t;
  if (v.size() >= 2 && v[0] == 'W' && v[1] == '/') {
    t.weak = true;
    v.remove_prefix(2);
  }
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::nullopt;
  t.opaque = v.substr(1, v.size() - 2);
  for (char c : t.opaque)  // etagc = %x21 / %x23-7E / obs-text
    if (c == '"' || static_cast<unsigned char>(c) < 0x21 || c == 0x7f) return std::nullopt;
  return t;
}

bool weakMatch(const EntityTag& a, const EntityTag& b) { return a.opaque == b.opaque; }
bool strongMatch(const EntityTag& a, const EntityTag& b) { return !a.weak && !b.weak && a.opaque == b.opaque; }

bool ifNoneMatchMatches(std::span<const std::string_view> lines, std::string_view stored_etag) {
  const auto stored = parseEntityTag(stored_etag);
  bool matched = false;
  for (std::string_view line : lines)
    forEachElement(line, [&](std::string_view e) {
      if (e == "*") { matched = true; return; }
      const auto t = parseEntityTag(e);
      if (t && stored && weakMatch(*t, *stored)) matched = true;
    });
  return matched;
}

}  // namespace edged::cache
