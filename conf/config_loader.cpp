// conf/config_loader.cpp — YAML text to a validated Config, collecting every error in one pass.
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "conf/config.h"
#include "conf/units.h"
#include "conf/yaml_guard.h"

#include <arpa/inet.h>

namespace edged::conf {

namespace {

// Beyond this a deadline added to a steady_clock time_point (nanoseconds) could overflow
// elsewhere, and no timeout that long is meant.
constexpr Duration kMaxDuration{365LL * 24 * 3600 * 1000};

// Where a value lives: its node, where to point when it is wrong, and its key path.
struct Field {
  YAML::Node node;
  YAML::Mark mark;
  std::string path;
};

struct MapEntry {
  std::string key;
  YAML::Mark key_mark;
  Field field;
};

std::string childPath(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string indexPath(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the closest choice, or "" when nothing is close enough to be a typo.
template <typename Range>
std::string suggestion(std::string_view word, const Range& choices) {
  std::string_view best;
  size_t best_distance = 3;
  for (const auto& choice : choices) {
    const std::string_view candidate(choice);
    const size_t distance = editDistance(word, candidate);
    // Short words are all within two edits of each other ("418" vs "429"); demand that at
    // least half of the longer word survives.
    if (distance < best_distance && 2 * distance <= std::max(word.size(), candidate.size())) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best.empty()) return {};
  return " (did you mean '" + std::string(best) + "'?)";
}

std::string toLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool validUpstreamName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return isAlnum(c) || c == '_' || c == '.' || c == '-';
  });
}

// RFC 9110 token characters: what a header or cookie name may contain.
bool validToken(std::string_view name) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return isAlnum(c) || kExtra.find(c) != std::string_view::npos;
  });
}

bool validHashKey(std::string_view key) {
  if (key == "$remote_addr" || key == "$uri") return true;
  for (std::string_view prefix : {"$http_", "$cookie_"}) {
    if (key.substr(0, prefix.size()) == prefix) return validToken(key.substr(prefix.size()));
  }
  return false;
}

// "10.0.0.0/8", "2001:db8::/32" or a bare address, as proxy/cidr_set accepts it: an empty string
// when valid, else why not.
std::string cidrProblem(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string base(text.substr(0, slash));
  unsigned char bytes[16] = {};
  const bool v6 = base.find(':') != std::string::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, base.c_str(), bytes) != 1) return "not an IP address";
  const unsigned max_bits = v6 ? 128 : 32;
  unsigned bits = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view len = text.substr(slash + 1);
    if (len.empty() || len.size() > 3 ||
        !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return "bad prefix length";
    bits = static_cast<unsigned>(std::stoi(std::string(len)));
    if (bits > max_bits) return "prefix length must be 0.." + std::to_string(max_bits);
  }
  for (unsigned i = bits; i < max_bits; ++i)
    if (bytes[i / 8] & (0x80 >> (i % 8))) return "address has bits set past the prefix length";
  return {};
}

// Paths end up verbatim in request lines, so whitespace and control bytes would corrupt them.
bool hasSpaceOrControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

// A media type as `compression.types` takes it (already lower case): "type/subtype", "type/*" or
// "*/*"; no parameters.
bool validMediaRange(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view type = text.substr(0, slash);
  const std::string_view subtype = text.substr(slash + 1);
  if (!validToken(type) || !validToken(subtype)) return false;  // also rejects a second '/'
  if (type == "*") return subtype == "*";
  return true;
}

// What one `compression:` value sets; unset fields come from the defaults (top level) or from
// the top level (a route).
struct CompressionOverride {
  std::optional<bool> enabled;
  std::optional<std::vector<CompressionAlgorithm>> algorithms;
  std::optional<uint64_t> min_length;
  std::optional<int> gzip_level, br_level, zstd_level;
  std::optional<std::vector<std::string>> types;

  CompressionConfig applyTo(CompressionConfig base) const {
    if (enabled) base.enabled = *enabled;
    if (algorithms) base.algorithms = *algorithms;
    if (min_length) base.min_length = *min_length;
    if (gzip_level) base.gzip_level = *gzip_level;
    if (br_level) base.br_level = *br_level;
    if (zstd_level) base.zstd_level = *zstd_level;
    if (types) base.types = *types;
    return base;
  }
};

// What one `cache:` value sets of the route knobs; unset fields come from the top level.
struct CacheOverride {
  std::optional<bool> enabled;
  std::optional<std::string> key;
  std::optional<std::vector<std::string>> ignore_query;
  std::optional<Duration> stale_while_revalidate, stale_if_error, lock_timeout, default_ttl;
  std::optional<bool> store_set_cookie;

  RouteCacheConfig applyTo(RouteCacheConfig base) const {
    if (enabled) base.enabled = *enabled;
    if (key) base.key = *key;
    if (ignore_query) base.ignore_query = *ignore_query;
    if (stale_while_revalidate) base.stale_while_revalidate = *stale_while_revalidate;
    if (stale_if_error) base.stale_if_error = *stale_if_error;
    if (lock_timeout) base.lock_timeout = *lock_timeout;
    if (default_ttl) base.default_ttl = *default_ttl;
    if (store_set_cookie) base.store_set_cookie = *store_set_cookie;
    return base;
  }
};

// A cache key template: literal text and $scheme, $host, $request_uri, $uri, $args, $http_NAME,
// $cookie_NAME. Returns the first bad variable ("" when all are known).
std::string badCacheKeyVariable(std::string_view key) {
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] != '$') continue;
    size_t j = i + 1;
    while (j < key.size() && (isAlnum(key[j]) || key[j] == '_' || key[j] == '-')) ++j;
    const std::string_view name = key.substr(i + 1, j - i - 1);
    bool ok = name == "scheme" || name == "host" || name == "request_uri" || name == "uri" || name == "args";
    for (std::string_view prefix : {"http_", "cookie_"})
      if (name.substr(0, prefix.size()) == prefix) ok = ok || validToken(name.substr(prefix.size()));
    if (!ok) return "$" + std::string(name);
    i = j - 1;
  }
  return {};
}

// "10.0.0.0/8", "2001:db8::/32" or a bare address.
bool validCidr(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  unsigned char buf[16];
  int max_bits = 32;
  if (inet_pton(AF_INET, addr.c_str(), buf) != 1) {
    if (inet_pton(AF_INET6, addr.c_str(), buf) != 1) return false;
    max_bits = 128;
  }
  if (slash == std::string_view::npos) return true;
  const std::string_view bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3) return false;
  int n = 0;
  for (char c : bits) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n <= max_bits;
}

