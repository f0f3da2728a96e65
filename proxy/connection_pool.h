// proxy/connection_pool.h — a worker's idle keep-alive connections to origins: per server, LIFO,
// at most `keepalive` each. Owns the connections while they are idle.
#pragma once

#include <cstddef>
#include <vector>

#include "upstream/upstream.h"

namespace edged::proxy {

class UpstreamConnection;
struct SharedState;

class ConnectionPool {
 public:
  explicit ConnectionPool(const SharedState& shared);
  ~ConnectionPool();
  // The most recently pooled live connection to `server`, or nullptr. Expired ones are closed.
  UpstreamConnection* take(size_t upstream_index, const upstream::Server& server, uint64_t now_ms);
  // Takes ownership of an idle connection; closes it when the pool for that server is full.
  void put(UpstreamConnection* conn);
  // A pooled connection closed itself (origin closed it, or its idle time ran out).
  void forget(UpstreamConnection* conn);
  void closeAll();
  size_t idleCount() const;

 private:
  std::vector<std::vector<std::vector<UpstreamConnection*>>> idle_;  // [upstream][server]
  std::vector<uint32_t> limits_;
};

}  // namespace edged::proxy
