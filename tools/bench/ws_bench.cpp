// tools/bench/ws_bench.cpp — S8's WebSocket load generator and echo origin in C++, so that the
// proxy, not the Python client, is what limits messages/s. One thread, epoll, non-blocking.
//
//   ws_bench origin PORT
//     Accepts WebSocket handshakes on 127.0.0.1:PORT (101 with the right Sec-WebSocket-Accept),
//     then echoes every byte back unparsed (the client's masked frames return byte for byte —
//     all a tunnelling proxy can see). Runs until killed.
//   ws_bench load HOST PORT TUNNELS SECONDS [WINDOW]
//     Opens TUNNELS WebSockets to HOST:PORT/ws, keeps WINDOW masked 1 KiB binary messages in
//     flight on each (a new one whenever a whole echoed message is back) for SECONDS, then prints
//     "messages=<echoed> seconds=<elapsed> failed=<tunnels whose handshake failed>" — the same
//     line as ws_load.py.
//
// Built by tools/bench/bench with: g++ -O2 -o ws_bench ws_bench.cpp -lcrypto
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t kPayload = 1024;
constexpr size_t kFrame = 2 + 2 + 4 + kPayload;  // FIN|binary, MASK|126, 16-bit length, key, data

void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

void setNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

struct Conn {
  int fd = -1;
  bool tunnel = false;
  std::string in;    // handshake bytes (origin) or nothing
  std::string out;   // bytes not yet written
  size_t pending = 0;  // load: echoed bytes not yet a whole message
};

// Writes what it can; the rest waits in c.out for EPOLLOUT. False on a hard error.
bool put(Conn& c, const char* p, size_t n) {
  if (c.out.empty()) {
    while (n > 0) {
      const ssize_t w = ::write(c.fd, p, n);
      if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return false;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  c.out.append(p, n);
  return true;
}

bool flush(Conn& c) {
  std::string rest;
  rest.swap(c.out);
  return put(c, rest.data(), rest.size());
}

void watch(int ep, Conn& c, bool want_out) {
  epoll_event e{};
  e.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
  e.data.ptr = &c;
  epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &e);
}

std::string acceptKey(const std::string& key) {
  const std::string s = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  unsigned char b64[64];
  const int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
}

int origin(int port) {
  const int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1024) != 0) die("listen");
  setNonBlocking(ls);
  const int ep = epoll_create1(0);
  epoll_event le{};
  le.events = EPOLLIN;
  le.data.ptr = nullptr;
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &le);
  std::vector<epoll_event> events(256);
  static char buf[256 * 1024];
  for (;;) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        for (;;) {
          const int fd = ::accept4(ls, nullptr, nullptr, SOCK_NONBLOCK);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* c = new Conn;
          c->fd = fd;
          epoll_event e{};
          e.events = EPOLLIN;
          e.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      Conn& c = *static_cast<Conn*>(events[i].data.ptr);
      bool dead = false;
      if (events[i].events & EPOLLOUT) {
        dead = !flush(c);
        if (!dead && c.out.empty()) watch(ep, c, false);
      }
      while (!dead && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        const ssize_t r = ::read(c.fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          dead = true;
          break;
        }
        if (r < 0) break;
        if (c.tunnel) {
          dead = !put(c, buf, static_cast<size_t>(r));
        } else {
          c.in.append(buf, static_cast<size_t>(r));
          const size_t end = c.in.find("\r\n\r\n");
          if (end == std::string::npos) continue;
          std::string key;
          for (size_t p = 0; p < end;) {
            const size_t eol = c.in.find("\r\n", p);
            std::string line = c.in.substr(p, eol - p);
            p = eol + 2;
            for (char& ch : line) {
              if (ch == ':') break;
              ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            }
            if (line.rfind("sec-websocket-key:", 0) == 0) {
              key = line.substr(18);
              while (!key.empty() && key.front() == ' ') key.erase(0, 1);
              while (!key.empty() && (key.back() == ' ' || key.back() == '\r')) key.pop_back();
            }
          }
          const std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                                   acceptKey(key) + "\r\n\r\n";
          std::string rest = c.in.substr(end + 4);
          c.in.clear();
          c.tunnel = true;
          dead = !put(c, head.data(), head.size()) || !put(c, rest.data(), rest.size());
        }
        if (static_cast<size_t>(r) < sizeof buf) break;
      }
      if (!dead && !c.out.empty()) watch(ep, c, true);
      if (dead) {
        ::close(c.fd);
        delete &c;
      }
    }
  }
}

