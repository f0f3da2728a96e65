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
  r.upgrade = p.upgrade != 0;
  if (p.flags & F_CHUNKED) {
    r.framing = BodyFraming::Chunked;
  } else if ((p.flags & F_CONTENT_LENGTH) && p.content_length > 0) {
    r.framing = BodyFraming::ContentLength;
    r.content_length = p.content_length;
  }
  r.complete = true;
}

}  // namespace edged::proxy::http1
