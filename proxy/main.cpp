// proxy/main.cpp — the edged command line: config check, daemon start, and the filter chain. The
// one place that sees every module.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>
#include <string>
#include <utility>

#include "cache/cache.h"
#include "conf/config.h"
#include "proxy/compress/compression_filter.h"
#include "proxy/net/tls/tls.h"
#include "proxy/proxy.h"

#ifndef EDGED_VERSION
#define EDGED_VERSION "0.0.0"
#endif

namespace {

edged::compress::CompressionSettings toSettings(const edged::conf::CompressionConfig& c) {
  using edged::compress::Algorithm;
  edged::compress::CompressionSettings s;
  s.enabled = c.enabled;
  s.algorithms.clear();
  for (auto a : c.algorithms) {
    switch (a) {
      case edged::conf::CompressionAlgorithm::Gzip: s.algorithms.push_back(Algorithm::Gzip); break;
      case edged::conf::CompressionAlgorithm::Brotli: s.algorithms.push_back(Algorithm::Brotli); break;
      case edged::conf::CompressionAlgorithm::Zstd: s.algorithms.push_back(Algorithm::Zstd); break;
    }
  }
  s.min_length = c.min_length;
  s.level.gzip = c.gzip_level;
  s.level.br = c.br_level;
  s.level.zstd = c.zstd_level;
  s.types = c.types;
  return s;
}

// Compression, per route; null when no route compresses.
std::unique_ptr<edged::proxy::FilterFactory> makeCompression(const edged::conf::Config& config,
                                                             edged::proxy::FilterEnv& env) {
  std::vector<edged::compress::CompressionSettings> per_route;
  bool any = config.compression.enabled;
  for (const auto& r : config.routes) {
    per_route.push_back(toSettings(r.compression ? *r.compression : config.compression));
    any |= per_route.back().enabled;
  }
  per_route.push_back(toSettings(config.compression));  // requests no route matched
  if (!any) return nullptr;
  return std::make_unique<edged::compress::CompressionFilterFactory>(std::move(per_route), env.metrics);
}

// The one cache store of the process: made when a configuration first caches, kept across
// reloads (entries survive; a new `memory` applies by evicting).
struct CacheProcessState {
  std::mutex mutex;
  std::unique_ptr<edged::cache::CacheStore> store;
  edged::cache::CacheCounters counters;
};
CacheProcessState& cacheState() {
  static CacheProcessState* state = new CacheProcessState;  // lives until exit: workers may outlive main's scope
  return *state;
}

std::shared_ptr<const edged::cache::CacheSettings> cacheSettings(const edged::conf::Config& config) {
  auto s = std::make_shared<edged::cache::CacheSettings>();
  s->tag_headers = config.cache.tag_headers;
  for (const std::string& cidr : config.cache.purge_allow) s->allowPurgeFrom(cidr);  // validated by conf
  s->max_object = config.cache.max_object;
  auto seconds = [](edged::conf::Duration d) { return static_cast<int64_t>(d.count() / 1000); };
  for (const auto& r : config.routes) {
    edged::cache::RouteCacheSettings rs;
    if (r.cached()) {
      const edged::conf::RouteCacheConfig& c = *r.cache;
      rs.enabled = true;
      rs.key_template = c.key;
      rs.key.ignore_query = c.ignore_query;
      const edged::conf::CompressionConfig& comp = config.compressionFor(r);
      if (comp.enabled) {
        for (auto a : comp.algorithms) {
          switch (a) {
            case edged::conf::CompressionAlgorithm::Gzip: rs.key.encodings.push_back("gzip"); break;
            case edged::conf::CompressionAlgorithm::Brotli: rs.key.encodings.push_back("br"); break;
            case edged::conf::CompressionAlgorithm::Zstd: rs.key.encodings.push_back("zstd"); break;
          }
        }
      }
      rs.policy.default_stale_while_revalidate = seconds(c.stale_while_revalidate);
      rs.policy.default_stale_if_error = seconds(c.stale_if_error);
      rs.default_ttl = seconds(c.default_ttl);
      rs.lock_timeout_ms = static_cast<uint64_t>(c.lock_timeout.count());
    }
    s->per_route.push_back(std::move(rs));
  }
  s->per_route.emplace_back();  // requests no route matched: not cached
  return s;
}

// The response cache, per route; null when no route caches.
std::unique_ptr<edged::proxy::FilterFactory> makeCache(const edged::conf::Config& config,
                                                       edged::proxy::FilterEnv& env) {
  bool any = false;
  for (const auto& r : config.routes) any |= r.cached();
  if (!any) return nullptr;
  CacheProcessState& st = cacheState();
  std::lock_guard lock(st.mutex);
  if (!st.store) {
    edged::cache::StoreConfig sc;
    sc.budget_bytes = config.cache.memory;
    sc.max_object_bytes = 4ull << 30;  // the configured max_object is applied per generation by the filter
    st.store = std::make_unique<edged::cache::CacheStore>(sc);
  }
  st.store->setBudget(config.cache.memory);
  return std::make_unique<edged::cache::CacheFilterFactory>(cacheSettings(config), *st.store, st.counters, env.loop,
                                                           env.mailbox);
}

// The value of `"name": "..."` in a small flat JSON object (no escapes needed for URLs and tags).
std::optional<std::string> jsonString(std::string_view body, std::string_view name) {
  const std::string quoted = "\"" + std::string(name) + "\"";
  size_t at = body.find(quoted);
  if (at == std::string_view::npos) return std::nullopt;
  at = body.find(':', at + quoted.size());
  if (at == std::string_view::npos) return std::nullopt;
  const size_t open = body.find('"', at + 1);
  if (open == std::string_view::npos) return std::nullopt;
  const size_t close = body.find('"', open + 1);
  if (close == std::string_view::npos) return std::nullopt;
  return std::string(body.substr(open + 1, close - open - 1));
}

// "http://host/path?q" -> the cache's primary key ("" when not an absolute http(s) URL).
std::string urlKey(std::string_view url) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return {};
  const std::string_view scheme = url.substr(0, sep), rest = url.substr(sep + 3);
  const size_t slash = rest.find('/');
  const std::string_view host = rest.substr(0, slash);
  const std::string_view target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (host.empty()) return {};
  return edged::cache::primaryKey(scheme, host, target, {});
}

