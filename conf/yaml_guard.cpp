// conf/yaml_guard.cpp — see yaml_guard.h. Only token starts matter here: a quote, bracket,
// comma or indicator means something only where a new token may begin, so the scan keeps one
// flag (`token_start`) and skips over quoted and block scalars, whose contents mean nothing.
#include "conf/yaml_guard.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <sstream>
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
  int columnOf(size_t pos) const { return static_cast<int>(pos - line_start_); }
  // The start of a node (not an indicator) at pos: the column a simple key there would have.
  void nodeAt(size_t pos) {
    if (expect_node_) node_col_ = columnOf(pos);
    expect_node_ = false;
  }
  // yaml-cpp's PushIndentTo for a block collection at column (no-op inside [...] / {...}).
  void openBlock(int column, bool seq) {
    if (flow_ > 0) return;
    const int top = blocks_.empty() ? -1 : blocks_.back().column;
    if (column > top || (column == top && seq && !blocks_.back().seq)) {
      blocks_.push_back({column, seq});
    }
  }
  // yaml-cpp's PopIndentToHere for the first token of a line.
  void closeBlocksBefore(int column, bool block_entry) {
    while (!blocks_.empty() && (blocks_.back().column > column ||
                                (blocks_.back().column == column && blocks_.back().seq &&
                                 !block_entry))) {
      blocks_.pop_back();
    }
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
  // A multi-line plain scalar, as yaml-cpp 0.7 scans it: a later line indented at least
  // plain_indent_ (one more than the innermost block collection's column when the scalar began,
  // 0 at the top level) continues it; a comment, a document marker or a shallower line ends it.
  struct Block {
    int column;
    bool seq;
  };
  std::vector<Block> blocks_;  // yaml-cpp's block indentation stack (maps at their keys' column)
  bool expect_node_ = true;    // the next token starts a node (line start, after '- ', '? ', ': ')
  int node_col_ = 0;           // column where the current node began (a key's column)
  bool in_plain_ = false;      // a block-context plain scalar is open
  int plain_indent_ = 0;
  int plain_line_ = 0;
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
        if (c == '#') in_plain_ = false;  // a comment line ends a plain scalar, a blank one not
        pos = skipToLineEnd(first);
        continue;
      }
      line_indent_ = first - pos;
      inline_block_ = 0;
      if (line_indent_ == 0 && (text_.substr(pos, 3) == "---" || text_.substr(pos, 3) == "...") &&
          (at(pos + 3) == '\0' || isBlank(at(pos + 3)) || isBreak(at(pos + 3)))) {
        indents_.clear();  // a new document (or the end of one)
        blocks_.clear();
        in_plain_ = false;
        expect_node_ = true;
        flow_ = 0;
        token_start = true;
        pos += 3;
        continue;
      }
      if (line_indent_ == 0 && c == '%') {  // directive
        pos = skipToLineEnd(first);
        continue;
      }
      if (flow_ == 0 && in_plain_ && static_cast<int>(line_indent_) >= plain_indent_) {
        // This line continues a multi-line plain scalar: to yaml-cpp its first character is
        // content. One that would open a token if the line stood alone (a quote, a bracket, a
        // block scalar, a comma) makes this scan and yaml-cpp see different tokens from here
        // on; yaml-cpp 0.7 then loops forever on text such as "8\n\"\n#\n," (the open fuzz
        // finding config-yaml-cpp-plain-continuation.yaml). No config needs it: refuse it.
        if (c == '"' || c == '\'' || c == '[' || c == '{' || c == '|' || c == '>' || c == ',') {
          return errorAt(first, std::string("this line continues the plain value begun on line ") +
                                    std::to_string(plain_line_) + ", so it may not begin with '" +
                                    c + "'; quote the whole value");
        }
        pos = first;  // token_start stays false: still inside the scalar
        continue;
      }
      in_plain_ = false;
      if (flow_ == 0) {
        closeBlocksBefore(static_cast<int>(line_indent_), c == '-' && endsIndicator(first));
        expect_node_ = true;
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
      in_plain_ = false;
      pos = skipToLineEnd(pos);
      continue;
    }
    if (!token_start) {
      // Inside a plain scalar, where a ',' outside [...] and {...} is just a character.
      if (c == ':' && endsIndicator(pos)) {
        token_start = true;
        in_plain_ = false;
        openBlock(node_col_, false);  // the scalar was a key
        expect_node_ = true;
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
    in_plain_ = false;
    switch (c) {
      case '\'':
      case '"':
        nodeAt(pos);
        // After a complete token yaml-cpp's scanner looks for a new one, wherever it is: so
        // does this scan ('""""' is two quoted scalars, '"a",' a comma token).
        pos = skipQuoted(pos);
        continue;
      case '[':
      case '{':
        nodeAt(pos);
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
        nodeAt(pos);
        if (++anchors_ > limits_.max_anchors) {
          return errorAt(pos, "more than " + std::to_string(limits_.max_anchors) + " anchors (&)");
        }
        pos = skipName(pos + 1);
        continue;
      case '*':
        nodeAt(pos);
        if (++aliases_ > limits_.max_aliases) {
          return errorAt(pos, "more than " + std::to_string(limits_.max_aliases) + " aliases (*)");
        }
        pos = skipName(pos + 1);
        continue;
      case '!':
        nodeAt(pos);
        pos = skipName(pos + 1);
        continue;
      case '|':
      case '>':
        if (flow_ == 0) {
          nodeAt(pos);
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
          // '- ' and '? ' open a collection at their own column; ': ' a map at its key's
          // (or at its own, with no key before it on the line).
          openBlock(c == ':' && !expect_node_ ? node_col_ : columnOf(pos), c == '-');
          expect_node_ = true;
          ++pos;
          continue;
        }
        break;
      default:
        break;
    }
    token_start = false;  // a plain scalar begins
    nodeAt(pos);
    if (flow_ == 0) {
      in_plain_ = true;
      plain_indent_ = (blocks_.empty() ? -1 : blocks_.back().column) + 1;
      plain_line_ = line_;
    }
    ++pos;
  }
  return std::nullopt;
}

// Counts documents and remembers where the second began; builds nothing.
class DocumentCounter final : public YAML::EventHandler {
 public:
  size_t documents = 0;
  YAML::Mark second;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) second = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

YamlDocument loadFirstYamlDocument(std::string_view text) {
  YamlDocument result;
  {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    DocumentCounter counter;
    while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.documents >= 2) {
      result.next = counter.second;
      const size_t pos = static_cast<size_t>(std::max(counter.second.pos, 0));
      result.next_is_document = text.substr(pos, 3) == "---";
    }
  }
  result.root = YAML::Load(std::string(text));  // one document: YAML::Load never loops
  return result;
}

std::optional<YamlGuardError> checkYamlText(std::string_view text, const YamlLimits& limits) {
  return Scanner(text, limits).run();
}

}  // namespace edged::conf
