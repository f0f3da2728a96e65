// tools/backend/json.cpp — recursive descent with a depth bound: request bodies come from anyone.
#include "tools/backend/json.h"

#include <cstdio>

namespace edged::backend {

const JsonValue* JsonValue::get(std::string_view key) const {
  const JsonValue* found = nullptr;
  if (type != Type::Object) return nullptr;
  for (const auto& [k, v] : members)
    if (k == key) found = &v;
  return found;
}

bool validUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

namespace {

class Reader {
 public:
  Reader(std::string_view in, std::string& error, int max_depth) : in_(in), error_(error), max_depth_(max_depth) {}

  std::optional<JsonValue> document() {
    JsonValue v;
    skipSpace();
    if (!value(v, 0)) return std::nullopt;
    skipSpace();
    if (pos_ != in_.size()) return fail("unexpected data after the JSON value");
    return v;
  }

 private:
  std::nullopt_t fail(const char* what) {
    if (error_.empty()) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "invalid JSON at byte %zu: %s", pos_, what);
      error_ = buf;
    }
    return std::nullopt;
  }
  void skipSpace() {
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) ++pos_;
  }
  bool literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool value(JsonValue& v, int depth) {
    if (depth > max_depth_) return fail("nested too deeply"), false;
    if (pos_ >= in_.size()) return fail("unexpected end"), false;
    switch (in_[pos_]) {
      case '{': return object(v, depth);
      case '[': return array(v, depth);
      case '"': v.type = JsonValue::Type::String; return string(v.text);
      case 't': v.type = JsonValue::Type::Bool; v.boolean = true; return literal("true") || (fail("bad literal"), false);
      case 'f': v.type = JsonValue::Type::Bool; return literal("false") || (fail("bad literal"), false);
      case 'n': v.type = JsonValue::Type::Null; return literal("null") || (fail("bad literal"), false);
      default: return number(v);
    }
  }
  bool number(JsonValue& v) {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t s = pos_;
      while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
      return pos_ > s;
    };
    if (pos_ < in_.size() && in_[pos_] == '-') ++pos_;
    if (pos_ < in_.size() && in_[pos_] == '0') ++pos_;
    else if (!digits()) return fail("expected a value"), false;
    if (pos_ < in_.size() && in_[pos_] == '.') {
      ++pos_;
      if (!digits()) return fail("bad number"), false;
    }
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
      if (!digits()) return fail("bad number"), false;
    }
    v.type = JsonValue::Type::Number;
    v.text.assign(in_.substr(start, pos_ - start));
    return true;
  }
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool hex4(uint32_t& out) {
    if (pos_ + 4 > in_.size()) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex(in_[pos_ + i]);
      if (h < 0) return false;
      out = out * 16 + static_cast<uint32_t>(h);
    }
    pos_ += 4;
    return true;
  }
  static void putUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool string(std::string& out) {
    ++pos_;  // opening quote
    const size_t start = pos_;
    while (true) {
      if (pos_ >= in_.size()) return fail("unterminated string"), false;
      const char c = in_[pos_];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string"), false;
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (++pos_ >= in_.size()) return fail("unterminated escape"), false;
      const char e = in_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!hex4(cp)) return fail("bad \\u escape"), false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (!literal("\\u") || !hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return fail("lone surrogate"), false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail("lone surrogate"), false;
          }
          putUtf8(out, cp);
          break;
        }
        default: return fail("bad escape"), false;
      }
    }
    ++pos_;  // closing quote
    (void)start;
    if (!validUtf8(out)) return fail("invalid UTF-8 in string"), false;
    return true;
  }
  bool array(JsonValue& v, int depth) {
    v.type = JsonValue::Type::Array;
    ++pos_;
    skipSpace();
    if (pos_ < in_.size() && in_[pos_] == ']') return ++pos_, true;
    while (true) {
      skipSpace();
      v.items.emplace_back();
      if (!value(v.items.back(), depth + 1)) return false;
      skipSpace();
      if (pos_ < in_.size() && in_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < in_.size() && in_[pos_] == ']') return ++pos_, true;
      return fail("expected ',' or ']'"), false;
    }
  }
  bool object(JsonValue& v, int depth) {
    v.type = JsonValue::Type::Object;
    ++pos_;
    skipSpace();
    if (pos_ < in_.size() && in_[pos_] == '}') return ++pos_, true;
    while (true) {
      skipSpace();
      if (pos_ >= in_.size() || in_[pos_] != '"') return fail("expected a member name"), false;
      std::string key;
      if (!string(key)) return false;
      skipSpace();
      if (pos_ >= in_.size() || in_[pos_] != ':') return fail("expected ':'"), false;
      ++pos_;
      skipSpace();
      v.members.emplace_back(std::move(key), JsonValue{});
      if (!value(v.members.back().second, depth + 1)) return false;
      skipSpace();
      if (pos_ < in_.size() && in_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < in_.size() && in_[pos_] == '}') return ++pos_, true;
      return fail("expected ',' or '}'"), false;
    }
  }

  std::string_view in_;
  std::string& error_;
  int max_depth_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<JsonValue> parseJson(std::string_view in, std::string& error, int max_depth) {
  error.clear();
  return Reader(in, error, max_depth).document();
}

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace edged::backend
