// tests/unit/proxy/session_test.cpp — the exchange's data path without sockets: a Session driven
// by a fake Downstream (the client side), fake origin streams and fake worker services.
#include <doctest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "proxy/access_log.h"
#include "proxy/metrics/metrics.h"
#include "proxy/session.h"
#include "proxy/worker_gen.h"

namespace edged::proxy {
namespace {

constexpr const char* kConfig = R"(
workers: 1
listen:
  - address: 127.0.0.1:8080
upstreams:
  api:
    servers:
      - address: 127.0.0.1:9001
      - address: 127.0.0.1:9002
routes:
  - match: { prefix: / }
    upstream: api
)";

struct FakeDownstream final : Downstream {
  RequestHead req;
  std::vector<int> heads;         // statuses sent, interim ones included
  std::vector<std::string> head_fields;  // "name: value" of the last final head
  std::string body;
  bool ended = false;
  int done = 0;                   // exchangeDone calls
  bool keep_alive = false;
  int close_after_write = 0;
  int resumed = 0;
  bool paused = false;
  uint64_t queued = 0;

  const RequestHead& request() const override { return req; }
  std::string_view clientIp() override { return "192.0.2.7"; }
  std::string_view localAddress() override { return "127.0.0.1:8080"; }
  uint64_t requestStartNs() const override { return 1; }
  bool receivingHead() const override { return false; }
  TlsFacts tls() override { return {}; }
  bool redirectHttps() override { return false; }
  void sendInterim(int status, std::string_view, const std::vector<Header>&) override { heads.push_back(status); }
  bool sendHead(int status, std::string_view, const std::vector<Header>& headers, const ResponseMeta& meta) override {
    heads.push_back(status);
    head_fields.clear();
    for (const Header& h : headers) head_fields.push_back(std::string(h.name) + ": " + std::string(h.value));
    return !meta.must_close && req.keep_alive;
  }
  std::vector<IoBuf*> held;       // buffers queued by reference (as a write queue holds them)
  void sendBody(IoBuf* buf, const char* p, size_t n) override {
    body.append(p, n);
    queued += n;
    if (buf) {
      net::retain(buf);
      held.push_back(buf);
    }
  }
  void written() {
    for (IoBuf* b : held) net::release(b);
    held.clear();
  }
  void endBody() override { ended = true; }
  void flush() override {}
  size_t waiting = 0;             // what queuedBytes() says: queued, not yet taken by the socket
  size_t queuedBytes() const override { return waiting; }
  uint64_t bytesQueued() const override { return queued; }
  void pauseRequestBody() override { paused = true; }
  void resumeRequestBody() override { paused = false; }
  bool mayDeferUpstreamFlush() const override { return false; }
  void deferUpstreamFlush() override {}
  void resumeRequest() override { ++resumed; }
  void exchangeDone(bool keep) override {
    ++done;
    keep_alive = keep;
  }
  void startTunnel() override {}
  void sendTunnelData(IoBuf*, const char*, size_t) override {}
  void closeAfterWrite() override { ++close_after_write; }
};

struct FakeOrigin final : OriginStream {
  explicit FakeOrigin(UpstreamHandler* h, bool pooled) : handler(h), pooled(pooled) {}
  WriteQueue queue{this, [](void*, int) {}};
  UpstreamHandler* handler;
  bool pooled;
  int flushes = 0;
  int released = 0;
  bool reused_back = false;
  bool started = false;
  WriteQueue& out() override { return queue; }
  void flush() override {
    ++flushes;
    queue.discardPending();  // as if written at once
  }
  bool paused = false;
  void pauseReading() override { paused = true; }
  void resumeReading() override { paused = false; }
  void release(bool reuse) override {
    ++released;
    reused_back = reuse;
    handler = nullptr;
  }
  void closeAfterWrite() override { ++released; }
  void startTunnel() override {}
  bool reused() const override { return pooled; }
  bool responseStarted() const override { return started; }
  uint64_t sent() const { return queue.appendedTotal(); }
};

class FakeServices final : public SessionServices {
 public:
  FakeServices() {
    conf::LoadResult r = conf::loadConfigString(kConfig, "session_test.yaml");
    for (const auto& e : r.errors) MESSAGE(e.str());
    REQUIRE(r.ok());
    generation = std::make_shared<Generation>(r.config, nullptr);
    metrics_ = std::make_unique<metrics::WorkerMetrics>(*generation->metrics_layout);
    env_ = std::make_unique<FilterEnv>(FilterEnv{*metrics_, nullptr});
    gen_ = std::make_unique<WorkerGen>(generation, makers, *env_);
  }
  ~FakeServices() { CHECK(gen_->unused()); }

