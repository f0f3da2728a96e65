// tools/backend/pg_connection.cpp — libpq's non-blocking protocol on a uv_poll. The socket can
// change while connecting (libpq tries each address in turn), so the poll handle follows it.
#include "tools/backend/pg_connection.h"

#include <utility>

namespace edged::backend {

PgConnection::~PgConnection() {
  stopWatching();
  if (conn_) PQfinish(conn_);
}

std::string PgConnection::errorMessage() const {
  std::string m = conn_ ? PQerrorMessage(conn_) : "no connection";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

void PgConnection::stopWatching() {
  if (!poll_) return;
  poll_->owner = nullptr;
  // uv_close stops the poll at once, before PQfinish closes the socket.
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_->poll), [](uv_handle_t* h) { delete static_cast<PollHandle*>(h->data); });
  poll_ = nullptr;
  watched_ = 0;
}

void PgConnection::watch(int events) {
  const int fd = PQsocket(conn_);
  if (poll_ && poll_->fd != fd) stopWatching();
  if (!poll_) {
    poll_ = new PollHandle{};
    poll_->owner = this;
    poll_->fd = fd;
    poll_->poll.data = poll_;
    if (fd < 0 || uv_poll_init_socket(loop_, &poll_->poll, fd) != 0) {
      delete poll_;
      poll_ = nullptr;
      broken_ = true;
      return;
    }
  }
  if (events == watched_) return;
  watched_ = events;
  uv_poll_start(&poll_->poll, events, onPoll);
}

void PgConnection::onPoll(uv_poll_t* handle, int status, int events) {
  auto* ph = static_cast<PollHandle*>(handle->data);
  PgConnection* self = ph->owner;
  if (!self) return;
  if (status < 0) events = UV_READABLE | UV_WRITABLE;  // let libpq find out what went wrong
  if (self->connecting_)
    self->stepConnect();
  else if (self->query_done_)
    self->stepQuery(events);
  else if (events & UV_READABLE) {
    // Idle: the server closed the connection, or sent a notice.
    if (!PQconsumeInput(self->conn_)) {
      self->broken_ = true;
      self->stopWatching();
    }
  }
}

void PgConnection::connect(const std::string& dsn, ConnectDone done) {
  connect_done_ = std::move(done);
  conn_ = PQconnectStart(dsn.c_str());
  if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) {
    broken_ = true;
    auto cb = std::exchange(connect_done_, nullptr);
    cb(false);
    return;
  }
  PQsetnonblocking(conn_, 1);
  connecting_ = true;
  stepConnect();
}

void PgConnection::stepConnect() {
  switch (PQconnectPoll(conn_)) {
    case PGRES_POLLING_READING: watch(UV_READABLE); if (!broken_) return; break;
    case PGRES_POLLING_WRITING: watch(UV_WRITABLE); if (!broken_) return; break;
    case PGRES_POLLING_OK: {
      connecting_ = false;
      watch(UV_READABLE);
      auto cb = std::exchange(connect_done_, nullptr);
      cb(!broken_);
      return;
    }
    default: break;
  }
  connecting_ = false;
  broken_ = true;
  stopWatching();
  auto cb = std::exchange(connect_done_, nullptr);
  cb(false);
}

void PgConnection::query(const char* sql, const std::vector<const char*>& params, QueryDone done) {
  if (broken_ || !PQsendQueryParams(conn_, sql, static_cast<int>(params.size()), nullptr, params.data(), nullptr, nullptr, 0)) {
    broken_ = true;
    done(nullptr);
    return;
  }
  query_done_ = std::move(done);
  last_result_.reset();
  const int f = PQflush(conn_);
  if (f < 0) return failQuery();
  flushing_ = f == 1;
  watch(flushing_ ? UV_READABLE | UV_WRITABLE : UV_READABLE);
  if (broken_) failQuery();
}

void PgConnection::failQuery() {
  broken_ = true;
  stopWatching();
  last_result_.reset();
  auto cb = std::exchange(query_done_, nullptr);
  cb(nullptr);
}

void PgConnection::stepQuery(int events) {
  if (flushing_ && (events & UV_WRITABLE)) {
    const int f = PQflush(conn_);
    if (f < 0) return failQuery();
    flushing_ = f == 1;
    watch(flushing_ ? UV_READABLE | UV_WRITABLE : UV_READABLE);
  }
  if (!(events & UV_READABLE)) return;
  if (!PQconsumeInput(conn_)) return failQuery();
  while (!PQisBusy(conn_)) {
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      // The statement is complete: hand over the last result. The callback may start the next
      // query on this connection or hand the connection back to its pool (which may free it), so
      // it is the very last thing done here.
      auto cb = std::exchange(query_done_, nullptr);
      cb(std::move(last_result_));
      return;
    }
    last_result_.reset(r);
  }
  if (PQstatus(conn_) == CONNECTION_BAD) failQuery();
}

}  // namespace edged::backend
