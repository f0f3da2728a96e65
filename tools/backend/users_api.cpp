// tools/backend/users_api.cpp — the users API. Every cached copy carries the commit LSN it is
// known to include, so a client that carries its last write's LSN (cookie or X-Min-LSN) never
// gets a copy older than its own write, from L1, L2, a replica or a stale fill.
#include "tools/backend/users_api.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "tools/backend/formats.h"
#include "tools/backend/json.h"
#include "tools/backend/user_export.h"

namespace edged::backend {

namespace {

// Timestamps as RFC 3339 UTC, whatever the session's TimeZone.
constexpr const char* kUserColumns =
    "id, email, name, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

void appendUser(std::string& out, const PGresult* r, int row) {
  out += "{\"id\":";
  out += PQgetvalue(r, row, 0);
  out += ",\"email\":";
  appendJsonString(out, PQgetvalue(r, row, 1));
  out += ",\"name\":";
  appendJsonString(out, PQgetvalue(r, row, 2));
  out += ",\"created_at\":";
  appendJsonString(out, PQgetvalue(r, row, 3));
  out += ",\"updated_at\":";
  appendJsonString(out, PQgetvalue(r, row, 4));
  out += '}';
}

struct UserInput {
  std::string email;
  std::string name;
};

// A valid email here: 3..254 bytes, one '@' with something on both sides, no spaces or controls.
bool validEmail(std::string_view e) {
  if (e.size() < 3 || e.size() > 254) return false;
  const size_t at = e.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 >= e.size() || e.find('@', at + 1) != std::string_view::npos) return false;
  for (char c : e)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  return true;
}

std::string lowerAscii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Fills `out` from one JSON object; else the 4xx status and message.
int readUser(const JsonValue& v, UserInput& out, std::string& error) {
  if (v.type != JsonValue::Type::Object) return error = "the body must be a JSON object", 400;
  const JsonValue* email = v.get("email");
  const JsonValue* name = v.get("name");
  if (!email) return error = "missing field: email", 422;
  if (!name) return error = "missing field: name", 422;
  if (!email->isString() || !validEmail(email->text)) return error = "email must be a string like name@example.com (3 to 254 bytes)", 422;
  if (!name->isString() || name->text.empty() || name->text.size() > 200) return error = "name must be a string of 1 to 200 bytes", 422;
  out.email = lowerAscii(email->text);
  out.name = name->text;
  return 0;
}

std::string userKey(int64_t id) { return "user:" + std::to_string(id); }
std::string emailKey(std::string_view email) { return "email:" + std::string(email); }

}  // namespace

struct UsersApi::Batch {
  std::vector<std::string> statements;
  std::vector<std::vector<std::string>> params;
  size_t next = 0;
  uint64_t inserted = 0;
  size_t total = 0;
  PgConnection* conn = nullptr;
  PgPool* pool = nullptr;
  HttpConnectionPtr client;
};

struct UsersApi::Lookup {
  std::string key;            // "user:ID" or "email:ADDR"
  std::string sql;
  std::vector<std::string> params;
  uint64_t required_lsn = 0;
  uint64_t epoch = 0;         // invalidation epoch when the lookup started
};

UsersApi::UsersApi(uv_loop_t* loop, ApiOptions options, Database& db, RedisCache* redis, SharedMetrics& shared, MetricsSlot& metrics,
                   EdgedPurger* purger)
    : loop_(loop), options_(options), db_(db), redis_(redis), purger_(purger), shared_(shared), metrics_(metrics),
      l1_(options.l1_max_entries, options.l1_ttl_ms) {
  pid_header_ = "X-Backend-Pid: " + std::to_string(getpid()) + "\r\n";
}

void UsersApi::setL1Enabled(bool enabled) {
  l1_enabled_ = enabled;
  l1_.clear();
  ++invalidation_epoch_;
}

