// tools/backend/edged_purge.cpp — one purge is one Call: a Transport connecting to edged's admin
// listener, a timer bounding it, the request bytes and a small read buffer. The status line is all
// it reads. A Call is freed when both its handles (the socket and the timer) have closed.
#include "tools/backend/edged_purge.h"

#include <cstdio>
#include <cstring>
#include <utility>

#include "proxy/net/net.h"

namespace edged::backend {

struct EdgedPurger::Call {
  EdgedPurger* owner;  // null once the purger is gone: the Call then frees itself
  MetricsSlot* metrics;
  std::function<void(bool)> done;
  net::Transport transport;
  uv_connect_t connect_req{};
  uv_write_t write_req{};
  uv_timer_t timer{};
  std::string request;
  char room[256];
  std::string status_line;
  int open_handles = 0;
  bool ended = false;
  Call* prev = nullptr;
  Call* next = nullptr;

  // net::ConnectingTransportHandler
  void onTransportConnected(int status) {
    if (status < 0 || ended) return end(false);
    uv_buf_t b = uv_buf_init(request.data(), static_cast<unsigned>(request.size()));
    write_req.data = this;
    if (transport.write(&write_req, &b, 1, [](uv_write_t* req, int st) {
          if (st < 0 && st != UV_ECANCELED) static_cast<Call*>(req->data)->end(false);
        }) != 0)
      return end(false);
    if (transport.startReading(this) != 0) end(false);
  }
  void onTransportAlloc(uv_buf_t* r) { *r = uv_buf_init(room, sizeof room); }
  void onTransportRead(ssize_t n, const uv_buf_t* got) {
    if (ended) return;
    if (n < 0) return end(false);
    status_line.append(got->base, std::min(static_cast<size_t>(n), size_t{64} - std::min(size_t{64}, status_line.size())));
    if (status_line.find("\r\n") == std::string::npos && status_line.size() < 64) return;
    // "HTTP/1.1 200 ..."
    const bool ok = status_line.size() >= 12 && status_line.compare(0, 5, "HTTP/") == 0 && status_line[9] == '2';
    end(ok);
  }
  void onTransportClosed() { handleClosed(); }

  void handleClosed() {
    if (--open_handles > 0) return;
    if (owner) owner->finished(this);
    else delete this;
  }

  void end(bool ok) {
    if (ended) return;
    ended = true;
    (ok ? metrics->edged_purges : metrics->edged_purge_failures).fetch_add(1, std::memory_order_relaxed);
    if (!transport.closing()) transport.close(this);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) { static_cast<Call*>(h->data)->handleClosed(); });
    auto d = std::move(done);
    if (d) d(ok);
  }
};

EdgedPurger::EdgedPurger(uv_loop_t* loop, PurgeOptions options, MetricsSlot& metrics)
    : loop_(loop), options_(std::move(options)), metrics_(metrics) {}

// The answers waiting on these are gone with their owner: end each without calling back.
EdgedPurger::~EdgedPurger() {
  for (Call* c = calls_; c;) {
    Call* next = c->next;
    c->done = nullptr;
    c->owner = nullptr;
    c->end(false);
    c = next;
  }
}

bool EdgedPurger::parseAddress(std::string_view text, PurgeOptions& out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  int port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return false;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return false;
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  sockaddr_storage probe{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&probe)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&probe)) != 0)
    return false;
  out.host = std::move(host);
  out.port = port;
  return true;
}

void EdgedPurger::purgeTag(std::string_view tag, std::function<void(bool)> done) {
  if (!enabled() || in_flight_ >= kMaxInFlight) {
    if (enabled()) metrics_.edged_purge_failures.fetch_add(1, std::memory_order_relaxed);
    if (done) done(false);
    return;
  }
  sockaddr_storage to{};
  if (uv_ip4_addr(options_.host.c_str(), options_.port, reinterpret_cast<sockaddr_in*>(&to)) != 0)
    uv_ip6_addr(options_.host.c_str(), options_.port, reinterpret_cast<sockaddr_in6*>(&to));

  auto* call = new Call{};
  call->owner = this;
  call->metrics = &metrics_;
  call->done = std::move(done);
  // The tag is "user:" and digits (users_api makes it): nothing in it needs JSON escaping.
  const std::string body = "{\"tag\":\"" + std::string(tag) + "\"}";
  call->request = "POST /cache/purge HTTP/1.1\r\nHost: " + options_.host +
                  "\r\nContent-Type: application/json\r\nConnection: close\r\n";
  if (!options_.token.empty()) call->request += "Authorization: Bearer " + options_.token + "\r\n";
  call->request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;

  call->next = calls_;
  if (calls_) calls_->prev = call;
  calls_ = call;
  ++in_flight_;

  uv_timer_init(loop_, &call->timer);
  call->timer.data = call;
  ++call->open_handles;
  uv_timer_start(&call->timer, [](uv_timer_t* t) { static_cast<Call*>(t->data)->end(false); }, options_.timeout_ms, 0);
  if (call->transport.open(loop_, call) != 0) {
    // No socket handle to close: only the timer's close counts.
    call->ended = true;
    metrics_.edged_purge_failures.fetch_add(1, std::memory_order_relaxed);
    uv_close(reinterpret_cast<uv_handle_t*>(&call->timer), [](uv_handle_t* h) { static_cast<Call*>(h->data)->handleClosed(); });
    auto d = std::move(call->done);
    if (d) d(false);
    return;
  }
  ++call->open_handles;
  if (call->transport.connect(&call->connect_req, reinterpret_cast<const sockaddr*>(&to), call) != 0) call->end(false);
}

void EdgedPurger::closeAll() {
  for (Call* c = calls_; c; c = c->next) c->end(false);  // each leaves the list from its close callback
}

void EdgedPurger::finished(Call* call) {
  if (call->prev) call->prev->next = call->next;
  else calls_ = call->next;
  if (call->next) call->next->prev = call->prev;
  --in_flight_;
  delete call;
}

}  // namespace edged::backend
