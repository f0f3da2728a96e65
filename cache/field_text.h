// cache/field_text.h — the character-level helpers the cache's field parsers share: OWS, case,
// trimming and comma lists come from proxy/http's field_list.h; tokens and delta-seconds are the
// cache's own. Internal to cache/.
#pragma once

#include <cstdint>
#include <string_view>

#include "proxy/http/field_list.h"

namespace edged::cache::text {

// The shared list parser of proxy/http (one parser for every list-valued field).
using proxy::fields::iequals;
using proxy::fields::isOws;
using proxy::fields::lower;
using proxy::fields::trim;

constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 9110 §5.6.2 tchar.
constexpr bool isTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

constexpr bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!isTchar(c)) return false;
  return true;
}

// Trimmed, non-empty elements of a comma-separated list; commas inside a quoted-string do not
// split (Cache-Control's private="a, b").
template <typename F>
constexpr void forEachElement(std::string_view list, F&& f) {
  proxy::fields::forEachListElement(list, static_cast<F&&>(f));
}

// delta-seconds (RFC 9111 §1.2.2): 1*DIGIT; a value past 2^31 saturates to 2^31. nullopt-like -1
// for anything that is not all digits.
constexpr int64_t kDeltaMax = int64_t{1} << 31;
constexpr int64_t parseDeltaSeconds(std::string_view s) {
  if (s.empty()) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (!isDigit(c)) return -1;
    if (v < kDeltaMax) v = v * 10 + (c - '0');
  }
  return v > kDeltaMax ? kDeltaMax : v;
}

}  // namespace edged::cache::text
