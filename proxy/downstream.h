// proxy/downstream.h — the client side of one exchange as the Session sees it: the request head
// it received, and where the response goes. The HTTP/1 client connection (ActiveClient)
// implements it now; the Session knows neither llhttp nor the socket.
//
// How an HTTP/2 stream would implement it: request() is the head decoded from HEADERS (HPACK),
// with framing ContentLength or unknown (DATA frames until END_STREAM) and keep_alive true;
// sendHead() writes a HEADERS frame (hop-by-hop fields dropped, no Connection/Transfer-Encoding),
// sendBody() DATA frames within the stream's flow-control window (queuedBytes() counts what the
// window holds back), endBody() END_STREAM; pauseRequestBody()/resumeRequestBody() withhold or
// send WINDOW_UPDATE; exchangeDone() closes the stream (keep_alive is ignored: the connection
// stays); startTunnel() is the extended CONNECT of RFC 8441; closeAfterWrite() resets the stream.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "proxy/http/http.h"
#include "proxy/net_names.h"

namespace edged::proxy {

// Backpressure marks, both directions: above kHighWater queued bytes the other side stops
// reading; below kLowWater it reads again.
inline constexpr size_t kHighWater = 64 * 1024;
inline constexpr size_t kLowWater = 16 * 1024;

// A response's mark toward its client starts small, like TCP's slow start: a client that has not
// yet taken kProvenReader bytes of this response (handed to its socket; the kernel alone holds up
// to 128 KiB unsent, TCP_NOTSENT_LOWAT, so one that never reads stops below that) may have
// kInitialHighWater queued before the origin is paused, then kHighWater. 200 readers that never
// read then hold one small buffer each, not two 64 KiB buffers of freshly touched memory.
inline constexpr size_t kInitialHighWater = 16 * 1024;
inline constexpr uint64_t kProvenReader = 256 * 1024;
// The mark for a response of which the client took `taken` bytes and `left` bytes are still to
// come from the origin (UINT64_MAX: unknown). Pausing for a known rest under kHighWater would cost
// a fast client a round of the loop and save nothing (a 64 KiB response reads and writes as one).
inline constexpr size_t responseHighWater(uint64_t taken, uint64_t left) {
  return taken >= kProvenReader || left <= kHighWater ? kHighWater : kInitialHighWater;
}

// What the Session says of the response it starts.
struct ResponseMeta {
  BodyFraming body = BodyFraming::None;  // None: no body; ContentLength: `content_length` bytes;
                                         // Chunked / UntilClose: length unknown
  uint64_t content_length = 0;
  bool must_close = false;               // the exchange leaves the connection unusable
  std::string_view request_id;           // non-empty: X-Request-Id unless the fields carry one
  std::string_view upgrade;              // a 101: the protocol switched to
  // Serialized HTTP/1 field lines sent before the headers as they are (LocalResponse::raw_fields);
  // `raw_has_date`: a Date is among them.
  std::string_view raw_fields;
  bool raw_has_date = false;
};

class Downstream {
 public:
  // ---- the request ----
  virtual const RequestHead& request() const = 0;
  virtual std::string_view clientIp() = 0;
  // The local address the request arrived on, "ip:port" (only asked for when needed).
  virtual std::string_view localAddress() = 0;
  // uv_hrtime() at the request's first byte.
  virtual uint64_t requestStartNs() const = 0;
  // The request head is still being received (for the access log's phase).
  virtual bool receivingHead() const = 0;
  // TLS toward the client: what the handshake agreed on (all empty for plain HTTP), static
  // strings from the TLS library, valid for the exchange.
  struct TlsFacts {
    std::string_view version;  // "TLSv1.3"; empty: plain
    std::string_view cipher;
    std::string_view server_name;  // SNI, empty when none was sent
    std::string_view client_subject;  // mutual TLS: the verified client certificate's subject (RFC 2253)
  };
  virtual TlsFacts tls() = 0;
  // The connection arrived on a `redirect_https` listener: every request gets a 308 to https.
  virtual bool redirectHttps() = 0;
  // When `real_ip` is on: the X-Forwarded-For value to send, the verified part of the list then
  // the peer (the client's own claims beyond trusted hops dropped). Empty: edged's default
  // (the client's list, then clientIp()).
  virtual std::string_view forwardedFor() { return {}; }
  // The connection is over limits.per_client.connections: every request gets 429.
  virtual bool overConnectionLimit() const { return false; }

  // ---- the response ----
  // An interim (1xx) response, passed on only where the protocol allows it.
  virtual void sendInterim(int status, std::string_view reason, const std::vector<Header>& headers) = 0;
  // The final head. Returns whether the client connection stays usable after this exchange.
  virtual bool sendHead(int status, std::string_view reason, const std::vector<Header>& headers,
                        const ResponseMeta& meta) = 0;
  // Body bytes: by reference when `buf` holds them, copied when it is null.
  virtual void sendBody(IoBuf* buf, const char* p, size_t n) = 0;
  // The body is complete.
  virtual void endBody() = 0;
  virtual void flush() = 0;
  // Response bytes waiting to be written (backpressure toward the origin).
  virtual size_t queuedBytes() const = 0;
  // Every byte ever queued toward the client (take differences for counters).
  virtual uint64_t bytesQueued() const = 0;

  // ---- the request body's flow ----
  virtual void pauseRequestBody() = 0;
  virtual void resumeRequestBody() = 0;
  // True inside a read that filled its buffer: the Session may leave its flush toward the origin
  // to deferUpstreamFlush(), which runs it after the read that follows (or this loop iteration).
  virtual bool mayDeferUpstreamFlush() const = 0;
  virtual void deferUpstreamFlush() = 0;
  // A head paused for a filter's Wait: parse on (the body, pipelined requests).
  virtual void resumeRequest() = 0;

  // ---- the end ----
  // The exchange is over; the next request may follow when `keep_alive`.
  virtual void exchangeDone(bool keep_alive) = 0;
  // The origin switched protocols: bytes pass through both ways from now on.
  virtual void startTunnel() = 0;
  // Raw tunnel bytes toward the client.
  virtual void sendTunnelData(IoBuf* buf, const char* p, size_t n) = 0;
  // Close once what is queued is written (a tunnel ended, a cut response).
  virtual void closeAfterWrite() = 0;

 protected:
  ~Downstream() = default;
};

}  // namespace edged::proxy