void UsersApi::invalidateLocal(std::string_view payload) {
  ++invalidation_epoch_;
  // "LSN\nkey\nkey\n": each key becomes a marker that only data from LSN on may replace.
  const size_t first = payload.find('\n');
  if (first == std::string_view::npos) return;
  const uint64_t lsn = parseFixedLsn(payload.substr(0, first)).value_or(0);
  size_t i = first + 1;
  const uint64_t now = uv_now(loop_);
  while (i < payload.size()) {
    size_t end = payload.find('\n', i);
    if (end == std::string_view::npos) end = payload.size();
    if (end > i) l1_.putIfNewer(payload.substr(i, end - i), std::string(), lsn, now);
    i = end + 1;
  }
}

void UsersApi::fillL1(const std::string& key, const std::string& json, uint64_t lsn) {
  l1_.putIfNewer(key, json, lsn, uv_now(loop_));
  metrics_.l1_evictions.store(l1_.evictions(), std::memory_order_relaxed);
}

uint64_t UsersApi::requiredLsn(const HttpConnectionPtr& c) const {
  std::string_view v = c->header("X-Min-LSN");
  if (v.empty()) v = cookieValue(c->header("Cookie"), "edged_lsn");
  return v.empty() ? 0 : parseLsn(v).value_or(0);
}

void UsersApi::unavailable(const HttpConnectionPtr& c) {
  c->respondJsonError(503, "database unavailable or busy, retry shortly", "Retry-After: 1\r\n");
}

void UsersApi::handle(const HttpConnectionPtr& c) {
  metrics_.requests.fetch_add(1, std::memory_order_relaxed);
  const std::string_view path = c->path();
  const llhttp_method_t m = c->method();
  const bool get = m == HTTP_GET || m == HTTP_HEAD;
  auto notAllowed = [&](const char* allow) {
    c->respondJsonError(405, "method not allowed", std::string("Allow: ") + allow + "\r\n");
  };

  if (path == "/healthz") return get ? c->respond(200, "application/json", pid_header_, "{\"status\":\"ok\"}") : notAllowed("GET");
  if (path == "/readyz") return get ? ready(c) : notAllowed("GET");
  if (path == "/metrics") return get ? c->respond(200, "text/plain; version=0.0.4", {}, shared_.render(options_.replicas)) : notAllowed("GET");
  if (path == "/export/users.json" || path == "/export/users.csv")
    return get ? exportUsers(c, path.back() == 'v') : notAllowed("GET");
  if (path == "/users") {
    if (get) {
      const auto email = queryParam(c->query(), "email");
      if (!email) return listUsers(c);
      auto decoded = percentDecode(*email);
      if (!decoded || !validEmail(*decoded)) return c->respondJsonError(400, "email must be a valid address");
      return getByEmail(c, lowerAscii(std::move(*decoded)));
    }
    return m == HTTP_POST ? createUser(c) : notAllowed("GET, POST");
  }
  if (path == "/users/batch") return m == HTTP_POST ? batchInsert(c) : notAllowed("POST");
  if (path.substr(0, 7) == "/users/") {
    const auto id = parseId(path.substr(7));
    if (!id) return c->respondJsonError(400, "the user id must be an integer from 1 to 9223372036854775807");
    if (get) return getUser(c, *id);
    if (m == HTTP_PUT) return updateUser(c, *id);
    if (m == HTTP_DELETE) return deleteUser(c, *id);
    return notAllowed("GET, PUT, DELETE");
  }
  c->respondJsonError(404, "no such route");
}

void UsersApi::ready(const HttpConnectionPtr& c) {
  db_.primaryConnection([this, c](PgConnection* conn, PgPool* pool, ReadInfo) {
    if (!conn) return c->respondJsonError(503, "primary unreachable", "Retry-After: 1\r\n");
    db_.run(conn, "SELECT 1", {}, [c, conn, pool](PgResult r) {
      pool->release(conn);
      if (!pgOk(r.get())) return c->respondJsonError(503, "primary unreachable", "Retry-After: 1\r\n");
      c->respond(200, "application/json", {}, "{\"status\":\"ready\"}");
    });
  });
}

// ---- reads through L1, L2, then the database --------------------------------------------------