int load(const char* host, int port, int tunnels, double seconds, int window) {
  char frame[kFrame];
  frame[0] = static_cast<char>(0x82);
  frame[1] = static_cast<char>(0x80 | 126);
  frame[2] = static_cast<char>(kPayload >> 8);
  frame[3] = static_cast<char>(kPayload & 0xff);
  const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  std::memcpy(frame + 4, mask, 4);
  for (size_t i = 0; i < kPayload; ++i) frame[8 + i] = static_cast<char>((i % 251) ^ mask[i % 4]);

  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host, &a.sin_addr);
  std::vector<Conn> conns(static_cast<size_t>(tunnels));
  int failed = 0;
  const int ep = epoll_create1(0);
  int one = 1;
  for (Conn& c : conns) {
    c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string head;
    bool ok = ::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (ok) {
      const std::string req = std::string("GET /ws HTTP/1.1\r\nHost: ") + host + ":" + std::to_string(port) +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
      ok = ::write(c.fd, req.data(), req.size()) == static_cast<ssize_t>(req.size());
    }
    char b[4096];
    while (ok && head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t r = ::read(c.fd, b, sizeof b);
      if (r <= 0) ok = false;
      else head.append(b, static_cast<size_t>(r));
    }
    if (!ok || head.compare(0, 12, "HTTP/1.1 101") != 0) {
      ++failed;
      ::close(c.fd);
      c.fd = -1;
      continue;
    }
    c.pending = head.size() - (head.find("\r\n\r\n") + 4);  // echo bytes already here (none)
    setNonBlocking(c.fd);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.ptr = &c;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &e);
  }
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const auto stop = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (Conn& c : conns) {
    if (c.fd < 0) continue;
    for (int w = 0; w < window; ++w) put(c, frame, kFrame);
    if (!c.out.empty()) watch(ep, c, true);
  }
  unsigned long long messages = 0;
  std::vector<epoll_event> events(256);
  static char buf[256 * 1024];
  while (Clock::now() < stop) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 50);
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(events[i].data.ptr);
      if (events[i].events & EPOLLOUT) {
        flush(c);
        if (c.out.empty()) watch(ep, c, false);
      }
      if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      for (;;) {
        const ssize_t r = ::read(c.fd, buf, sizeof buf);
        if (r <= 0) {
          if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
            ::close(c.fd);
            c.fd = -1;
            ++failed;
          }
          break;
        }
        c.pending += static_cast<size_t>(r);
        const size_t whole = c.pending / kFrame;
        c.pending %= kFrame;
        messages += whole;
        for (size_t k = 0; k < whole; ++k) put(c, frame, kFrame);
        if (static_cast<size_t>(r) < sizeof buf) break;
      }
      if (c.fd >= 0 && !c.out.empty()) watch(ep, c, true);
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("messages=%llu seconds=%.3f failed=%d\n", messages, elapsed, failed);
  for (Conn& c : conns)
    if (c.fd >= 0) ::close(c.fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "origin") == 0) return origin(std::atoi(argv[2]));
  if (argc >= 6 && std::strcmp(argv[1], "load") == 0)
    return load(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atof(argv[5]), argc > 6 ? std::atoi(argv[6]) : 4);
  std::fprintf(stderr, "usage: ws_bench origin PORT | ws_bench load HOST PORT TUNNELS SECONDS [WINDOW]\n");
  return 2;
}
