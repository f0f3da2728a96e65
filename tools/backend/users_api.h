// tools/backend/users_api.h — the HTTP routes of the reference backend: the users API over the
// Database, the two cache levels (L1 in process, L2 Redis) with tag invalidation, HTTP caching
// headers, the streaming export, health, readiness and metrics.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tools/backend/database.h"
#include "tools/backend/edged_purge.h"
#include "tools/backend/http_connection.h"
#include "tools/backend/lru_cache.h"
#include "tools/backend/metrics.h"
#include "tools/backend/redis_cache.h"

namespace edged::backend {

struct ApiOptions {
  size_t l1_max_entries = 10000;
  uint64_t l1_ttl_ms = 5000;
  uint32_t max_age_s = 5;
  uint32_t stale_while_revalidate_s = 30;
  uint32_t lsn_cookie_max_age_s = 60;
  size_t page_max = 1000;
  size_t offset_max = 10000;
  size_t batch_max_rows = 10000;
  size_t export_batch_rows = 2000;
  size_t export_high_water = 1024 * 1024;
  int replicas = 0;
};

class UsersApi {
 public:
  UsersApi(uv_loop_t* loop, ApiOptions options, Database& db, RedisCache* redis, SharedMetrics& shared, MetricsSlot& metrics,
           EdgedPurger* purger = nullptr);
  void handle(const HttpConnectionPtr& c);

  // Applies an invalidation published by any process ("LSN\n" then keys, one per line).
  void invalidateLocal(std::string_view payload);
  // L1 is trusted only while this process hears every invalidation (a live subscription).
  void setL1Enabled(bool enabled);

 private:
  struct Lookup;
  struct Batch;
  void getUser(const HttpConnectionPtr& c, int64_t id);
  void getByEmail(const HttpConnectionPtr& c, std::string email);
  void lookup(const HttpConnectionPtr& c, std::shared_ptr<Lookup> l);
  void lookupDb(const HttpConnectionPtr& c, std::shared_ptr<Lookup> l);
  void answerUser(const HttpConnectionPtr& c, const Lookup& l, const std::string& json, const char* cache);
  void listUsers(const HttpConnectionPtr& c);
  void createUser(const HttpConnectionPtr& c);
  void updateUser(const HttpConnectionPtr& c, int64_t id);
  void deleteUser(const HttpConnectionPtr& c, int64_t id);
  void batchInsert(const HttpConnectionPtr& c);
  void batchStep(std::shared_ptr<Batch> batch, PgResult r);
  void exportUsers(const HttpConnectionPtr& c, bool csv);
  void ready(const HttpConnectionPtr& c);
  void invalidate(int64_t id, uint64_t lsn, std::vector<std::string> keys, std::function<void()> then);
  void respondWritten(const HttpConnectionPtr& c, int status, uint64_t lsn, std::string_view extra, const std::string& body);
  void fillL1(const std::string& key, const std::string& json, uint64_t lsn);
  uint64_t requiredLsn(const HttpConnectionPtr& c) const;
  void unavailable(const HttpConnectionPtr& c);

  uv_loop_t* loop_;
  ApiOptions options_;
  Database& db_;
  RedisCache* redis_;
  EdgedPurger* purger_;  // null or off: edged is not told
  SharedMetrics& shared_;
  MetricsSlot& metrics_;
  LruCache l1_;
  bool l1_enabled_ = false;
  uint64_t invalidation_epoch_ = 0;
  std::string pid_header_;
};

}  // namespace edged::backend
