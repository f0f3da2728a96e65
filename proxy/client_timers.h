// proxy/client_timers.h — every client-side timeout of one worker on one uv_timer_t. Idle
// keep-alive connections wait in a FIFO ordered by when they went idle (they all share
// timeouts.keepalive, so the oldest is always the first to expire); busy connections keep their
// next deadline in a DeadlineHeap node inside their ActiveClient. No connection owns a timer
// handle, so an idle one costs only its socket and a few fields. Another FIFO holds connections
// that just went quiet: they keep their ActiveClient for kQuietMs, so a client that sends its
// next request at once (a busy keep-alive connection) does not give it back and borrow it again
// for every request.
#pragma once

#include <uv.h>

#include <cstdint>

#include "proxy/net_names.h"

namespace edged::proxy {

class ActiveClient;
class ClientConnection;

// A place in one of ClientTimers' FIFOs, embedded in the listed object (no allocation). Written
// only by ClientTimers; prev == nullptr and not the head means "not listed".
template <class T>
struct TimerFifoLink {
  T* prev = nullptr;
  T* next = nullptr;
  uint64_t since = 0;  // uv_now (ms) when it was listed
};

class ClientTimers {
 public:
  explicit ClientTimers(uv_loop_t* loop) : loop_(loop) {}
  ClientTimers(const ClientTimers&) = delete;
  ClientTimers& operator=(const ClientTimers&) = delete;

  // Keep-alive list. `since` (uv_now ms) is raised to the newest entry's so the list stays in
  // order; `keepalive_ms` is timeouts.keepalive (the same for every connection of the worker).
  void addIdle(ClientConnection* c, uint64_t since, uint64_t keepalive_ms);
  void removeIdle(ClientConnection* c);  // no-op when `c` is not listed

  // Quiet list: how long a connection with nothing in progress keeps its ActiveClient.
  static constexpr uint64_t kQuietMs = 10;
  void addQuiet(ActiveClient* x, uint64_t now);  // no-op when `x` is listed
  void removeQuiet(ActiveClient* x);             // no-op when `x` is not listed

  // A busy connection's next deadline. Only ever moves it earlier: a later deadline is found
  // when the earlier one fires and the owner re-arms (the connection's own deadline decides).
  void schedule(DeadlineNode& n, uint64_t due);
  void cancel(DeadlineNode& n);

  // Expiries go to ClientConnection::onDeadline (a busy connection's node, found through
  // ActiveClient::connection()), onQuietExpired and onKeepaliveExpired.

  // The worker is finishing (no connection left): closes the handle; nothing fires afterwards.
  void close();

 private:
  struct IdleFifo;
  struct QuietFifo;
  static void onTimer(uv_timer_t* t);
  void run(uint64_t now);
  void arm(uint64_t due);  // make the uv timer fire at `due` at the latest
  void rearm(uint64_t now);

  uv_loop_t* loop_;
  uv_timer_t timer_{};
  bool initialized_ = false;
  bool closed_ = false;
  bool running_ = false;
  uint64_t run_now_ = 0;
  uint64_t armed_due_ = 0;  // when the uv timer fires; 0: stopped
  uint64_t keepalive_ms_ = 0;
  DeadlineHeap heap_;
  ClientConnection* idle_head_ = nullptr;
  ClientConnection* idle_tail_ = nullptr;
  ActiveClient* quiet_head_ = nullptr;
  ActiveClient* quiet_tail_ = nullptr;
};

}  // namespace edged::proxy
