// proxy/net/listener.h — one listening TCP socket on a loop: hands each completed connection to
// its owner (which opens a Transport and accept()s it), and can empty its accept queue by hand
// before it closes, so connections the kernel already completed are answered, not reset.
//
// Client listeners accept by hand (openManual): the Listener calls accept4() itself, so its owner
// can pause it at a connection limit and resume it below, and when the process is out of file
// descriptors (EMFILE/ENFILE) it stops for kOutOfFdsPauseMs and tries again, leaving the
// completed connections in the kernel's queue (libuv's own listener would accept and reset them).
#pragma once

#include <sys/socket.h>
#include <uv.h>

namespace edged::net {

class Listener {
 public:
  // A connection waits (status 0), or accepting failed (a libuv error). The owner accepts it with
  // Transport::accept(listener) from inside this call. A manual Listener that the owner paused
  // inside this call without accepting keeps the connection and offers it again on resume().
  using AcceptFn = void (*)(void* owner, Listener& listener, int status);
  static constexpr uint64_t kOutOfFdsPauseMs = 100;

  Listener() = default;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Takes `fd`, a bound socket (it is the Listener's from then on, also on failure), or binds a
  // new one to `address`; then listens. 0, or a libuv error; either way close() must follow
  // before the Listener is freed.
  int open(uv_loop_t* loop, int fd);
  int bind(uv_loop_t* loop, const sockaddr* address);
  // Same as open(), accepting by hand (see above).
  int openManual(uv_loop_t* loop, int fd);
  int listen(int backlog, AcceptFn on_accept, void* owner);
  // Manual listeners only: stop offering connections / offer them again (the one held, first).
  void pause();
  void resume();
  bool paused() const { return paused_; }
  // One connection from the accept queue as a non-blocking fd (the caller owns it), or -1 when
  // none waits. For draining the queue before close().
  int acceptFd();
  // The owner keeps the object until the loop ran the close callbacks (uv_run to its end).
  void close();
  bool closing() const;

  // For Transport::accept.
  bool manual() const { return manual_; }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  // The connection offered by a manual listener (-1: none); the caller owns it.
  int takeAccepted() {
    const int fd = accepted_fd_;
    accepted_fd_ = -1;
    return fd;
  }

 private:
  static void onConnection(uv_stream_t* s, int status);
  static void onReadable(uv_poll_t* p, int status, int events);
  void acceptSome();
  void startPolling();

  uv_tcp_t tcp_{};
  AcceptFn on_accept_ = nullptr;
  void* owner_ = nullptr;
  bool open_ = false;
  // Manual mode.
  bool manual_ = false;
  bool paused_ = false;        // by the owner
  bool out_of_fds_ = false;    // waiting on timer_ after EMFILE/ENFILE
  bool polling_ = false;
  bool closed_ = false;
  int fd_ = -1;
  int accepted_fd_ = -1;       // offered to the owner, not taken yet
  uv_poll_t poll_{};
  uv_timer_t timer_{};
};

}  // namespace edged::net