// yaml-cpp's messages for tab indentation ("illegal block entry", ...) don't mention the tab.
std::string tabHint(std::string_view text, const YAML::Mark& mark) {
  if (mark.is_null()) return {};
  size_t start = 0;
  for (int line = 0; line < mark.line; ++line) {
    start = text.find('\n', start);
    if (start == std::string_view::npos) return {};
    ++start;
  }
  const size_t indent_end = text.find_first_not_of(" \t", start);
  const std::string_view indent = text.substr(start, indent_end - start);
  if (indent.find('\t') == std::string_view::npos) return {};
  return " (YAML does not allow tabs for indentation)";
}

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  std::shared_ptr<Config> load(std::string_view text);
  std::vector<ConfigError> takeErrors();

 private:
  void fail(const YAML::Mark& mark, std::string path, std::string message);
  void fail(const Field& field, std::string message) {
    fail(field.mark, field.path, std::move(message));
  }

  // Map entries in file order. A null value counts as an empty map so that a section whose
  // children are all commented out still loads. Reports wrong type, non-string keys, duplicate
  // keys and (when `known` is non-empty) unknown keys; those entries are left out.
  std::optional<std::vector<MapEntry>> mapEntries(const Field& field,
                                                  std::initializer_list<std::string_view> known,
                                                  std::string_view duplicate_what = "key");
  // List items in file order; null counts as an empty list.
  std::optional<std::vector<Field>> listItems(const Field& field);

  bool scalar(const Field& field, std::string_view expected, std::string& out);
  template <typename T>
  bool readUint(const Field& field, uint64_t min, uint64_t max, T& out);
  bool readBool(const Field& field, bool& out);
  bool readDuration(const Field& field, bool allow_zero, Duration& out);
  bool readSize(const Field& field, uint64_t min, uint64_t max, std::string_view range,
                uint64_t& out);
  bool readAddress(const Field& field, Address& out);
  bool readString(const Field& field, std::string& out);
  template <typename T>
  bool readEnum(const Field& field,
                std::initializer_list<std::pair<std::string_view, std::type_identity_t<T>>> choices,
                T& out);

  void loadWorkers(const Field& field, Config& config);
  void loadListeners(const Field& field, Config& config);
  void loadListenerTls(const Field& field, ListenerTlsConfig& tls);
  void loadTlsCertificates(const Field& field, ListenerTlsConfig& tls);
  // One `{cert, key}` map (a listener's certificate, admin.tls) appended to tls.certificates when
  // both keys are there and valid.
  void readCertificate(const Field& field, ListenerTlsConfig& tls);
  void loadUpstreamTls(const Field& field, UpstreamTlsConfig& tls);
  void loadTimeouts(const Field& field, Timeouts& timeouts);
  void loadLimits(const Field& field, Limits& limits);
  void loadPerClient(const Field& field, PerClientLimits& per_client);
  void loadRealIp(const Field& field, RealIpConfig& real_ip);
  // A list of CIDRs; each valid one is appended to `out` (with `allow` for route rules).
  bool loadCidrList(const Field& field, std::vector<std::string>& out);
  void loadAccessRules(const Field& field, bool allow, RouteConfig& route);
  void loadAdminToken(const Field& field, AdminConfig& admin);
  void loadAdminTls(const Field& field, ListenerTlsConfig& tls);
  void loadUpstreams(const Field& field, Config& config);
  void loadUpstream(const MapEntry& entry, UpstreamConfig& upstream);
  void loadServers(const Field& field, UpstreamConfig& upstream);
  void loadHealth(const Field& field, HealthConfig& health);
  void loadHealthCheck(const Field& field, HealthCheckConfig& check);
  void loadRoutes(const Field& field, Config& config);
  void loadAdmin(const Field& field, Config& config);
  void loadAccessLog(const Field& field, AccessLogConfig& access_log);
  // `off` / `on` / a map (or nothing, which counts as an empty map).
  bool switchOrMap(const Field& field, std::optional<bool>& enabled);
  void loadCompression(const Field& field, CompressionOverride& out);
  void loadCompressionAlgorithms(const Field& field, CompressionOverride& out);
  void loadCompressionLevels(const Field& field, CompressionOverride& out);
  void loadCompressionTypes(const Field& field, CompressionOverride& out);
  // Top-level `cache:` (the store and the route defaults) and a route's `cache:` (off / on / a map).
  void loadCache(const Field& field, CacheConfig& cache, CacheOverride& defaults);
  void loadRouteCache(const Field& field, CacheOverride& out);
  // One route knob of `cache:` (either level); false when `key` is not one.
  bool loadCacheKnob(const MapEntry& entry, CacheOverride& out);
  // `cache.shared:` (the Redis second tier).
  void loadSharedCache(const Field& field, SharedCacheConfig& out);
  void loadSharedCollapse(const MapEntry& entry, SharedCacheConfig& out);
  void resolveRoutes(Config& config);
  // Run after the whole file is read: `admin` may come before `listen`.
  void checkAdminAddress(const Config& config);

  std::string file_;
  std::vector<ConfigError> errors_;
  // Route `upstream:` values, kept to resolve once every upstream is known.
  std::vector<Field> route_upstream_fields_;
  // Each route's own `compression:`, parallel to Config::routes; applied once the top level's
  // is known, since `compression:` may come after `routes:`.
  std::vector<std::optional<CompressionOverride>> route_compression_;
  // Each route's own `cache:`, resolved against the top level's once it is known.
  std::vector<std::optional<CacheOverride>> route_cache_;
  Field admin_address_field_;
};

void Loader::fail(const YAML::Mark& mark, std::string path, std::string message) {
  ConfigError error;
  error.file = file_;
  if (!mark.is_null()) {
    error.line = mark.line + 1;
    error.column = mark.column + 1;
  }
  error.key_path = std::move(path);
  error.message = std::move(message);
  errors_.push_back(std::move(error));
}

std::vector<ConfigError> Loader::takeErrors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::move(errors_);
}

std::optional<std::vector<MapEntry>> Loader::mapEntries(
    const Field& field, std::initializer_list<std::string_view> known,
    std::string_view duplicate_what) {
  std::vector<MapEntry> entries;
  if (field.node.IsNull()) return entries;
  if (!field.node.IsMap()) {
    fail(field, "expected a map, got " + describe(field.node));
    return std::nullopt;
  }
  std::unordered_map<std::string, YAML::Mark> seen;
  for (const auto& item : field.node) {
    const YAML::Node& key_node = item.first;
    if (!key_node.IsScalar()) {
      fail(key_node.Mark(), field.path, "keys must be plain strings, got " + describe(key_node));
      continue;
    }
    const std::string key = key_node.Scalar();
    const std::string path = childPath(field.path, key);
    // yaml-cpp keeps both entries of a repeated key; silently taking one would hide a mistake.
    if (auto [it, inserted] = seen.emplace(key, key_node.Mark()); !inserted) {
      fail(key_node.Mark(), path,
           "duplicate " + std::string(duplicate_what) + " '" + key + "' (first defined at line " +
               std::to_string(it->second.line + 1) + ")");
      continue;
    }
    if (known.size() != 0 && std::find(known.begin(), known.end(), key) == known.end()) {
      fail(key_node.Mark(), path, "unknown key" + suggestion(key, known));
      continue;
    }
    // An empty value's own mark is wherever the next token starts; the key is the useful spot.
    const YAML::Node& value = item.second;
    const YAML::Mark mark = value.IsNull() ? key_node.Mark() : value.Mark();
    entries.push_back(MapEntry{key, key_node.Mark(), Field{value, mark, path}});
  }
  return entries;
}

std::optional<std::vector<Field>> Loader::listItems(const Field& field) {
  std::vector<Field> items;
  if (field.node.IsNull()) return items;
  if (!field.node.IsSequence()) {
    fail(field, "expected a list, got " + describe(field.node));
    return std::nullopt;
  }
  for (size_t i = 0; i < field.node.size(); ++i) {
    const YAML::Node item = field.node[i];
    const YAML::Mark mark = item.IsNull() || item.Mark().is_null() ? field.mark : item.Mark();
    items.push_back(Field{item, mark, indexPath(field.path, i)});
  }
  return items;
}

bool Loader::scalar(const Field& field, std::string_view expected, std::string& out) {
  if (!field.node.IsScalar()) {
    fail(field, "expected " + std::string(expected) + ", got " + describe(field.node));
    return false;
  }
  out = field.node.Scalar();
  return true;
}

template <typename T>
bool Loader::readUint(const Field& field, uint64_t min, uint64_t max, T& out) {
  std::string text;
  if (!scalar(field, "an integer", text)) return false;
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = std::string_view(text).substr(negative ? 1 : 0);
  const bool all_digits = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
  if (!all_digits) {
    fail(field, "expected an integer, got '" + text + "'");
    return false;
  }
  uint64_t value = 0;
  bool overflow = false;
  for (char c : digits) {
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      overflow = true;
      break;
    }
    value = value * 10 + digit;
  }
  const bool is_zero = value == 0 && !overflow;
  if ((negative && !is_zero) || overflow || value < min || value > max) {
    const std::string range = max >= std::numeric_limits<T>::max()
                                  ? ">= " + std::to_string(min)
                                  : std::to_string(min) + ".." + std::to_string(max);
    fail(field, "must be " + range + ", got " + text);
    return false;
  }
  out = static_cast<T>(value);
  return true;
}

bool Loader::readBool(const Field& field, bool& out) {
  std::string text;
  if (!scalar(field, "true or false", text)) return false;
  const std::string lower = toLower(text);
  // YAML 1.1 booleans, which yaml-cpp itself accepts.
  if (lower == "true" || lower == "yes" || lower == "on") {
    out = true;
    return true;
  }
  if (lower == "false" || lower == "no" || lower == "off") {
    out = false;
    return true;
  }
  fail(field, "expected true or false, got '" + text + "'");
  return false;
}

