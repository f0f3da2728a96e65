// tests/fuzz/cache_fields.cpp — the cache's field parsers, all of which read origin or client
// bytes: Cache-Control and the targeted CDN-Cache-Control / Edged-Cache-Control, Pragma, Age,
// Vary, Range, entity-tags and If-None-Match, HTTP dates. The input's lines are field lines; each
// parser gets all of them. Besides the sanitizers, the invariants the cache relies on are checked.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "cache/cache_control.h"
#include "cache/field_values.h"
#include "cache/http_date.h"

namespace {

constexpr int64_t kSaturated = int64_t{1} << 31;

void checkSeconds(const std::optional<edged::cache::Seconds>& s) {
  if (s && (*s < 0 || *s > kSaturated)) __builtin_trap();
}

void check(const edged::cache::CacheControl& cc) {
  checkSeconds(cc.max_age);
  checkSeconds(cc.s_maxage);
  checkSeconds(cc.max_stale_value);
  checkSeconds(cc.min_fresh);
  checkSeconds(cc.stale_while_revalidate);
  checkSeconds(cc.stale_if_error);
  // A directive seen means the field was present.
  if ((cc.no_store || cc.no_cache || cc.private_ || cc.public_ || cc.max_age) && !cc.present) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edged::cache;
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  for (size_t at = 0; at <= all.size();) {
    const size_t nl = all.find('\n', at);
    const size_t end = nl == std::string_view::npos ? all.size() : nl;
    lines.push_back(all.substr(at, end - at));
    if (nl == std::string_view::npos) break;
    at = nl + 1;
  }
  check(parseCacheControl(lines));
  check(parseCacheControl(all));
  check(requestCacheControl(lines, lines));
  if (const auto t = parseTargetedCacheControl(lines)) check(*t);
  const std::span<const std::string_view> half(lines.data(), lines.size() / 2);
  check(selectResponseCacheControl(half, lines, lines).directives);
  (void)pragmaHasNoCache(all);

  if (const auto age = parseAge(all); age && *age < 0) __builtin_trap();
  const VaryList vary = parseVary(lines);
  for (const auto& n : vary.names)
    if (n.empty()) __builtin_trap();

  const RangeRequest range = parseRange(all);
  for (uint64_t length : {uint64_t{0}, uint64_t{1}, uint64_t{1000}, ~uint64_t{0}}) {
    if (const auto span = resolveRange(range, length)) {
      if (length == 0 || span->first > span->last || span->last >= length) __builtin_trap();
    }
  }

  if (const auto tag = parseEntityTag(all)) {
    if (!weakMatch(*tag, *tag)) __builtin_trap();
    if (!tag->weak && !strongMatch(*tag, *tag)) __builtin_trap();
  }
  (void)ifNoneMatchMatches(lines, lines.front());

  if (const auto when = parseHttpDate(all)) {
    // What a parse accepted formats back to a date that parses to the same second.
    char buf[29];
    const auto again = parseHttpDate(formatHttpDate(*when, buf));
    if (*when >= 0 && *when < 253402300800 && (!again || *again != *when)) __builtin_trap();
  }
  return 0;
}