  // What openOrigin hands out next: true = a connect that fails at once.
  std::deque<bool> connect_fails;
  std::vector<std::unique_ptr<FakeOrigin>> origins;
  std::vector<std::string> servers_asked;
  std::vector<PostedTask*> posted;
  std::vector<FilterFactoryMaker> makers;
  std::shared_ptr<Generation> generation;

  void useFilters(std::vector<FilterFactoryMaker> m) {
    makers = std::move(m);
    gen_ = std::make_unique<WorkerGen>(generation, makers, *env_);
  }
  FakeOrigin& lastOrigin() { return *origins.back(); }
  void runPosted() {
    std::vector<PostedTask*> batch;
    batch.swap(posted);
    for (PostedTask* t : batch) {
      if (!t->posted()) continue;
      cancel(*t);
      t->fn(t->owner);
    }
  }

  WorkerGen* acquireGen() override {
    gen_->ref();
    return gen_.get();
  }
  void releaseGen(WorkerGen* g) override { g->unref(); }
  WorkerGen& currentGen() override { return *gen_; }
  OriginStream* openOrigin(WorkerGen&, size_t, upstream::Server& server, size_t, bool, UpstreamHandler* h,
                           int* error) override {
    servers_asked.push_back(server.name());
    if (!connect_fails.empty() && connect_fails.front()) {
      connect_fails.pop_front();
      *error = -111;  // ECONNREFUSED
      return nullptr;
    }
    if (!connect_fails.empty()) connect_fails.pop_front();
    origins.push_back(std::make_unique<FakeOrigin>(h, false));
    return origins.back().get();
  }
  metrics::WorkerMetrics& metrics() override { return *metrics_; }
  AccessLog& accessLog() override { return log_; }
  void newRequestId(char out[32]) override {
    for (int i = 0; i < 32; ++i) out[i] = 'a';
  }
  bool draining() const override { return false; }
  uint64_t nowNs() override { return ++now_; }
  void post(PostedTask& t) override {
    PostedTask** tail = &head_;
    while (*tail) tail = &(*tail)->next;
    t.next = nullptr;
    t.pprev = tail;
    *tail = &t;
    posted.push_back(&t);
  }
  std::vector<Header>& headerScratch() override { return headers_; }
  std::vector<Header>& requestHeaderScratch() override { return request_headers_; }
  std::string& textScratch() override { return text_; }