bool Loader::readDuration(const Field& field, bool allow_zero, Duration& out) {
  std::string text;
  if (!scalar(field, "a duration", text)) return false;
  const auto value = parseDuration(text);
  if (!value) {
    fail(field, "bad duration '" + text + "' (use e.g. 250ms, 5s, 2m, 1h, 1d)");
    return false;
  }
  if (*value > kMaxDuration) {
    fail(field, "must be at most 365d, got " + text);
    return false;
  }
  if (!allow_zero && value->count() == 0) {
    fail(field, "must be greater than 0");
    return false;
  }
  out = *value;
  return true;
}

bool Loader::readSize(const Field& field, uint64_t min, uint64_t max, std::string_view range,
                      uint64_t& out) {
  std::string text;
  if (!scalar(field, "a size", text)) return false;
  const auto value = parseSize(text);
  if (!value) {
    fail(field, "bad size '" + text + "' (use e.g. 512, 16KiB, 10MiB, 1GiB)");
    return false;
  }
  if (*value < min || *value > max) {
    fail(field, "must be " + std::string(range) + ", got " + text);
    return false;
  }
  out = *value;
  return true;
}

bool Loader::readAddress(const Field& field, Address& out) {
  std::string text;
  if (!scalar(field, "an address HOST:PORT", text)) return false;
  std::string why;
  auto address = parseAddress(text, &why);
  if (!address) {
    fail(field, "bad address '" + text + "': " + why);
    return false;
  }
  out = std::move(*address);
  return true;
}

bool Loader::readString(const Field& field, std::string& out) {
  std::string text;
  if (!scalar(field, "a string", text)) return false;
  if (text.empty()) {
    fail(field, "must not be empty");
    return false;
  }
  out = std::move(text);
  return true;
}

template <typename T>
bool Loader::readEnum(
    const Field& field,
    std::initializer_list<std::pair<std::string_view, std::type_identity_t<T>>> choices, T& out) {
  std::string names;
  std::vector<std::string_view> keys;
  for (const auto& [name, value] : choices) {
    names += (names.empty() ? "" : ", ") + std::string(name);
    keys.push_back(name);
  }
  std::string text;
  if (!scalar(field, "one of " + names, text)) return false;
  for (const auto& [name, value] : choices) {
    if (text == name) {
      out = value;
      return true;
    }
  }
  fail(field, "must be one of " + names + ", got '" + text + "'" + suggestion(text, keys));
  return false;
}

std::shared_ptr<Config> Loader::load(std::string_view text) {
  // yaml-cpp 0.7 can loop forever or recurse off the stack on hostile text: screen it first.
  if (const auto guard = checkYamlText(text)) {
    YAML::Mark mark;
    mark.line = guard->line - 1;
    mark.column = guard->column - 1;
    fail(mark, "", guard->message);
    return nullptr;
  }
  YamlDocument document;
  try {
    document = loadFirstYamlDocument(text);  // not YAML::LoadAll: it can loop forever
  } catch (const YAML::Exception& e) {
    fail(e.mark, "", "invalid YAML: " + e.msg + tabHint(text, e.mark));
    return nullptr;
  }
  if (document.next) {
    fail(*document.next, "",
         document.next_is_document ? "only one YAML document is allowed"
                                   : "invalid YAML: a token that belongs to no value");
    return nullptr;
  }
  const YAML::Node root = document.root;
  const YAML::Mark top;  // line 1, column 1
  if (!root.IsNull() && !root.IsMap()) {
    fail(root.Mark(), "", "expected a map of settings at the top level, got " + describe(root));
    return nullptr;
  }

  auto config = std::make_shared<Config>();
  const auto entries =
      mapEntries(Field{root, top, ""}, {"workers", "listen", "timeouts", "limits", "upstreams",
                                        "routes", "admin", "access_log", "log_level",
                                        "compression", "cache", "real_ip"});
  CacheOverride cache_defaults;
  const MapEntry* listen = nullptr;
  const MapEntry* routes = nullptr;
  for (const MapEntry& entry : *entries) {
    const Field& field = entry.field;
    if (entry.key == "workers") {
      loadWorkers(field, *config);
    } else if (entry.key == "listen") {
      listen = &entry;
      loadListeners(field, *config);
    } else if (entry.key == "timeouts") {
      loadTimeouts(field, config->timeouts);
    } else if (entry.key == "limits") {
      loadLimits(field, config->limits);
    } else if (entry.key == "upstreams") {
      loadUpstreams(field, *config);
    } else if (entry.key == "routes") {
      routes = &entry;
      loadRoutes(field, *config);
    } else if (entry.key == "admin") {
      loadAdmin(field, *config);
    } else if (entry.key == "access_log") {
      loadAccessLog(field, config->access_log);
    } else if (entry.key == "log_level") {
      readEnum(field,
               {{"debug", LogLevel::Debug},
                {"info", LogLevel::Info},
                {"warn", LogLevel::Warn},
                {"error", LogLevel::Error}},
               config->log_level);
    } else if (entry.key == "real_ip") {
      loadRealIp(field, config->real_ip.emplace());
    } else if (entry.key == "compression") {
      CompressionOverride top;
      loadCompression(field, top);
      config->compression = top.applyTo(config->compression);
    } else if (entry.key == "cache") {
      loadCache(field, config->cache, cache_defaults);
    }
  }
  // A wrong type was already reported by the section itself; only a missing or empty section
  // earns these.
  if (!listen) {
    fail(top, "listen", "at least one listener is required");
  } else if (listen->field.node.IsNull() ||
             (listen->field.node.IsSequence() && listen->field.node.size() == 0)) {
    fail(listen->key_mark, "listen", "at least one listener is required");
  }
  if (!routes) {
    fail(top, "routes", "at least one route is required");
  } else if (routes->field.node.IsNull() ||
             (routes->field.node.IsSequence() && routes->field.node.size() == 0)) {
    fail(routes->key_mark, "routes", "at least one route is required");
  }
  resolveRoutes(*config);
  for (size_t i = 0; i < config->routes.size(); ++i) {
    if (route_compression_[i]) {
      config->routes[i].compression = route_compression_[i]->applyTo(config->compression);
    }
  }
  config->cache.defaults = cache_defaults.applyTo(config->cache.defaults);
  config->cache.defaults.enabled = false;  // the top level alone caches nothing
  for (size_t i = 0; i < config->routes.size(); ++i) {
    if (route_cache_[i]) config->routes[i].cache = route_cache_[i]->applyTo(config->cache.defaults);
  }
  checkAdminAddress(*config);
  return config;
}

void Loader::loadWorkers(const Field& field, Config& config) {
  std::string text;
  if (!scalar(field, "'auto' or an integer", text)) return;
  if (text == "auto") {
    config.workers = 0;
    return;
  }
  const bool numeric =
      !text.empty() && text.size() <= 3 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const int workers = numeric ? std::stoi(text) : -1;
  if (workers < 0 || workers > 256) {
    fail(field, "must be 'auto' or 1..256, got '" + text + "'");
    return;
  }
  config.workers = static_cast<uint32_t>(workers);  // 0 is accepted as a synonym of auto
}

void Loader::loadListeners(const Field& field, Config& config) {
  const auto items = listItems(field);
  if (!items) return;
  std::vector<std::string> paths;  // of each pushed listener's address, for duplicate messages
  for (const Field& item : *items) {
    const auto entries = mapEntries(item, {"address", "backlog", "tls", "redirect_https", "proxy_protocol"});
    if (!entries) continue;
    ListenerConfig listener;
    const Field* address_field = nullptr;
    const MapEntry* redirect = nullptr;
    bool valid = true;
    for (const MapEntry& entry : *entries) {
      if (entry.key == "address") {
        address_field = &entry.field;
        valid = readAddress(entry.field, listener.address) && valid;
      } else if (entry.key == "backlog") {
        valid = readUint(entry.field, 1, 65535, listener.backlog) && valid;
      } else if (entry.key == "tls") {
        loadListenerTls(entry.field, listener.tls.emplace());
      } else if (entry.key == "redirect_https") {
        redirect = &entry;
        valid = readBool(entry.field, listener.redirect_https) && valid;
      } else if (entry.key == "proxy_protocol") {
        valid = readBool(entry.field, listener.proxy_protocol) && valid;
      }
    }
    if (!address_field) {
      fail(item, "missing required key 'address'");
      continue;
    }
    if (redirect && listener.redirect_https && listener.tls) {
      fail(redirect->key_mark, redirect->field.path,
           "a TLS listener cannot redirect to https; use it on a plain listener");
      continue;
    }
    if (!valid) continue;
    for (size_t i = 0; i < config.listeners.size(); ++i) {
      if (config.listeners[i].address == listener.address) {
        fail(*address_field,
             "duplicate listener address " + listener.address.text + " (also " + paths[i] + ")");
        valid = false;
        break;
      }
    }
    if (!valid) continue;
    paths.push_back(address_field->path);
    config.listeners.push_back(std::move(listener));
  }
}