std::pair<int, std::string> cachePurgeEndpoint(std::string_view body) {
  CacheProcessState& st = cacheState();
  std::lock_guard lock(st.mutex);
  if (!st.store) return {409, "{\"error\": \"no route caches\"}\n"};
  size_t n = 0;
  if (auto url = jsonString(body, "url")) {
    const std::string key = urlKey(*url);
    if (key.empty()) return {400, "{\"error\": \"url must be absolute, e.g. http://example.com/a\"}\n"};
    n = st.store->purgeKey(key);
  } else if (auto prefix = jsonString(body, "prefix")) {
    std::string key = urlKey(*prefix);
    if (key.empty()) return {400, "{\"error\": \"prefix must be an absolute URL, e.g. http://example.com/a/\"}\n"};
    n = st.store->purgePrefix(key);
  } else if (auto tag = jsonString(body, "tag")) {
    n = st.store->purgeTag(*tag);
  } else {
    return {400, "{\"error\": \"expected {\\\"url\\\": ...}, {\\\"prefix\\\": ...} or {\\\"tag\\\": ...}\"}\n"};
  }
  st.counters.purges.fetch_add(n, std::memory_order_relaxed);
  return {200, "{\"purged\": " + std::to_string(n) + "}\n"};
}

// The cache's numbers as (name, help, value, is_gauge).
struct CacheFigure {
  const char* name;
  const char* help;
  uint64_t value;
  bool gauge;
};
std::vector<CacheFigure> cacheFigures() {
  CacheProcessState& st = cacheState();
  std::lock_guard lock(st.mutex);
  if (!st.store) return {};
  const edged::cache::StoreStats s = st.store->stats();
  const edged::cache::CacheCounters& c = st.counters;
  auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return {
      {"hits", "Requests answered fresh from the cache.", v(c.hits), false},
      {"misses", "Requests that went to the origin for want of a usable entry.", v(c.misses), false},
      {"stale", "Stale entries served (max-stale, stale-if-error).", v(c.stale), false},
      {"revalidated", "Stale entries revalidated by a 304.", v(c.revalidated), false},
      {"refetched", "Stale entries replaced by a full response on revalidation.", v(c.refetched), false},
      {"collapsed", "Collapsed waiters answered from another exchange's fill.", v(c.collapsed), false},
      {"stored", "Responses stored.", v(c.stored), false},
      {"not_stored", "Responses not stored (policy, size, truncated body).", v(c.not_stored), false},
      {"invalidations", "Entries invalidated by unsafe methods.", v(c.invalidations), false},
      {"purges", "Entries removed by PURGE and the admin purge.", v(c.purges), false},
      {"evictions", "Keys evicted to stay within the memory budget.", s.evictions, false},
      {"bytes", "Bytes the cache holds (keys, heads, bodies, index).", s.used_bytes, true},
      {"budget_bytes", "The cache's memory budget.", s.budget_bytes, true},
      {"entries", "Stored responses (Vary variants counted apart).", s.entries, true},
      {"keys", "Stored primary keys.", s.keys, true},
  };
}

