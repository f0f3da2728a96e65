// proxy/background_exchange.h — an exchange edged runs for itself, with no client attached: a
// filter's Resumer::startBackground() (the cache's stale-while-revalidate refresh). It is the
// Downstream of its own Session: the request is a trimmed copy of the exchange that asked for it,
// the response goes nowhere (counted for the access log, then dropped). Owned by its Worker,
// which aborts every one still running when it drains (nginx's background cache update
// subrequest; Varnish's background fetch).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/downstream.h"
#include "proxy/session.h"
#include "proxy/session_services.h"

namespace edged::proxy {

class BackgroundExchange final : public Downstream {
 public:
  // `request`: the exchange to repeat; copied with `method`, no body, and without Range,
  // If-Range, the conditional fields, framing and upgrade fields.
  BackgroundExchange(SessionServices& services, const RequestHead& request, std::string_view method,
                     std::string_view client_ip, std::string_view forwarded_for);
  ~BackgroundExchange();
  BackgroundExchange(const BackgroundExchange&) = delete;
  BackgroundExchange& operator=(const BackgroundExchange&) = delete;

  // Posts the start to the worker's queue; `on_done(owner, this)` runs once the exchange is over
  // (from the posted queue, never inside a Session call): the owner frees the object then.
  void start(void (*on_done)(void* owner, BackgroundExchange* x), void* owner);
  // Shutdown: ends the exchange now (its filters hear ClientClosed, its origin stream is closed).
  // on_done is not called; the owner frees the object right after.
  void abort();
  bool active() const { return session_.active(); }

  // Intrusive list of the owner's running exchanges.
  BackgroundExchange* prev = nullptr;
  BackgroundExchange* next = nullptr;

  // Downstream
  const RequestHead& request() const override { return request_; }
  std::string_view clientIp() override { return client_ip_; }
  std::string_view localAddress() override { return "127.0.0.1:0"; }
  std::string_view forwardedFor() override { return forwarded_for_; }
  uint64_t requestStartNs() const override { return start_ns_; }
  bool receivingHead() const override { return false; }
  TlsFacts tls() override { return {}; }
  bool redirectHttps() override { return false; }
  void sendInterim(int, std::string_view, const std::vector<Header>&) override {}
  bool sendHead(int, std::string_view, const std::vector<Header>&, const ResponseMeta&) override { return false; }
  void sendBody(IoBuf*, const char*, size_t n) override { bytes_ += n; }
  void endBody() override {}
  void flush() override {}
  size_t queuedBytes() const override { return 0; }
  uint64_t bytesQueued() const override { return bytes_; }
  void pauseRequestBody() override {}
  void resumeRequestBody() override {}
  bool mayDeferUpstreamFlush() const override { return false; }
  void deferUpstreamFlush() override {}
  void resumeRequest() override;
  void exchangeDone(bool) override { finished(); }
  void startTunnel() override {}
  void sendTunnelData(IoBuf*, const char*, size_t) override {}
  void closeAfterWrite() override { finished(); }

 private:
  static void run(void* self);
  static void done(void* self);
  void finished();

  SessionServices& services_;
  RequestHead request_;
  std::string client_ip_;
  std::string forwarded_for_;
  uint64_t start_ns_ = 0;
  uint64_t bytes_ = 0;
  bool head_waiting_ = false;  // a request filter said Wait: the head is "complete" on resume
  PostedTask task_;
  void (*on_done_)(void*, BackgroundExchange*) = nullptr;
  void* owner_ = nullptr;
  Session session_;  // last: destroyed first, while the rest is still there
};

}  // namespace edged::proxy
