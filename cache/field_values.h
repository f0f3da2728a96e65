// cache/field_values.h — the other fields the cache reads: Age, Vary, Range, ETag, If-None-Match
// (RFC 9111 §5.1, RFC 9110 §12.5.5, §14.2, §8.8.3, §13.1.2). Pure functions that never fail.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edged::cache {

// Age (RFC 9111 §5.1): delta-seconds saturating at 2^31; nullopt when not a single number.
std::optional<int64_t> parseAge(std::string_view value);

// Vary (RFC 9110 §12.5.5): the field names, lowercased, sorted and without duplicates, so that
// two responses varying on the same set compare equal; `star` when the list holds "*".
struct VaryList {
  bool star = false;
  std::vector<std::string> names;
  bool empty() const { return !star && names.empty(); }
};
VaryList parseVary(std::span<const std::string_view> lines);

// Range (RFC 9110 §14.2), bytes only.
struct RangeRequest {
  enum class Kind : uint8_t {
    None,      // no Range field, or a unit other than bytes (ignored: RFC 9110 §14.2)
    Invalid,   // bytes=..., but malformed: the field is ignored too, but the caller may log it
    Single,    // one range-spec
    Multiple,  // more than one range-spec: this cache answers with the full 200
  };
  Kind kind = Kind::None;
  // Single: first-last ("a-b"), first- ("a-", last = nullopt) or suffix ("-n", suffix = n).
  std::optional<uint64_t> first;
  std::optional<uint64_t> last;
  std::optional<uint64_t> suffix;
};
RangeRequest parseRange(std::string_view value);

// The bytes a single range selects in a representation of `length` bytes; nullopt = not
// satisfiable (416 with Content-Range: bytes */length).
struct ByteSpan {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
  uint64_t size() const { return last - first + 1; }
};
std::optional<ByteSpan> resolveRange(const RangeRequest& r, uint64_t length);

// entity-tag (RFC 9110 §8.8.3): W/"opaque" or "opaque".
struct EntityTag {
  bool weak = false;
  std::string_view opaque;  // between the quotes, a view into the parsed text
};
std::optional<EntityTag> parseEntityTag(std::string_view value);
// RFC 9110 §8.8.3.2.
bool weakMatch(const EntityTag& a, const EntityTag& b);
bool strongMatch(const EntityTag& a, const EntityTag& b);

// If-None-Match (RFC 9110 §13.1.2): true when `stored_etag` (an ETag field value) matches the
// list by weak comparison, or the list is "*" and a representation exists. A malformed list
// matches nothing.
bool ifNoneMatchMatches(std::span<const std::string_view> if_none_match_lines, std::string_view stored_etag);

}  // namespace edged::cache
