// tools/bench/tls_bench.cpp — the TLS handshake load of the bench (T5, T5r): N connections at once,
// each a new TCP connection and TLS handshake, one `GET PATH HTTP/1.1` with Connection: close, the
// response read until the server closes, then the next connection. `new`: every handshake is full
// (a new SSL, no session offered); `reuse`: each connection offers the session (ticket) its slot
// got last time. One thread, epoll, TCP_NODELAY (so no request waits behind Nagle), no verification.
//
//   tls_bench HOST PORT PATH CONNECTIONS SECONDS new|reuse
// prints: requests=N seconds=S errors=E resumed=R bad=B
// (bad: a response that did not start with "HTTP/1.1 200", not counted in requests; an error is a
// connect, handshake or read failure. The bench's precheck checks the body itself.)
//
//   tls_bench HOST PORT PATH CONNECTIONS SECONDS idle
// T6: opens CONNECTIONS keep-alive TLS connections (at most 100 being set up at a time), each a
// full handshake and one `GET PATH` read to the end of its Content-Length body, then holds them
// all, idle, until stdin closes or a line arrives (SECONDS bounds the setup). Prints
// "READY held failed" once every connection is set up. The client keeps its own side cheap
// (SSL_MODE_RELEASE_BUFFERS), so 10,000 connections cost it a few tens of MiB.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Slot {
  int fd = -1;
  SSL* ssl = nullptr;
  SSL_SESSION* session = nullptr;  // reuse mode: offered by the next connection
  bool connected = false;
  bool handshaken = false;
  size_t sent = 0;
  size_t got = 0;
  bool status_ok = false;
  std::string head;
  long body_left = -1;  // idle mode: body bytes still to read, -1 before the head ended
  bool done = false;    // idle mode: the response was read; the connection now sits idle
};

SSL_CTX* g_ctx;
int g_epoll;
sockaddr_in g_addr;
std::string g_request;
bool g_reuse;
bool g_idle;
long g_held = 0;
long g_requests = 0, g_errors = 0, g_resumed = 0, g_bad = 0;

void arm(Slot& s, uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &s;
  epoll_ctl(g_epoll, op, s.fd, &ev);
}

void open(Slot& s) {
  s.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  s.connected = s.handshaken = s.status_ok = false;
  s.sent = s.got = 0;
  s.head.clear();
  s.body_left = -1;
  s.done = false;
  s.ssl = SSL_new(g_ctx);
  SSL_set_fd(s.ssl, s.fd);
  SSL_set_connect_state(s.ssl);
  if (g_reuse && s.session) SSL_set_session(s.ssl, s.session);
  connect(s.fd, reinterpret_cast<sockaddr*>(&g_addr), sizeof g_addr);
  arm(s, EPOLLOUT, EPOLL_CTL_ADD);
}

void idleFail(Slot& s);

void finish(Slot& s, bool error) {
  if (g_idle) return idleFail(s);
  if (error) {
    ++g_errors;
  } else if (s.status_ok) {
    ++g_requests;
    if (SSL_session_reused(s.ssl)) ++g_resumed;
  } else {
    ++g_bad;
  }
  if (g_reuse && !error) {
    if (SSL_SESSION* fresh = SSL_get1_session(s.ssl)) {
      if (s.session) SSL_SESSION_free(s.session);
      s.session = fresh;
    }
  }
  SSL_set_shutdown(s.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);  // keep the session resumable
  SSL_free(s.ssl);
  s.ssl = nullptr;
  close(s.fd);  // also leaves the epoll set
  ERR_clear_error();
  open(s);
}

// Idle mode: a connection that failed (or that the server closed) is closed and counted, not
// reopened.
void idleFail(Slot& s) {
  if (s.done) --g_held;
  ++g_errors;
  SSL_free(s.ssl);
  s.ssl = nullptr;
  close(s.fd);
  s.fd = -1;
  s.done = true;
}

