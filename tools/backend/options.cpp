// tools/backend/options.cpp — the command line; every value is checked and a bad one is named.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tools/backend/backend.h"

namespace edged::backend {

namespace {
bool number(const char* text, uint64_t max, uint64_t& out) {
  if (!text || !*text) return false;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (*end || v > max || text[0] == '-') return false;
  out = v;
  return true;
}
}  // namespace

bool parseOptions(int argc, char** argv, BackendOptions& o, std::string& error) {
  for (int i = 0; i < argc; ++i) {
    const std::string name = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    auto need = [&]() -> bool {
      if (!value) error = name + " needs a value";
      return value != nullptr;
    };
    uint64_t n = 0;
    auto num = [&](uint64_t max) -> bool {
      if (!need()) return false;
      if (!number(value, max, n)) {
        error = name + ": '" + value + "' is not an integer from 0 to " + std::to_string(max);
        return false;
      }
      ++i;
      return true;
    };
    if (name == "--listen") {
      if (!need()) return false;
      const std::string v = value;
      const size_t colon = v.rfind(':');
      uint64_t port = 0;
      if (colon == std::string::npos || !number(v.c_str() + colon + 1, 65535, port)) return error = "--listen wants HOST:PORT", false;
      o.host = v.substr(0, colon);
      o.port = static_cast<int>(port);
      ++i;
    } else if (name == "--processes") {
      if (!num(256)) return false;
      o.processes = static_cast<unsigned>(n);
    } else if (name == "--port-file") {
      if (!need()) return false;
      o.port_file = argv[++i];
    } else if (name == "--primary") {
      if (!need()) return false;
      o.db.primary_dsn = argv[++i];
    } else if (name == "--replica") {
      if (!need()) return false;
      if (o.db.replica_dsns.size() >= kMaxReplicas) return error = "at most 2 --replica", false;
      o.db.replica_dsns.push_back(argv[++i]);
    } else if (name == "--redis") {
      if (!need()) return false;
      const std::string v = value;
      const size_t colon = v.rfind(':');
      uint64_t port = 0;
      if (colon == std::string::npos || !number(v.c_str() + colon + 1, 65535, port)) return error = "--redis wants HOST:PORT", false;
      o.redis.host = v.substr(0, colon);
      o.redis.port = static_cast<int>(port);
      ++i;
    } else if (name == "--no-redis") {
      o.redis_enabled = false;
    } else if (name == "--edged-admin") {
      if (!need()) return false;
      if (!EdgedPurger::parseAddress(value, o.edged_purge)) return error = "--edged-admin wants HOST:PORT (an IP address)", false;
      ++i;
    } else if (name == "--edged-admin-token-file") {
      if (!need()) return false;
      FILE* f = std::fopen(value, "r");
      if (!f) return error = std::string("--edged-admin-token-file: cannot read ") + value, false;
      char line[512] = {0};
      const bool got = std::fgets(line, sizeof line, f) != nullptr;
      std::fclose(f);
      std::string token = got ? line : "";
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
      if (token.empty()) return error = std::string("--edged-admin-token-file: ") + value + " is empty", false;
      o.edged_purge.token = token;
      ++i;
    } else if (name == "--redis-prefix") {
      if (!need()) return false;
      o.redis.prefix = argv[++i];
    } else if (name == "--redis-ttl") {
      if (!num(86400 * 30)) return false;
      o.redis.ttl_seconds = static_cast<uint32_t>(n ? n : 1);
    } else if (name == "--redis-timeout-ms") {
      if (!num(60000)) return false;
      o.redis.command_timeout_ms = n;
    } else if (name == "--breaker-cooldown-ms") {
      if (!num(600000)) return false;
      o.redis.breaker_cooldown_ms = n;
    } else if (name == "--pool-max") {
      if (!num(1000)) return false;
      o.db.primary_pool.max = o.db.replica_pool.max = n ? n : 1;
    } else if (name == "--pool-min-idle") {
      if (!num(1000)) return false;
      o.db.primary_pool.min_idle = o.db.replica_pool.min_idle = n;
    } else if (name == "--pool-idle-timeout-ms") {
      if (!num(86400000)) return false;
      o.db.primary_pool.idle_timeout_ms = o.db.replica_pool.idle_timeout_ms = n;
    } else if (name == "--acquire-timeout-ms") {
      if (!num(600000)) return false;
      o.db.primary_pool.acquire_timeout_ms = o.db.replica_pool.acquire_timeout_ms = n;
    } else if (name == "--max-waiters") {
      if (!num(1000000)) return false;
      o.db.primary_pool.max_waiters = o.db.replica_pool.max_waiters = n;
    } else if (name == "--max-lag-bytes") {
      if (!num(UINT64_MAX / 2)) return false;
      o.db.max_lag_bytes = n;
    } else if (name == "--slow-query-ms") {
      if (!num(3600000)) return false;
      o.db.slow_query_ms = n;
    } else if (name == "--l1-max-entries") {
      if (!num(100000000)) return false;
      o.api.l1_max_entries = n ? n : 1;
    } else if (name == "--l1-ttl-ms") {
      if (!num(86400000)) return false;
      o.api.l1_ttl_ms = n;
    } else if (name == "--max-age") {
      if (!num(86400)) return false;
      o.api.max_age_s = static_cast<uint32_t>(n);
    } else if (name == "--export-batch") {
      if (!num(100000)) return false;
      o.api.export_batch_rows = n ? n : 1;
    } else if (name == "--max-body") {
      if (!num(1ull << 30)) return false;
      o.http.max_body_bytes = n;
    } else if (name == "--shutdown-grace-ms") {
      if (!num(600000)) return false;
      o.shutdown_grace_ms = n;
    } else {
      error = "unknown option " + name;
      return false;
    }
  }
  if (o.db.primary_dsn.empty()) return error = "--primary DSN is required", false;
  return true;
}

}  // namespace edged::backend