void UsersApi::getUser(const HttpConnectionPtr& c, int64_t id) {
  auto l = std::make_shared<Lookup>();
  l->key = userKey(id);
  l->sql = std::string("SELECT ") + kUserColumns + " FROM users WHERE id = $1";
  l->params = {std::to_string(id)};
  l->required_lsn = requiredLsn(c);
  lookup(c, std::move(l));
}

void UsersApi::getByEmail(const HttpConnectionPtr& c, std::string email) {
  auto l = std::make_shared<Lookup>();
  l->key = emailKey(email);
  l->sql = std::string("SELECT ") + kUserColumns + " FROM users WHERE email = $1";
  l->params = {std::move(email)};
  l->required_lsn = requiredLsn(c);
  lookup(c, std::move(l));
}

void UsersApi::lookup(const HttpConnectionPtr& c, std::shared_ptr<Lookup> l) {
  l->epoch = invalidation_epoch_;
  if (l1_enabled_) {
    const uint64_t now = uv_now(loop_);
    if (const LruCache::Entry* e = l1_.get(l->key, now)) {
      if (e->value.empty())
        l->required_lsn = std::max(l->required_lsn, e->lsn);  // invalidated: nothing older will do
      else if (e->lsn >= l->required_lsn) {
        metrics_.l1_hits.fetch_add(1, std::memory_order_relaxed);
        return answerUser(c, *l, e->value, "L1");
      }
    }
    metrics_.l1_misses.fetch_add(1, std::memory_order_relaxed);
  }
  if (!redis_) return lookupDb(c, std::move(l));
  // While the breaker is open this fails at once (and lets the half-open probe through in time).
  redis_->get(l->key, [this, c, l](std::optional<std::string> v) {
    if (c->closed()) return;
    // The stored value is "LSN\nJSON": the LSN says which writes it includes; no JSON is an
    // invalidation marker.
    if (v && v->size() > 17 && (*v)[16] == '\n') {
      const auto lsn = parseFixedLsn(std::string_view(*v).substr(0, 16));
      if (lsn && *lsn >= l->required_lsn) {
        metrics_.l2_hits.fetch_add(1, std::memory_order_relaxed);
        std::string json = v->substr(17);
        if (l1_enabled_ && l->epoch == invalidation_epoch_) fillL1(l->key, json, *lsn);
        return answerUser(c, *l, json, "L2");
      }
    } else if (v && v->size() == 17) {
      l->required_lsn = std::max(l->required_lsn, parseFixedLsn(std::string_view(*v).substr(0, 16)).value_or(0));
    }
    metrics_.l2_misses.fetch_add(1, std::memory_order_relaxed);
    lookupDb(c, l);
  });
}

void UsersApi::lookupDb(const HttpConnectionPtr& c, std::shared_ptr<Lookup> l) {
  db_.read(l->required_lsn, l->sql, l->params, [this, c, l](PgResult r, ReadInfo info) {
    if (!r) return unavailable(c);
    if (!pgOk(r.get())) {
      std::fprintf(stderr, "backend: [error] user read failed: %s", PQresultErrorMessage(r.get()));
      return c->respondJsonError(500, "database error");
    }
    if (PQntuples(r.get()) == 0) return c->respondJsonError(404, "no such user");
    std::string json;
    appendUser(json, r.get(), 0);
    // Fill both levels unless an invalidation arrived while this read was out: the row read may
    // predate it, and caching it would undo the invalidation.
    if (l->epoch == invalidation_epoch_) {
      const int64_t id = std::stoll(PQgetvalue(r.get(), 0, 0));
      if (l1_enabled_) {
        fillL1(l->key, json, info.asof_lsn);
      }
      if (redis_) redis_->set(l->key, fixedLsn(info.asof_lsn) + "\n" + json, id);
    }
    answerUser(c, *l, json, info.served_by);
  });
}

