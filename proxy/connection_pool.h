// proxy/connection_pool.h — a worker's idle keep-alive connections to origins: per server, LIFO,
// at most the upstream's `keepalive` each. Owns the connections while they are idle. Keyed by the
// server's metrics slot, which names a server across reloads: a reload that keeps a server keeps
// its idle connections (they are rebound to the new generation).
#pragma once

#include <cstddef>
#include <vector>

#include "upstream/upstream.h"

namespace edged::proxy {

class UpstreamConnection;
class Worker;
class WorkerGen;

class ConnectionPool {
 public:
  explicit ConnectionPool(Worker& worker) : worker_(worker) {}
  ~ConnectionPool();
  // The most recently pooled live connection to the server in `slot`, or nullptr. Expired ones
  // are closed. The caller rebinds it to its own generation.
  UpstreamConnection* take(size_t slot, uint64_t now_ms);
  // Takes ownership of an idle connection; closes it when the pool for that server is full, or
  // when the current generation no longer has its server.
  void put(UpstreamConnection* conn);
  // A pooled connection closed itself (origin closed it, or its idle time ran out).
  void forget(UpstreamConnection* conn);
  void closeAll();
  // The worker switched to `current`: idle connections to servers it keeps move to it, the
  // others close.
  void adopt(WorkerGen& current);
  size_t idleCount() const;

 private:
  // Rebinds `c` to `current` when it has the server, else returns false.
  static bool bindTo(UpstreamConnection* c, WorkerGen& current);
  Worker& worker_;
  std::vector<std::vector<UpstreamConnection*>> idle_;  // by server slot
};

}  // namespace edged::proxy
