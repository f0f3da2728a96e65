// proxy/http/head_builder.h — the heads edged writes: the request head toward an origin (RFC 9110
// §7.6.1 hop-by-hop removal, forwarding fields, framing) and the HTTP/1 response head toward a
// client; X-Request-Id validation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/framing.h"
#include "proxy/http/header.h"

namespace edged::proxy {

struct UpstreamRequestOptions {
  std::string_view client_ip;      // appended to X-Forwarded-For, set as X-Real-IP
  std::string_view forwarded_for;  // non-empty: the whole X-Forwarded-For value (real_ip)
  std::string_view scheme = "http";
  std::string_view default_host;   // used only when the request has no Host (HTTP/1.0)
  BodyFraming body = BodyFraming::None;
  uint64_t content_length = 0;     // with BodyFraming::ContentLength
  bool keep_alive = true;          // false: ask the origin to close ("Connection: close")
  std::string_view upgrade;        // non-empty: forward "Upgrade: <this>" and "Connection: upgrade"
  std::string_view request_id;     // non-empty: sent as X-Request-Id (the client's own is dropped)
  bool client_http10 = false;      // the request came as HTTP/1.0: "Via: 1.0 edged", else 1.1;
                                   // its Expect is not forwarded (RFC 9110 §10.1.1)
};
// Appends the head to send to the origin: "METHOD TARGET HTTP/1.1", the client's headers less
// hop-by-hop ones (and those Connection names) and less any X-Forwarded-*/X-Real-IP it replaces,
// then X-Forwarded-For (appended), X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host, Via and framing.
void buildUpstreamRequestHead(std::string_view method, std::string_view target,
                              const std::vector<Header>& headers,
                              const UpstreamRequestOptions& options, std::string& out);

struct ClientResponseOptions {
  BodyFraming body = BodyFraming::ContentLength;  // how edged frames the body toward the client
  bool keep_alive = true;
  bool client_http10 = false;      // an HTTP/1.0 client keeping alive needs "Connection: keep-alive"
  std::string_view upgrade;        // a 101: "Upgrade: <this>" and "Connection: upgrade"
  std::string_view request_id;     // non-empty: X-Request-Id, unless the origin sent one
  // Non-empty: sent as Date unless `headers` carry one. RFC 9110 §6.6.1: edged's own answers
  // need it, and a recipient with a clock adds it to a forwarded response that lacks it.
  std::string_view date;
  // Serialized field lines ("Name: value\r\n") written right after the status line as they are:
  // no hop-by-hop or framing fields among them. `raw_has_date`: they carry a Date.
  std::string_view raw_fields;
  bool raw_has_date = false;
};
// Appends the head to send to an HTTP/1 client: "HTTP/1.1 STATUS REASON", the origin's headers
// less hop-by-hop ones (and less Content-Length in a 1xx or 204: RFC 9110 §8.6), then
// Transfer-Encoding / Connection as `options` says.
void buildClientResponseHead(int status, std::string_view reason, const std::vector<Header>& headers,
                             const ClientResponseOptions& options, std::string& out);

// X-Request-Id: a client's value is kept when it is 1..128 of [A-Za-z0-9._:-].
bool validRequestId(std::string_view id);

}  // namespace edged::proxy
