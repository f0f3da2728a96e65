// tools/backend/main.cpp — `edged_backend [options]` runs the service; `edged_backend seed ...`
// loads users with COPY.
#include <cstdio>
#include <cstring>
#include <string>

#include "proxy/http1/http1.h"
#include "tools/backend/backend.h"

namespace {
const char* kUsage =
    "usage: edged_backend --primary DSN [--replica DSN]... [--listen HOST:PORT] [--processes N]\n"
    "         [--redis HOST:PORT | --no-redis] [--redis-prefix P] [--redis-ttl S] [--port-file F]\n"
    "         [--pool-max N] [--pool-min-idle N] [--pool-idle-timeout-ms MS] [--acquire-timeout-ms MS]\n"
    "         [--max-waiters N] [--max-lag-bytes N] [--slow-query-ms MS] [--l1-max-entries N]\n"
    "         [--l1-ttl-ms MS] [--max-age S] [--export-batch N] [--max-body BYTES] [--shutdown-grace-ms MS]\n"
    "         [--edged-admin HOST:PORT [--edged-admin-token-file F]]   (tag purges to edged's cache)\n"
    "       edged_backend seed --primary DSN --count N\n";
}

int main(int argc, char** argv) {
  if (!edged::proxy::http1::cpuRunsLlhttp("edged_backend")) return 1;
  if (argc > 1 && std::strcmp(argv[1], "seed") == 0) return edged::backend::runSeed(argc - 2, argv + 2);
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  edged::backend::BackendOptions options;
  std::string error;
  if (!edged::backend::parseOptions(argc - 1, argv + 1, options, error)) {
    std::fprintf(stderr, "edged_backend: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  return edged::backend::runSupervisor(options);
}
