// conf/yaml_guard.cpp — see yaml_guard.h. Only token starts matter here: a quote, bracket,
// comma or indicator means something only where a new token may begin, so the scan keeps one
// flag (`token_start`) and skips over quoted and block scalars, whose contents mean nothing.
#include "conf/yaml_guard.h"

#include <vector>

namespace edged::conf {
namespace {

bool isBlank(char c) { return c == ' ' || c == '\t'; }
bool isBreak(char c) { return c == '\n' || c == '\r'; }
bool isFlowIndicator(char c) { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'; }

class Scanner {
 public:
  Scanner(std::string_view text, const YamlLimits& limits) : text_(text), limits_(limits) {}

  std::optional<YamlGuardError> run();

 private:
  char at(size_t pos) const { return pos < text_.size() ? text_[pos] : '\0'; }
  // An indicator ('-', '?', ':') counts only when a blank, a break or the end follows it.
  bool endsIndicator(size_t pos) const {
    const char next = at(pos + 1);
    return next == '\0' || isBlank(next) || isBreak(next) ||
           (flow_ > 0 && text_[pos] == ':' && isFlowIndicator(next));
  }
  YamlGuardError errorAt(size_t pos, std::string message) const {
    return YamlGuardError{line_, static_cast<int>(pos - line_start_) + 1, std::move(message)};
  }
  void newLine(size_t next_pos) {
    ++line_;
    line_start_ = next_pos;
  }
  std::optional<YamlGuardError> checkDepth(size_t pos) const;
  YamlGuardError commaError(size_t pos) const {
    return errorAt(pos,
                   "a ',' may start a value only inside [...] or {...}; quote the value if it "
                   "begins with a comma");
  }
  // From the opening quote; returns the position after the closing one (or the end).
  size_t skipQuoted(size_t pos);
  // From a '|' or '>' header: skips the header line and every following line that is blank
  // or indented deeper than the line that holds the header.
  size_t skipBlockScalar(size_t pos);
  size_t skipToLineEnd(size_t pos) const {
    while (pos < text_.size() && !isBreak(text_[pos])) ++pos;
    return pos;
  }
  // Anchor, alias or tag name: up to a blank, a break or a flow indicator (never part of one).
  size_t skipName(size_t pos) const {
    while (pos < text_.size() && !isBlank(text_[pos]) && !isBreak(text_[pos]) &&
           !isFlowIndicator(text_[pos]))
      ++pos;
    return pos;
  }

  std::string_view text_;
  const YamlLimits& limits_;
  int line_ = 1;
  size_t line_start_ = 0;
  size_t line_indent_ = 0;
  std::vector<size_t> indents_;  // block indentation levels open at the current line
  size_t inline_block_ = 0;      // '- ' and '? ' entries opened on the current line
  size_t flow_ = 0;              // open '[' and '{'
  size_t anchors_ = 0;
  size_t aliases_ = 0;
};

std::optional<YamlGuardError> Scanner::checkDepth(size_t pos) const {
  if (indents_.size() + inline_block_ + flow_ <= limits_.max_depth) return std::nullopt;
  return errorAt(pos, "collections nested deeper than " + std::to_string(limits_.max_depth) +
                          " levels");
}

size_t Scanner::skipQuoted(size_t pos) {
  const char quote = text_[pos++];
  while (pos < text_.size()) {
    const char c = text_[pos];
    if (c == '\n') {
      newLine(pos + 1);
    } else if (quote == '"' && c == '\\') {
      if (at(pos + 1) == '\n') newLine(pos + 2);
      ++pos;  // the escaped character, whatever it is
    } else if (c == quote) {
      if (quote == '\'' && at(pos + 1) == '\'') {
        ++pos;  // '' inside single quotes
      } else {
        return pos + 1;
      }
    }
    ++pos;
  }
  return pos;  // unterminated: yaml-cpp reports it
}

size_t Scanner::skipBlockScalar(size_t pos) {
  const size_t parent_indent = line_indent_;
  pos = skipToLineEnd(pos);
  while (pos < text_.size()) {
    // pos is at a break; look at the next line.
    size_t next = pos + 1;
    if (text_[pos] == '\r' && at(next) == '\n') ++next;
    size_t indent_end = next;
    while (at(indent_end) == ' ') ++indent_end;
    const bool blank = indent_end >= text_.size() || isBreak(text_[indent_end]);
    if (!blank && indent_end - next <= parent_indent) return pos;  // the scalar ended
    newLine(next);
    pos = skipToLineEnd(indent_end);
  }
  return pos;
}

std::optional<YamlGuardError> Scanner::run() {
  if (text_.size() > limits_.max_bytes) {
    return YamlGuardError{1, 1,
                          "the file is " + std::to_string(text_.size()) +
                              " bytes; a config may have at most " +
                              std::to_string(limits_.max_bytes) + " bytes"};
  }
  bool line_begin = true;
  bool token_start = true;
  size_t pos = 0;
  while (pos < text_.size()) {
    if (line_begin) {
      line_begin = false;
      size_t first = pos;
      while (at(first) == ' ') ++first;
      const char c = at(first);
      if (first >= text_.size() || isBreak(c) || c == '#') {  // blank or comment-only
        pos = skipToLineEnd(first);
        continue;
      }
      line_indent_ = first - pos;
      inline_block_ = 0;
      if (line_indent_ == 0 && (text_.substr(pos, 3) == "---" || text_.substr(pos, 3) == "...") &&
          (at(pos + 3) == '\0' || isBlank(at(pos + 3)) || isBreak(at(pos + 3)))) {
        indents_.clear();  // a new document (or the end of one)
        flow_ = 0;
        token_start = true;
        pos += 3;
        continue;
      }
      if (line_indent_ == 0 && c == '%') {  // directive
        pos = skipToLineEnd(first);
        continue;
      }
      if (flow_ == 0) {
        while (!indents_.empty() && indents_.back() > line_indent_) indents_.pop_back();
        if (indents_.empty() || indents_.back() < line_indent_) {
          indents_.push_back(line_indent_);
          if (auto error = checkDepth(first)) return error;
        }
        // A ',' here that continues a multi-line plain value is valid YAML but is rejected all
        // the same; the message says to quote it.
        token_start = true;
      }
      pos = first;
      continue;
    }
    const char c = text_[pos];
    if (c == '\0') {
      // Never in YAML text; yaml-cpp 0.7 loops forever on "\0,". UTF-16 and UTF-32 text, which
      // yaml-cpp would transcode behind this scan's back, has NULs too.
      return errorAt(pos, "a NUL byte; a config must be UTF-8 text");
    }
    if (text_.substr(pos, 3) == "\xEF\xBB\xBF") {  // a UTF-8 BOM: yaml-cpp drops it, so does this scan
      pos += 3;
      continue;
    }
    if (c == '\n' || c == '\r') {
      if (c == '\r' && at(pos + 1) == '\n') ++pos;
      ++pos;
      newLine(pos);
      line_begin = true;
      continue;
    }
    if (isBlank(c)) {
      ++pos;
      continue;
    }
    if (c == '#' && (pos == line_start_ || isBlank(text_[pos - 1]))) {
      pos = skipToLineEnd(pos);
      continue;
    }
    if (!token_start) {
      // Inside a plain scalar, where a ',' outside [...] and {...} is just a character.
      if (c == ':' && endsIndicator(pos)) {
        token_start = true;
      } else if (flow_ > 0 && c == ',') {
        token_start = true;
      } else if (flow_ > 0 && (c == '[' || c == '{')) {
        ++flow_;
        if (auto error = checkDepth(pos)) return error;
        token_start = true;
      } else if (flow_ > 0 && (c == ']' || c == '}')) {
        --flow_;
        token_start = true;
      }
      ++pos;
      continue;
    }
    switch (c) {
      case '\'':
      case '"':
        // After a complete token yaml-cpp's scanner looks for a new one, wherever it is: so
        // does this scan ('""""' is two quoted scalars, '"a",' a comma token).
        pos = skipQuoted(pos);
        continue;
      case '[':
      case '{':
        ++flow_;
        if (auto error = checkDepth(pos)) return error;
        ++pos;
        continue;
      case ']':
      case '}':
        if (flow_ > 0) --flow_;
        ++pos;
        continue;
      case ',':
        if (flow_ == 0) return commaError(pos);
        ++pos;
        continue;
      case '&':
        if (++anchors_ > limits_.max_anchors) {
          return errorAt(pos, "more than " + std::to_string(limits_.max_anchors) + " anchors (&)");
        }
        pos = skipName(pos + 1);
        continue;
      case '*':
        if (++aliases_ > limits_.max_aliases) {
          return errorAt(pos, "more than " + std::to_string(limits_.max_aliases) + " aliases (*)");
        }
        pos = skipName(pos + 1);
        continue;
      case '!':
        pos = skipName(pos + 1);
        continue;
      case '|':
      case '>':
        if (flow_ == 0) {
          pos = skipBlockScalar(pos);
          token_start = false;
          continue;
        }
        break;
      case '-':
      case '?':
      case ':':
        if (endsIndicator(pos)) {
          if (c != ':' && flow_ == 0) {
            ++inline_block_;
            if (auto error = checkDepth(pos)) return error;
          }
          ++pos;
          continue;
        }
        break;
      default:
        break;
    }
    token_start = false;  // a plain scalar begins
    ++pos;
  }
  return std::nullopt;
}

}  // namespace

std::optional<YamlGuardError> checkYamlText(std::string_view text, const YamlLimits& limits) {
  return Scanner(text, limits).run();
}

}  // namespace edged::conf
