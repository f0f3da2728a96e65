// tests/filters/test_filters.cpp — edged with three test filters appended to its chain, for the
// integration tests of the filter API (tests/integration/test_filter_chain.py). A request picks
// the behaviour with its X-Test-Filter field:
//   local       onRequest answers 200 "local answer" itself (Respond); the origin sees nothing
//   wait        onRequest waits 50 ms (a timer), then resumes with Continue: the origin answers
//   wait-local  the same wait, then resumes with Respond
//   rewrite     onUpstreamRequest adds "X-Test-Rewritten: yes" and strips a "/rewrite" prefix
//   replace     onResponseHead replaces the origin's response by a local 203
// Every filter checks the API's promises and aborts the process when one is broken: onFinish
// exactly once, nothing after it, every attached filter released before its factory goes.
#include <uv.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "proxy/http/http.h"
#include "proxy/proxy.h"

namespace {

using namespace edged::proxy;

void fail(const char* what) {
  std::fprintf(stderr, "test filter: broken promise: %s\n", what);
  std::abort();
}

class TestFilterFactory;

class TestFilter final : public ExchangeFilter {
 public:
  TestFilter(TestFilterFactory& factory, uv_loop_t* loop, std::string_view mode) : factory_(factory), loop_(loop), mode_(mode) {}

  FilterAction onRequest(const RequestHead& request, LocalResponse& local, Resumer& resumer) override {
    if (finished_) fail("onRequest after onFinish");
    if (mode_ == "local") {
      fillLocal(local, 200, "local answer\n");
      return FilterAction::Respond;
    }
    if (mode_ == "wait" || mode_ == "wait-local") {
      resumer_ = &resumer;
      local_ = &local;
      timer_ = new Timer{{}, this};
      uv_timer_init(loop_, &timer_->handle);
      timer_->handle.data = timer_;
      uv_timer_start(&timer_->handle, onTimer, 50, 0);
      return FilterAction::Wait;
    }
    (void)request;
    return FilterAction::Continue;
  }

  void onUpstreamRequest(UpstreamRequest& r) override {
    if (finished_) fail("onUpstreamRequest after onFinish");
    if (mode_ != "rewrite") return;
    r.headers.push_back({"X-Test-Rewritten", "yes", HeaderId::Other});
    if (r.target.starts_with("/rewrite/")) r.target.remove_prefix(8);
  }

  FilterAction onResponseHead(ResponseEdit& e, LocalResponse& local) override {
    if (finished_) fail("onResponseHead after onFinish");
    if (mode_ == "replace") {
      fillLocal(local, 203, "replaced by a filter\n");
      return FilterAction::Respond;
    }
    if (mode_ == "rewrite") {
      e.headers.push_back({"X-Test-Filter-Saw", "response", HeaderId::Other});
    }
    return FilterAction::Continue;
  }

  void onFinish(Termination why) override {
    if (finished_) fail("onFinish twice");
    finished_ = true;
    (void)why;
    if (timer_) {  // the exchange ended during the wait (client gone): no resume may follow
      timer_->filter = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_->handle), [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
      timer_ = nullptr;
    }
  }

  void release() override;

 private:
  struct Timer {
    uv_timer_t handle;
    TestFilter* filter;
  };
  static void onTimer(uv_timer_t* t) {
    auto* timer = static_cast<Timer*>(t->data);
    TestFilter* self = timer->filter;
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
    if (!self) return;
    self->timer_ = nullptr;
    if (self->mode_ == "wait-local") {
      self->fillLocal(*self->local_, 200, "answered after a wait\n");
      self->resumer_->resume(FilterAction::Respond);
    } else {
      self->resumer_->resume(FilterAction::Continue);
    }
  }
  void fillLocal(LocalResponse& local, int status, std::string_view body) {
    body_ = body;
    fields_[0] = {"Content-Type", "text/plain", HeaderId::ContentType};
    fields_[1] = {"X-Test-Filter-Answer", mode_, HeaderId::Other};
    local.status = status;
    local.headers = fields_;
    local.body = body_;
  }

  TestFilterFactory& factory_;
  uv_loop_t* loop_;
  std::string mode_;
  bool finished_ = false;
  Timer* timer_ = nullptr;
  Resumer* resumer_ = nullptr;
  LocalResponse* local_ = nullptr;
  std::string body_;
  Header fields_[2];
};

class TestFilterFactory final : public FilterFactory {
 public:
  explicit TestFilterFactory(uv_loop_t* loop) : loop_(loop) {}
  ~TestFilterFactory() override {
    if (outstanding_ != 0) fail("a filter was never released");
  }
  ExchangeFilter* attach(const RequestHead& request, size_t) override {
    const std::string_view mode = request.fields.find("x-test-filter");
    if (mode.empty()) return nullptr;
    ++outstanding_;
    return new TestFilter(*this, loop_, mode);
  }
  void released() { --outstanding_; }

 private:
  uv_loop_t* loop_;
  long outstanding_ = 0;
};

void TestFilter::release() {
  if (!finished_) fail("release before onFinish");
  factory_.released();
  delete this;
}

std::unique_ptr<FilterFactory> makeTestFilters(const edged::conf::Config&, FilterEnv& env) {
  return std::make_unique<TestFilterFactory>(reinterpret_cast<uv_loop_t*>(env.loop));
}

}  // namespace

int main(int argc, char** argv) { return edged::proxy::edgedMain(argc, argv, {makeTestFilters}); }
