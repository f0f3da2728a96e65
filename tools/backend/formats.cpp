// tools/backend/formats.cpp — small parsers kept pure so the unit tests cover their edges.
#include "tools/backend/formats.h"

#include <cstdio>

namespace edged::backend {

namespace {
int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
std::optional<uint32_t> parseHex32(std::string_view s) {
  if (s.empty() || s.size() > 8) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    const int d = hexDigit(c);
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<uint32_t>(d);
  }
  return v;
}
}  // namespace

std::optional<uint64_t> parseLsn(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto hi = parseHex32(text.substr(0, slash));
  const auto lo = parseHex32(text.substr(slash + 1));
  if (!hi || !lo) return std::nullopt;
  return (static_cast<uint64_t>(*hi) << 32) | *lo;
}

std::string formatLsn(uint64_t lsn) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xFFFFFFFFu));
  return buf;
}

std::string fixedLsn(uint64_t lsn) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(lsn));
  return buf;
}

std::optional<uint64_t> parseFixedLsn(std::string_view text) {
  if (text.size() != 16) return std::nullopt;
  const auto hi = parseHex32(text.substr(0, 8));
  const auto lo = parseHex32(text.substr(8));
  if (!hi || !lo) return std::nullopt;
  return (static_cast<uint64_t>(*hi) << 32) | *lo;
}

void appendCsvField(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string etagOf(std::string_view body) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (char c : body) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

bool etagMatches(std::string_view list, std::string_view etag) {
  size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) ++i;
    size_t j = i;
    while (j < list.size() && list[j] != ',') ++j;
    std::string_view tag = list.substr(i, j - i);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag == "*") return true;
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (!tag.empty() && tag == etag) return true;
    i = j + 1;
  }
  return false;
}

std::optional<int64_t> parseId(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<uint64_t> parseCount(std::string_view text, uint64_t max) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

std::string_view cookieValue(std::string_view header, std::string_view name) {
  size_t i = 0;
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ';')) ++i;
    size_t end = header.find(';', i);
    if (end == std::string_view::npos) end = header.size();
    const std::string_view pair = header.substr(i, end - i);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    i = end + 1;
  }
  return {};
}

std::optional<std::string_view> queryParam(std::string_view query, std::string_view name) {
  size_t i = 0;
  while (i <= query.size()) {
    size_t end = query.find('&', i);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(i, end - i);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    i = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> percentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int h = hexDigit(in[i + 1]), l = hexDigit(in[i + 2]);
      if (h < 0 || l < 0) return std::nullopt;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace edged::backend
