// cache/field_text.h — the character-level helpers the cache's field parsers share (OWS, tokens,
// case-insensitive compare, comma lists that respect quoted strings). Internal to cache/.
#pragma once

#include <cstdint>
#include <string_view>

namespace edged::cache::text {

constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr bool isOws(char c) { return c == ' ' || c == '\t'; }
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

constexpr std::string_view trim(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// Splits a comma-separated list into trimmed, non-empty elements; commas and backslashes inside a
// quoted-string do not split (Cache-Control's private="a, b"). An unterminated quote runs to the end.
template <typename F>
constexpr void forEachElement(std::string_view list, F&& f) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size()) {
      const char c = list[i];
      if (quoted) {
        if (c == '\\') ++i;
        else if (c == '"') quoted = false;
        continue;
      }
      if (c == '"') { quoted = true; continue; }
      if (c != ',') continue;
    }
    const std::string_view element = trim(list.substr(start, i - start));
    if (!element.empty()) f(element);
    start = i + 1;
  }
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
