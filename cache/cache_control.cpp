// cache/cache_control.cpp — the Cache-Control family of parsers.
#include "cache/cache_control.h"

#include <string>

#include "cache/field_text.h"

namespace edged::cache {
namespace {

using namespace text;

// The argument of a directive with quotes and escapes removed; `ok` false on a malformed quote.
// An unquoted argument must be a token (RFC 9110 §5.6.2).
struct Argument {
  bool present = false;
  bool ok = true;
  std::string value;
};

Argument unquote(std::string_view raw) {
  Argument a;
  a.present = true;
  raw = trim(raw);
  if (!raw.empty() && raw.front() == '"') {
    if (raw.size() < 2 || raw.back() != '"') { a.ok = false; return a; }
    for (size_t i = 1; i + 1 < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\\') {
        if (i + 2 >= raw.size()) { a.ok = false; return a; }
        c = raw[++i];
      } else if (c == '"') {
        a.ok = false;
        return a;
      }
      a.value.push_back(c);
    }
    return a;
  }
  if (!isToken(raw)) a.ok = false;
  a.value.assign(raw);
  return a;
}

// Why the two seen-flags: a second occurrence must be told apart from a first invalid one.
struct Seen {
  bool max_age = false, s_maxage = false, max_stale = false, min_fresh = false, swr = false, sie = false;
};

// Records a delta directive: the first valid value wins unless a duplicate shows up.
void setDelta(std::optional<Seconds>& slot, bool& seen, const Argument& arg, bool* invalid_to_zero) {
  const int64_t v = (arg.present && arg.ok) ? parseDeltaSeconds(arg.value) : -1;
  if (invalid_to_zero) {
    if (seen || v < 0) {  // duplicate or invalid: stale (RFC 9111 §4.2.1)
      slot = 0;
      *invalid_to_zero = true;
    } else {
      slot = v;
    }
  } else {
    if (seen || v < 0) slot.reset();  // duplicate or invalid: dropped, relaxes nothing
    else slot = v;
  }
  seen = true;
}

// no-cache="a, b" / private="a": adds the field names to cc.withheld; false (nothing added) when
// there is no argument, or it is not a non-empty list of tokens.
bool withhold(CacheControl& cc, const Argument& arg) {
  if (!arg.present || !arg.ok) return false;
  std::string names;
  bool valid = true;
  forEachElement(arg.value, [&](std::string_view e) {
    if (!isToken(e)) { valid = false; return; }
    for (char c : e) names.push_back(lower(c));
    names.push_back(',');
  });
  if (!valid || names.empty()) return false;
  cc.withheld += names;
  return true;
}

void applyDirective(CacheControl& cc, Seen& seen, std::string_view name, const Argument& arg,
                    bool& poisoned_swr, bool& poisoned_sie, bool& poisoned_min_fresh, bool& poisoned_max_stale) {
  cc.present = true;
  auto is = [&](std::string_view n) { return iequals(name, n); };
  if (is("no-store")) cc.no_store = true;
  else if (is("no-cache")) {
    if (arg.present) cc.no_cache_qualified = true;
    if (!withhold(cc, arg)) cc.no_cache = true;
  } else if (is("private")) {
    if (!withhold(cc, arg)) cc.private_ = true;
  }
  else if (is("public")) cc.public_ = true;
  else if (is("must-revalidate")) cc.must_revalidate = true;
  else if (is("proxy-revalidate")) cc.proxy_revalidate = true;
  else if (is("must-understand")) cc.must_understand = true;
  else if (is("no-transform")) cc.no_transform = true;
  else if (is("only-if-cached")) cc.only_if_cached = true;
  else if (is("immutable")) cc.immutable = true;
  else if (is("max-age")) setDelta(cc.max_age, seen.max_age, arg, &cc.max_age_invalid);
  else if (is("s-maxage")) setDelta(cc.s_maxage, seen.s_maxage, arg, &cc.s_maxage_invalid);
  else if (is("min-fresh")) {
    if (!poisoned_min_fresh) setDelta(cc.min_fresh, seen.min_fresh, arg, nullptr);
    if (!cc.min_fresh) poisoned_min_fresh = true;
  } else if (is("stale-while-revalidate")) {
    if (!poisoned_swr) setDelta(cc.stale_while_revalidate, seen.swr, arg, nullptr);
    if (!cc.stale_while_revalidate) poisoned_swr = true;
  } else if (is("stale-if-error")) {
    if (!poisoned_sie) setDelta(cc.stale_if_error, seen.sie, arg, nullptr);
    if (!cc.stale_if_error) poisoned_sie = true;
  } else if (is("max-stale")) {
    if (poisoned_max_stale) return;
    if (!arg.present) {
      if (seen.max_stale) { cc.max_stale = false; cc.max_stale_value.reset(); poisoned_max_stale = true; return; }
      cc.max_stale = true;
      seen.max_stale = true;
      return;
    }
    setDelta(cc.max_stale_value, seen.max_stale, arg, nullptr);
    cc.max_stale = cc.max_stale_value.has_value();
    if (!cc.max_stale) poisoned_max_stale = true;
  }
  // Anything else: an extension directive this cache does not know; ignored (RFC 9111 §5.2.3).
}

}  // namespace

