// proxy/main.cpp — the edged command line: config check, daemon start, and the filter chain. The
// one place that sees every module.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>
#include <string>
#include <utility>
#include <tuple>

#include "cache/cache.h"
#include "cache/shared_tier/shared_tier.h"
#include "conf/config.h"
#include "proxy/compress/compression_filter.h"
#include "proxy/http1/http1.h"
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
  // Per route label (host + prefix, as the request metrics name routes); kept across reloads.
  std::map<std::string, std::unique_ptr<edged::cache::CacheCounters>> routes;
  std::atomic<uint64_t> admin_purges{0};
  // The second tier (cache.shared): the process's purge hub, shared by the workers' tiers; a
  // reload that changes cache.shared starts a new one (the old one stops with its last tier).
  std::shared_ptr<edged::cache::shared_tier::SharedTierHub> hub;
  edged::cache::SecondTierCounters tier_counters;
};
CacheProcessState& cacheState() {
  static CacheProcessState* state = new CacheProcessState;  // lives until exit: workers may outlive main's scope
  return *state;
}

// Called with cacheState().mutex held.
std::shared_ptr<const edged::cache::CacheSettings> cacheSettings(const edged::conf::Config& config) {
  auto s = std::make_shared<edged::cache::CacheSettings>();
  s->tag_headers = config.cache.tag_headers;
  for (const std::string& cidr : config.cache.purge_allow) s->allowPurgeFrom(cidr);  // validated by conf
  s->max_object = config.cache.max_object;
  if (config.cache.shared) s->tier_counters = &cacheState().tier_counters;
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
      rs.policy.store_set_cookie = c.store_set_cookie;
      rs.default_ttl = seconds(c.default_ttl);
      rs.lock_timeout_ms = static_cast<uint64_t>(c.lock_timeout.count());
      auto& counters = cacheState().routes[r.host + r.prefix];
      if (!counters) counters = std::make_unique<edged::cache::CacheCounters>();
      rs.counters = counters.get();
    }
    s->per_route.push_back(std::move(rs));
  }
  s->per_route.emplace_back();  // requests no route matched: not cached
  return s;
}

// The second tier's options from cache.shared.
edged::cache::shared_tier::SharedTierOptions sharedTierOptions(const edged::conf::SharedCacheConfig& c) {
  edged::cache::shared_tier::SharedTierOptions o;
  const std::string& text = c.redis.text;  // "host:port" or "[v6]:port", validated by conf
  if (!text.empty()) {
    o.host = text.front() == '[' ? text.substr(1, text.find(']') - 1) : text.substr(0, text.rfind(':'));
    o.port = c.redis.port();
  }
  for (const edged::conf::Address& s : c.sentinels) {
    const std::string& t = s.text;
    o.sentinels.emplace_back(t.front() == '[' ? t.substr(1, t.find(']') - 1) : t.substr(0, t.rfind(':')), s.port());
  }
  o.master = c.master;
  o.key_prefix = c.key_prefix;
  o.max_object = c.max_object;
  o.timeout_ms = static_cast<uint64_t>(c.timeout.count());
  // Collapsing across instances.
  o.collapse = c.collapse;
  o.lock_timeout_ms = static_cast<uint64_t>(c.lock_timeout.count());
  o.lock_ttl_ms = static_cast<uint64_t>(c.lock_ttl.count());
  return o;
}