ConfigPosition positionOf(const Field& field) {
  ConfigPosition position;
  if (!field.mark.is_null()) {
    position.line = field.mark.line + 1;
    position.column = field.mark.column + 1;
  }
  position.key_path = field.path;
  return position;
}

void Loader::loadListenerTls(const Field& field, ListenerTlsConfig& tls) {
  tls.position = positionOf(field);
  const auto entries = mapEntries(field, {"certificates", "protocols", "ciphers", "session_tickets",
                                          "session_timeout", "client_ca"});
  if (!entries) return;
  bool has_certificates = false;
  for (const MapEntry& entry : *entries) {
    const Field& f = entry.field;
    if (entry.key == "certificates") {
      has_certificates = true;
      loadTlsCertificates(f, tls);
    } else if (entry.key == "protocols") {
      const auto items = listItems(f);
      if (!items) continue;
      if (items->empty()) {
        fail(f, "must list TLSv1.2 and/or TLSv1.3");
        continue;
      }
      uint8_t mask = 0;
      bool valid = true;
      for (const Field& item : *items) {
        std::string text;
        if (!scalar(item, "TLSv1.2 or TLSv1.3", text)) {
          valid = false;
          continue;
        }
        if (text == "TLSv1.2") {
          mask |= kTlsV12;
        } else if (text == "TLSv1.3") {
          mask |= kTlsV13;
        } else if (text == "TLSv1" || text == "TLSv1.0" || text == "TLSv1.1" || text == "SSLv3" ||
                   text == "SSLv2") {
          fail(item, text + " is refused: it is obsolete and insecure (RFC 8996); use TLSv1.2 or TLSv1.3");
          valid = false;
        } else {
          static constexpr std::string_view kNames[] = {"TLSv1.2", "TLSv1.3"};
          fail(item, "must be TLSv1.2 or TLSv1.3, got '" + text + "'" + suggestion(text, kNames));
          valid = false;
        }
      }
      if (valid) tls.protocols = mask;
    } else if (entry.key == "ciphers") {
      if (readString(f, tls.ciphers)) tls.ciphers_position = positionOf(f);
    } else if (entry.key == "session_tickets") {
      readBool(f, tls.session_tickets);
    } else if (entry.key == "session_timeout") {
      // RFC 8446 caps a ticket's lifetime at 7 days.
      Duration timeout{};
      if (!readDuration(f, false, timeout)) continue;
      if (timeout > Duration(7LL * 24 * 3600 * 1000)) {
        fail(f, "must be at most 7d (RFC 8446 ticket lifetime limit)");
        continue;
      }
      tls.session_timeout = timeout;
    } else if (entry.key == "client_ca") {
      if (readString(f, tls.client_ca)) tls.client_ca_position = positionOf(f);
    }
  }
  if (!has_certificates) fail(field, "missing required key 'certificates'");
}

void Loader::loadTlsCertificates(const Field& field, ListenerTlsConfig& tls) {
  const auto items = listItems(field);
  if (!items) return;
  if (items->empty()) {
    fail(field, "must list at least one certificate");
    return;
  }
  for (const Field& item : *items) readCertificate(item, tls);
}

void Loader::readCertificate(const Field& field, ListenerTlsConfig& tls) {
  const auto entries = mapEntries(field, {"cert", "key"});
  if (!entries) return;
  TlsCertificateConfig certificate;
  certificate.position = positionOf(field);
  bool has_cert = false, has_key = false, valid = true;
  for (const MapEntry& entry : *entries) {
    if (entry.key == "cert") {
      has_cert = true;
      valid = readString(entry.field, certificate.cert) && valid;
      certificate.cert_position = positionOf(entry.field);
    } else if (entry.key == "key") {
      has_key = true;
      valid = readString(entry.field, certificate.key) && valid;
      certificate.key_position = positionOf(entry.field);
    }
  }
  if (!has_cert) fail(field, "missing required key 'cert'");
  if (!has_key) fail(field, "missing required key 'key'");
  if (has_cert && has_key && valid) tls.certificates.push_back(std::move(certificate));
}

void Loader::loadUpstreamTls(const Field& field, UpstreamTlsConfig& tls) {
  tls.position = positionOf(field);
  // `tls: on` takes every default; a map overrides them.
  if (field.node.IsScalar()) {
    bool on = true;
    if (readBool(field, on) && !on) fail(field, "to turn TLS off, remove the 'tls' key");
    return;
  }
  const auto entries = mapEntries(field, {"verify", "ca", "sni"});
  if (!entries) return;
  for (const MapEntry& entry : *entries) {
    const Field& f = entry.field;
    if (entry.key == "verify") {
      readBool(f, tls.verify);
    } else if (entry.key == "ca") {
      if (readString(f, tls.ca)) tls.ca_position = positionOf(f);
    } else if (entry.key == "sni") {
      std::string text;
      if (!readString(f, text)) continue;
      if (text.find(':') != std::string::npos || hasSpaceOrControl(text)) {
        fail(f, "must be a host name without a port, got '" + text + "'");
        continue;
      }
      tls.sni = toLower(text);
    }
  }
}

void Loader::loadTimeouts(const Field& field, Timeouts& timeouts) {
  struct Key {
    std::string_view name;
    Duration Timeouts::*member;
    bool allow_zero;  // 0 means "off" only where nginx gives it that meaning
  };
  static constexpr Key kKeys[] = {
      {"connect", &Timeouts::connect, false},
      {"send", &Timeouts::send, false},
      {"read", &Timeouts::read, false},
      {"client_header", &Timeouts::client_header, false},
      {"client_body", &Timeouts::client_body, false},
      {"keepalive", &Timeouts::keepalive, true},
      {"client_send", &Timeouts::client_send, false},
      {"request", &Timeouts::request, true},
      {"tunnel_idle", &Timeouts::tunnel_idle, false},
      {"shutdown_grace", &Timeouts::shutdown_grace, true},
  };
  const auto entries =
      mapEntries(field, {"connect", "send", "read", "client_header", "client_body", "keepalive",
                         "client_send", "request", "tunnel_idle", "shutdown_grace"});
  if (!entries) return;
  for (const MapEntry& entry : *entries) {
    for (const Key& key : kKeys) {
      if (entry.key == key.name) readDuration(entry.field, key.allow_zero, timeouts.*key.member);
    }
  }
}

