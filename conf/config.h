// conf/config.h — the validated configuration as plain structs, and the loader that builds them
// from YAML. This module is the only code that touches yaml-cpp and the only code that throws
// (internally; every entry point below returns errors as values).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edged::conf {

using Duration = std::chrono::milliseconds;

// A resolved socket address. `text` is the canonical "host:port" / "[v6]:port" form for logs.
struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text;
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
  bool operator==(const Address& o) const { return text == o.text; }
};

// Where a value sat in the file, for the checks done after loading by code that conf does not
// link (the TLS library loads certificates and keys and reports at these positions).
struct ConfigPosition {
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  std::string key_path;
};

// TLS protocol versions as a bit mask; TLSv1.0/1.1 are refused by the loader.
enum TlsProtocolMask : uint8_t { kTlsV12 = 1u << 0, kTlsV13 = 1u << 1 };

struct TlsCertificateConfig {
  std::string cert;  // PEM chain: leaf first, then intermediates
  std::string key;   // PEM private key (RSA or ECDSA)
  ConfigPosition position;  // the list entry
  ConfigPosition cert_position;
  ConfigPosition key_position;
};

// `listen[].tls`. Certificates are picked by SNI: exact name, then wildcard, then the first.
struct ListenerTlsConfig {
  std::vector<TlsCertificateConfig> certificates;  // at least one
  uint8_t protocols = kTlsV12 | kTlsV13;
  std::string ciphers;              // TLSv1.2 list; empty = the TLS library's ECDHE+AEAD default
  bool session_tickets = true;
  Duration session_timeout{300'000};  // nginx ssl_session_timeout
  std::string client_ca;            // non-empty = clients must present a certificate it signed
  ConfigPosition position;          // the `tls:` value
  ConfigPosition ciphers_position;
  ConfigPosition client_ca_position;
};

struct ListenerConfig {
  Address address;
  int backlog = 511;  // nginx's default
  std::optional<ListenerTlsConfig> tls;
  bool redirect_https = false;  // plain listener answering 308 to https://host/target
  bool proxy_protocol = false;  // every connection starts with a PROXY v1/v2 header (else closed)
};

// Defaults are nginx's where it has one (proxy_*_timeout, client_*_timeout, keepalive_timeout).
struct Timeouts {
  Duration connect{60'000};
  Duration send{60'000};
  Duration read{60'000};
  Duration client_header{60'000};
  Duration client_body{60'000};
  Duration keepalive{75'000};
  Duration client_send{60'000};     // nginx send_timeout
  Duration request{0};              // total deadline for one request; 0 = off
  Duration tunnel_idle{3'600'000};  // WebSocket tunnel with no bytes either way
  Duration shutdown_grace{10'000};
};

// `limits.per_client`: nginx limit_conn / limit_req (nodelay), over the real client address.
struct PerClientLimits {
  uint32_t connections = 0;      // concurrent connections per client address; 0 = off
  uint32_t rate_per_minute = 0;  // requests per key, leaky bucket ("100/s" = 6000); 0 = off
  uint32_t burst = 0;            // requests above the rate let through at once
  std::string key_header;        // empty: the client address; else this request header's value
};

struct Limits {
  uint64_t max_header_bytes = 16 * 1024;       // request line + headers -> 431
  uint64_t max_body_bytes = 1024 * 1024;       // nginx client_max_body_size; 0 = unlimited -> 413
  uint32_t max_connections = 0;                // per listener, all workers; 0 = unlimited
  uint32_t max_headers = 100;                  // header fields in a request -> 431
  uint64_t max_response_header_bytes = 64 * 1024;  // an origin's status line + headers -> 502
  PerClientLimits per_client;
};

// `real_ip`: the client address behind trusted proxies (nginx realip, recursive).
struct RealIpConfig {
  std::vector<std::string> from;  // CIDRs, validated ("10.0.0.0/8", "::1/128", "127.0.0.1")
  std::string header = "X-Forwarded-For";
  bool recursive = true;          // false: the header's last item, whatever it is (nginx default off)
};

enum class BalanceAlgorithm { RoundRobin, LeastConn, Hash, RandomTwo };

// retry_on conditions as a bit mask.
enum RetryOn : uint32_t {
  kRetryConnectFailure = 1u << 0,
  kRetryTimeout = 1u << 1,
  kRetry500 = 1u << 2,
  kRetry502 = 1u << 3,
  kRetry503 = 1u << 4,
  kRetry504 = 1u << 5,
  kRetry429 = 1u << 6,
};

struct ServerConfig {
  Address address;
  uint32_t weight = 1;       // 1..1000
  uint32_t max_conns = 0;    // 0 = unlimited
  bool backup = false;
  bool down = false;
  Duration slow_start{0};
};

struct HealthCheckConfig {
  std::string path = "/";
  Duration interval{5'000};
  Duration timeout{1'000};
  uint32_t rise = 2;
  uint32_t fall = 3;
  uint16_t expect_status_min = 200;
  uint16_t expect_status_max = 399;
  bool initially_healthy = true;  // `initially: healthy | unhealthy`
};

struct HealthConfig {
  uint32_t max_fails = 1;           // nginx default; 0 disables passive accounting
  Duration fail_timeout{10'000};    // nginx default
  std::optional<HealthCheckConfig> check;
};

// `upstreams.NAME.tls`: https toward the servers (and their health checks).
struct UpstreamTlsConfig {
  bool verify = true;
  std::string ca;   // PEM bundle; empty = the system trust store
  std::string sni;  // sent and verified; empty = the server's host as written
  ConfigPosition position;  // the `tls:` value
  ConfigPosition ca_position;
};

struct UpstreamConfig {
  std::string name;
  BalanceAlgorithm balance = BalanceAlgorithm::RoundRobin;
  std::string hash_key;            // "$remote_addr", "$uri", "$http_<name>", "$cookie_<name>"
  uint32_t keepalive = 32;         // idle origin connections kept per worker per upstream
  uint32_t retries = 1;            // extra tries on another server
  uint32_t retry_on = kRetryConnectFailure | kRetryTimeout;  // nginx: error timeout
  Duration retry_timeout{0};       // 0 = no limit (nginx proxy_next_upstream_timeout 0)
  std::vector<ServerConfig> servers;
  HealthConfig health;
  std::optional<UpstreamTlsConfig> tls;
};

// `compression:`. Mirrors proxy/compress/compression_settings.h (which conf does not include);
// the proxy converts. Defaults are the spec's.
enum class CompressionAlgorithm { Gzip, Brotli, Zstd };

struct CompressionConfig {
  // Top level: off unless a `compression:` section is present (as nginx's gzip is off by
  // default). A route's `compression: off` is a copy with this false.
  bool enabled = false;
  // Server preference when the client's q-values tie; never empty, no duplicates. Algorithms
  // not listed are never produced.
  std::vector<CompressionAlgorithm> algorithms{
      CompressionAlgorithm::Brotli, CompressionAlgorithm::Zstd, CompressionAlgorithm::Gzip};
  uint64_t min_length = 1024;  // skip when Content-Length is known and smaller
  int gzip_level = 6;          // 1..9
  int br_level = 4;            // 0..4 (brotli goes to 11, but above 4 costs tens of MiB a stream)
  int zstd_level = 3;          // 1..19
  // Media types, lower case, without parameters: "type/subtype", "type/*" or "*/*". Never empty.
  std::vector<std::string> types{"text/*", "application/json", "application/javascript",
                                 "application/xml", "image/svg+xml"};
};

// `cache:` (the response cache). The route-level knobs; a route's `cache: on` is a copy of the
// top level's defaults with `enabled` set, a map overrides them.
struct RouteCacheConfig {
  bool enabled = false;
  // The primary key as a template: literal text and $scheme, $host, $request_uri, $uri, $args,
  // $http_NAME, $cookie_NAME. Empty = the normalised URI (scheme://host[:port]/path?query).
  std::string key;
  std::vector<std::string> ignore_query;   // query parameter globs left out of the key ("utm_*")
  Duration stale_while_revalidate{0};      // used when the response names none
  Duration stale_if_error{0};
  Duration lock_timeout{5'000};            // a collapsed waiter goes to the origin after this
  Duration default_ttl{0};                 // freshness for responses that give none (0 = none)
  bool store_set_cookie = false;           // store responses with Set-Cookie (nginx, Varnish: no)
};

// `cache.shared`: the second tier in Redis, shared by every edged instance (issue 17).
struct SharedCacheConfig {
  Address redis;                           // the Redis server, HOST:PORT (when no sentinels)
  std::vector<Address> sentinels;          // or: Sentinels that name the master `master`
  std::string master;
  std::string key_prefix = "edged:";       // every key edged writes starts with it
  uint64_t max_object = 1ull << 20;        // larger responses stay local
  Duration timeout{20};                    // a lookup slower than this is a miss
  // Collapsing across instances: a miss in Redis too takes a lock key before the origin; the
  // other instances wait for its copy (up to lock_timeout) instead of filling it themselves.
  bool collapse = true;
  Duration lock_timeout{5'000};            // how long a waiter waits for another instance's fill
  Duration lock_ttl{5'000};                // the lock expires by itself after this (owner died)
};

struct CacheConfig {
  uint64_t memory = 256ull << 20;          // one budget for all workers
  uint64_t max_object = 8ull << 20;        // larger responses stream through uncached
  std::vector<std::string> purge_allow;    // CIDRs allowed to send PURGE; empty = nobody
  std::vector<std::string> tag_headers{"Surrogate-Key", "Cache-Tag"};
  RouteCacheConfig defaults;               // what a route's `cache: on` starts from
  std::optional<SharedCacheConfig> shared; // nullopt: no second tier
};

struct RouteConfig {
  std::string prefix = "/";
  std::string host;                // empty = any host; matched case-insensitively, port ignored
  std::string upstream;            // name
  size_t upstream_index = 0;       // index into Config::upstreams, resolved by the loader
  bool websocket = true;
  // nullopt = no `compression:` key: use Config::compression (see Config::compressionFor).
  // Otherwise fully resolved against the top level: `off` = a copy with enabled=false, `on` = a
  // copy with enabled=true, a map = the top level overridden by its keys, enabled=true unless
  // it says `enabled: false`.
  std::optional<CompressionConfig> compression;
  // nullopt = no `cache:` key (not cached); otherwise resolved against Config::cache.defaults.
  std::optional<RouteCacheConfig> cache;
  bool cached() const { return cache && cache->enabled; }
  // Access by client address (nginx allow/deny): the first matching rule wins, in file order
  // (`allow` and `deny` entries keep their order); no match: allowed when there is no `allow`
  // rule, else 403. Empty: everyone.
  struct AccessRule {
    bool allow = true;
    std::string cidr;
  };
  std::vector<AccessRule> access;
};

struct AdminConfig {
  Address address;
  std::string token_file;  // empty: no token
  std::string token;       // the file's content less surrounding whitespace, read at load
  // `admin.tls: { cert, key }`: HTTPS on the admin listener (one certificate, the listeners'
  // TLS defaults), loaded at start.
  std::optional<ListenerTlsConfig> tls;
};

enum class AccessLogFormat { Combined, Json };

struct AccessLogConfig {
  std::string path = "stdout";     // "stdout", "off", or a file path
  AccessLogFormat format = AccessLogFormat::Combined;
};

enum class LogLevel { Debug, Info, Warn, Error };

struct Config {
  std::string source_path;         // the file it was loaded from
  uint32_t workers = 0;            // 0 = auto (one per core)
  std::vector<ListenerConfig> listeners;
  Timeouts timeouts;
  Limits limits;
  std::vector<UpstreamConfig> upstreams;
  std::vector<RouteConfig> routes;  // in file order; matching is done by proxy/
  std::optional<AdminConfig> admin;
  AccessLogConfig access_log;
  LogLevel log_level = LogLevel::Info;
  CompressionConfig compression;   // defaults for every route; enabled only if the section exists
  CacheConfig cache;               // the store and route defaults; nothing cached unless a route says so
  std::optional<RealIpConfig> real_ip;

  const UpstreamConfig* findUpstream(std::string_view name) const;
  // The route's own settings, or the top level's when it has none.
  const CompressionConfig& compressionFor(const RouteConfig& route) const {
    return route.compression ? *route.compression : compression;
  }
};

struct ConfigError {
  std::string file;
  int line = 0;     // 1-based; 0 when unknown
  int column = 0;   // 1-based
  std::string key_path;  // e.g. "upstreams.api.servers[1].weight"
  std::string message;
  // "FILE:LINE:COL: key.path: message"
  std::string str() const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  std::vector<ConfigError> errors;       // every error found, in file order
  bool ok() const { return config != nullptr && errors.empty(); }
};

// Reads and validates a whole file. Never throws.
LoadResult loadConfigFile(const std::string& path);
// Same for text in memory; `filename` is used in error messages.
LoadResult loadConfigString(std::string_view yaml, const std::string& filename);

// Unit parsers, also used by the command line. nullopt on malformed input.
// Durations: "250ms", "5s", "2m", "1h", "1d"; a bare integer means seconds (nginx).
std::optional<Duration> parseDuration(std::string_view text);
// Sizes: "512", "16KiB", "10MiB", "1GiB"; also "k"/"K"/"KB"/"m"/"M"/"MB"/"g"/"G"/"GB" as powers of 1024.
std::optional<uint64_t> parseSize(std::string_view text);
// "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80", "*:80", "localhost:3001" (resolved once, at load).
std::optional<Address> parseAddress(std::string_view text);

}  // namespace edged::conf