 private:
  std::unique_ptr<metrics::WorkerMetrics> metrics_;
  std::unique_ptr<FilterEnv> env_;
  std::unique_ptr<WorkerGen> gen_;
  AccessLog log_{nullptr, conf::AccessLogFormat::Combined};
  PostedTask* head_ = nullptr;
  std::vector<Header> headers_, request_headers_;
  std::string text_;
  uint64_t now_ = 0;
};

void setRequest(RequestHead& r, std::string_view method, std::string_view target,
                std::vector<std::pair<std::string_view, std::string_view>> fields = {}) {
  r.reset();
  r.fields.addTarget(target.data(), target.size());
  fields.insert(fields.begin(), {"Host", "example.com"});
  for (auto [name, value] : fields) {
    r.fields.addField(name.data(), name.size());
    r.fields.addValue(value.data(), value.size());
    r.fields.endValue();
  }
  r.method = method;
  r.method_id = methodFromName(method);
  r.complete = true;
  if (auto cl = r.fields.find(HeaderId::ContentLength); !cl.empty()) {
    r.framing = BodyFraming::ContentLength;
    r.content_length = std::stoull(std::string(cl));
  }
}

ResponseHead response(int status, std::vector<std::pair<std::string_view, std::string_view>> fields = {},
                      BodyFraming framing = BodyFraming::ContentLength, uint64_t length = 0) {
  ResponseHead h;
  h.status = status;
  h.fields.addTarget("OK", 2);
  for (auto [name, value] : fields) {
    h.fields.addField(name.data(), name.size());
    h.fields.addValue(value.data(), value.size());
    h.fields.endValue();
  }
  h.framing = framing;
  h.content_length = length;
  return h;
}

struct Exchange {
  FakeServices services;
  FakeDownstream client;
  Session session{client, services};
  ~Exchange() { session.recycle(0); }
};

TEST_CASE("a request with a body is forwarded, answered and ends once") {
  Exchange x;
  setRequest(x.client.req, "POST", "/upload", {{"Content-Length", "5"}});
  REQUIRE(x.session.onRequestHead() == 0);
  REQUIRE(x.services.origins.size() == 1);
  FakeOrigin& o = x.services.lastOrigin();
  const uint64_t head_bytes = o.sent();
  CHECK(head_bytes > 0);
  CHECK(x.session.onRequestBody(nullptr, "hello", 5) == 0);
  x.session.onRequestComplete();
  CHECK(o.sent() == head_bytes + 5);
  x.session.onUpstreamConnected();
  CHECK(o.flushes == 1);
  const ResponseHead h = response(200, {{"Content-Length", "2"}}, BodyFraming::ContentLength, 2);
  CHECK_FALSE(x.session.onUpstreamHead(h));
  x.session.onUpstreamBody(nullptr, "ok", 2);
  x.session.onUpstreamComplete(true);
  CHECK(x.client.heads == std::vector<int>{200});
  CHECK(x.client.body == "ok");
  CHECK(x.client.ended);
  CHECK(x.client.done == 1);
  CHECK(x.client.keep_alive);
  CHECK(o.released == 1);
  CHECK(o.reused_back);  // a clean response: back to the pool
  CHECK_FALSE(x.session.active());
}

TEST_CASE("a connect failure is retried on the other server") {
  Exchange x;
  x.services.connect_fails = {true, false};
  setRequest(x.client.req, "GET", "/");
  REQUIRE(x.session.onRequestHead() == 0);
  REQUIRE(x.services.servers_asked.size() == 2);
  CHECK(x.services.servers_asked[0] != x.services.servers_asked[1]);
  REQUIRE(x.services.origins.size() == 1);
  x.session.onUpstreamConnected();
  x.session.onUpstreamHead(response(204));
  x.session.onUpstreamComplete(true);
  CHECK(x.client.heads == std::vector<int>{204});
  CHECK(x.client.done == 1);
}

TEST_CASE("both servers refuse: 502 before any head") {
  Exchange x;
  x.services.connect_fails = {true, true};
  setRequest(x.client.req, "GET", "/");
  REQUIRE(x.session.onRequestHead() == 0);
  CHECK(x.client.heads == std::vector<int>{502});
  CHECK(x.client.body.find("502") != std::string::npos);
  CHECK(x.client.done == 1);
  CHECK_FALSE(x.session.active());
}

TEST_CASE("a read timeout before the head answers 504 (non-idempotent: no retry)") {
  Exchange x;
  setRequest(x.client.req, "POST", "/slow", {{"Content-Length", "1"}});
  REQUIRE(x.session.onRequestHead() == 0);
  x.session.onRequestBody(nullptr, "x", 1);
  x.session.onRequestComplete();
  x.session.onUpstreamConnected();
  x.session.onUpstreamFailure(UpstreamFailure::ReadTimeout);
  CHECK(x.services.origins.size() == 1);
  CHECK(x.client.heads == std::vector<int>{504});
  CHECK(x.client.done == 1);
}

TEST_CASE("the origin closing after the head cuts the client connection") {
  Exchange x;
  setRequest(x.client.req, "GET", "/cut");
  REQUIRE(x.session.onRequestHead() == 0);
  x.session.onRequestComplete();
  x.session.onUpstreamConnected();
  x.session.onUpstreamHead(response(200, {{"Content-Length", "10"}}, BodyFraming::ContentLength, 10));
  x.session.onUpstreamBody(nullptr, "abc", 3);
  x.session.onUpstreamFailure(UpstreamFailure::Closed);
  CHECK(x.client.heads == std::vector<int>{200});
  CHECK_FALSE(x.client.ended);       // never looks complete
  CHECK(x.client.done == 1);
  CHECK_FALSE(x.client.keep_alive);  // the connection closes
  CHECK(x.services.origins.size() == 1);
  CHECK_FALSE(x.services.lastOrigin().reused_back);
}

// ---- the response's high-water mark (small until the client reads) --------------------------

TEST_CASE("responseHighWater: small until the client took kProvenReader bytes or the rest is short") {
  constexpr uint64_t kUnknown = UINT64_MAX;
  CHECK(responseHighWater(0, kUnknown) == kInitialHighWater);
  CHECK(responseHighWater(kProvenReader - 1, 4 << 20) == kInitialHighWater);
  CHECK(responseHighWater(kProvenReader, kUnknown) == kHighWater);
  CHECK(responseHighWater(0, kHighWater) == kHighWater);      // a short known rest: no pause for it
  CHECK(responseHighWater(0, kHighWater + 1) == kInitialHighWater);
  CHECK(kInitialHighWater < kHighWater);
}

// A 4 MiB response up to its head; the origin stream of the exchange.
FakeOrigin& bigResponse(Exchange& x, uint64_t length, BodyFraming framing = BodyFraming::ContentLength) {
  setRequest(x.client.req, "GET", "/big");
  REQUIRE(x.session.onRequestHead() == 0);
  x.session.onRequestComplete();
  x.session.onUpstreamConnected();
  CHECK_FALSE(x.session.onUpstreamHead(response(200, {}, framing, length)));
  return x.services.lastOrigin();
}

TEST_CASE("a client that has taken nothing yet pauses the origin past the small mark") {
  Exchange x;
  FakeOrigin& o = bigResponse(x, 4 << 20);
  const std::string chunk(2 * kInitialHighWater, 'b');
  x.session.onUpstreamBody(nullptr, chunk.data(), kInitialHighWater + 1);
  x.client.waiting = kInitialHighWater + 1;  // none of it taken
  CHECK(x.session.mayDeferReadBatch());  // the next read may join this flush while under 2 x mark
  x.session.onUpstreamBody(nullptr, chunk.data(), kInitialHighWater - 1);
  x.client.waiting = 2 * kInitialHighWater;
  CHECK_FALSE(x.session.mayDeferReadBatch());
  x.session.onUpstreamReadBatchDone();
  CHECK(o.paused);
  // It drains (the socket took it all): the origin goes on, still under the small mark.
  x.client.waiting = 0;
  x.session.onClientDrained();
  CHECK_FALSE(o.paused);
}

TEST_CASE("a client that took kProvenReader bytes gets the full mark") {
  Exchange x;
  FakeOrigin& o = bigResponse(x, 4 << 20);
  const std::string chunk(kProvenReader, 'b');
  x.session.onUpstreamBody(nullptr, chunk.data(), chunk.size());
  x.client.waiting = 0;  // all taken
  const std::string more(kHighWater - 1, 'c');
  x.session.onUpstreamBody(nullptr, more.data(), more.size());
  x.client.waiting = more.size();
  CHECK(x.session.mayDeferReadBatch());
  x.session.onUpstreamReadBatchDone();
  CHECK_FALSE(o.paused);  // under kHighWater
}

TEST_CASE("a response of unknown length is held to the small mark too; a short known rest is not") {
  SUBCASE("chunked") {
    Exchange x;
    FakeOrigin& o = bigResponse(x, 0, BodyFraming::Chunked);
    const std::string chunk(kInitialHighWater + 1, 'b');
    x.session.onUpstreamBody(nullptr, chunk.data(), chunk.size());
    x.client.waiting = chunk.size();
    x.session.onUpstreamReadBatchDone();
    CHECK(o.paused);
  }
  SUBCASE("96 KiB: after 40 KiB the rest is under kHighWater") {
    Exchange x;
    FakeOrigin& o = bigResponse(x, 96 * 1024);
    const std::string chunk(40 * 1024, 'b');
    x.session.onUpstreamBody(nullptr, chunk.data(), chunk.size());
    x.client.waiting = chunk.size();
    x.session.onUpstreamReadBatchDone();
    CHECK_FALSE(o.paused);
  }
}

// ---- filters --------------------------------------------------------------------------------

struct Script {
  FilterAction on_request = FilterAction::Continue;
  FilterAction on_resume = FilterAction::Continue;
  int finished = 0;
  int released = 0;
  Termination why = Termination::None;
  Resumer* resumer = nullptr;
  LocalResponse* local = nullptr;
  bool rewrite = false;
  bool owned = false;     // answer with a body in parts that an owner keeps (as a cache hit does)
  int owner_refs = 0;
};

class ScriptFilter final : public ExchangeFilter {
 public:
  explicit ScriptFilter(Script& s) : s_(s) {}
  FilterAction onRequest(const RequestHead&, LocalResponse& local, Resumer& r) override {
    s_.resumer = &r;
    s_.local = &local;
    if (s_.on_request == FilterAction::Respond || s_.on_resume == FilterAction::Respond) {
      local.status = 200;
      local.headers = fields_;
      local.body = "from the filter";
      if (s_.owned) {
        local.body_parts = parts_;
        local.body_owner = {&s_.owner_refs, [](const void* o) { ++*static_cast<int*>(const_cast<void*>(o)); },
                            [](const void* o) { --*static_cast<int*>(const_cast<void*>(o)); }};
      }
    }
    return s_.on_request;
  }
  void onUpstreamRequest(UpstreamRequest& r) override {
    if (s_.rewrite) r.headers.push_back({"X-Added", "1", HeaderId::Other});
  }
  void onFinish(Termination why) override {
    ++s_.finished;
    s_.why = why;
  }
  void release() override {
    ++s_.released;
    delete this;
  }