// The purge hub for this configuration (started on first use; null without cache.shared).
// Called with cacheState().mutex held.
std::shared_ptr<edged::cache::shared_tier::SharedTierHub> sharedTierHub(const edged::conf::Config& config) {
  CacheProcessState& st = cacheState();
  if (!config.cache.shared) return nullptr;
  const auto options = sharedTierOptions(*config.cache.shared);
  if (!st.hub || edged::cache::shared_tier::hubOptions(*st.hub) != options) {
    edged::cache::CacheStore* store = st.store.get();
    st.hub = edged::cache::shared_tier::startHub(options, st.tier_counters,
        [store](edged::cache::PurgeKind kind, std::string_view value) -> size_t {
          switch (kind) {
            case edged::cache::PurgeKind::Key: return store->purgeKey(value);
            case edged::cache::PurgeKind::Prefix: return store->purgePrefix(value);
            case edged::cache::PurgeKind::Tag: return store->purgeTag(value);
          }
          return 0;
        });
  }
  return st.hub;
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
  auto factory = std::make_unique<edged::cache::CacheFilterFactory>(cacheSettings(config), *st.store, env.loop, env.mailbox);
  if (auto hub = sharedTierHub(config)) factory->setSecondTier(edged::cache::shared_tier::makeRedisTier(env.loop, hub, st.tier_counters));
  return factory;
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
    if (st.hub) edged::cache::shared_tier::publishPurge(*st.hub, edged::cache::PurgeKind::Key, key);
  } else if (auto prefix = jsonString(body, "prefix")) {
    std::string key = urlKey(*prefix);
    if (key.empty()) return {400, "{\"error\": \"prefix must be an absolute URL, e.g. http://example.com/a/\"}\n"};
    n = st.store->purgePrefix(key);
    if (st.hub) edged::cache::shared_tier::publishPurge(*st.hub, edged::cache::PurgeKind::Prefix, key);
  } else if (auto tag = jsonString(body, "tag")) {
    n = st.store->purgeTag(*tag);
    if (st.hub) edged::cache::shared_tier::publishPurge(*st.hub, edged::cache::PurgeKind::Tag, *tag);
  } else {
    return {400, "{\"error\": \"expected {\\\"url\\\": ...}, {\\\"prefix\\\": ...} or {\\\"tag\\\": ...}\"}\n"};
  }
  st.admin_purges.fetch_add(n, std::memory_order_relaxed);
  return {200, "{\"purged\": " + std::to_string(n) + "}\n"};
}

// The cache's numbers: per-route counters, and the store's gauges.
struct CacheCounterFamily {
  const char* name;
  const char* help;
  std::atomic<uint64_t> edged::cache::CacheCounters::*member;
};
constexpr CacheCounterFamily kCacheCounters[] = {
    {"hits", "Requests answered fresh from the cache.", &edged::cache::CacheCounters::hits},
    {"misses", "Requests that went to the origin for want of a usable entry.", &edged::cache::CacheCounters::misses},
    {"stale", "Stale entries served (max-stale, stale-if-error).", &edged::cache::CacheCounters::stale},
    {"revalidated", "Stale entries revalidated by a 304.", &edged::cache::CacheCounters::revalidated},
    {"refetched", "Stale entries replaced by a full response on revalidation.", &edged::cache::CacheCounters::refetched},
    {"collapsed", "Collapsed waiters answered from another exchange's fill.", &edged::cache::CacheCounters::collapsed},
    {"stored", "Responses stored.", &edged::cache::CacheCounters::stored},
    {"not_stored", "Responses not stored (policy, size, truncated body).", &edged::cache::CacheCounters::not_stored},
    {"invalidations", "Entries invalidated by unsafe methods.", &edged::cache::CacheCounters::invalidations},
    {"purges", "Entries removed by PURGE.", &edged::cache::CacheCounters::purges},
    {"refreshes", "Background refreshes started (stale-while-revalidate).", &edged::cache::CacheCounters::refreshes},
};

struct CacheSnapshot {
  bool enabled = false;
  edged::cache::StoreStats store;
  uint64_t admin_purges = 0;
  std::vector<std::pair<std::string, std::vector<uint64_t>>> routes;  // label -> kCacheCounters values
  // Per route (same order as `routes`): what it holds in the store now.
  struct RouteStore {
    uint64_t bytes = 0, entries = 0, evictions = 0;
  };
  std::vector<RouteStore> route_store;
};
CacheSnapshot cacheSnapshot() {
  CacheProcessState& st = cacheState();
  std::lock_guard lock(st.mutex);
  CacheSnapshot snap;
  if (!st.store) return snap;
  snap.enabled = true;
  snap.store = st.store->stats();
  snap.admin_purges = st.admin_purges.load(std::memory_order_relaxed);
  for (const auto& [label, c] : st.routes) {
    std::vector<uint64_t> values;
    for (const CacheCounterFamily& f : kCacheCounters) values.push_back(((*c).*(f.member)).load(std::memory_order_relaxed));
    snap.routes.emplace_back(label, std::move(values));
    const edged::cache::StoreGauges& g = c->store;
    snap.route_store.push_back({static_cast<uint64_t>(std::max<int64_t>(0, g.bytes.load(std::memory_order_relaxed))),
                                static_cast<uint64_t>(std::max<int64_t>(0, g.entries.load(std::memory_order_relaxed))),
                                g.evictions.load(std::memory_order_relaxed)});
  }
  return snap;
}

