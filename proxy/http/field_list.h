// proxy/http/field_list.h — the one parser of list-valued field values (RFC 9110 §5.6.1:
// comma-separated elements, optional whitespace, case-insensitive tokens, parameters after ';'),
// used by Connection, Upgrade, Transfer-Encoding, Cache-Control, Vary and Accept-Encoding alike.
// Nothing here throws or reads outside the views it gets.
#pragma once

#include <string_view>

namespace edged::proxy::fields {

constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool isOws(char c) { return c == ' ' || c == '\t'; }

// URI characters (RFC 3986), for the request target's checks and the cache key's normalisation.
// A hex digit's value, or -1.
constexpr int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  const char l = lower(c);
  return l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
}
// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" (§2.3).
constexpr bool isUnreserved(unsigned char c) {
  return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~';
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

constexpr bool istartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Calls f(element) for every non-empty, trimmed element of a comma-separated list, parameters
// included. A comma inside a quoted-string does not split (Cache-Control: no-cache="a, b").
template <typename F>
constexpr void forEachListElement(std::string_view list, F&& f) {
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
      if (c == '"') {
        quoted = true;
        continue;
      }
      if (c != ',') continue;
    }
    const std::string_view element = trim(list.substr(start, i - start));
    if (!element.empty()) f(element);
    start = i + 1;
  }
}

// The element's name: the part before ';' or '=' (a token's parameters, a directive's value).
constexpr std::string_view elementName(std::string_view element) {
  return trim(element.substr(0, element.find_first_of(";=")));
}

// Calls f(name) for every element's name (see elementName).
template <typename F>
constexpr void forEachToken(std::string_view list, F&& f) {
  forEachListElement(list, [&](std::string_view element) {
    if (const std::string_view name = elementName(element); !name.empty()) f(name);
  });
}

// True when the list holds `token` (compared case-insensitively with each element's name).
constexpr bool listHasToken(std::string_view list, std::string_view token) {
  bool found = false;
  forEachToken(list, [&](std::string_view name) { found = found || iequals(name, token); });
  return found;
}

}  // namespace edged::proxy::fields

namespace edged::proxy {
// True when `list` (a comma-separated header value) holds `token`, case-insensitively.
constexpr bool headerHasToken(std::string_view list, std::string_view token) {
  return fields::listHasToken(list, token);
}
}  // namespace edged::proxy