CacheControl parseCacheControl(std::span<const std::string_view> lines) {
  CacheControl cc;
  Seen seen;
  bool poisoned_swr = false, poisoned_sie = false, poisoned_min_fresh = false, poisoned_max_stale = false;
  for (std::string_view line : lines) {
    forEachElement(line, [&](std::string_view element) {
      const size_t eq = element.find('=');
      const std::string_view raw_name = element.substr(0, eq);
      const std::string_view name = trim(raw_name);
      if (!isToken(name)) return;
      Argument arg;
      if (eq != std::string_view::npos) {
        arg = unquote(element.substr(eq + 1));
        // RFC 9110 §5.6.2: token "=" argument, no whitespace around "=": not a valid argument.
        if (isOws(raw_name.back()) || (eq + 1 < element.size() && isOws(element[eq + 1]))) arg.ok = false;
      }
      applyDirective(cc, seen, name, arg, poisoned_swr, poisoned_sie, poisoned_min_fresh, poisoned_max_stale);
    });
  }
  return cc;
}

CacheControl parseCacheControl(std::string_view line) { return parseCacheControl(std::span(&line, 1)); }

bool isWithheld(std::string_view withheld, std::string_view name) {
  while (!withheld.empty()) {
    const size_t comma = withheld.find(',');
    if (iequals(withheld.substr(0, comma), name)) return true;
    if (comma == std::string_view::npos) break;
    withheld.remove_prefix(comma + 1);
  }
  return false;
}

bool pragmaHasNoCache(std::string_view value) {
  bool found = false;
  forEachElement(value, [&](std::string_view element) {
    if (iequals(trim(element.substr(0, element.find('='))), "no-cache")) found = true;
  });
  return found;
}

CacheControl requestCacheControl(std::span<const std::string_view> cache_control_lines,
                                 std::span<const std::string_view> pragma_lines) {
  CacheControl cc = parseCacheControl(cache_control_lines);
  // A request's no-cache has no field list (RFC 9111 §5.2.1.4): any argument is plain no-cache.
  if (cc.no_cache_qualified) cc.no_cache = true;
  cc.withheld.clear();
  if (!cache_control_lines.empty()) return cc;
  for (std::string_view p : pragma_lines)
    if (pragmaHasNoCache(p)) {
      cc.no_cache = true;
      cc.present = true;
    }
  return cc;
}

namespace {

// RFC 8941 §3.2 dictionary, reduced to what a cache directive needs: each member's key and a bare
// item (integer, string, token, boolean); parameters are parsed and dropped. Any syntax error
// makes the whole field invalid (RFC 8941 §4.2: fail parsing).
class SfDictionary {
 public:
  explicit SfDictionary(std::string_view s) : s_(s) {}

  struct Member {
    std::string key;
    enum class Kind { True, False, Integer, String, Token, Decimal } kind = Kind::True;
    int64_t integer = 0;
    std::string text;
  };

  template <typename F>
  bool parse(F&& f) {
    skipSp();
    if (pos_ == s_.size()) return true;
    while (true) {
      Member m;
      if (!key(m.key)) return false;
      if (peek() == '=') {
        ++pos_;
        if (!bareItem(m)) return false;
      }
      if (!params()) return false;
      f(m);
      skipOws();
      if (pos_ == s_.size()) return true;
      if (peek() != ',') return false;
      ++pos_;
      skipOws();
      if (pos_ == s_.size()) return false;  // trailing comma
    }
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skipSp() { while (peek() == ' ') ++pos_; }
  void skipOws() { while (peek() == ' ' || peek() == '\t') ++pos_; }

  bool key(std::string& out) {
    const char c = peek();
    if (!((c >= 'a' && c <= 'z') || c == '*')) return false;
    while (true) {
      const char k = peek();
      if ((k >= 'a' && k <= 'z') || isDigit(k) || k == '_' || k == '-' || k == '.' || k == '*') {
        out.push_back(k);
        ++pos_;
      } else {
        return true;
      }
    }
  }

  bool bareItem(Member& m) {
    const char c = peek();
    if (c == '-' || isDigit(c)) return number(m);
    if (c == '"') return string(m);
    if (c == '?') {
      ++pos_;
      const char b = peek();
      if (b != '0' && b != '1') return false;
      ++pos_;
      m.kind = b == '1' ? Member::Kind::True : Member::Kind::False;
      return true;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*') {
      m.kind = Member::Kind::Token;
      while (pos_ < s_.size() && (isTchar(peek()) || peek() == ':' || peek() == '/')) m.text.push_back(s_[pos_++]);
      return true;
    }
    return false;  // byte sequences and the rest: not a cache directive value
  }

  bool number(Member& m) {
    bool negative = false;
    if (peek() == '-') { negative = true; ++pos_; }
    if (!isDigit(peek())) return false;
    int64_t v = 0;
    int digits = 0;
    while (isDigit(peek())) {
      if (++digits > 15) return false;  // RFC 8941 §3.3.1: at most 15 digits
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (peek() == '.') {
      ++pos_;
      int frac = 0;
      while (isDigit(peek())) { ++pos_; ++frac; }
      if (frac == 0 || frac > 3) return false;
      m.kind = Member::Kind::Decimal;
      return true;
    }
    m.kind = Member::Kind::Integer;
    m.integer = negative ? -v : v;
    return true;
  }

  bool string(Member& m) {
    ++pos_;
    m.kind = Member::Kind::String;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) return false;
        const char e = s_[pos_++];
        if (e != '"' && e != '\\') return false;
        m.text.push_back(e);
      } else if (c == '"') {
        return true;
      } else if (c < 0x20 || c == 0x7f) {
        return false;
      } else {
        m.text.push_back(c);
      }
    }
    return false;
  }

