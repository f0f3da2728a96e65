// proxy/net/listener.cpp — the listening socket; the accepted ones become Transports.
#include "proxy/net/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace edged::net {

namespace {
// Connections taken per readable event before the loop serves other handles.
constexpr int kAcceptBatch = 64;
}  // namespace

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

int Listener::openManual(uv_loop_t* loop, int fd) {
  manual_ = true;
  open_ = true;
  fd_ = fd;
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  const int rc = uv_poll_init_socket(loop, &poll_, fd);
  poll_.data = this;
  if (rc != 0) {
    // The poll handle was not initialised: nothing of it to close.
    ::close(fd);
    fd_ = -1;
    closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  }
  return rc;
}

int Listener::listen(int backlog, AcceptFn on_accept, void* owner) {
  on_accept_ = on_accept;
  owner_ = owner;
  if (!manual_) return uv_listen(stream(), backlog, onConnection);
  if (closed_) return UV_EBADF;
  if (::listen(fd_, backlog) != 0) return uv_translate_sys_error(errno);
  startPolling();
  return 0;
}

void Listener::onConnection(uv_stream_t* s, int status) {
  auto* self = static_cast<Listener*>(s->data);
  self->on_accept_(self->owner_, *self, status);
}

void Listener::startPolling() {
  if (closed_ || polling_ || paused_ || out_of_fds_) return;
  polling_ = uv_poll_start(&poll_, UV_READABLE, onReadable) == 0;
}

void Listener::onReadable(uv_poll_t* p, int status, int) {
  auto* self = static_cast<Listener*>(p->data);
  if (status < 0) {
    self->on_accept_(self->owner_, *self, status);
    return;
  }
  self->acceptSome();
}

void Listener::acceptSome() {
  for (int n = 0; n < kAcceptBatch && !closed_ && !paused_; ++n) {
    if (accepted_fd_ < 0) {
      const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) return;
        if (err == ECONNABORTED || err == EINTR) continue;
        if (err == EMFILE || err == ENFILE) {
          // Nothing can be accepted until a descriptor is freed: wait instead of spinning; the
          // kernel keeps the queue meanwhile.
          out_of_fds_ = true;
          if (polling_) uv_poll_stop(&poll_);
          polling_ = false;
          uv_timer_start(&timer_, [](uv_timer_t* t) {
            auto* self = static_cast<Listener*>(t->data);
            self->out_of_fds_ = false;
            self->startPolling();
            if (self->polling_) self->acceptSome();
          }, kOutOfFdsPauseMs, 0);
        }
        on_accept_(owner_, *this, uv_translate_sys_error(err));
        if (out_of_fds_) return;
        continue;
      }
      accepted_fd_ = fd;
    }
    on_accept_(owner_, *this, 0);
    if (accepted_fd_ >= 0) return;  // not taken: the owner paused
  }
}

void Listener::pause() {
  if (!manual_ || paused_) return;
  paused_ = true;
  if (polling_) uv_poll_stop(&poll_);
  polling_ = false;
}

void Listener::resume() {
  if (!manual_ || !paused_ || closed_) return;
  paused_ = false;
  if (accepted_fd_ >= 0) {
    on_accept_(owner_, *this, 0);
    if (paused_) return;  // paused again at once
  }
  startPolling();
}

int Listener::acceptFd() {
  if (manual_) {
    if (accepted_fd_ >= 0) return takeAccepted();
    if (closed_) return -1;
    return ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  }
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return -1;
  return ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

bool Listener::closing() const {
  if (manual_) return closed_;
  return uv_is_closing(reinterpret_cast<const uv_handle_t*>(&tcp_)) != 0;
}

void Listener::close() {
  if (manual_) {
    if (closed_) return;
    closed_ = true;
    if (accepted_fd_ >= 0) ::close(takeAccepted());
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    // uv_poll does not own the socket.
    ::close(fd_);
    fd_ = -1;
    return;
  }
  if (!open_ || closing()) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
}

}  // namespace edged::net
