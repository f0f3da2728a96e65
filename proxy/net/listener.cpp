// proxy/net/listener.cpp — the listening socket; the accepted ones become Transports.
#include "proxy/net/listener.h"

#include <sys/socket.h>
#include <unistd.h>

namespace edged::net {

int Listener::open(uv_loop_t* loop, int fd) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
  open_ = true;
  const int rc = uv_tcp_open(&tcp_, fd);
  if (rc != 0) ::close(fd);
  return rc;
}

int Listener::bind(uv_loop_t* loop, const sockaddr* address) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
  open_ = true;
  return uv_tcp_bind(&tcp_, address, 0);
}

int Listener::listen(int backlog, AcceptFn on_accept, void* owner) {
  on_accept_ = on_accept;
  owner_ = owner;
  return uv_listen(stream(), backlog, onConnection);
}

void Listener::onConnection(uv_stream_t* s, int status) {
  auto* self = static_cast<Listener*>(s->data);
  self->on_accept_(self->owner_, *self, status);
}

int Listener::acceptFd() {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return -1;
  return ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void Listener::close() {
  if (!open_ || closing()) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
}

}  // namespace edged::net
