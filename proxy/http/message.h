// proxy/http/message.h — the protocol-neutral request and response heads a Session works on.
// HTTP/1 fills them from llhttp (proxy/http1); an HTTP/2 stream would fill them from HPACK. The
// field storage (ParsedHead) is reused from message to message, so a head allocates nothing once
// its owner has served a few requests.
#pragma once

#include <cstdint>
#include <string_view>

#include "proxy/http/framing.h"
#include "proxy/http/header.h"
#include "proxy/http/parsed_head.h"

namespace edged::proxy {

enum class Method : uint8_t { Get, Head, Post, Put, Delete, Options, Trace, Patch, Connect, Other };

struct RequestHead {
  ParsedHead fields;               // the target and the header fields
  std::string_view method;         // as sent ("GET"); static storage
  Method method_id = Method::Other;
  uint8_t version_major = 1, version_minor = 1;
  BodyFraming framing = BodyFraming::None;   // ContentLength only when the length is above 0
  uint64_t content_length = 0;
  bool keep_alive = true;          // the client's protocol keeps the connection after this one
  bool upgrade = false;            // the client asked to switch protocols (Connection: upgrade)
  bool complete = false;           // set by the protocol side once the head is whole
  bool secure = false;             // arrived over TLS: the request's scheme is https
  bool background = false;         // edged's own background exchange (no client; a filter asked for it)

  std::string_view scheme() const { return secure ? "https" : "http"; }
  std::string_view target() const { return fields.target(); }
  bool http10() const { return version_major == 1 && version_minor == 0; }
  // RFC 9110 §9.2.2.
  bool idempotent() const {
    switch (method_id) {
      case Method::Get: case Method::Head: case Method::Options: case Method::Trace: case Method::Put:
      case Method::Delete:
        return true;
      default:
        return false;
    }
  }
  void reset() {
    fields.reset();
    method = {};
    method_id = Method::Other;
    version_major = 1;
    version_minor = 1;
    framing = BodyFraming::None;
    content_length = 0;
    keep_alive = true;
    upgrade = false;
    complete = false;
    secure = false;
    background = false;
  }
};

struct ResponseHead {
  ParsedHead fields;               // target() holds the reason phrase
  int status = 0;
  uint8_t version_major = 1, version_minor = 1;
  BodyFraming framing = BodyFraming::None;   // as the origin framed it
  uint64_t content_length = 0;

  std::string_view reason() const { return fields.target(); }
  void reset() {
    fields.reset();
    status = 0;
    version_major = 1;
    version_minor = 1;
    framing = BodyFraming::None;
    content_length = 0;
  }
};

// The method's id from its name (exact, as RFC 9110 §9.1 says methods are case-sensitive).
Method methodFromName(std::string_view name);

}  // namespace edged::proxy
