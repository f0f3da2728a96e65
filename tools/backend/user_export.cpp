// tools/backend/user_export.cpp — keyset order (ORDER BY id) inside one snapshot: no row twice,
// none lost, and no re-sort per page as OFFSET paging does.
#include "tools/backend/user_export.h"

#include <cstdio>

#include "tools/backend/formats.h"
#include "tools/backend/json.h"

namespace edged::backend {

void UserExport::start(const HttpConnectionPtr& client, Database& db, uint64_t required_lsn, bool csv, size_t batch_rows, size_t high_water) {
  auto self = std::make_shared<UserExport>(client, db, csv, batch_rows, high_water);
  db.readerConnection(required_lsn, [self](PgConnection* conn, PgPool* pool, ReadInfo) {
    if (!conn) return self->client_->respondJsonError(503, "database unavailable or busy, retry shortly", "Retry-After: 1\r\n");
    self->begin(conn, pool);
  });
}

void UserExport::begin(PgConnection* conn, PgPool* pool) {
  conn_ = conn;
  pool_ = pool;
  fetch_sql_ = "FETCH " + std::to_string(batch_rows_) + " FROM users_export";
  auto self = shared_from_this();
  db_.run(conn_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}, [self](PgResult r) {
    if (!pgOk(r.get())) return self->finish(false);
    self->db_.run(self->conn_,
                  "DECLARE users_export NO SCROLL CURSOR FOR SELECT id, email, name, "
                  "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM users ORDER BY id",
                  {}, [self](PgResult d) {
                    if (!pgOk(d.get())) return self->finish(false);
                    self->started_ = true;
                    if (self->csv_)
                      self->client_->beginStream(200, "text/csv; charset=utf-8", "Content-Disposition: attachment; filename=\"users.csv\"\r\n");
                    else
                      self->client_->beginStream(200, "application/json", {});
                    self->client_->streamWrite(self->csv_ ? std::string_view("id,email,name,created_at\r\n") : std::string_view("["));
                    self->fetch();
                  });
  });
}

void UserExport::fetch() {
  if (client_->closed()) return finish(false);
  auto self = shared_from_this();
  db_.run(conn_, fetch_sql_, {}, [self](PgResult r) { self->onRows(std::move(r)); });
}

void UserExport::onRows(PgResult r) {
  if (!pgOk(r.get()) || client_->closed()) return finish(false);
  const PGresult* res = r.get();
  const int n = PQntuples(res);
  if (n == 0) {
    if (!csv_) client_->streamWrite("]");
    client_->endStream();
    return finish(true);
  }
  chunk_.clear();
  for (int i = 0; i < n; ++i, ++rows_) {
    if (csv_) {
      chunk_ += PQgetvalue(res, i, 0);
      chunk_ += ',';
      appendCsvField(chunk_, PQgetvalue(res, i, 1));
      chunk_ += ',';
      appendCsvField(chunk_, PQgetvalue(res, i, 2));
      chunk_ += ',';
      appendCsvField(chunk_, PQgetvalue(res, i, 3));
      chunk_ += "\r\n";
    } else {
      if (rows_ > 0) chunk_ += ',';
      chunk_ += "{\"id\":";
      chunk_ += PQgetvalue(res, i, 0);
      chunk_ += ",\"email\":";
      appendJsonString(chunk_, PQgetvalue(res, i, 1));
      chunk_ += ",\"name\":";
      appendJsonString(chunk_, PQgetvalue(res, i, 2));
      chunk_ += ",\"created_at\":";
      appendJsonString(chunk_, PQgetvalue(res, i, 3));
      chunk_ += '}';
    }
  }
  r.reset();  // the batch's rows are in the chunk now
  client_->streamWrite(chunk_);
  if (chunk_.capacity() > 4 * 1024 * 1024) std::string().swap(chunk_);
  // Backpressure: the next FETCH waits until the client has taken most of what is queued.
  if (client_->queuedBytes() > high_water_) {
    auto self = shared_from_this();
    client_->onDrain(high_water_ / 4, [self] { self->fetch(); });
    return;
  }
  fetch();
}

void UserExport::finish(bool ok) {
  if (!conn_) {
    if (!ok) client_->close();
    return;
  }
  if (!ok) {
    if (started_ || client_->closed())
      client_->close();
    else
      client_->respondJsonError(500, "export failed");
  }
  auto self = shared_from_this();
  db_.run(conn_, ok ? "COMMIT" : "ROLLBACK", {}, [self](PgResult) {
    self->pool_->release(self->conn_);
    self->conn_ = nullptr;
  });
}

}  // namespace edged::backend
