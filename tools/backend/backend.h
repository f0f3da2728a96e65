// tools/backend/backend.h — the reference backend's face: its options, the supervisor that
// forks and restarts the worker processes, one worker process, the schema, and the COPY seeder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/backend/database.h"
#include "tools/backend/edged_purge.h"
#include "tools/backend/redis_cache.h"
#include "tools/backend/users_api.h"

namespace edged::backend {

struct BackendOptions {
  std::string host = "127.0.0.1";
  int port = 8090;               // 0: any free port (printed and written to port_file)
  unsigned processes = 0;        // 0: one per core
  std::string port_file;
  bool redis_enabled = true;
  uint64_t shutdown_grace_ms = 10000;
  DatabaseOptions db;
  RedisOptions redis;
  PurgeOptions edged_purge;     // --edged-admin: tag purges to edged's cache on update / delete
  ApiOptions api;
  HttpLimits http;
};

// Parses the command line (after the program name); on error prints usage and returns false.
bool parseOptions(int argc, char** argv, BackendOptions& out, std::string& error);
// Creates the schema when missing (blocking libpq, before forking); false after `wait_ms`.
bool migrate(const std::string& primary_dsn, uint64_t wait_ms, std::string& error);
// Binds the listening port once (SO_REUSEPORT), forks the workers, restarts any that dies,
// forwards SIGTERM/SIGINT and returns 0 when every worker drained and exited cleanly.
int runSupervisor(const BackendOptions& options);
// `edged_backend seed --primary DSN --count N`: makes the table hold at least N users (COPY).
int runSeed(int argc, char** argv);

}  // namespace edged::backend
