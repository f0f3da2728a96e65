// proxy/main.cpp — the edged command line: config check, daemon start, and the filter chain. The
// one place that sees every module.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

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
  o.filters = {makeCompression};
  o.filters.insert(o.filters.end(), extra_filters.begin(), extra_filters.end());
  return edged::proxy::runDaemon(r.config, o);
}
}  // namespace edged::proxy