 private:
  Script& s_;
  Header fields_[1] = {{"X-Local", "yes", HeaderId::Other}};
  std::string_view parts_[3] = {"owned ", "by the ", "filter"};
};

class ScriptFactory final : public FilterFactory {
 public:
  explicit ScriptFactory(Script& s) : s_(s) {}
  ExchangeFilter* attach(const RequestHead&, size_t) override { return new ScriptFilter(s_); }

 private:
  Script& s_;
};

FilterFactoryMaker maker(Script& s) {
  return [&s](const conf::Config&, FilterEnv&) { return std::make_unique<ScriptFactory>(s); };
}

TEST_CASE("a filter's local response: no origin, onFinish once") {
  Script s;
  s.on_request = FilterAction::Respond;
  Exchange x;
  x.services.useFilters({maker(s)});
  setRequest(x.client.req, "GET", "/local");
  CHECK(x.session.onRequestHead() == 0);
  CHECK(x.services.origins.empty());
  CHECK(x.client.heads == std::vector<int>{200});
  CHECK(x.client.body == "from the filter");
  CHECK(x.client.done == 1);
  CHECK(s.finished == 1);
  CHECK(s.released == 1);
}

TEST_CASE("a local body with an owner is written by reference and the owner held until written") {
  Script s;
  s.on_request = FilterAction::Respond;
  s.owned = true;
  Exchange x;
  x.services.useFilters({maker(s)});
  setRequest(x.client.req, "GET", "/owned");
  CHECK(x.session.onRequestHead() == 0);
  CHECK(x.client.body == "owned by the filter");
  CHECK(std::find(x.client.head_fields.begin(), x.client.head_fields.end(), "Content-Length: 19") !=
        x.client.head_fields.end());
  CHECK(x.client.held.size() == 3);  // every part by reference, none copied
  CHECK(s.finished == 1);
  CHECK(s.owner_refs == 1);          // the exchange is over, the bytes are still queued
  x.client.written();
  CHECK(s.owner_refs == 0);
}

TEST_CASE("a filter waits, then resumes: the exchange goes on from the posted queue") {
  Script s;
  s.on_request = FilterAction::Wait;
  Exchange x;
  x.services.useFilters({maker(s)});
  setRequest(x.client.req, "GET", "/wait");
  CHECK(x.session.onRequestHead() == Session::kWaiting);
  CHECK(x.services.origins.empty());
  s.resumer->resume(FilterAction::Continue);
  CHECK(x.services.origins.empty());  // never inside resume()
  x.services.runPosted();
  REQUIRE(x.services.origins.size() == 1);
  CHECK(x.client.resumed == 1);
  x.session.onRequestComplete();
  x.session.onUpstreamConnected();
  x.session.onUpstreamHead(response(204));
  x.session.onUpstreamComplete(true);
  CHECK(x.client.heads == std::vector<int>{204});
  CHECK(s.finished == 1);
  CHECK(s.released == 1);
}

TEST_CASE("a filter waits, then answers itself") {
  Script s;
  s.on_request = FilterAction::Wait;
  s.on_resume = FilterAction::Respond;
  Exchange x;
  x.services.useFilters({maker(s)});
  setRequest(x.client.req, "GET", "/wait-local");
  CHECK(x.session.onRequestHead() == Session::kWaiting);
  s.resumer->resume(FilterAction::Respond);
  x.services.runPosted();
  CHECK(x.services.origins.empty());
  CHECK(x.client.body == "from the filter");
  CHECK(s.finished == 1);
}

TEST_CASE("the client goes away during a wait: onFinish(ClientClosed), no resume runs") {
  Script s;
  s.on_request = FilterAction::Wait;
  Exchange x;
  x.services.useFilters({maker(s)});
  setRequest(x.client.req, "GET", "/gone");
  CHECK(x.session.onRequestHead() == Session::kWaiting);
  x.session.abort(Termination::ClientClosed, 499);
  CHECK(s.finished == 1);
  CHECK(s.why == Termination::ClientClosed);
  CHECK(s.released == 1);
  CHECK(x.client.done == 0);  // the connection closes by itself
  x.services.runPosted();
  CHECK(x.services.origins.empty());
}

TEST_CASE("onUpstreamRequest edits what the origin receives") {
  Script s;
  s.rewrite = true;
  Exchange x;
  x.services.useFilters({maker(s)});
  setRequest(x.client.req, "GET", "/edit");
  const uint64_t plain = [] {
    Exchange y;
    setRequest(y.client.req, "GET", "/edit");
    y.session.onRequestHead();
    const uint64_t n = y.services.lastOrigin().sent();
    y.session.abort(Termination::ClientClosed, 499);
    return n;
  }();
  REQUIRE(x.session.onRequestHead() == 0);
  CHECK(x.services.lastOrigin().sent() == plain + std::string_view("X-Added: 1\r\n").size());
  x.session.abort(Termination::ClientClosed, 499);
  CHECK(s.finished == 1);
}

}  // namespace
}  // namespace edged::proxy
