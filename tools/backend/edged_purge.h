// tools/backend/edged_purge.h — tells edged's cache that a user's answers changed: after every
// update or delete, `POST /cache/purge {"tag":"user:ID"}` to edged's admin listener, so cached
// lookups by email and list pages that carried `Surrogate-Key: user:ID` go too (edged already drops
// /users/ID itself when the PUT or DELETE passes through it). One short HTTP/1.1 exchange per purge
// on a net::Transport (Connection: close), bounded in time and in number: the write's answer
// waits for it at most `timeout_ms`, and at most kMaxInFlight run at once (the rest are counted as
// dropped; the answers' short max-age bounds how long a missed purge can matter).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tools/backend/metrics.h"

namespace edged::backend {

struct PurgeOptions {
  std::string host;          // empty: purging is off
  int port = 0;
  std::string token;         // sent as `Authorization: Bearer TOKEN` when not empty
  uint64_t timeout_ms = 200;
};

class EdgedPurger {
 public:
  static constexpr size_t kMaxInFlight = 64;

  EdgedPurger(uv_loop_t* loop, PurgeOptions options, MetricsSlot& metrics);
  ~EdgedPurger();
  EdgedPurger(const EdgedPurger&) = delete;
  EdgedPurger& operator=(const EdgedPurger&) = delete;

  bool enabled() const { return !options_.host.empty(); }
  // Purges `tag`; `done(ok)` runs once, on the loop, when edged answered 2xx (true), or on any
  // failure or after timeout_ms (false). Runs `done(false)` at once when off or over the bound.
  void purgeTag(std::string_view tag, std::function<void(bool)> done);
  // Ends every purge in flight (their `done(false)` run); for shutdown.
  void closeAll();

  // Parses "HOST:PORT" into options (false when malformed).
  static bool parseAddress(std::string_view text, PurgeOptions& out);

 private:
  struct Call;
  friend struct Call;
  void finished(Call* call);

  uv_loop_t* loop_;
  PurgeOptions options_;
  MetricsSlot& metrics_;
  Call* calls_ = nullptr;  // intrusive list of calls in flight
  size_t in_flight_ = 0;
};

}  // namespace edged::backend