void Loader::loadLimits(const Field& field, Limits& limits) {
  const auto entries = mapEntries(field, {"max_header_bytes", "max_body_bytes", "max_connections",
                                          "max_headers", "max_response_header_bytes", "per_client"});
  if (!entries) return;
  for (const MapEntry& entry : *entries) {
    if (entry.key == "max_header_bytes") {
      readSize(entry.field, 1024, 1024 * 1024, "1KiB..1MiB", limits.max_header_bytes);
    } else if (entry.key == "max_body_bytes") {
      readSize(entry.field, 0, std::numeric_limits<uint64_t>::max(), "", limits.max_body_bytes);
    } else if (entry.key == "max_connections") {
      readUint(entry.field, 0, 10'000'000, limits.max_connections);
    } else if (entry.key == "max_headers") {
      readUint(entry.field, 1, 10'000, limits.max_headers);
    } else if (entry.key == "max_response_header_bytes") {
      readSize(entry.field, 1024, 1024 * 1024, "1KiB..1MiB", limits.max_response_header_bytes);
    } else if (entry.key == "per_client") {
      loadPerClient(entry.field, limits.per_client);
    }
  }
}

void Loader::loadPerClient(const Field& field, PerClientLimits& per_client) {
  const auto entries = mapEntries(field, {"connections", "rate", "burst", "key"});
  if (!entries) return;
  for (const MapEntry& entry : *entries) {
    const Field& f = entry.field;
    if (entry.key == "connections") {
      readUint(f, 0, 1'000'000, per_client.connections);
    } else if (entry.key == "burst") {
      readUint(f, 0, 1'000'000, per_client.burst);
    } else if (entry.key == "rate") {
      std::string text;
      if (!scalar(f, "a rate N/s or N/m", text)) continue;
      const size_t slash = text.find('/');
      const std::string_view count = std::string_view(text).substr(0, slash);
      const std::string_view unit = slash == std::string::npos ? "" : std::string_view(text).substr(slash + 1);
      const bool digits = !count.empty() && count.size() <= 7 &&
                          std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits || (unit != "s" && unit != "m")) {
        fail(f, "bad rate '" + text + "' (use e.g. 100/s or 30/m)");
        continue;
      }
      const uint64_t n = std::stoull(std::string(count));
      if (n == 0 || n > 1'000'000) {
        fail(f, "must be 1..1000000 per second or minute, got " + text);
        continue;
      }
      per_client.rate_per_minute = static_cast<uint32_t>(unit == "s" ? n * 60 : n);
    } else if (entry.key == "key") {
      std::string text;
      if (!readString(f, text)) continue;
      if (text == "remote_addr") {
        per_client.key_header.clear();
      } else if (!validToken(text)) {
        fail(f, "must be remote_addr or a header name, got '" + text + "'");
      } else {
        per_client.key_header = toLower(text);
      }
    }
  }
}

bool Loader::loadCidrList(const Field& field, std::vector<std::string>& out) {
  const auto items = listItems(field);
  if (!items) return false;
  bool valid = true;
  for (const Field& item : *items) {
    std::string text;
    if (!scalar(item, "a CIDR such as 10.0.0.0/8", text)) {
      valid = false;
      continue;
    }
    if (const std::string why = cidrProblem(text); !why.empty()) {
      fail(item, "bad CIDR '" + text + "': " + why);
      valid = false;
      continue;
    }
    out.push_back(text);
  }
  return valid;
}

void Loader::loadRealIp(const Field& field, RealIpConfig& real_ip) {
  const auto entries = mapEntries(field, {"from", "header", "recursive"});
  if (!entries) return;
  bool has_from = false;
  for (const MapEntry& entry : *entries) {
    if (entry.key == "from") {
      has_from = true;
      loadCidrList(entry.field, real_ip.from);
      if (entry.field.node.IsNull() || (entry.field.node.IsSequence() && entry.field.node.size() == 0))
        fail(entry.field, "at least one trusted address is required");
    } else if (entry.key == "header") {
      std::string text;
      if (!readString(entry.field, text)) continue;
      if (!validToken(text)) fail(entry.field, "must be a header name, got '" + text + "'");
      else real_ip.header = text;
    } else if (entry.key == "recursive") {
      readBool(entry.field, real_ip.recursive);
    }
  }
  if (!has_from) fail(field, "missing required key 'from'");
}

void Loader::loadAccessRules(const Field& field, bool allow, RouteConfig& route) {
  std::vector<std::string> cidrs;
  loadCidrList(field, cidrs);
  for (std::string& c : cidrs) route.access.push_back({allow, std::move(c)});
}

void Loader::loadUpstreams(const Field& field, Config& config) {
  const auto entries = mapEntries(field, {}, "upstream name");
  if (!entries) return;
  for (const MapEntry& entry : *entries) {
    if (!validUpstreamName(entry.key)) {
      fail(entry.key_mark, entry.field.path,
           "upstream names may contain only letters, digits, '_', '.' and '-'");
    }
    UpstreamConfig upstream;
    upstream.name = entry.key;
    loadUpstream(entry, upstream);
    // Kept even when invalid, so routes naming it are not also reported as unknown.
    config.upstreams.push_back(std::move(upstream));
  }
}

void Loader::loadUpstream(const MapEntry& upstream_entry, UpstreamConfig& upstream) {
  const auto entries =
      mapEntries(upstream_entry.field, {"balance", "hash_key", "keepalive", "retries", "retry_on",
                                        "retry_timeout", "servers", "health", "tls"});
  if (!entries) return;
  const MapEntry* servers = nullptr;
  const MapEntry* hash_key = nullptr;
  bool balance_ok = true;
  for (const MapEntry& entry : *entries) {
    const Field& field = entry.field;
    if (entry.key == "balance") {
      balance_ok = readEnum(field,
                            {{"round_robin", BalanceAlgorithm::RoundRobin},
                             {"least_conn", BalanceAlgorithm::LeastConn},
                             {"hash", BalanceAlgorithm::Hash},
                             {"random_two", BalanceAlgorithm::RandomTwo}},
                            upstream.balance);
    } else if (entry.key == "hash_key") {
      hash_key = &entry;
      std::string text;
      if (!scalar(field, "a string", text)) continue;
      if (!validHashKey(text)) {
        fail(field,
             "must be $remote_addr, $uri, $http_<name> or $cookie_<name>, got '" + text + "'");
        continue;
      }
      upstream.hash_key = text;
    } else if (entry.key == "keepalive") {
      readUint(field, 0, 10000, upstream.keepalive);
    } else if (entry.key == "retries") {
      readUint(field, 0, 100, upstream.retries);
    } else if (entry.key == "retry_on") {
      const auto items = listItems(field);
      if (!items) continue;
      uint32_t mask = 0;
      for (const Field& item : *items) {
        uint32_t bit = 0;
        if (readEnum(item,
                     {{"connect_failure", uint32_t{kRetryConnectFailure}},
                      {"timeout", uint32_t{kRetryTimeout}},
                      {"500", uint32_t{kRetry500}},
                      {"502", uint32_t{kRetry502}},
                      {"503", uint32_t{kRetry503}},
                      {"504", uint32_t{kRetry504}},
                      {"429", uint32_t{kRetry429}}},
                     bit)) {
          mask |= bit;
        }
      }
      upstream.retry_on = mask;
    } else if (entry.key == "retry_timeout") {
      readDuration(field, true, upstream.retry_timeout);
    } else if (entry.key == "servers") {
      servers = &entry;
      loadServers(field, upstream);
    } else if (entry.key == "health") {
      loadHealth(field, upstream.health);
    } else if (entry.key == "tls") {
      loadUpstreamTls(field, upstream.tls.emplace());
    }
  }
  if (upstream.balance == BalanceAlgorithm::Hash) {
    if (upstream.hash_key.empty() && !hash_key) upstream.hash_key = "$remote_addr";
  } else if (hash_key && balance_ok) {
    // Most likely a forgotten `balance: hash`; ignoring the key would hide that.
    fail(hash_key->key_mark, hash_key->field.path, "only used with 'balance: hash'");
  }
  if (!servers) {
    fail(upstream_entry.key_mark, upstream_entry.field.path, "has no servers");
  } else if (servers->field.node.IsNull() ||
             (servers->field.node.IsSequence() && servers->field.node.size() == 0)) {
    fail(servers->field, "must list at least one server");
  }
}

void Loader::loadServers(const Field& field, UpstreamConfig& upstream) {
  const auto items = listItems(field);
  if (!items) return;
  std::vector<std::pair<std::string, std::string>> seen;  // address text, path
  for (const Field& item : *items) {
    const auto entries =
        mapEntries(item, {"address", "weight", "max_conns", "backup", "down", "slow_start"});
    if (!entries) continue;
    ServerConfig server;
    bool has_address = false;
    bool valid = true;
    for (const MapEntry& entry : *entries) {
      const Field& f = entry.field;
      if (entry.key == "address") {
        has_address = true;
        if (!readAddress(f, server.address)) {
          valid = false;
          continue;
        }
        const auto dup = std::find_if(seen.begin(), seen.end(), [&](const auto& s) {
          return s.first == server.address.text;
        });
        if (dup != seen.end()) {
          fail(f, "duplicate server " + server.address.text + " (also " + dup->second + ")");
          valid = false;
          continue;
        }
        seen.emplace_back(server.address.text, f.path);
      } else if (entry.key == "weight") {
        readUint(f, 1, 1000, server.weight);
      } else if (entry.key == "max_conns") {
        readUint(f, 0, std::numeric_limits<uint32_t>::max(), server.max_conns);
      } else if (entry.key == "backup") {
        readBool(f, server.backup);
      } else if (entry.key == "down") {
        readBool(f, server.down);
      } else if (entry.key == "slow_start") {
        readDuration(f, true, server.slow_start);
      }
    }
    if (!has_address) {
      fail(item, "missing required key 'address'");
      valid = false;
    }
    if (valid) upstream.servers.push_back(std::move(server));
  }
}

