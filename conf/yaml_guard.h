// conf/yaml_guard.h — the cheap pass over config text that runs before yaml-cpp sees it, so that
// hostile or broken text cannot make the parser hang, recurse off the stack or expand aliases.
#pragma once

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
// too); a UTF-8 BOM is skipped, as yaml-cpp does.
std::optional<YamlGuardError> checkYamlText(std::string_view text, const YamlLimits& limits = {});

}  // namespace edged::conf