std::string escapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out;
}

// The second tier's numbers (cache.shared), when a configuration ever had one.
template <typename One>
void sharedTierMetrics(std::string&, One& one) {
  CacheProcessState& st = cacheState();
  {
    std::lock_guard lock(st.mutex);
    if (!st.hub) return;
  }
  const edged::cache::SecondTierCounters& c = st.tier_counters;
  auto v = [](const auto& a) { return static_cast<uint64_t>(a.load(std::memory_order_relaxed)); };
  one("edged_cache_shared_hits_total", "counter", "Local misses answered from the shared tier (Redis).", v(c.hits));
  one("edged_cache_shared_misses_total", "counter", "Shared-tier lookups without a usable copy (timeouts included).", v(c.misses));
  one("edged_cache_shared_timeouts_total", "counter", "Shared-tier lookups slower than cache.shared.timeout.", v(c.timeouts));
  one("edged_cache_shared_skipped_total", "counter", "Lookups not sent: circuit breaker open.", v(c.skipped));
  one("edged_cache_shared_corrupt_total", "counter", "Values under the prefix that failed the format check (ignored).", v(c.corrupt));
  one("edged_cache_shared_errors_total", "counter", "Failed shared-tier commands and connections.", v(c.errors));
  one("edged_cache_shared_stores_total", "counter", "Responses written to the shared tier.", v(c.stores));
  one("edged_cache_shared_breaker_opens_total", "counter", "Times a worker's circuit breaker opened.", v(c.breaker_opens));
  one("edged_cache_shared_breaker_open", "gauge", "Workers whose circuit breaker is open now (0: all closed).", v(c.breakers_open));
  one("edged_cache_shared_purges_published_total", "counter", "Purges deleted in Redis and published to the other instances.", v(c.purges_published));
  one("edged_cache_shared_purges_received_total", "counter", "Purges of other instances applied here.", v(c.purges_received));
  one("edged_cache_shared_subscribed", "gauge", "1 while the purge channel subscription is live.", v(c.subscribed));
  one("edged_cache_shared_pubsub_lag_ms", "gauge", "Publish to apply time of the last purge received (wall clocks).", v(c.pubsub_lag_ms_last));
  one("edged_cache_shared_pubsub_lag_ms_sum", "counter", "Sum of publish to apply times of the purges received.", v(c.pubsub_lag_ms_sum));
  // Collapsing across instances (cache.shared.collapse).
  one("edged_cache_shared_locks_acquired_total", "counter", "Misses in memory and Redis that took the key's fill lock (this instance filled).", v(c.locks_acquired));
  one("edged_cache_shared_lock_waits_total", "counter", "Misses that found the fill lock held by another instance and waited.", v(c.lock_waits));
  one("edged_cache_shared_lock_waits_served_total", "counter", "Waits served the other instance's copy (no origin request).", v(c.lock_waits_served));
  one("edged_cache_shared_lock_wait_timeouts_total", "counter", "Waits that reached cache.shared.lock_timeout (went to the origin).", v(c.lock_wait_timeouts));
  one("edged_cache_shared_lock_waits_released_total", "counter", "Waits whose lock went without a copy: not stored, or expired (went to the origin).", v(c.lock_waits_released));
}

