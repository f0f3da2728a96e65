// proxy/net/listener.h — one listening TCP socket on a loop: hands each completed connection to
// its owner (which opens a Transport and accept()s it), and can empty its accept queue by hand
// before it closes, so connections the kernel already completed are answered, not reset.
#pragma once

#include <sys/socket.h>
#include <uv.h>

namespace edged::net {

class Listener {
 public:
  // A connection waits (status 0), or accepting failed (a libuv error). The owner accepts it with
  // Transport::accept(listener) from inside this call.
  using AcceptFn = void (*)(void* owner, Listener& listener, int status);

  Listener() = default;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Takes `fd`, a bound socket (it is the Listener's from then on, also on failure), or binds a
  // new one to `address`; then listens. 0, or a libuv error; either way close() must follow
  // before the Listener is freed.
  int open(uv_loop_t* loop, int fd);
  int bind(uv_loop_t* loop, const sockaddr* address);
  int listen(int backlog, AcceptFn on_accept, void* owner);
  // One connection from the accept queue as a non-blocking fd (the caller owns it), or -1 when
  // none waits. For draining the queue before close().
  int acceptFd();
  // The owner keeps the object until the loop ran the close callbacks (uv_run to its end).
  void close();
  bool closing() const { return uv_is_closing(reinterpret_cast<const uv_handle_t*>(&tcp_)) != 0; }

  // For Transport::accept.
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

 private:
  static void onConnection(uv_stream_t* s, int status);

  uv_tcp_t tcp_{};
  AcceptFn on_accept_ = nullptr;
  void* owner_ = nullptr;
  bool open_ = false;
};

}  // namespace edged::net
