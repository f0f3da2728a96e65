// tools/backend/pg_connection.h — one libpq connection driven asynchronously on a uv loop:
// PQconnectStart/PQconnectPoll and PQsendQueryParams/PQconsumeInput, woken by a uv_poll on
// PQsocket. One query at a time; no thread ever waits on the server.
#pragma once

#include <libpq-fe.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace edged::backend {

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// True for a result that carries rows or a command completion.
inline bool pgOk(const PGresult* r) {
  if (!r) return false;
  const ExecStatusType s = PQresultStatus(r);
  return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}
// The SQLSTATE of an error result ("" if none).
inline std::string_view pgState(const PGresult* r) {
  const char* s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return s ? s : "";
}

class PgConnection {
 public:
  // A null result means the connection failed (it is then broken()).
  using QueryDone = std::function<void(PgResult)>;
  using ConnectDone = std::function<void(bool ok)>;

  explicit PgConnection(uv_loop_t* loop) : loop_(loop) {}
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  // Closes the poll handle (freed in its close callback) and the libpq connection. Never called
  // from inside this connection's own callbacks' caller frames that touch it afterwards: every
  // user callback is the last thing the connection does in its frame.
  ~PgConnection();

  void connect(const std::string& dsn, ConnectDone done);
  // Sends one statement with text parameters (null pointer = SQL NULL); `done` runs once.
  void query(const char* sql, const std::vector<const char*>& params, QueryDone done);
  void query(const char* sql, QueryDone done) { query(sql, {}, std::move(done)); }

  bool broken() const { return broken_; }
  bool busy() const { return static_cast<bool>(query_done_); }
  uint64_t lastUsedMs() const { return last_used_ms_; }
  void touch(uint64_t now_ms) { last_used_ms_ = now_ms; }
  std::string errorMessage() const;

 private:
  struct PollHandle {
    uv_poll_t poll;
    PgConnection* owner;
    int fd;
  };
  static void onPoll(uv_poll_t* handle, int status, int events);
  void watch(int events);
  void stopWatching();
  void stepConnect();
  void stepQuery(int events);
  void failQuery();

  uv_loop_t* loop_;
  PGconn* conn_ = nullptr;
  PollHandle* poll_ = nullptr;
  int watched_ = 0;
  bool connecting_ = false;
  bool flushing_ = false;
  bool broken_ = false;
  ConnectDone connect_done_;
  QueryDone query_done_;
  PgResult last_result_;
  uint64_t last_used_ms_ = 0;
};

}  // namespace edged::backend