void UsersApi::answerUser(const HttpConnectionPtr& c, const Lookup& l, const std::string& json, const char* cache) {
  const std::string etag = etagOf(json);
  const size_t comma = json.find(',');
  const std::string id = json.substr(6, comma - 6);  // {"id":N,...
  std::string headers = "ETag: " + etag + "\r\nCache-Control: max-age=" + std::to_string(options_.max_age_s) +
                        ", stale-while-revalidate=" + std::to_string(options_.stale_while_revalidate_s) +
                        "\r\nSurrogate-Key: user:" + id + "\r\nX-Cache: " + (cache[0] == 'L' ? cache : "MISS") +
                        "\r\nX-Served-By: " + cache + "\r\n" + pid_header_;
  (void)l;
  const std::string_view inm = c->header("If-None-Match");
  if (!inm.empty() && etagMatches(inm, etag)) return c->respond(304, {}, headers, {});
  c->respond(200, "application/json", headers, json);
}

// ---- list ---------------------------------------------------------------------------------------

void UsersApi::listUsers(const HttpConnectionPtr& c) {
  const std::string_view q = c->query();
  uint64_t limit = 50, after = 0, offset = 0;
  if (auto v = queryParam(q, "limit")) {
    auto n = parseCount(*v, options_.page_max);
    if (!n || *n == 0) return c->respondJsonError(400, "limit must be an integer from 1 to " + std::to_string(options_.page_max));
    limit = *n;
  }
  if (auto v = queryParam(q, "after")) {
    auto n = parseCount(*v, static_cast<uint64_t>(INT64_MAX));
    if (!n) return c->respondJsonError(400, "after must be a user id (an integer from 0 to 9223372036854775807)");
    after = *n;
  }
  bool capped = false;
  if (auto v = queryParam(q, "offset")) {
    auto n = parseCount(*v, static_cast<uint64_t>(INT64_MAX));
    if (!n) return c->respondJsonError(400, "offset must be a non-negative integer");
    // OFFSET re-reads every skipped row: accepted for compatibility, but bounded; use `after`.
    offset = *n;
    if (offset > options_.offset_max) offset = options_.offset_max, capped = true;
  }
  // Keyset pagination on the primary key: stable under ties and concurrent inserts.
  std::string sql = std::string("SELECT ") + kUserColumns + " FROM users WHERE id > $1 ORDER BY id LIMIT $2 OFFSET $3";
  db_.read(requiredLsn(c), std::move(sql), {std::to_string(after), std::to_string(limit), std::to_string(offset)},
           [this, c, limit, capped](PgResult r, ReadInfo info) {
             if (!r) return unavailable(c);
             if (!pgOk(r.get())) return c->respondJsonError(500, "database error");
             const int n = PQntuples(r.get());
             std::string body = "{\"users\":[";
             for (int i = 0; i < n; ++i) {
               if (i) body += ',';
               appendUser(body, r.get(), i);
             }
             body += "],\"next_after\":";
             body += n > 0 && static_cast<uint64_t>(n) == limit ? PQgetvalue(r.get(), n - 1, 0) : "null";
             body += '}';
             std::string headers = std::string("X-Served-By: ") + info.served_by + "\r\n" + pid_header_;
             if (capped) headers += "X-Offset-Capped: " + std::to_string(options_.offset_max) + "\r\n";
             c->respond(200, "application/json", headers, body);
           });
}

// ---- writes -------------------------------------------------------------------------------------

void UsersApi::respondWritten(const HttpConnectionPtr& c, int status, uint64_t lsn, std::string_view extra, const std::string& body) {
  std::string headers(extra);
  if (lsn) {
    const std::string text = formatLsn(lsn);
    headers += "X-Commit-LSN: " + text + "\r\nSet-Cookie: edged_lsn=" + text + "; Path=/; Max-Age=" +
               std::to_string(options_.lsn_cookie_max_age_s) + "; HttpOnly; SameSite=Lax\r\n";
  }
  headers += pid_header_;
  c->respond(status, body.empty() ? std::string_view() : "application/json", headers, body);
}

