// tools/backend/database.cpp — the replica's replay LSN is read BEFORE the statement runs on it:
// a snapshot taken after that moment includes at least that LSN, so it is a safe lower bound of
// what the read saw (evaluating pg_last_wal_replay_lsn() inside the same statement would not be).
#include "tools/backend/database.h"

#include <cstdio>
#include <strings.h>

#include "tools/backend/formats.h"

namespace edged::backend {

struct Database::ReadJob {
  uint64_t required_lsn;
  std::string sql;
  std::vector<std::string> params;
  ReadDone done;
};

namespace {
uint64_t lsnOf(const PgResult& r) {
  if (!pgOk(r.get()) || PQntuples(r.get()) < 1 || PQgetisnull(r.get(), 0, 0)) return 0;
  return parseLsn(PQgetvalue(r.get(), 0, 0)).value_or(0);
}
std::vector<const char*> pointers(const std::vector<std::string>& params) {
  std::vector<const char*> p;
  p.reserve(params.size());
  for (const std::string& s : params) p.push_back(s.c_str());
  return p;
}
bool explainable(const std::string& sql) {
  for (const char* verb : {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"})
    if (strncasecmp(sql.c_str(), verb, std::char_traits<char>::length(verb)) == 0) return true;
  return false;
}
// A replica error worth retrying on the primary: connection trouble, recovery conflicts, shutdown.
bool replicaTrouble(const PGresult* r) {
  const std::string_view state = pgState(r);
  return state.substr(0, 2) == "08" || state.substr(0, 2) == "57" || state == "40001";
}
}  // namespace

Database::Database(uv_loop_t* loop, DatabaseOptions options, MetricsSlot& metrics)
    : loop_(loop), options_(std::move(options)), metrics_(metrics) {
  primary_ = std::make_unique<PgPool>(loop_, "primary", options_.primary_dsn, options_.primary_pool, metrics_.primary_pool);
  for (size_t i = 0; i < options_.replica_dsns.size() && i < kMaxReplicas; ++i) {
    Replica r;
    r.name = "replica" + std::to_string(i + 1);
    r.pool = std::make_unique<PgPool>(loop_, r.name, options_.replica_dsns[i], options_.replica_pool, metrics_.replica_pool[i]);
    replicas_.push_back(std::move(r));
  }
  lag_timer_ = new uv_timer_t;
  uv_timer_init(loop_, lag_timer_);
  lag_timer_->data = this;
  uv_timer_start(lag_timer_, onLagTimer, 0, options_.lag_interval_ms);
}

Database::~Database() { close(); }

void Database::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(lag_timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  lag_timer_ = nullptr;
  primary_->close();
  for (Replica& r : replicas_) r.pool->close();
}

void Database::onLagTimer(uv_timer_t* t) { static_cast<Database*>(t->data)->sampleLag(); }

void Database::sampleLag() {
  if (closed_) return;
  if (!primary_probe_out_) {
    primary_probe_out_ = true;
    primary_->acquire([this](PgConnection* c) {
      if (!c) {
        primary_probe_out_ = false;
        return;
      }
      run(c, "SELECT pg_current_wal_lsn()", {}, [this, c](PgResult r) {
        primary_probe_out_ = false;
        primary_->release(c);
        if (const uint64_t lsn = lsnOf(r); lsn > primary_lsn_) primary_lsn_ = lsn;
      });
    });
  }
  for (size_t i = 0; i < replicas_.size(); ++i) {
    Replica& rep = replicas_[i];
    if (rep.probe_out) continue;
    rep.probe_out = true;
    rep.pool->acquire([this, i](PgConnection* c) {
      Replica& rep = replicas_[i];
      if (!c) {
        rep.probe_out = false;
        rep.up = false;
        metrics_.replica_up[i].store(0);
        return;
      }
      run(c, "SELECT pg_last_wal_replay_lsn()", {}, [this, i, c](PgResult r) {
        Replica& rep = replicas_[i];
        rep.probe_out = false;
        rep.pool->release(c);
        const uint64_t lsn = lsnOf(r);
        rep.up = lsn != 0;
        if (lsn) {
          if (lsn > rep.replay_lsn) rep.replay_lsn = lsn;
          rep.checked_ms = uv_now(loop_);
          rep.lag_bytes = primary_lsn_ > rep.replay_lsn ? primary_lsn_ - rep.replay_lsn : 0;
        }
        metrics_.replica_up[i].store(rep.up ? 1 : 0);
        metrics_.replica_lag_bytes[i].store(static_cast<int64_t>(rep.lag_bytes));
      });
    });
  }
}

int Database::pickReplica() {
  for (size_t tries = 0; tries < replicas_.size(); ++tries) {
    const size_t i = next_replica_++ % replicas_.size();
    const Replica& r = replicas_[i];
    if (r.up && r.pool->healthy() && r.lag_bytes <= options_.max_lag_bytes) return static_cast<int>(i);
  }
  return -1;
}

void Database::run(PgConnection* conn, std::string sql, std::vector<std::string> params, PgConnection::QueryDone done) {
  struct Job {
    std::string sql;
    std::vector<std::string> params;
    PgConnection::QueryDone done;
    uint64_t start_ns;
  };
  auto job = std::make_shared<Job>(Job{std::move(sql), std::move(params), std::move(done), uv_hrtime()});
  conn->query(job->sql.c_str(), pointers(job->params), [this, conn, job](PgResult r) {
    const uint64_t us = (uv_hrtime() - job->start_ns) / 1000;
    metrics_.observeQuery(us);
    if (!r || options_.slow_query_ms == 0 || us < options_.slow_query_ms * 1000 || !explainable(job->sql) || closed_)
      return job->done(std::move(r));
    // Slow: log the plan, from the same connection, before handing the result over.
    metrics_.slow_queries.fetch_add(1, std::memory_order_relaxed);
    auto held = std::make_shared<PgResult>(std::move(r));
    const std::string explain = "EXPLAIN (FORMAT JSON) " + job->sql;
    conn->query(explain.c_str(), pointers(job->params), [job, held, us](PgResult plan) {
      std::string text = pgOk(plan.get()) && PQntuples(plan.get()) > 0 ? PQgetvalue(plan.get(), 0, 0) : "(no plan)";
      for (char& c : text)
        if (c == '\n') c = ' ';
      std::fprintf(stderr, "backend: [warn] slow query %.1f ms: %s plan: %s\n", static_cast<double>(us) / 1000.0, job->sql.c_str(), text.c_str());
      job->done(std::move(*held));
    });
  });
}

void Database::commitLsn(PgConnection* conn, std::function<void(uint64_t)> done) {
  run(conn, "SELECT pg_current_wal_lsn()", {}, [this, done = std::move(done)](PgResult r) {
    const uint64_t lsn = lsnOf(r);
    if (lsn > primary_lsn_) primary_lsn_ = lsn;
    done(lsn);
  });
}

void Database::write(std::string sql, std::vector<std::string> params, WriteDone done) {
  auto job = std::make_shared<ReadJob>(ReadJob{0, std::move(sql), std::move(params), nullptr});
  primary_->acquire([this, job, done = std::move(done)](PgConnection* c) mutable {
    if (!c) return done(nullptr, 0);
    run(c, std::move(job->sql), std::move(job->params), [this, c, done = std::move(done)](PgResult r) mutable {
      if (!pgOk(r.get())) {
        primary_->release(c);
        return done(std::move(r), 0);
      }
      auto held = std::make_shared<PgResult>(std::move(r));
      commitLsn(c, [this, c, held, done = std::move(done)](uint64_t lsn) {
        primary_->release(c);
        done(std::move(*held), lsn);
      });
    });
  });
}

void Database::primaryConnection(ConnDone done) {
  primary_->acquire([this, done = std::move(done)](PgConnection* c) {
    done(c, primary_.get(), ReadInfo{"primary", primary_lsn_});
  });
}

void Database::read(uint64_t required_lsn, std::string sql, std::vector<std::string> params, ReadDone done) {
  auto job = std::make_shared<ReadJob>(ReadJob{required_lsn, std::move(sql), std::move(params), std::move(done)});
  const int r = pickReplica();
  if (r < 0) return readOnPrimary(job);
  connectionFor(required_lsn, r, [this, job, r](PgConnection* c, PgPool* pool, ReadInfo info) {
    if (!c) return readOnPrimary(job);
    readOn(c, pool, r, job);
    (void)info;
  });
}

// Leases a connection of replica `replica` that has replayed `required_lsn`; else (replica down,
// behind, or failing) null, counted, so the caller goes to the primary.
void Database::connectionFor(uint64_t required_lsn, int replica, ConnDone done) {
  Replica& rep = replicas_[static_cast<size_t>(replica)];
  rep.pool->acquire([this, required_lsn, replica, done = std::move(done)](PgConnection* c) mutable {
    Replica& rep = replicas_[static_cast<size_t>(replica)];
    if (!c) {
      metrics_.replica_fallbacks.fetch_add(1, std::memory_order_relaxed);
      return done(nullptr, nullptr, {});
    }
    if (required_lsn <= rep.replay_lsn) return done(c, rep.pool.get(), ReadInfo{rep.name.c_str(), rep.replay_lsn});
    if (uv_now(loop_) - rep.checked_ms < options_.lsn_recheck_ms) {
      rep.pool->release(c);
      metrics_.reads_primary_for_lsn.fetch_add(1, std::memory_order_relaxed);
      return done(nullptr, nullptr, {});
    }
    run(c, "SELECT pg_last_wal_replay_lsn()", {}, [this, c, required_lsn, replica, done = std::move(done)](PgResult r) {
      Replica& rep = replicas_[static_cast<size_t>(replica)];
      const uint64_t lsn = lsnOf(r);
      if (lsn == 0) {
        rep.pool->release(c);
        metrics_.replica_fallbacks.fetch_add(1, std::memory_order_relaxed);
        return done(nullptr, nullptr, {});
      }
      if (lsn > rep.replay_lsn) rep.replay_lsn = lsn;
      rep.checked_ms = uv_now(loop_);
      if (required_lsn > rep.replay_lsn) {
        rep.pool->release(c);
        metrics_.reads_primary_for_lsn.fetch_add(1, std::memory_order_relaxed);
        return done(nullptr, nullptr, {});
      }
      done(c, rep.pool.get(), ReadInfo{rep.name.c_str(), rep.replay_lsn});
    });
  });
}

void Database::readerConnection(uint64_t required_lsn, ConnDone done) {
  const int r = pickReplica();
  if (r < 0) return primaryConnection(std::move(done));
  connectionFor(required_lsn, r, [this, done = std::move(done)](PgConnection* c, PgPool* pool, ReadInfo info) mutable {
    if (!c) return primaryConnection(std::move(done));
    done(c, pool, info);
  });
}

void Database::readOn(PgConnection* c, PgPool* pool, int replica, std::shared_ptr<ReadJob> job) {
  const ReadInfo info{replicas_[static_cast<size_t>(replica)].name.c_str(), replicas_[static_cast<size_t>(replica)].replay_lsn};
  run(c, job->sql, job->params, [this, c, pool, job, info](PgResult r) {
    pool->release(c);
    if (!r || (!pgOk(r.get()) && replicaTrouble(r.get()))) {
      // Reads are idempotent: the primary answers what the replica could not.
      metrics_.replica_fallbacks.fetch_add(1, std::memory_order_relaxed);
      return readOnPrimary(job);
    }
    metrics_.reads_replica.fetch_add(1, std::memory_order_relaxed);
    job->done(std::move(r), info);
  });
}

void Database::readOnPrimary(std::shared_ptr<ReadJob> job) {
  const uint64_t asof = std::max(job->required_lsn, primary_lsn_);
  primary_->acquire([this, job, asof](PgConnection* c) {
    if (!c) return job->done(nullptr, {});
    run(c, job->sql, job->params, [this, c, job, asof](PgResult r) {
      primary_->release(c);
      metrics_.reads_primary.fetch_add(1, std::memory_order_relaxed);
      job->done(std::move(r), ReadInfo{"primary", asof});
    });
  });
}

}  // namespace edged::backend
