// tools/backend/user_export.h — one streaming export of the users table (JSON array or RFC 4180
// CSV) from a server-side cursor in a read-only repeatable-read transaction, FETCHed in batches;
// the next batch is fetched only once the client has taken the previous ones (write queue under
// the high-water mark), so memory stays flat whatever the table size.
#pragma once

#include <cstdint>
#include <memory>

#include "tools/backend/database.h"
#include "tools/backend/http_connection.h"

namespace edged::backend {

class UserExport : public std::enable_shared_from_this<UserExport> {
 public:
  static void start(const HttpConnectionPtr& client, Database& db, uint64_t required_lsn, bool csv, size_t batch_rows, size_t high_water);

  UserExport(const HttpConnectionPtr& client, Database& db, bool csv, size_t batch_rows, size_t high_water)
      : client_(client), db_(db), csv_(csv), batch_rows_(batch_rows), high_water_(high_water) {}

 private:
  void begin(PgConnection* conn, PgPool* pool);
  void fetch();
  void onRows(PgResult rows);
  // Ends the transaction and gives the connection back; `ok` false closes the client (a
  // truncated export must not look complete).
  void finish(bool ok);

  HttpConnectionPtr client_;
  Database& db_;
  PgConnection* conn_ = nullptr;
  PgPool* pool_ = nullptr;
  bool csv_;
  size_t batch_rows_;
  size_t high_water_;
  bool started_ = false;
  uint64_t rows_ = 0;
  std::string chunk_;
  std::string fetch_sql_;
};

}  // namespace edged::backend
