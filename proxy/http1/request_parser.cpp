// proxy/http1/request_parser.cpp — what llhttp knows of a request, copied into its RequestHead.
#include "proxy/http1/request_parser.h"

namespace edged::proxy::http1 {

void takeRequestLine(const llhttp_t& p, RequestHead& r) {
  // Nothing yet (http_major 0) or already taken: a refused head may come here after its end.
  if (p.http_major == 0 || !r.method.empty()) return;
  r.method = llhttp_method_name(static_cast<llhttp_method_t>(p.method));
  r.method_id = methodFromName(r.method);
  r.version_major = p.http_major;
  r.version_minor = p.http_minor;
}

void takeRequestHead(const llhttp_t& p, RequestHead& r) {
  takeRequestLine(p, r);
  r.keep_alive = llhttp_should_keep_alive(&p) != 0;
  // RFC 9110 §7.8: a server MUST ignore an Upgrade field received in an HTTP/1.0 request (llhttp
  // flags it whatever the version): such a request is plain HTTP, never a tunnel.
  r.upgrade = p.upgrade != 0 && !(p.http_major == 1 && p.http_minor == 0);
  if (p.flags & F_CHUNKED) {
    r.framing = BodyFraming::Chunked;
  } else if ((p.flags & F_CONTENT_LENGTH) && p.content_length > 0) {
    r.framing = BodyFraming::ContentLength;
    r.content_length = p.content_length;
  }
  r.complete = true;
}

}  // namespace edged::proxy::http1
