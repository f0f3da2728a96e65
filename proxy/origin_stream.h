// proxy/origin_stream.h — the origin side of one exchange as the Session drives it: a leased
// connection to one server (UpstreamConnection), or a fake in tests. Its events come back through
// UpstreamHandler.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proxy/http/http.h"
#include "proxy/net_names.h"

namespace edged::proxy {

enum class UpstreamFailure : uint8_t {
  ConnectFailed,    // refused, unreachable
  ConnectTimeout,
  SendTimeout,
  ReadTimeout,
  Closed,           // origin closed or reset before the response was complete
  BadResponse,      // unparsable response
};
const char* failureName(UpstreamFailure f);

// What an origin stream tells its session. All calls happen on the worker's loop.
class UpstreamHandler {
 public:
  virtual void onUpstreamConnected() = 0;
  virtual void onUpstreamFailure(UpstreamFailure f) = 0;
  // A response head (1xx interim ones too). Return true when the response carries no body (HEAD).
  virtual bool onUpstreamHead(const ResponseHead& head) = 0;
  virtual void onUpstreamBody(IoBuf* buf, const char* p, size_t n) = 0;
  virtual void onUpstreamComplete(bool reusable) = 0;
  virtual void onUpstreamReadBatchDone() = 0;  // after each read's worth of callbacks (flush)
  // Asked after a read that filled the buffer (another read follows at once): true lets that
  // read's onUpstreamReadBatchDone cover this one too. Must keep what is queued bounded.
  virtual bool mayDeferReadBatch() = 0;
  virtual void onUpstreamWritten() = 0;        // a write finished; queue may have drained
  // Tunnel mode (after a 101): raw bytes from the origin, and its end (EOF or reset).
  virtual void onUpstreamTunnelData(IoBuf* buf, const char* p, size_t n) = 0;
  virtual void onUpstreamTunnelEnd() = 0;

 protected:
  ~UpstreamHandler() = default;
};

class OriginStream {
 public:
  // Request bytes toward the origin.
  virtual WriteQueue& out() = 0;
  virtual void flush() = 0;
  virtual void pauseReading() = 0;
  virtual void resumeReading() = 0;
  // The session lets go: back to the pool when `reuse`, else closed. No handler call follows.
  virtual void release(bool reuse) = 0;
  // Close once everything queued is written (after a tunnel). No handler call follows.
  virtual void closeAfterWrite() = 0;
  // After a 101: from now on bytes pass through unparsed.
  virtual void startTunnel() = 0;
  // Taken from the pool (not a new connection).
  virtual bool reused() const = 0;
  // A final (or 101) response head arrived on this lease.
  virtual bool responseStarted() const = 0;

 protected:
  ~OriginStream() = default;
};

}  // namespace edged::proxy