// L1 here at once; L2 and every other process's L1 through Redis (tags, named keys, PUBLISH).
// The response waits for Redis so that no client sees the old copy after its write returned.
void UsersApi::invalidate(int64_t id, uint64_t lsn, std::vector<std::string> keys, std::function<void()> then) {
  ++invalidation_epoch_;
  const uint64_t now = uv_now(loop_);
  for (const std::string& k : keys) l1_.put(k, std::string(), lsn, now);
  // edged's cache last: its purge must not race a refill from a process that has not heard yet.
  auto tell_edged = [this, id, then = std::move(then)]() mutable {
    if (!purger_ || !purger_->enabled()) return then();
    purger_->purgeTag("user:" + std::to_string(id), [then = std::move(then)](bool) { then(); });
  };
  if (!redis_) return tell_edged();
  redis_->invalidate(id, lsn, keys, [tell_edged = std::move(tell_edged)](bool) mutable { tell_edged(); });
}

void UsersApi::createUser(const HttpConnectionPtr& c) {
  std::string error;
  auto v = parseJson(c->body(), error);
  if (!v) return c->respondJsonError(400, error);
  UserInput in;
  if (const int status = readUser(*v, in, error)) return c->respondJsonError(status, error);
  std::string sql = std::string("INSERT INTO users (email, name) VALUES ($1, $2) RETURNING ") + kUserColumns;
  db_.write(std::move(sql), {in.email, in.name}, [this, c](PgResult r, uint64_t lsn) {
    if (!r) return unavailable(c);
    if (pgState(r.get()) == "23505") return c->respondJsonError(409, "a user with this email already exists");
    if (!pgOk(r.get())) {
      std::fprintf(stderr, "backend: [error] insert failed: %s", PQresultErrorMessage(r.get()));
      return c->respondJsonError(500, "database error");
    }
    std::string body;
    appendUser(body, r.get(), 0);
    const std::string location = std::string("Location: /users/") + PQgetvalue(r.get(), 0, 0) + "\r\n";
    // No negative caching, so nothing to invalidate for a new row.
    respondWritten(c, 201, lsn, location, body);
  });
}

void UsersApi::updateUser(const HttpConnectionPtr& c, int64_t id) {
  std::string error;
  auto v = parseJson(c->body(), error);
  if (!v) return c->respondJsonError(400, error);
  UserInput in;
  if (const int status = readUser(*v, in, error)) return c->respondJsonError(status, error);
  // One statement that also returns the OLD email: its cache key must go too.
  std::string sql = std::string("UPDATE users u SET email = $2, name = $3, updated_at = now() FROM ") +
                    "(SELECT id, email AS old_email FROM users WHERE id = $1 FOR UPDATE) o WHERE u.id = o.id RETURNING " +
                    "u.id, u.email, u.name, to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), " +
                    "to_char(u.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), o.old_email";
  db_.write(std::move(sql), {std::to_string(id), in.email, in.name}, [this, c, id, in](PgResult r, uint64_t lsn) {
    if (!r) return unavailable(c);
    if (pgState(r.get()) == "23505") return c->respondJsonError(409, "a user with this email already exists");
    if (!pgOk(r.get())) return c->respondJsonError(500, "database error");
    if (PQntuples(r.get()) == 0) return c->respondJsonError(404, "no such user");
    auto body = std::make_shared<std::string>();
    appendUser(*body, r.get(), 0);
    const std::string old_email = PQgetvalue(r.get(), 0, 5);
    std::vector<std::string> keys = {userKey(id), emailKey(old_email)};
    if (old_email != in.email) keys.push_back(emailKey(in.email));
    invalidate(id, lsn, std::move(keys), [this, c, lsn, body] { respondWritten(c, 200, lsn, {}, *body); });
  });
}

void UsersApi::deleteUser(const HttpConnectionPtr& c, int64_t id) {
  db_.write("DELETE FROM users WHERE id = $1 RETURNING email", {std::to_string(id)}, [this, c, id](PgResult r, uint64_t lsn) {
    if (!r) return unavailable(c);
    if (!pgOk(r.get())) return c->respondJsonError(500, "database error");
    if (PQntuples(r.get()) == 0) return c->respondJsonError(404, "no such user");
    std::vector<std::string> keys = {userKey(id), emailKey(PQgetvalue(r.get(), 0, 0))};
    invalidate(id, lsn, std::move(keys), [this, c, lsn] { respondWritten(c, 204, lsn, {}, {}); });
  });
}

