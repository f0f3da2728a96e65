// proxy/net/transport.cpp — the parts of the TCP transport that are not on the per-byte path.
#include "proxy/net/transport.h"

#include <unistd.h>

#include "proxy/net/listener.h"

namespace edged::net {

int Transport::accept(Listener& listener) { return uv_accept(listener.stream(), stream()); }

int Transport::adopt(int fd) {
  const int rc = uv_tcp_open(&tcp_, fd);
  if (rc != 0) ::close(fd);  // not the handle's: closing the handle would not close it
  return rc;
}

// Transport::shutdown() is in tls_link.cpp (TLS queues close_notify first). Lingering closes are
// rare, so its request is allocated for each rather than carried by every connection.

int Transport::peerAddress(sockaddr_storage& out) const {
  int len = sizeof out;
  return uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&out), &len);
}

int Transport::localAddress(sockaddr_storage& out) const {
  int len = sizeof out;
  return uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&out), &len);
}

}  // namespace edged::net
