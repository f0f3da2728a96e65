// tests/unit/proxy/metrics/exposition_parser.h — a small strict reader of Prometheus text format
// 0.0.4 for the metrics tests: checks line shapes, unescapes label values, groups samples by
// family and reports the first problem it meets.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace edged::metrics::test {

struct Sample {
  std::string name;                          // full series name (with _bucket/_sum/_count)
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct Family {
  std::string help;  // unescaped
  std::string type;
  int help_lines = 0, type_lines = 0;
  std::vector<Sample> samples;
};

struct Exposition {
  std::map<std::string, Family> families;
  std::vector<std::string> order;  // family names as first met
  std::string error;               // empty when the text parsed cleanly

  const Family* family(const std::string& name) const {
    const auto it = families.find(name);
    return it == families.end() ? nullptr : &it->second;
  }
  // The value of the one sample of `family` named `series` carrying all of `labels`.
  std::optional<double> value(const std::string& family_name, const std::string& series,
                              const std::map<std::string, std::string>& labels) const {
    const Family* f = family(family_name);
    if (!f) return std::nullopt;
    std::optional<double> found;
    for (const Sample& s : f->samples) {
      if (s.name != series) continue;
      bool all = true;
      for (const auto& [k, v] : labels) {
        const auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) all = false;
      }
      if (all) {
        if (found) return std::nullopt;  // ambiguous
        found = s.value;
      }
    }
    return found;
  }
};

inline std::optional<double> parseValue(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  static const std::regex number(R"(^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$)");
  if (!std::regex_match(text, number)) return std::nullopt;
  return std::strtod(text.c_str(), nullptr);
}

inline std::optional<std::string> unescape(const std::string& in, bool help) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      if (!help && in[i] == '"') return std::nullopt;  // must have been escaped
      out += in[i];
      continue;
    }
    if (++i == in.size()) return std::nullopt;
    switch (in[i]) {
      case '\\': out += '\\'; break;
      case 'n': out += '\n'; break;
      case '"':
        if (help) return std::nullopt;  // the writer leaves quotes in HELP alone
        out += '"';
        break;
      default: return std::nullopt;
    }
  }
  return out;
}

// The family a series belongs to: histograms own name_bucket, name_sum, name_count.
inline std::string familyOf(const std::string& series, const std::map<std::string, Family>& fams) {
  if (fams.count(series)) return series;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (series.size() > s.size() && series.compare(series.size() - s.size(), s.size(), s) == 0) {
      const std::string base = series.substr(0, series.size() - s.size());
      const auto it = fams.find(base);
      if (it != fams.end() && it->second.type == "histogram") return base;
    }
  }
  return {};
}

inline Exposition parseExposition(const std::string& text) {
  Exposition e;
  static const std::regex help_re(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$)");
  static const std::regex type_re(
      R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex sample_re(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$)");
  static const std::regex label_name_re(R"(^[a-zA-Z_][a-zA-Z0-9_]*$)");
  std::set<std::string> series_seen;
  std::string current;  // family whose samples may follow

  if (!text.empty() && text.back() != '\n') e.error = "output does not end with a newline";
  std::istringstream in(text);
  std::string line;
  int n = 0;
  auto fail = [&](const std::string& why) {
    if (e.error.empty()) e.error = "line " + std::to_string(n) + ": " + why + ": " + line;
  };
  while (std::getline(in, line)) {
    ++n;
    std::smatch m;
    if (line.empty()) {
      fail("empty line");
    } else if (line.rfind("# HELP ", 0) == 0) {
      if (!std::regex_match(line, m, help_re)) { fail("bad HELP"); continue; }
      const std::string name = m[1];
      Family& f = e.families[name];
      if (f.help_lines == 0 && f.type_lines == 0) e.order.push_back(name);
      if (!f.samples.empty()) fail("HELP after samples");
      const auto help = unescape(m[2], true);
      if (!help) fail("bad HELP escape");
      f.help = help.value_or("");
      ++f.help_lines;
      current = name;
    } else if (line.rfind("# TYPE ", 0) == 0) {
      if (!std::regex_match(line, m, type_re)) { fail("bad TYPE"); continue; }
      const std::string name = m[1];
      Family& f = e.families[name];
      if (f.help_lines == 0 && f.type_lines == 0) e.order.push_back(name);
      if (!f.samples.empty()) fail("TYPE after samples");
      f.type = m[2];
      ++f.type_lines;
      current = name;
    } else if (line[0] == '#') {
      fail("unexpected comment");
    } else {
      if (!std::regex_match(line, m, sample_re)) { fail("bad sample line"); continue; }
      Sample s;
      s.name = m[1];
      const std::string labels = m[2];
      if (!labels.empty()) {
        // {name="value",...} with escapes inside the quotes.
        size_t i = 1;
        while (i < labels.size() - 1) {
          const size_t eq = labels.find('=', i);
          if (eq == std::string::npos) { fail("label without ="); break; }
          const std::string lname = labels.substr(i, eq - i);
          if (!std::regex_match(lname, label_name_re)) fail("bad label name " + lname);
          if (eq + 1 >= labels.size() || labels[eq + 1] != '"') { fail("unquoted label"); break; }
          size_t j = eq + 2;
          std::string raw;
          while (j < labels.size() && labels[j] != '"') {
            if (labels[j] == '\\' && j + 1 < labels.size()) raw += labels[j++];
            raw += labels[j++];
          }
          if (j >= labels.size()) { fail("unterminated label value"); break; }
          const auto value = unescape(raw, false);
          if (!value) fail("bad label escape");
          if (!s.labels.emplace(lname, value.value_or("")).second) fail("repeated label");
          i = j + 1;
          if (i < labels.size() - 1) {
            if (labels[i] != ',') { fail("expected ,"); break; }
            ++i;
          }
        }
      }
      const auto v = parseValue(m[3]);
      if (!v) fail("bad value");
      s.value = v.value_or(0);
      const std::string fam = familyOf(s.name, e.families);
      if (fam.empty()) fail("sample of an undeclared family");
      else if (fam != current) fail("sample not under its family's header");
      std::string key = s.name;
      for (const auto& [k, val] : s.labels) key += "|" + k + "=" + val;
      if (!series_seen.insert(key).second) fail("duplicate series");
      if (!fam.empty()) e.families[fam].samples.push_back(std::move(s));
    }
  }
  for (const auto& [name, f] : e.families) {
    if (f.help_lines != 1 || f.type_lines != 1) {
      if (e.error.empty()) e.error = name + ": HELP and TYPE must each appear exactly once";
    }
  }
  return e;
}

}  // namespace edged::metrics::test
