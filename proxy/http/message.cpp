// proxy/http/message.cpp — method ids and termination names.
#include "proxy/http/message.h"
#include "proxy/http/termination.h"

namespace edged::proxy {

Method methodFromName(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::Get;
      if (m == "PUT") return Method::Put;
      break;
    case 4:
      if (m == "HEAD") return Method::Head;
      if (m == "POST") return Method::Post;
      break;
    case 5:
      if (m == "TRACE") return Method::Trace;
      if (m == "PATCH") return Method::Patch;
      break;
    case 6:
      if (m == "DELETE") return Method::Delete;
      break;
    case 7:
      if (m == "OPTIONS") return Method::Options;
      if (m == "CONNECT") return Method::Connect;
      break;
    default:
      break;
  }
  return Method::Other;
}

const char* terminationName(Termination t) {
  switch (t) {
    case Termination::None: return "";
    case Termination::ClientClosed: return "client_closed";
    case Termination::ClientTimeout: return "client_timeout";
    case Termination::NoServer: return "no_server";
    case Termination::ConnectFailed: return "connect_failed";
    case Termination::UpstreamTimeout: return "upstream_timeout";
    case Termination::UpstreamClosed: return "upstream_closed";
    case Termination::BadRequest: return "bad_request";
    case Termination::Internal: return "internal";
    case Termination::RequestTimeout: return "request_timeout";
  }
  return "";
}

}  // namespace edged::proxy
