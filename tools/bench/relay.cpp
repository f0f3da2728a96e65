// tools/bench/relay.cpp — the floor: a blind TCP relay that does the least any user-space proxy
// can do per request with the socket API, so the table shows how much of each proxy's CPU is the
// kernel's share that no proxy avoids.
//
//   relay PORT UPSTREAM_PORT[,UPSTREAM_PORT...]
//     Listens on 127.0.0.1:PORT. Each accepted client gets its own upstream connection (to the
//     upstream ports in turn) for its whole life; bytes are copied both ways unparsed: one read()
//     when a socket is readable, one write() of what was read. Nothing is parsed, buffered,
//     logged, timed or balanced — so it is not a proxy, only the syscall pattern one cannot go
//     below on keep-alive traffic with one request in flight per connection (HTTP/1.1 without
//     pipelining, and WebSocket tunnels). Runs until killed.
//
// One thread, level-triggered epoll, non-blocking sockets, TCP_NODELAY, one shared read buffer.
// A write the peer cannot take at once keeps its rest and stops reading the other side until it
// is flushed (bounded memory).
//
// Built by tools/bench/bench with: g++ -O2 -o relay relay.cpp
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct End {
  int fd = -1;
  End* peer = nullptr;
  std::string pending;     // bytes read from peer that this fd has not taken yet
  unsigned events = 0;     // what epoll watches now
};

int g_epoll = -1;
char g_buf[256 * 1024];

void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

void setOptions(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Read from an end while its peer has nothing pending; watch for writability while it has.
void rearm(End* e) {
  unsigned want = (e->peer->pending.empty() ? EPOLLIN : 0u) | (e->pending.empty() ? 0u : EPOLLOUT);
  if (want == e->events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.ptr = e;
  epoll_ctl(g_epoll, EPOLL_CTL_MOD, e->fd, &ev);
  e->events = want;
}

// Writes data to `to`; whatever it refuses is kept. False on a hard error.
bool send(End* to, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(to->fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      to->pending.append(data, n);
      break;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void accept_one(int lfd, const std::vector<sockaddr_in>& ups, size_t& next) {
  const int cfd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (cfd < 0) return;
  const int ufd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in& to = ups[next++ % ups.size()];
  // Loopback: connect completes inside the call, so a blocking connect is the cheapest.
  if (ufd < 0 || connect(ufd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    close(cfd);
    if (ufd >= 0) close(ufd);
    return;
  }
  setOptions(cfd);
  setOptions(ufd);
  End* c = new End{cfd, nullptr, {}, 0};
  End* u = new End{ufd, nullptr, {}, 0};
  c->peer = u;
  u->peer = c;
  for (End* e : {c, u}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = e;
    epoll_ctl(g_epoll, EPOLL_CTL_ADD, e->fd, &ev);
    e->events = EPOLLIN;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: relay PORT UPSTREAM_PORT[,UPSTREAM_PORT...]\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<sockaddr_in> ups;
  for (char* tok = std::strtok(argv[2], ","); tok; tok = std::strtok(nullptr, ",")) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(tok)));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ups.push_back(a);
  }
  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (listen(lfd, 4096) != 0) die("listen");
  g_epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;   // the listener
  epoll_ctl(g_epoll, EPOLL_CTL_ADD, lfd, &lev);

  size_t next = 0;
  epoll_event evs[256];
  for (;;) {
    const int n = epoll_wait(g_epoll, evs, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    // Pairs closed in this batch are only freed after it, so a later event for them is skipped.
    std::vector<End*> dead;
    for (int i = 0; i < n; ++i) {
      End* e = static_cast<End*>(evs[i].data.ptr);
      if (e == nullptr) {
        accept_one(lfd, ups, next);
        continue;
      }
      if (e->fd < 0) continue;
      bool ok = true;
      if ((evs[i].events & EPOLLOUT) && !e->pending.empty()) {
        std::string rest;
        rest.swap(e->pending);
        ok = send(e, rest.data(), rest.size());
      }
      if (ok && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && e->peer->pending.empty()) {
        const ssize_t r = ::read(e->fd, g_buf, sizeof g_buf);
        if (r > 0)
          ok = send(e->peer, g_buf, static_cast<size_t>(r));
        else
          ok = r < 0 && (errno == EAGAIN || errno == EINTR);
      }
      if (!ok) {
        epoll_ctl(g_epoll, EPOLL_CTL_DEL, e->fd, nullptr);
        epoll_ctl(g_epoll, EPOLL_CTL_DEL, e->peer->fd, nullptr);
        close(e->fd);
        close(e->peer->fd);
        e->fd = e->peer->fd = -1;
        dead.push_back(e);
        continue;
      }
      rearm(e);
      rearm(e->peer);
    }
    for (End* e : dead) {
      delete e->peer;
      delete e;
    }
  }
}