void cacheMetrics(std::string& out) {
  const CacheSnapshot snap = cacheSnapshot();
  if (!snap.enabled) return;
  for (size_t i = 0; i < std::size(kCacheCounters); ++i) {
    const std::string name = std::string("edged_cache_") + kCacheCounters[i].name + "_total";
    out += "# HELP " + name + " " + kCacheCounters[i].help + "\n# TYPE " + name + " counter\n";
    for (const auto& [label, values] : snap.routes)
      out += name + "{route=\"" + escapeLabel(label) + "\"} " + std::to_string(values[i]) + "\n";
  }
  // The store's gauges by route (the route of each key's newest entry pays for the key).
  using RouteStore = CacheSnapshot::RouteStore;
  for (auto [name, type, help, member] :
       {std::tuple<const char*, const char*, const char*, uint64_t RouteStore::*>{
            "edged_cache_route_bytes", "gauge", "Bytes the route's entries hold in the cache (keys, heads, bodies, index).",
            &RouteStore::bytes},
        {"edged_cache_route_entries", "gauge", "Stored responses of the route (Vary variants counted apart).",
         &RouteStore::entries},
        {"edged_cache_route_evictions_total", "counter", "Keys of the route evicted to stay within the memory budget.",
         &RouteStore::evictions}}) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (size_t i = 0; i < snap.routes.size(); ++i)
      out += std::string(name) + "{route=\"" + escapeLabel(snap.routes[i].first) + "\"} " +
             std::to_string(snap.route_store[i].*member) + "\n";
  }
  auto one = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(v) + "\n";
  };
  one("edged_cache_admin_purges_total", "counter", "Entries removed by the admin POST /cache/purge.", snap.admin_purges);
  one("edged_cache_evictions_total", "counter", "Keys evicted to stay within the memory budget.", snap.store.evictions);
  one("edged_cache_bytes", "gauge", "Bytes the cache holds (keys, heads, bodies, index).", snap.store.used_bytes);
  one("edged_cache_budget_bytes", "gauge", "The cache's memory budget.", snap.store.budget_bytes);
  one("edged_cache_entries", "gauge", "Stored responses (Vary variants counted apart).", snap.store.entries);
  one("edged_cache_keys", "gauge", "Stored primary keys.", snap.store.keys);
  sharedTierMetrics(out, one);
}

std::pair<int, std::string> cacheStatusEndpoint(std::string_view) {
  const CacheSnapshot snap = cacheSnapshot();
  if (!snap.enabled) return {200, "{\"enabled\": false}\n"};
  std::string out = "{\"enabled\": true";
  const edged::cache::StoreStats& s = snap.store;
  for (auto [name, v] : {std::pair<const char*, uint64_t>{"bytes", s.used_bytes}, {"budget_bytes", s.budget_bytes},
                         {"entries", s.entries}, {"keys", s.keys}, {"evictions", s.evictions},
                         {"admin_purges", snap.admin_purges}})
    out += ", \"" + std::string(name) + "\": " + std::to_string(v);
  std::vector<uint64_t> total(std::size(kCacheCounters));
  std::string routes;
  for (size_t r = 0; r < snap.routes.size(); ++r) {
    const auto& [label, values] = snap.routes[r];
    routes += (routes.empty() ? "\"" : ", \"") + escapeLabel(label) + "\": {";
    for (size_t i = 0; i < values.size(); ++i) {
      total[i] += values[i];
      routes += (i ? ", \"" : "\"") + std::string(kCacheCounters[i].name) + "\": " + std::to_string(values[i]);
    }
    const CacheSnapshot::RouteStore& rs = snap.route_store[r];
    routes += ", \"bytes\": " + std::to_string(rs.bytes) + ", \"entries\": " + std::to_string(rs.entries) +
              ", \"evictions\": " + std::to_string(rs.evictions);
    routes += "}";
  }
  for (size_t i = 0; i < total.size(); ++i)
    out += ", \"" + std::string(kCacheCounters[i].name) + "\": " + std::to_string(total[i]);
  out += ", \"routes\": {" + routes + "}}\n";
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
  if (!http1::cpuRunsLlhttp("edged")) return 1;
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
  const int rc = edged::proxy::runDaemon(r.config, o);
  {
    // The workers' tiers are gone: the purge hub's thread stops here, its loop closed.
    CacheProcessState& st = cacheState();
    std::shared_ptr<edged::cache::shared_tier::SharedTierHub> hub;
    {
      std::lock_guard lock(st.mutex);
      hub = std::move(st.hub);
    }
  }
  return rc;
}
}  // namespace edged::proxy