// ---- batch --------------------------------------------------------------------------------------

void UsersApi::batchInsert(const HttpConnectionPtr& c) {
  std::string error;
  auto v = parseJson(c->body(), error);
  if (!v) return c->respondJsonError(400, error);
  const JsonValue* rows = v->type == JsonValue::Type::Array ? &*v : v->get("users");
  if (!rows || rows->type != JsonValue::Type::Array) return c->respondJsonError(400, "the body must be a JSON array of users (or {\"users\": [...]})");
  if (rows->items.empty()) return c->respondJsonError(422, "no users given");
  if (rows->items.size() > options_.batch_max_rows)
    return c->respondJsonError(413, "at most " + std::to_string(options_.batch_max_rows) + " users per batch");
  // Everything is validated before anything is written.
  auto batch = std::make_shared<Batch>();
  batch->total = rows->items.size();
  constexpr size_t kRowsPerStatement = 1000;
  for (size_t i = 0; i < rows->items.size(); ++i) {
    UserInput in;
    if (const int status = readUser(rows->items[i], in, error)) return c->respondJsonError(status, "user " + std::to_string(i) + ": " + error);
    if (i % kRowsPerStatement == 0) {
      batch->statements.emplace_back("INSERT INTO users (email, name) VALUES ");
      batch->params.emplace_back();
    }
    std::string& sql = batch->statements.back();
    std::vector<std::string>& params = batch->params.back();
    if (!params.empty()) sql += ',';
    sql += "($" + std::to_string(params.size() + 1) + ",$" + std::to_string(params.size() + 2) + ')';
    params.push_back(std::move(in.email));
    params.push_back(std::move(in.name));
  }
  for (std::string& sql : batch->statements) sql += " ON CONFLICT DO NOTHING";
  db_.primaryConnection([this, c, batch](PgConnection* conn, PgPool* pool, ReadInfo) {
    if (!conn) return unavailable(c);
    batch->conn = conn;
    batch->pool = pool;
    batch->client = c;
    db_.run(conn, "BEGIN", {}, [this, batch](PgResult r) { batchStep(batch, std::move(r)); });
  });
}

// One transaction, one round trip per 1,000 rows: each statement's result starts the next.
void UsersApi::batchStep(std::shared_ptr<Batch> batch, PgResult r) {
  const HttpConnectionPtr& c = batch->client;
  if (!pgOk(r.get())) {
    db_.run(batch->conn, "ROLLBACK", {}, [batch](PgResult) {
      batch->pool->release(batch->conn);
      batch->client->respondJsonError(500, "database error");
    });
    return;
  }
  if (batch->next > 0) batch->inserted += std::strtoull(PQcmdTuples(r.get()), nullptr, 10);
  if (batch->next < batch->statements.size()) {
    const size_t i = batch->next++;
    return db_.run(batch->conn, std::move(batch->statements[i]), std::move(batch->params[i]),
                   [this, batch](PgResult next) { batchStep(batch, std::move(next)); });
  }
  db_.run(batch->conn, "COMMIT", {}, [this, batch](PgResult done) {
    if (!pgOk(done.get())) {
      batch->pool->release(batch->conn);
      return batch->client->respondJsonError(500, "database error");
    }
    db_.commitLsn(batch->conn, [this, batch](uint64_t lsn) {
      batch->pool->release(batch->conn);
      const std::string body = "{\"inserted\":" + std::to_string(batch->inserted) + ",\"skipped\":" +
                               std::to_string(batch->total - batch->inserted) + "}";
      respondWritten(batch->client, 200, lsn, {}, body);
    });
  });
  (void)c;
}

// ---- export -------------------------------------------------------------------------------------

void UsersApi::exportUsers(const HttpConnectionPtr& c, bool csv) {
  UserExport::start(c, db_, requiredLsn(c), csv, options_.export_batch_rows, options_.export_high_water);
}

}  // namespace edged::backend
