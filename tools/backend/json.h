// tools/backend/json.h — the backend's tiny JSON: a strict RFC 8259 reader into a small value
// tree (request bodies only, bounded depth) and the string escaping the response writers use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edged::backend {

struct JsonValue {
  enum class Type : uint8_t { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  std::string text;  // a string's decoded UTF-8, or a number's source text
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;

  // The member named `key` of an object (the last one if repeated), or null.
  const JsonValue* get(std::string_view key) const;
  bool isString() const { return type == Type::String; }
};

// Parses one JSON document; on bad input returns nullopt and says why in `error` (with the byte
// offset). Rejects invalid UTF-8, lone surrogates, nesting deeper than `max_depth`.
std::optional<JsonValue> parseJson(std::string_view in, std::string& error, int max_depth = 16);

// Appends `s` as a JSON string literal (quotes included).
void appendJsonString(std::string& out, std::string_view s);

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates).
bool validUtf8(std::string_view s);

}  // namespace edged::backend
