// proxy/background_exchange.cpp — a client-less exchange: start from the posted queue, the
// request head handed to a Session as the HTTP/1 connection would, the end heard through
// exchangeDone/closeAfterWrite (or noticed after each call into the Session) and reported from
// the posted queue, so that the owner never frees it inside one of its Session's calls.
#include "proxy/background_exchange.h"

namespace edged::proxy {

namespace {
// Fields the copy leaves out: a background exchange fetches the whole resource, without a body,
// and a filter adds its own validators.
bool leftOut(const ParsedHead& h, size_t i) {
  switch (h.id(i)) {
    case HeaderId::ContentLength: case HeaderId::TransferEncoding: case HeaderId::Range:
    case HeaderId::Upgrade:
      return true;
    default:
      break;
  }
  const std::string_view n = h.name(i);
  for (std::string_view x : {"if-range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
                             "range", "content-length", "transfer-encoding", "upgrade", "expect"})
    if (equalsIgnoreCase(n, x)) return true;
  return false;
}
}  // namespace

BackgroundExchange::BackgroundExchange(SessionServices& services, const RequestHead& request, std::string_view method,
                                       std::string_view client_ip, std::string_view forwarded_for)
    : services_(services), client_ip_(client_ip), forwarded_for_(forwarded_for), session_(*this, services) {
  const std::string_view target = request.target();
  request_.fields.addTarget(target.data(), target.size());
  for (size_t i = 0; i < request.fields.size(); ++i) {
    if (leftOut(request.fields, i)) continue;
    const std::string_view n = request.fields.name(i), v = request.fields.value(i);
    request_.fields.addField(n.data(), n.size());
    request_.fields.addValue(v.data(), v.size());
    request_.fields.endValue();
  }
  request_.method = methodFromName(method) == Method::Head ? std::string_view("HEAD") : std::string_view("GET");
  request_.method_id = methodFromName(request_.method);
  request_.version_major = 1;
  request_.version_minor = 1;
  request_.framing = BodyFraming::None;
  request_.keep_alive = false;
  request_.upgrade = false;
  request_.complete = true;
  request_.secure = request.secure;
  request_.background = true;
  task_.owner = this;
}

BackgroundExchange::~BackgroundExchange() { SessionServices::cancel(task_); }

void BackgroundExchange::start(void (*on_done)(void*, BackgroundExchange*), void* owner) {
  on_done_ = on_done;
  owner_ = owner;
  task_.fn = run;
  services_.post(task_);
}

void BackgroundExchange::run(void* self) {
  auto* x = static_cast<BackgroundExchange*>(self);
  x->start_ns_ = x->services_.nowNs();
  const int result = x->session_.onRequestHead();
  if (result == Session::kWaiting) {
    x->head_waiting_ = true;
    return;
  }
  if (result > 0) {
    x->session_.reject(result, Termination::BadRequest);
    x->finished();
    return;
  }
  if (x->session_.active()) x->session_.onRequestComplete();
  else x->finished();  // answered at once (a filter's local answer, 404, ...)
}

// After a request filter's Wait: the head (and, with no body, the request) is complete now.
void BackgroundExchange::resumeRequest() {
  if (!head_waiting_) return;
  head_waiting_ = false;
  if (session_.active()) session_.onRequestComplete();
  else finished();
}

void BackgroundExchange::finished() {
  if (!on_done_) return;
  SessionServices::cancel(task_);
  task_.fn = done;
  services_.post(task_);
}

void BackgroundExchange::done(void* self) {
  auto* x = static_cast<BackgroundExchange*>(self);
  if (x->session_.active()) return;  // not over after all (cannot happen: end() is the one exit)
  auto fn = x->on_done_;
  x->on_done_ = nullptr;
  fn(x->owner_, x);
}

void BackgroundExchange::abort() {
  on_done_ = nullptr;
  SessionServices::cancel(task_);
  if (session_.active()) session_.abort(Termination::ClientClosed, 0);
}

}  // namespace edged::proxy
