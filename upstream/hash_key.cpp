// upstream/hash_key.cpp — hash_key parsing (nginx variable names) and cookie lookup.
#include "upstream/hash_key.h"

namespace edged::upstream {

std::optional<HashKey> parseHashKey(std::string_view text) {
  if (text == "$remote_addr") return HashKey{HashKeyKind::RemoteAddr, {}};
  if (text == "$uri") return HashKey{HashKeyKind::Uri, {}};
  constexpr std::string_view kHttp = "$http_", kCookie = "$cookie_";
  if (text.starts_with(kHttp) && text.size() > kHttp.size()) {
    HashKey k{HashKeyKind::Header, {}};
    for (char c : text.substr(kHttp.size())) {
      if (c == '_') c = '-';
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      k.name.push_back(c);
    }
    return k;
  }
  if (text.starts_with(kCookie) && text.size() > kCookie.size())
    return HashKey{HashKeyKind::Cookie, std::string(text.substr(kCookie.size()))};
  return std::nullopt;
}

std::string_view findCookie(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string_view value = pair.substr(eq + 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return {};
}

}  // namespace edged::upstream
