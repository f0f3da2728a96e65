// tools/backend/database.h — where each statement runs: writes and transactions on the primary
// pool; reads round robin over the replica pools, skipping a replica that is down or lags beyond
// a bound, and going to the primary when a replica failed or has not yet replayed the commit LSN
// the client carries (read-your-writes). It also times every query (histogram, slow query log
// with the EXPLAIN (FORMAT JSON) plan) and samples replication lag.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tools/backend/metrics.h"
#include "tools/backend/pg_pool.h"

namespace edged::backend {

struct DatabaseOptions {
  std::string primary_dsn;
  std::vector<std::string> replica_dsns;
  PoolOptions primary_pool;
  PoolOptions replica_pool;
  uint64_t max_lag_bytes = 16 * 1024 * 1024;
  uint64_t lsn_recheck_ms = 1;     // a replica's replay LSN is trusted this long before re-asking
  uint64_t lag_interval_ms = 250;
  uint64_t slow_query_ms = 200;    // 0: off
};

struct ReadInfo {
  const char* served_by = "";  // "primary", "replica1", ...
  uint64_t asof_lsn = 0;       // the data read includes every commit up to this LSN
};

class Database {
 public:
  using ReadDone = std::function<void(PgResult, ReadInfo)>;      // null result: unavailable
  using WriteDone = std::function<void(PgResult, uint64_t lsn)>;  // lsn: after the commit
  using ConnDone = std::function<void(PgConnection*, PgPool*, ReadInfo)>;

  Database(uv_loop_t* loop, DatabaseOptions options, MetricsSlot& metrics);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // One read statement, somewhere that has replayed `required_lsn` (0: anywhere).
  void read(uint64_t required_lsn, std::string sql, std::vector<std::string> params, ReadDone done);
  // One statement on the primary in its own transaction, then its commit LSN.
  void write(std::string sql, std::vector<std::string> params, WriteDone done);
  // A primary connection for a multi-statement transaction; give it back with pool->release().
  void primaryConnection(ConnDone done);
  // A reader connection (replica if one is usable and has replayed `required_lsn`).
  void readerConnection(uint64_t required_lsn, ConnDone done);
  // Runs one statement on a leased connection, timed, with the slow query log.
  void run(PgConnection* conn, std::string sql, std::vector<std::string> params, PgConnection::QueryDone done);
  // The primary's current WAL position after a commit on `conn` (0 on failure).
  void commitLsn(PgConnection* conn, std::function<void(uint64_t)> done);

  bool primaryHealthy() const { return primary_->healthy(); }
  PgPool& primaryPool() { return *primary_; }
  void close();

 private:
  struct Replica {
    std::unique_ptr<PgPool> pool;
    std::string name;
    uint64_t replay_lsn = 0;
    uint64_t checked_ms = 0;
    uint64_t lag_bytes = 0;
    bool up = true;
    bool probe_out = false;
  };
  struct ReadJob;
  static void onLagTimer(uv_timer_t* t);
  void sampleLag();
  int pickReplica();
  void readOnPrimary(std::shared_ptr<ReadJob> job);
  void readOn(PgConnection* conn, PgPool* pool, int replica, std::shared_ptr<ReadJob> job);
  void connectionFor(uint64_t required_lsn, int replica, ConnDone done);

  uv_loop_t* loop_;
  DatabaseOptions options_;
  MetricsSlot& metrics_;
  std::unique_ptr<PgPool> primary_;
  std::vector<Replica> replicas_;
  size_t next_replica_ = 0;
  uint64_t primary_lsn_ = 0;  // sampled: every later snapshot on the primary includes it
  bool primary_probe_out_ = false;
  uv_timer_t* lag_timer_ = nullptr;
  bool closed_ = false;
};

}  // namespace edged::backend