void Loader::loadHealth(const Field& field, HealthConfig& health) {
  const auto entries = mapEntries(field, {"max_fails", "fail_timeout", "check"});
  if (!entries) return;
  for (const MapEntry& entry : *entries) {
    if (entry.key == "max_fails") {
      readUint(entry.field, 0, std::numeric_limits<uint32_t>::max(), health.max_fails);
    } else if (entry.key == "fail_timeout") {
      readDuration(entry.field, false, health.fail_timeout);
    } else if (entry.key == "check") {
      // `check:` with nothing under it turns active checks on with the defaults.
      HealthCheckConfig check;
      loadHealthCheck(entry.field, check);
      health.check = std::move(check);
    }
  }
}

void Loader::loadHealthCheck(const Field& field, HealthCheckConfig& check) {
  const auto entries = mapEntries(
      field, {"path", "interval", "timeout", "rise", "fall", "expect_status", "initially"});
  if (!entries) return;
  for (const MapEntry& entry : *entries) {
    const Field& f = entry.field;
    if (entry.key == "path") {
      std::string text;
      if (!scalar(f, "a path", text)) continue;
      if (text.empty() || text.front() != '/' || hasSpaceOrControl(text)) {
        fail(f, "must start with '/' and contain no spaces, got '" + text + "'");
        continue;
      }
      check.path = text;
    } else if (entry.key == "interval") {
      readDuration(f, false, check.interval);
    } else if (entry.key == "timeout") {
      readDuration(f, false, check.timeout);
    } else if (entry.key == "rise") {
      readUint(f, 1, std::numeric_limits<uint32_t>::max(), check.rise);
    } else if (entry.key == "fall") {
      readUint(f, 1, std::numeric_limits<uint32_t>::max(), check.fall);
    } else if (entry.key == "expect_status") {
      std::string text;
      if (!scalar(f, "a status or range such as 200-399", text)) continue;
      const size_t dash = text.find('-');
      const std::string low_text = text.substr(0, dash);
      const std::string high_text = dash == std::string::npos ? low_text : text.substr(dash + 1);
      const auto isStatus = [](const std::string& s) {
        return s.size() == 3 &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
               s >= "100" && s <= "599";
      };
      if (!isStatus(low_text) || !isStatus(high_text) || low_text > high_text) {
        fail(f, "must be a status such as 200 or a range such as 200-399 (100..599), got '" + text +
                    "'");
        continue;
      }
      check.expect_status_min = static_cast<uint16_t>(std::stoi(low_text));
      check.expect_status_max = static_cast<uint16_t>(std::stoi(high_text));
    } else if (entry.key == "initially") {
      readEnum(f, {{"healthy", true}, {"unhealthy", false}}, check.initially_healthy);
    }
  }
}

void Loader::loadRoutes(const Field& field, Config& config) {
  const auto items = listItems(field);
  if (!items) return;
  struct Seen {
    std::string prefix, host, path;
  };
  std::vector<Seen> seen;
  for (const Field& item : *items) {
    const auto entries = mapEntries(item, {"match", "upstream", "websocket", "compression", "cache", "allow", "deny"});
    if (!entries) continue;
    RouteConfig route;
    const Field* upstream_field = nullptr;
    bool has_upstream = false;
    const MapEntry* match = nullptr;
    std::optional<CompressionOverride> compression;
    std::optional<CacheOverride> cache;
    bool valid = true;
    for (const MapEntry& entry : *entries) {
      const Field& f = entry.field;
      if (entry.key == "match") {
        match = &entry;
        const auto match_entries = mapEntries(f, {"prefix", "host"});
        if (!match_entries) {
          valid = false;
          continue;
        }
        bool has_prefix = false;
        for (const MapEntry& m : *match_entries) {
          std::string text;
          if (m.key == "prefix") {
            has_prefix = true;
            if (!scalar(m.field, "a path prefix", text)) {
              valid = false;
            } else if (text.empty() || text.front() != '/' || hasSpaceOrControl(text)) {
              fail(m.field, "must start with '/' and contain no spaces, got '" + text + "'");
              valid = false;
            } else {
              route.prefix = text;
            }
          } else if (m.key == "host") {
            if (!readString(m.field, text)) {
              valid = false;
            } else if (text.find(':') != std::string::npos || hasSpaceOrControl(text)) {
              fail(m.field, "must be a host name without a port, got '" + text + "'");
              valid = false;
            } else {
              route.host = toLower(text);
            }
          }
        }
        if (!has_prefix) {
          fail(f, "missing required key 'prefix'");
          valid = false;
        }
      } else if (entry.key == "upstream") {
        has_upstream = true;
        if (readString(f, route.upstream)) {
          upstream_field = &f;
        } else {
          valid = false;
        }
      } else if (entry.key == "websocket") {
        readBool(f, route.websocket);
      } else if (entry.key == "compression") {
        loadCompression(f, compression.emplace());
      } else if (entry.key == "cache") {
        loadRouteCache(f, cache.emplace());
      } else if (entry.key == "allow" || entry.key == "deny") {
        loadAccessRules(f, entry.key == "allow", route);
      }
    }
    if (!match) {
      fail(item, "missing required key 'match'");
      valid = false;
    }
    if (!has_upstream) {
      fail(item, "missing required key 'upstream'");
      valid = false;
    }
    if (!valid || !upstream_field) continue;
    const auto dup = std::find_if(seen.begin(), seen.end(), [&](const Seen& s) {
      return s.prefix == route.prefix && s.host == route.host;
    });
    if (dup != seen.end()) {
      fail(match->field, "duplicate route: same prefix and host as " + dup->path);
      continue;
    }
    seen.push_back(Seen{route.prefix, route.host, item.path});
    route_upstream_fields_.push_back(*upstream_field);
    route_compression_.push_back(std::move(compression));
    route_cache_.push_back(std::move(cache));
    config.routes.push_back(std::move(route));
  }
}

void Loader::resolveRoutes(Config& config) {
  std::vector<std::string> names;
  for (const auto& upstream : config.upstreams) names.push_back(upstream.name);
  for (size_t i = 0; i < config.routes.size(); ++i) {
    RouteConfig& route = config.routes[i];
    const auto it = std::find(names.begin(), names.end(), route.upstream);
    if (it == names.end()) {
      fail(route_upstream_fields_[i],
           "unknown upstream '" + route.upstream + "'" + suggestion(route.upstream, names));
      continue;
    }
    route.upstream_index = static_cast<size_t>(it - names.begin());
  }
}

void Loader::loadAdmin(const Field& field, Config& config) {
  const auto entries = mapEntries(field, {"address", "token_file", "tls"});
  if (!entries) return;
  const MapEntry* address = nullptr;
  AdminConfig admin;
  bool valid = true;
  for (const MapEntry& entry : *entries) {
    if (entry.key == "address") {
      address = &entry;
    } else if (entry.key == "tls") {
      loadAdminTls(entry.field, admin.tls.emplace());
      valid = !admin.tls->certificates.empty() && valid;
    } else if (entry.key == "token_file") {
      loadAdminToken(entry.field, admin);
      valid = !admin.token.empty() && valid;
    }
  }
  if (!address) {
    fail(field, "missing required key 'address'");
    return;
  }
  if (!readAddress(address->field, admin.address) || !valid) return;
  admin_address_field_ = address->field;
  config.admin = std::move(admin);
}

// `admin.tls: { cert, key }`: one certificate entry, positioned like a listener's, so that
// validateTlsConfig reports a bad file at its key.
void Loader::loadAdminTls(const Field& field, ListenerTlsConfig& tls) {
  tls.position = positionOf(field);
  readCertificate(field, tls);
}

