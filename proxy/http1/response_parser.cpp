// proxy/http1/response_parser.cpp — what llhttp knows of a response, copied into its ResponseHead.
#include "proxy/http1/response_parser.h"

namespace edged::proxy::http1 {

void takeResponseHead(const llhttp_t& p, ResponseHead& h) {
  h.status = p.status_code;
  h.version_major = p.http_major;
  h.version_minor = p.http_minor;
  h.content_length = p.content_length;
  // Neither chunked nor a length: the body runs until the origin closes.
  h.framing = (p.flags & F_CHUNKED)          ? BodyFraming::Chunked
              : (p.flags & F_CONTENT_LENGTH) ? BodyFraming::ContentLength
                                             : BodyFraming::UntilClose;
}

}  // namespace edged::proxy::http1
