// proxy/session_services.h — what a Session needs of its worker: the configuration generation,
// origin connections, metrics, the access log, scratch space, a clock and the posted queue. The
// Worker implements it; the unit tests use a fake, so the data path runs without sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/http/http.h"
#include "proxy/origin_stream.h"
#include "upstream/upstream.h"

namespace edged::metrics {
class WorkerMetrics;
}

namespace edged::proxy {

class AccessLog;
class ClientLimiter;
class WorkerGen;

// Work run once, soon, from the worker's loop (never inside the call that posts it).
struct PostedTask {
  void (*fn)(void* owner) = nullptr;
  void* owner = nullptr;
  PostedTask* next = nullptr;
  PostedTask** pprev = nullptr;  // null: not posted
  bool posted() const { return pprev != nullptr; }
};

class SessionServices {
 public:
  // A counted reference to the current generation (acquireGen / releaseGen pair), and the
  // current one uncounted (between exchanges).
  virtual WorkerGen* acquireGen() = 0;
  virtual void releaseGen(WorkerGen* g) = 0;
  virtual WorkerGen& currentGen() = 0;

  // An origin stream to `server` for `handler`: a pooled one, already connected and attached, when
  // `allow_pooled` and one is idle (then reused() is true); else a new one, connecting (the handler
  // hears onUpstreamConnected or onUpstreamFailure). Null when connecting failed at once (`error`
  // gets a libuv error code).
  virtual OriginStream* openOrigin(WorkerGen& gen, size_t upstream_index, upstream::Server& server, size_t slot,
                                   bool allow_pooled, UpstreamHandler* handler, int* error) = 0;

  virtual metrics::WorkerMetrics& metrics() = 0;
  virtual AccessLog& accessLog() = 0;
  // 128 random bits as 32 hex digits (X-Request-Id).
  virtual void newRequestId(char out[32]) = 0;
  virtual bool draining() const = 0;
  virtual uint64_t nowNs() = 0;

  // Runs t.fn(t.owner) once from the loop, soon (a resumed exchange). A task must be cancelled
  // before its owner goes away.
  virtual void post(PostedTask& t) = 0;
  static void cancel(PostedTask& t) {
    if (!t.posted()) return;
    *t.pprev = t.next;
    if (t.next) t.next->pprev = t.pprev;
    t.next = nullptr;
    t.pprev = nullptr;
  }

  // Scratch space for building a head, used and copied out within one call (never kept).
  virtual std::vector<Header>& headerScratch() = 0;
  virtual std::vector<Header>& requestHeaderScratch() = 0;
  virtual std::string& textScratch() = 0;

  // limits.per_client, shared by every worker; null when off.
  virtual ClientLimiter* clientLimiter() { return nullptr; }

  // A background exchange (Resumer::startBackground): `request` repeated with `method` and no
  // client. False when none can start now (draining, too many running).
  virtual bool startBackground(const RequestHead& /*request*/, std::string_view /*method*/,
                               std::string_view /*client_ip*/, std::string_view /*forwarded_for*/) {
    return false;
  }

 protected:
  ~SessionServices() = default;
};

}  // namespace edged::proxy