void cacheMetrics(std::string& out) {
  for (const CacheFigure& f : cacheFigures()) {
    const std::string name = std::string("edged_cache_") + f.name + (f.gauge ? "" : "_total");
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + (f.gauge ? " gauge\n" : " counter\n");
    out += name + " " + std::to_string(f.value) + "\n";
  }
}

std::pair<int, std::string> cacheStatusEndpoint(std::string_view) {
  const std::vector<CacheFigure> figures = cacheFigures();
  if (figures.empty()) return {200, "{\"enabled\": false}\n"};
  std::string out = "{\"enabled\": true";
  for (const CacheFigure& f : figures) out += ", \"" + std::string(f.name) + "\": " + std::to_string(f.value);
  out += "}\n";
  return {200, out};
}

void usage(FILE* out) {
  std::fprintf(out,
               "usage: edged --config FILE [--workers N] [--check]\n"
               "\n"
               "  -c, --config FILE   configuration file (YAML)\n"
               "  -w, --workers N     worker threads (overrides `workers` in the file)\n"
               "  -t, --check         validate the configuration and exit (0 ok, 1 errors)\n"
               "  -v, --version       print the version and exit\n"
               "  -h, --help          print this help and exit\n");
}
}  // namespace

namespace edged::proxy {
int edgedMain(int argc, char** argv, const std::vector<FilterFactoryMaker>& extra_filters) {
  std::string config_path;
  bool check = false;
  uint32_t workers = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "edged: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-c" || a == "--config") {
      config_path = value("--config");
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "-w" || a == "--workers") {
      const char* v = value("--workers");
      char* end = nullptr;
      long n = std::strtol(v, &end, 10);
      if (*v == '\0' || *end != '\0' || n < 1 || n > 256) {
        std::fprintf(stderr, "edged: --workers must be a number from 1 to 256, not '%s'\n", v);
        return 2;
      }
      workers = static_cast<uint32_t>(n);
    } else if (a == "-t" || a == "--check") {
      check = true;
    } else if (a == "-v" || a == "--version") {
      std::printf("edged %s\n", EDGED_VERSION);
      return 0;
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "edged: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "edged: --config FILE is required\n");
    usage(stderr);
    return 2;
  }
  edged::conf::LoadResult r = edged::conf::loadConfigFile(config_path);
  // Certificates, keys and CAs are loaded now, so that --check and start-up report them with
  // their YAML position rather than failing at the first handshake.
  if (r.ok()) {
    auto tls_errors = edged::net::tls::validateTlsConfig(*r.config);
    if (!tls_errors.empty()) {
      r.errors = std::move(tls_errors);
      r.config = nullptr;
    }
  }
  if (!r.ok()) {
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    std::fprintf(stderr, "edged: configuration file %s test failed (%zu error%s)\n", config_path.c_str(),
                 r.errors.size(), r.errors.size() == 1 ? "" : "s");
    return 1;
  }
  if (check) {
    std::fprintf(stderr, "edged: configuration file %s test is successful\n", config_path.c_str());
    return 0;
  }
  edged::proxy::DaemonOptions o;
  o.config_path = config_path;
  o.workers_override = workers;
  // The filter chain, in request order (response phases run it in reverse).
  // The cache first: a hit answers before compression, and a fill stores what compression made
  // (one variant per encoding, keyed by the negotiated Accept-Encoding), so a hit never compresses.
  o.filters = {makeCache, makeCompression};
  o.filters.insert(o.filters.end(), extra_filters.begin(), extra_filters.end());
  o.admin_endpoints.push_back({"GET", "/cache", cacheStatusEndpoint});
  o.admin_endpoints.push_back({"POST", "/cache/purge", cachePurgeEndpoint});
  o.extra_metrics = cacheMetrics;
  return edged::proxy::runDaemon(r.config, o);
}
}  // namespace edged::proxy