// Read at load (and at each reload), so a missing or empty file is a config error, not an admin
// API that silently accepts any token.
void Loader::loadAdminToken(const Field& field, AdminConfig& admin) {
  if (!readString(field, admin.token_file)) return;
  const int fd = ::open(admin.token_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(field, "cannot read '" + admin.token_file + "': " + std::strerror(errno));
    return;
  }
  std::string text;
  char buf[4096];
  ssize_t n;
  while (text.size() <= 4096 && (n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const size_t b = text.find_first_not_of(" \t\r\n");
  const size_t e = text.find_last_not_of(" \t\r\n");
  std::string token = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
  if (token.empty()) {
    fail(field, "'" + admin.token_file + "' holds no token");
    return;
  }
  if (token.size() > 4096 || hasSpaceOrControl(token)) {
    fail(field, "'" + admin.token_file + "': the token must be one line of at most 4096 visible characters");
    return;
  }
  admin.token = std::move(token);
}

void Loader::checkAdminAddress(const Config& config) {
  if (!config.admin) return;
  for (const ListenerConfig& listener : config.listeners) {
    if (listener.address == config.admin->address) {
      fail(admin_address_field_, "same address as a listener (" + config.admin->address.text + ")");
      return;
    }
  }
}

void Loader::loadAccessLog(const Field& field, AccessLogConfig& access_log) {
  const auto entries = mapEntries(field, {"path", "format"});
  if (!entries) return;
  for (const MapEntry& entry : *entries) {
    if (entry.key == "path") {
      readString(entry.field, access_log.path);
    } else if (entry.key == "format") {
      readEnum(entry.field,
               {{"combined", AccessLogFormat::Combined}, {"json", AccessLogFormat::Json}},
               access_log.format);
    }
  }
}

// `off`, `on` or a map (route compression, route cache): false when the value was a switch
// (`enabled` set) or wrong (reported); true when a map of settings follows.
bool Loader::switchOrMap(const Field& field, std::optional<bool>& enabled) {
  if (field.node.IsScalar()) {
    const std::string lower = toLower(field.node.Scalar());
    if (lower == "true" || lower == "yes" || lower == "on") {
      enabled = true;
    } else if (lower == "false" || lower == "no" || lower == "off") {
      enabled = false;
    } else {
      fail(field, "expected off, on or a map of settings, got " + describe(field.node));
    }
    return false;
  }
  if (field.node.IsSequence()) {
    fail(field, "expected off, on or a map of settings, got " + describe(field.node));
    return false;
  }
  return true;
}

void Loader::loadCompression(const Field& field, CompressionOverride& out) {
  if (!switchOrMap(field, out.enabled)) return;
  const auto entries =
      mapEntries(field, {"enabled", "algorithms", "min_length", "level", "types"});
  if (!entries) return;
  out.enabled = true;  // a map turns compression on unless it says `enabled: false`
  for (const MapEntry& entry : *entries) {
    const Field& f = entry.field;
    if (entry.key == "enabled") {
      bool enabled = true;
      if (readBool(f, enabled)) out.enabled = enabled;
    } else if (entry.key == "algorithms") {
      loadCompressionAlgorithms(f, out);
    } else if (entry.key == "min_length") {
      uint64_t min_length = 0;
      if (readSize(f, 0, std::numeric_limits<uint64_t>::max(), "", min_length)) {
        out.min_length = min_length;
      }
    } else if (entry.key == "level") {
      loadCompressionLevels(f, out);
    } else if (entry.key == "types") {
      loadCompressionTypes(f, out);
    }
  }
}

void Loader::loadCache(const Field& field, CacheConfig& cache, CacheOverride& defaults) {
  const auto entries = mapEntries(field, {"memory", "max_object", "purge_allow", "tag_headers", "key",
                                          "ignore_query", "stale_while_revalidate", "stale_if_error",
                                          "lock_timeout", "default_ttl", "store_set_cookie", "shared"});
  if (!entries) return;
  const Field* max_object_field = nullptr;
  for (const MapEntry& entry : *entries) {
    const Field& f = entry.field;
    if (entry.key == "memory") {
      readSize(f, 1ull << 20, 1ull << 40, "1MiB..1TiB", cache.memory);
    } else if (entry.key == "max_object") {
      if (readSize(f, 1, 1ull << 32, "1..4GiB", cache.max_object)) max_object_field = &f;
    } else if (entry.key == "purge_allow") {
      const auto items = listItems(f);
      if (!items) continue;
      cache.purge_allow.clear();
      for (const Field& item : *items) {
        std::string text;
        if (!scalar(item, "an address or CIDR prefix", text)) continue;
        if (!validCidr(text)) {
          fail(item, "bad address or CIDR prefix '" + text + "' (use e.g. 127.0.0.1/32 or ::1/128)");
          continue;
        }
        cache.purge_allow.push_back(text);
      }
    } else if (entry.key == "tag_headers") {
      const auto items = listItems(f);
      if (!items) continue;
      cache.tag_headers.clear();
      for (const Field& item : *items) {
        std::string text;
        if (!scalar(item, "a header name", text)) continue;
        if (!validToken(text)) {
          fail(item, "bad header name '" + text + "'");
          continue;
        }
        cache.tag_headers.push_back(text);
      }
    } else if (entry.key == "shared") {
      loadSharedCache(f, cache.shared.emplace());
    } else {
      loadCacheKnob(entry, defaults);
    }
  }
  if (max_object_field && cache.max_object > cache.memory) {
    fail(*max_object_field, "must not be larger than cache.memory");
  }
}

void Loader::loadSharedCache(const Field& field, SharedCacheConfig& out) {
  const auto entries = mapEntries(field, {"redis", "key_prefix", "max_object", "timeout", "collapse",
                                          "lock_timeout", "lock_ttl"});
  if (!entries) return;
  bool have_redis = false;
  for (const MapEntry& entry : *entries) {
    const Field& f = entry.field;
    if (entry.key == "redis" && f.node.IsMap()) {
      have_redis = true;
      const auto sentinel = mapEntries(f, {"sentinels", "master"});
      if (!sentinel) continue;
      bool listed = false;  // a bad address is reported where it is
      for (const MapEntry& s : *sentinel) {
        if (s.key == "master") {
          readString(s.field, out.master);
        } else if (const auto items = listItems(s.field)) {
          listed = !items->empty();
          for (const Field& item : *items) {
            Address a;
            if (readAddress(item, a)) out.sentinels.push_back(std::move(a));
          }
        }
      }
      if (!listed || out.master.empty())
        fail(f, "a Sentinel setup needs `sentinels: [HOST:PORT, ...]` and `master: NAME`");
    } else if (entry.key == "redis") {
      have_redis = readAddress(f, out.redis) || true;  // a bad address is reported there
    } else if (entry.key == "key_prefix") {
      std::string text;
      if (!readString(f, text)) continue;
      if (text.size() > 64 || text.find_first_of(" \t\r\n*?[]") != std::string::npos) {
        fail(f, "must be 1..64 characters without spaces or glob characters (* ? [ ]), got '" + text + "'");
        continue;
      }
      out.key_prefix = text;
    } else if (entry.key == "max_object") {
      readSize(f, 1, 512ull << 20, "1..512MiB", out.max_object);
    } else if (entry.key == "timeout") {
      if (readDuration(f, false, out.timeout) && out.timeout.count() > 10000) {
        fail(f, "must be at most 10s (a lookup delays the request by up to this long)");
      }
    } else {
      loadSharedCollapse(entry, out);
    }
  }
  if (!have_redis) fail(field, "needs `redis: HOST:PORT` or `redis: { sentinels: [...], master: NAME }`");
}

// cache.shared.collapse / lock_timeout / lock_ttl: collapsing fills across instances.
void Loader::loadSharedCollapse(const MapEntry& entry, SharedCacheConfig& out) {
  const Field& f = entry.field;
  if (entry.key == "collapse") {
    readBool(f, out.collapse);
  } else if (entry.key == "lock_timeout") {
    if (readDuration(f, false, out.lock_timeout) && out.lock_timeout.count() > 60'000)
      fail(f, "must be at most 1m (a waiting request is held up to this long)");
  } else if (entry.key == "lock_ttl") {
    if (readDuration(f, false, out.lock_ttl) && out.lock_ttl.count() > 600'000)
      fail(f, "must be at most 10m (a lock whose owner died blocks the key's fills this long)");
  }
}

void Loader::loadRouteCache(const Field& field, CacheOverride& out) {
  if (!switchOrMap(field, out.enabled)) return;
  const auto entries = mapEntries(field, {"enabled", "key", "ignore_query", "stale_while_revalidate",
                                          "stale_if_error", "lock_timeout", "default_ttl", "store_set_cookie"});
  if (!entries) return;
  out.enabled = true;  // a map turns the cache on unless it says `enabled: false`
  for (const MapEntry& entry : *entries) {
    if (entry.key == "enabled") {
      bool enabled = true;
      if (readBool(entry.field, enabled)) out.enabled = enabled;
    } else {
      loadCacheKnob(entry, out);
    }
  }
}

bool Loader::loadCacheKnob(const MapEntry& entry, CacheOverride& out) {
  const Field& f = entry.field;
  Duration d{0};
  if (entry.key == "key") {
    std::string text;
    if (!readString(f, text)) return true;
    if (const std::string bad = badCacheKeyVariable(text); !bad.empty()) {
      fail(f, "unknown variable '" + bad +
                  "' (use $scheme, $host, $request_uri, $uri, $args, $http_NAME, $cookie_NAME)");
      return true;
    }
    out.key = text;
  } else if (entry.key == "ignore_query") {
    const auto items = listItems(f);
    if (!items) return true;
    std::vector<std::string> names;
    for (const Field& item : *items) {
      std::string text;
      if (!readString(item, text)) continue;
      if (hasSpaceOrControl(text) || text.find_first_of("&=") != std::string::npos) {
        fail(item, "must be a query parameter name or glob (no spaces, '&' or '='), got '" + text + "'");
        continue;
      }
      names.push_back(text);
    }
    out.ignore_query = std::move(names);
  } else if (entry.key == "stale_while_revalidate") {
    if (readDuration(f, true, d)) out.stale_while_revalidate = d;
  } else if (entry.key == "stale_if_error") {
    if (readDuration(f, true, d)) out.stale_if_error = d;
  } else if (entry.key == "lock_timeout") {
    if (readDuration(f, false, d)) out.lock_timeout = d;
  } else if (entry.key == "default_ttl") {
    if (readDuration(f, true, d)) out.default_ttl = d;
  } else if (entry.key == "store_set_cookie") {
    bool on = false;
    if (readBool(f, on)) out.store_set_cookie = on;
  } else {
    return false;
  }
  return true;
}

void Loader::loadCompressionAlgorithms(const Field& field, CompressionOverride& out) {
  const auto items = listItems(field);
  if (!items) return;
  if (items->empty()) {
    fail(field, "must list at least one of br, zstd, gzip");
    return;
  }
  static constexpr std::string_view kNames[] = {"br", "zstd", "gzip"};
  std::vector<CompressionAlgorithm> algorithms;
  std::vector<std::string> paths;  // of each algorithm kept, for duplicate messages
  bool valid = true;
  for (const Field& item : *items) {
    std::string text;
    if (!scalar(item, "one of br, zstd, gzip", text)) {
      valid = false;
      continue;
    }
    const std::string lower = toLower(text);
    CompressionAlgorithm algorithm;
    std::string_view name;
    if (lower == "br" || lower == "brotli") {
      algorithm = CompressionAlgorithm::Brotli;
      name = "br";
    } else if (lower == "zstd") {
      algorithm = CompressionAlgorithm::Zstd;
      name = "zstd";
    } else if (lower == "gzip") {
      algorithm = CompressionAlgorithm::Gzip;
      name = "gzip";
    } else {
      fail(item, "must be one of br, zstd, gzip, got '" + text + "'" + suggestion(lower, kNames));
      valid = false;
      continue;
    }
    const auto dup = std::find(algorithms.begin(), algorithms.end(), algorithm);
    if (dup != algorithms.end()) {
      fail(item, "duplicate algorithm " + std::string(name) + " (also " +
                     paths[static_cast<size_t>(dup - algorithms.begin())] + ")");
      valid = false;
      continue;
    }
    algorithms.push_back(algorithm);
    paths.push_back(item.path);
  }
  if (valid) out.algorithms = std::move(algorithms);
}

void Loader::loadCompressionLevels(const Field& field, CompressionOverride& out) {
  const auto entries = mapEntries(field, {"gzip", "br", "brotli", "zstd"});
  if (!entries) return;
  const MapEntry* br = nullptr;
  for (const MapEntry& entry : *entries) {
    const Field& f = entry.field;
    uint32_t level = 0;
    if (entry.key == "gzip") {
      if (readUint(f, 1, 9, level)) out.gzip_level = static_cast<int>(level);
    } else if (entry.key == "zstd") {
      if (readUint(f, 1, 19, level)) out.zstd_level = static_cast<int>(level);
    } else {  // "br" or its spelled-out alias
      if (br) {
        fail(entry.key_mark, f.path,
             "same as '" + br->key + "' (first defined at line " +
                 std::to_string(br->key_mark.line + 1) + ")");
        continue;
      }
      br = &entry;
      // Brotli takes 0..11, but from quality 5 on its window and hash tables cost tens of MiB
      // per stream (about 36 MiB at 9), which a proxy with many streams cannot afford.
      const std::string text = f.node.IsScalar() ? f.node.Scalar() : std::string();
      const bool expensive = (text.size() == 1 && text[0] >= '5' && text[0] <= '9') ||
                             text == "10" || text == "11";
      if (expensive) {
        fail(f, "br levels above 4 need tens of MiB per stream; use 4 or less (got " + text + ")");
      } else if (readUint(f, 0, 4, level)) {
        out.br_level = static_cast<int>(level);
      }
    }
  }
}

void Loader::loadCompressionTypes(const Field& field, CompressionOverride& out) {
  const auto items = listItems(field);
  if (!items) return;
  if (items->empty()) {
    fail(field, "must list at least one media type (use 'compression: off' to disable)");
    return;
  }
  std::vector<std::string> types;
  std::vector<std::string> paths;
  bool valid = true;
  for (const Field& item : *items) {
    std::string text;
    if (!readString(item, text)) {
      valid = false;
      continue;
    }
    const std::string lower = toLower(text);
    if (!validMediaRange(lower)) {
      fail(item, "must be a media type such as text/html or text/* (no parameters), got '" + text +
                     "'");
      valid = false;
      continue;
    }
    const auto dup = std::find(types.begin(), types.end(), lower);
    if (dup != types.end()) {
      fail(item, "duplicate media type " + lower + " (also " +
                     paths[static_cast<size_t>(dup - types.begin())] + ")");
      valid = false;
      continue;
    }
    types.push_back(lower);
    paths.push_back(item.path);
  }
  if (valid) out.types = std::move(types);
}

}  // namespace

LoadResult loadConfigString(std::string_view yaml, const std::string& filename) {
  LoadResult result;
  Loader loader(filename);
  std::shared_ptr<Config> config;
  try {
    config = loader.load(yaml);
  } catch (const std::exception& e) {
    // yaml-cpp may throw from places other than the parser; keep the no-throw promise.
    ConfigError error;
    error.file = filename;
    error.message = std::string("internal error while loading: ") + e.what();
    result.errors.push_back(std::move(error));
  }
  auto errors = loader.takeErrors();
  result.errors.insert(result.errors.end(), errors.begin(), errors.end());
  if (result.errors.empty() && config) {
    config->source_path = filename;
    result.config = std::move(config);
  }
  return result;
}

LoadResult loadConfigFile(const std::string& path) {
  std::string text;
  int saved_errno = 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    saved_errno = errno;
  } else {
    char buffer[16384];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n > 0) {
        text.append(buffer, static_cast<size_t>(n));
        // One byte over the limit is enough for the size error; /dev/zero must not hang us.
        if (text.size() > YamlLimits{}.max_bytes) break;
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        saved_errno = errno;  // e.g. EISDIR: a directory opens fine and fails here
        break;
      }
    }
    ::close(fd);
  }
  if (saved_errno != 0) {
    LoadResult result;
    ConfigError error;
    error.file = path;
    error.message = std::string("cannot read: ") + std::strerror(saved_errno);
    result.errors.push_back(std::move(error));
    return result;
  }
  return loadConfigString(text, path);
}

}  // namespace edged::conf