// Drives one slot as far as it goes; returns when it waits for the socket.
void step(Slot& s) {
  for (;;) {
    if (!s.handshaken) {
      const int rc = SSL_do_handshake(s.ssl);
      if (rc == 1) {
        s.handshaken = true;
        continue;
      }
      const int e = SSL_get_error(s.ssl, rc);
      if (e == SSL_ERROR_WANT_READ) return arm(s, EPOLLIN, EPOLL_CTL_MOD);
      if (e == SSL_ERROR_WANT_WRITE) return arm(s, EPOLLOUT, EPOLL_CTL_MOD);
      return finish(s, true);
    }
    if (s.sent < g_request.size()) {
      size_t n = 0;
      const int rc = SSL_write_ex(s.ssl, g_request.data() + s.sent, g_request.size() - s.sent, &n);
      if (rc == 1) {
        s.sent += n;
        continue;
      }
      const int e = SSL_get_error(s.ssl, rc);
      if (e == SSL_ERROR_WANT_READ) return arm(s, EPOLLIN, EPOLL_CTL_MOD);
      if (e == SSL_ERROR_WANT_WRITE) return arm(s, EPOLLOUT, EPOLL_CTL_MOD);
      return finish(s, true);
    }
    char buf[16384];
    size_t n = 0;
    const int rc = SSL_read_ex(s.ssl, buf, sizeof buf, &n);
    if (rc == 1 && g_idle) {
      if (s.done) continue;  // nothing is expected while idle (a late ticket is not data)
      if (s.body_left < 0) {
        s.head.append(buf, n);
        const size_t end = s.head.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        s.status_ok = s.head.compare(0, 12, "HTTP/1.1 200") == 0;
        const size_t cl = s.head.find("\r\nContent-Length:");
        if (!s.status_ok || cl == std::string::npos || cl > end) return idleFail(s);
        s.body_left = std::atol(s.head.c_str() + cl + 17);
        s.body_left -= static_cast<long>(s.head.size() - end - 4);
        std::string().swap(s.head);
        n = 0;
      }
      s.body_left -= static_cast<long>(n);
      if (s.body_left == 0) {
        s.done = true;
        ++g_held;
      } else if (s.body_left < 0) {
        return idleFail(s);
      }
      continue;
    }
    if (rc == 1) {
      if (s.got == 0) s.status_ok = n >= 12 && std::memcmp(buf, "HTTP/1.1 200", 12) == 0;
      s.got += n;
      continue;
    }
    const int e = SSL_get_error(s.ssl, rc);
    if (e == SSL_ERROR_WANT_READ) return arm(s, EPOLLIN, EPOLL_CTL_MOD);
    if (e == SSL_ERROR_WANT_WRITE) return arm(s, EPOLLOUT, EPOLL_CTL_MOD);
    if (g_idle) return idleFail(s);
    // The end: close_notify (ZERO_RETURN) or a close without it (SYSCALL/SSL with EOF): both are
    // how a Connection: close response ends.
    return finish(s, s.got == 0);
  }
}

// Idle mode: sets up `connections` keep-alive connections, at most kSetting at a time, then
// holds them until stdin says so.
int runIdle(int connections, double seconds) {
  constexpr int kSetting = 100;
  SSL_CTX_set_mode(g_ctx, SSL_MODE_RELEASE_BUFFERS);
  std::vector<Slot> slots(static_cast<size_t>(connections));
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  size_t next = 0;
  long settled = 0;  // held or failed
  epoll_event events[256];
  while (settled < connections && std::chrono::steady_clock::now() < end) {
    while (next < slots.size() && static_cast<long>(next) - settled < kSetting) open(slots[next++]);
    const int n = epoll_wait(g_epoll, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      Slot& s = *static_cast<Slot*>(events[i].data.ptr);
      if (s.done) continue;
      if (!s.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          idleFail(s);
          ++settled;
          continue;
        }
        s.connected = true;
      }
      step(s);
      if (s.done) {
        ++settled;
        // Held: out of the epoll set, so nothing the server sends later wakes this loop.
        if (s.ssl) epoll_ctl(g_epoll, EPOLL_CTL_DEL, s.fd, nullptr);
      }
    }
  }
  std::printf("READY %ld %ld\n", g_held, static_cast<long>(connections) - g_held);
  std::fflush(stdout);
  // Hold them. A server that closes one is not read here: the figures were taken by then.
  char line[64];
  (void)!std::fgets(line, sizeof line, stdin);
  for (Slot& s : slots) {
    if (s.ssl) SSL_free(s.ssl);
    if (s.fd >= 0) close(s.fd);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s HOST PORT PATH CONNECTIONS SECONDS new|reuse|idle\n", argv[0]);
    return 2;
  }
  g_addr.sin_family = AF_INET;
  g_addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  inet_pton(AF_INET, argv[1], &g_addr.sin_addr);
  g_request = std::string("GET ") + argv[3] + " HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n";
  const int connections = std::atoi(argv[4]);
  const double seconds = std::atof(argv[5]);
  g_reuse = std::strcmp(argv[6], "reuse") == 0;
  g_idle = std::strcmp(argv[6], "idle") == 0;
  if (g_idle) {
    g_request = std::string("GET ") + argv[3] + " HTTP/1.1\r\nHost: bench.test\r\n\r\n";
  }

  g_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);  // sessions are kept per slot here
  g_epoll = epoll_create1(0);
  if (g_idle) return runIdle(connections, seconds);
  std::vector<Slot> slots(static_cast<size_t>(connections));
  for (Slot& s : slots) open(s);
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  epoll_event events[256];
  while (std::chrono::steady_clock::now() < end) {
    const int n = epoll_wait(g_epoll, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      Slot& s = *static_cast<Slot*>(events[i].data.ptr);
      if (!s.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          finish(s, true);
          continue;
        }
        s.connected = true;
      }
      step(s);
    }
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("requests=%ld seconds=%.3f errors=%ld resumed=%ld bad=%ld\n", g_requests, took, g_errors, g_resumed,
              g_bad);
  return 0;
}
