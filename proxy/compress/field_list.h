// proxy/compress/field_list.h — small helpers for HTTP field values (comma-separated lists,
// optional whitespace, case-insensitive tokens) used inside the compression module only.
// They do not throw and never read outside the views they get.
#pragma once

#include <string_view>

namespace edged::compress::detail {

constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool isOws(char c) { return c == ' ' || c == '\t'; }

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

constexpr bool istartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Calls f(element) for every non-empty, trimmed element of a comma-separated list. Quoted commas
// are not special-cased: none of the fields read here (Accept-Encoding, Vary, Cache-Control
// directive names) needs them for a correct decision.
template <typename F>
constexpr void forEachListElement(std::string_view list, F&& f) {
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view element = trim(list.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// True when the list holds `token`, comparing each element's part before ';' or '='.
constexpr bool listHasToken(std::string_view list, std::string_view token) {
  bool found = false;
  forEachListElement(list, [&](std::string_view element) {
    const size_t end = element.find_first_of(";=");
    if (iequals(trim(element.substr(0, end)), token)) found = true;
  });
  return found;
}

}  // namespace edged::compress::detail