  bool params() {
    while (peek() == ';') {
      ++pos_;
      skipSp();
      std::string k;
      if (!key(k)) return false;
      if (peek() == '=') {
        ++pos_;
        Member ignored;
        if (!bareItem(ignored)) return false;
      }
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<CacheControl> parseTargetedCacheControl(std::span<const std::string_view> lines) {
  if (lines.empty()) return std::nullopt;
  // Field lines combine with ", " before parsing (RFC 8941 §4.2).
  std::string joined;
  for (std::string_view l : lines) {
    if (!joined.empty()) joined += ", ";
    joined += trim(l);
  }
  CacheControl cc;
  bool ok = true;
  // SF dictionaries keep the last value of a duplicated key, so each directive is applied once
  // after the parse (a plain overwrite, not the Cache-Control "duplicate = stale" rule).
  struct Last { bool set = false; SfDictionary::Member m; };
  Last members[16];
  constexpr std::string_view kNames[] = {"no-store", "no-cache", "private", "public", "must-revalidate",
                                         "proxy-revalidate", "max-age", "s-maxage", "stale-while-revalidate",
                                         "stale-if-error", "must-understand", "no-transform", "immutable"};
  SfDictionary dict(joined);
  if (!dict.parse([&](const SfDictionary::Member& m) {
        cc.present = true;
        for (size_t i = 0; i < std::size(kNames); ++i)
          if (m.key == kNames[i]) members[i] = {true, m};
      }))
    ok = false;
  if (!ok || !cc.present) return std::nullopt;
  using Kind = SfDictionary::Member::Kind;
  auto flag = [&](size_t i) { return members[i].set && members[i].m.kind == Kind::True; };
  // Integer directives: a non-integer or negative value is invalid; for max-age / s-maxage that
  // means stale, for the stale windows it means absent (RFC 9213 §2.2 defers to RFC 9111).
  auto delta = [&](size_t i, std::optional<Seconds>& slot, bool* invalid) {
    if (!members[i].set) return;
    const auto& m = members[i].m;
    if (m.kind == Kind::Integer && m.integer >= 0) {
      slot = m.integer > text::kDeltaMax ? text::kDeltaMax : m.integer;
    } else if (invalid) {
      slot = 0;
      *invalid = true;
    }
  };
  cc.no_store = flag(0);
  cc.no_cache = members[1].set && (members[1].m.kind == Kind::True || members[1].m.kind == Kind::String);
  cc.no_cache_qualified = members[1].set && members[1].m.kind == Kind::String;
  cc.private_ = members[2].set && (members[2].m.kind == Kind::True || members[2].m.kind == Kind::String);
  cc.public_ = flag(3);
  cc.must_revalidate = flag(4);
  cc.proxy_revalidate = flag(5);
  delta(6, cc.max_age, &cc.max_age_invalid);
  delta(7, cc.s_maxage, &cc.s_maxage_invalid);
  delta(8, cc.stale_while_revalidate, nullptr);
  delta(9, cc.stale_if_error, nullptr);
  cc.must_understand = flag(10);
  cc.no_transform = flag(11);
  cc.immutable = flag(12);
  return cc;
}

SelectedCacheControl selectResponseCacheControl(std::span<const std::string_view> edged_cache_control,
                                                std::span<const std::string_view> cdn_cache_control,
                                                std::span<const std::string_view> cache_control) {
  if (auto t = parseTargetedCacheControl(edged_cache_control)) return {*t, true};
  if (auto t = parseTargetedCacheControl(cdn_cache_control)) return {*t, true};
  return {parseCacheControl(cache_control), false};
}

}  // namespace edged::cache
