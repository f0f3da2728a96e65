// proxy/http/termination.h — why an exchange ended other than normally (HAProxy's termination
// causes): for the access log, Cache-Status and every filter's onFinish.
#pragma once

#include <cstdint>

namespace edged::proxy {

enum class Termination : uint8_t {
  None, ClientClosed, ClientTimeout, NoServer, ConnectFailed, UpstreamTimeout, UpstreamClosed,
  BadRequest, Internal, RequestTimeout
};
const char* terminationName(Termination t);

}  // namespace edged::proxy
