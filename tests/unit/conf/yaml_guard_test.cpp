// tests/unit/conf/yaml_guard_test.cpp — the screen in front of yaml-cpp: each limit gives a
// FILE:LINE:COL error through the loader, and valid YAML of every shape edged uses passes.
#include <doctest.h>

#include <string>

#include "conf/config.h"
#include "conf/yaml_guard.h"
#include "tests/unit/conf/conf_test_support.h"

namespace edged::conf {
namespace {

using namespace test;

const std::string kComma =
    "t.yaml:10:1: a ',' may start a value only inside [...] or {...}; quote the value if it "
    "begins with a comma";

TEST_CASE("yaml guard: a comma that starts a token outside a flow collection is an error") {
  // yaml-cpp 0.7 loops forever on each of these (tests/fuzz/findings/config-yaml-cpp-slow.yaml).
  CHECK(errorsOf(", 429\n") ==
        Errors{"t.yaml:1:1: a ',' may start a value only inside [...] or {...}; quote the value "
               "if it begins with a comma"});
  CHECK(errorsOf(withBase(",\n")) == Errors{kComma});
  CHECK(errorsOf(withBase("---\n, x\n")).size() == 1);
  CHECK(errorsOf("- a\n,\n") ==
        Errors{"t.yaml:2:1: a ',' may start a value only inside [...] or {...}; quote the value "
               "if it begins with a comma"});
  CHECK(errorsOf("&a ,\n").size() == 1);
  CHECK(errorsOf("\"a\"\n,\n").size() == 1);
}

TEST_CASE("yaml guard: a comma right after a quoted value, a flow collection or an alias") {
  // Also endless in yaml-cpp 0.7 (tests/fuzz/findings/config-yaml-cpp-quoted-comma.yaml is
  // '"",' in disguise); only a plain value may hold a ',' outside [...] and {...}.
  for (const char* text : {"\"\",", "'a',\n", "\"a\" , b\n", "[1], 2\n", "{a: 1}, 2\n",
                           "a: \"x\", y\n", "- *a, b\n"}) {
    INFO(std::string(text));
    const auto error = checkYamlText(text);
    REQUIRE(error);
    CHECK(error->message.find("a ',' may start a value only inside") == 0);
  }
  CHECK(errorsOf("a: \"x\", y\n") ==
        Errors{"t.yaml:1:7: a ',' may start a value only inside [...] or {...}; quote the value "
               "if it begins with a comma"});
  CHECK_FALSE(checkYamlText("a: x, \"y\", [z]\nb: [\"p\", 'q', {r: s}, *t]\nc: x ,y\n"));
}

TEST_CASE("yaml guard: NUL bytes are refused, a UTF-8 BOM is skipped") {
  // Both endless in yaml-cpp 0.7 (tests/fuzz/findings/config-yaml-cpp-nul-comma.yaml).
  using namespace std::string_literals;
  const auto nul = checkYamlText("\0,"s);
  REQUIRE(nul);
  CHECK(nul->message == "a NUL byte; a config must be UTF-8 text");
  CHECK(errorsOf("a: 1\nb: x\0y\n"s) == Errors{"t.yaml:2:5: a NUL byte; a config must be UTF-8 text"});
  const auto bom = checkYamlText("\xEF\xBB\xBF,");
  REQUIRE(bom);
  CHECK(bom->message.find("a ',' may start a value only inside") == 0);
  CHECK(loadConfigString("\xEF\xBB\xBF" + withBase(""), "t.yaml").ok());
}

TEST_CASE("yaml guard: a line continuing a plain value may not begin with a quote or bracket") {
  // yaml-cpp 0.7 reads the '"' of line 2 as part of the value "8 \"" and the ',' of line 4 as
  // a stray token, and loops forever; the scan, taking line 2 for a quoted value, skipped the
  // ','. Minimized from tests/fuzz/findings/config-yaml-cpp-plain-continuation.yaml.
  const std::string message =
      "this line continues the plain value begun on line 1, so it may not begin with '\"'; "
      "quote the whole value";
  CHECK(errorsOf("8\n\"\n#\n,") == Errors{"t.yaml:2:1: " + message});
  for (const char* text : {"8\n[\n#\n,", "8\n{\n#\n,", "8\n'\n#\n,", "8\n|\n#\n,",
                           "a: 8\n  \"\n#\n,", "a:\n  8\n  \"x\"\n", "- a\n  [b]\n",
                           "8\n\n\"x\"\n"}) {
    INFO(std::string(text));
    const auto error = checkYamlText(text);
    REQUIRE(error);
    CHECK(error->message.find("this line continues the plain value begun on line") == 0);
  }
  const auto nested = checkYamlText("upstreams:\n  api:\n    note: some\n      'words'\n");
  REQUIRE(nested);
  CHECK(nested->line == 4);
  CHECK(nested->column == 7);
  // Lines that yaml-cpp takes as new tokens, not as continuations, pass: a quoted or flow
  // value on the next key, sequence entry or line after a comment.
  CHECK_FALSE(checkYamlText("a: 8\n\"b\": 1\n'c': [x]\n"));
  CHECK_FALSE(checkYamlText("- a: 8\n  \"x\": 1\n- b\n- \"c\"\n"));
  CHECK_FALSE(checkYamlText("servers:\n  - 127.0.0.1:3001\n  - \"127.0.0.1:3002\"\n"));
  CHECK_FALSE(checkYamlText("a: 8 # note\n  \"x\"\n"));
  CHECK_FALSE(checkYamlText("a: 8\n  # note\n\"b\": [1]\n"));
  CHECK_FALSE(checkYamlText("a: [x,\n  \"y\"]\n"));  // inside [...] the quote is a token
  CHECK_FALSE(checkYamlText("a: long\n  text with \"quotes\" and [brackets]\n  - dashes\nb: 1\n"));
  CHECK(loadConfigString(withBase("log_level: warn\n\"workers\": 2\n"), "t.yaml").ok());
}

TEST_CASE("yaml documents: at most two documents are read, so a stray token cannot loop") {
  // YAML::LoadAll loops forever on each of these (a token no document consumes); the guard
  // refuses them first, and the loader would stop at the second document even without it.
  for (const char* text : {",", "8\n\"\n#\n,", "\"\",", "\"a\"\n,\n"}) {
    INFO(std::string(text));
    const YamlDocument document = loadFirstYamlDocument(text);
    REQUIRE(document.next);
    CHECK_FALSE(document.next_is_document);
  }
  const YamlDocument comma = loadFirstYamlDocument("8\n\"\n#\n,");
  CHECK(comma.root.as<std::string>() == "8 \"");
  CHECK(comma.next->line == 3);  // 0-based: line 4
  CHECK(comma.next->column == 0);
  const YamlDocument two = loadFirstYamlDocument("a: 1\n---\nb: 2\n");
  REQUIRE(two.next);
  CHECK(two.next_is_document);
  CHECK(two.root["a"].as<int>() == 1);
  const YamlDocument one = loadFirstYamlDocument("---\na: 1\n...\n");
  CHECK_FALSE(one.next);
  CHECK(loadFirstYamlDocument("").root.IsNull());
}

TEST_CASE("yaml guard: commas inside values, quotes, comments, flow and block scalars pass") {
  CHECK_FALSE(checkYamlText("a: x, y\nb: [1, 2]\nc: {d: 1, e: 2}\n"));
  CHECK_FALSE(checkYamlText("a: ', quoted'\nb: \", quoted\"\nc: 'it''s'\n"));
  CHECK_FALSE(checkYamlText("a: 1  # , comment\n# , comment\n"));
  CHECK_FALSE(checkYamlText("a: |\n  , first\n  , second\nb: >\n  , folded\n"));
  CHECK_FALSE(checkYamlText("a: [1,\n  2\n  , 3]\n"));
  CHECK_FALSE(checkYamlText("a: \"multi\n  , line\"\n"));
  CHECK_FALSE(checkYamlText("a: it's, fine\n"));  // a quote inside a plain value is no quote
  CHECK(loadConfigString(withBase("access_log: { path: '/tmp/a, b.log' }\n"), "t.yaml").ok());
}

TEST_CASE("yaml guard: size limit, checked before parsing") {
  const YamlLimits limits;
  CHECK(limits.max_bytes == 1024 * 1024);
  std::string big = withBase("");
  big += "# " + std::string(limits.max_bytes, 'x') + "\n";
  CHECK(errorsOf(big) == Errors{"t.yaml:1:1: the file is " + std::to_string(big.size()) +
                                " bytes; a config may have at most 1048576 bytes"});
  std::string fits = withBase("");
  fits += "# " + std::string(limits.max_bytes - fits.size() - 3, 'x') + "\n";
  CHECK(fits.size() == limits.max_bytes);
  CHECK(loadConfigString(fits, "t.yaml").ok());
}

TEST_CASE("yaml guard: nesting depth of flow and block collections") {
  std::string flow = "a: " + std::string(65, '[') + std::string(65, ']') + "\n";
  CHECK(errorsOf(flow) == Errors{"t.yaml:1:67: collections nested deeper than 64 levels"});
  CHECK_FALSE(checkYamlText("a: " + std::string(63, '[') + std::string(63, ']') + "\n"));
  // 100,000 '[' would overflow yaml-cpp's recursive parser's stack.
  CHECK(errorsOf(std::string(100000, '[')).size() == 1);
  std::string dashes;
  for (int i = 0; i < 70; ++i) dashes += "- ";
  CHECK(errorsOf(dashes + "x\n") == Errors{"t.yaml:1:127: collections nested deeper than 64 levels"});
  std::string block;
  for (int i = 0; i < 70; ++i) block += std::string(static_cast<size_t>(i), ' ') + "k:\n";
  CHECK(errorsOf(block) == Errors{"t.yaml:65:65: collections nested deeper than 64 levels"});
}

TEST_CASE("yaml guard: anchors and aliases are counted (billion laughs)") {
  std::string laughs = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    const std::string me = "a" + std::to_string(i), prev = "*a" + std::to_string(i - 1);
    laughs += me + ": &" + me + " [" + prev;
    for (int j = 1; j < 9; ++j) laughs += ", " + prev;
    laughs += "]\n";
  }
  const Errors errors = errorsOf(laughs);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "t.yaml:9:15: more than 64 aliases (*)");
  std::string anchors;
  for (int i = 0; i < 65; ++i) anchors += "k" + std::to_string(i) + ": &x" + std::to_string(i) + " 1\n";
  CHECK(errorsOf(anchors) == Errors{"t.yaml:65:6: more than 64 anchors (&)"});
  // A few anchors and aliases, as people use them to share settings, still load.
  CHECK(loadConfigString(R"(listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:3001
    health: &health { max_fails: 3, fail_timeout: 10s }
  web:
    servers:
      - address: 127.0.0.1:3002
    health: *health
routes:
  - match: { prefix: / }
    upstream: api
)",
                         "t.yaml")
            .ok());
}

}  // namespace
}  // namespace edged::conf
