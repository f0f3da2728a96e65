// conf/yaml_guard.h — the cheap pass over config text that runs before yaml-cpp sees it, so that
// hostile or broken text cannot make the parser hang, recurse off the stack or expand aliases.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace edged::conf {

struct YamlLimits {
  size_t max_bytes = 1024 * 1024;  // 1 MiB: edged's own full example is ~5 kB
  size_t max_depth = 64;           // nested block + flow collections
  size_t max_anchors = 64;         // &name
  size_t max_aliases = 64;         // *name (billion laughs needs many)
};

struct YamlGuardError {
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in bytes
  std::string message;
};

// nullopt when the text may go to yaml-cpp. The scan is one linear pass; it understands just
// enough YAML (comments, quoted scalars, block scalars, flow brackets, indicators) to find
// token starts. It rejects, besides the limits above, a ',' that is a token of its own outside a
// flow collection (at a value's start, or right after a quoted value, a ']' / '}' or an alias):
// never valid YAML, and yaml-cpp 0.7 loops forever on one at the top level of a document
// (tests/fuzz/findings/config-yaml-cpp-slow.yaml is ", 429" in disguise,
// config-yaml-cpp-quoted-comma.yaml is '"",'). NUL bytes are refused (yaml-cpp loops on "\0,"
// too); a UTF-8 BOM is skipped, as yaml-cpp does. Multi-line plain values are followed as
// yaml-cpp 0.7 scans them (a later line indented deeper than the innermost block collection
// continues one), and a continuation line that begins with a quote, '[', '{', '|', '>' or ','
// is refused: yaml-cpp reads that character as text where this scan would see a token
// (config-yaml-cpp-plain-continuation.yaml).
std::optional<YamlGuardError> checkYamlText(std::string_view text, const YamlLimits& limits = {});

// The first YAML document of text, and where a second one starts if there is one. Use it in
// place of YAML::LoadAll: LoadAll asks for documents until the token stream is empty, and a
// token that no document consumes (a ',' or a '? ' outside a collection) starts a new, empty
// one each time without being consumed, so LoadAll loops forever, growing its list (every
// yaml-cpp 0.7 hang the config fuzzer found is that loop). Here the document count is bounded.
// Throws YAML::Exception as YAML::Load does.
struct YamlDocument {
  YAML::Node root;                    // null when text has no document
  std::optional<YAML::Mark> next;     // the start of a second document (or of a stray token)
  bool next_is_document = false;      // that start is a '---' line, not a stray token
};
YamlDocument loadFirstYamlDocument(std::string_view text);

}  // namespace edged::conf
