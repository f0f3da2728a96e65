"""Slow clients for tests/integration/test_slow_clients.py and tools/slow-clients: slowloris
heads, slow request bodies and slow readers, all driven from one thread with non-blocking
sockets; and the origin they share, run as its own process (`python3 slowclients.py` prints
`PORT <n>`), so that the attacking thread's Python never slows the origin down and what the
normal clients measure is edged."""

import os
import selectors
import socket
import subprocess
import sys
import time

BIG = int(os.environ.get("SLOW_BIG", 4 << 20))   # the response a slow reader asks for (/big...)


def origin_handler(conn, req):
    if req.target.startswith("/big"):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
        block = b"b" * (256 << 10)
        try:
            for _ in range(BIG // len(block)):
                conn.sock.sendall(block)
        except OSError:
            pass
        return "close"
    conn.respond(200, b"ok\n", headers=[("Content-Type", "text/plain")])
    return None


class OriginProcess:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise AssertionError("slow-clients origin did not start: %r" % line)
        self.address = "127.0.0.1:%d" % int(line.split()[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


class Attack:
    """All slow connections, driven from one thread with non-blocking sockets."""

    def __init__(self, port, heads, bodies, readers, head_every=0.5, body_every=3.0,
                 spread=False):
        self.port = port
        self.spread = spread   # each head's byte at its own phase of head_every, not all at once
        self.counts = (heads, bodies, readers)
        self.head_every = head_every
        self.body_every = body_every
        self.sel = selectors.DefaultSelector()
        self.heads, self.bodies, self.readers = [], [], []
        self.closed = set()
        self.answers = {}   # fileno -> first bytes edged sent (a 408 head or nothing)

    def open(self, per_second=0):
        """Opens every slow connection; per_second > 0 paces the connects (a flood of new
        connections beyond the listen backlog is another test: here the slow ones should sit
        open in edged, not in the kernel's accept queue)."""
        n_heads, n_bodies, n_readers = self.counts
        t0 = time.monotonic()
        for i in range(n_heads):
            if per_second and i % 100 == 0:
                ahead = t0 + i / per_second - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            s = self._connect()
            s.send(b"GET /slowloris-%d HTTP/1.1\r\nHost: x\r\n" % i)
            self.heads.append(s)
        for i in range(n_bodies):
            s = self._connect()
            s.send(b"POST /slow-body-%d HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                   b"0123456789" % i)
            self.bodies.append(s)
        for i in range(n_readers):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"GET /big-%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            self.readers.append(s)   # never read until the end

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ)
        return s

    def _mark_closed(self, s):
        if s.fileno() in self.closed:
            return
        self.closed.add(s.fileno())
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass

    def _trickle(self, socks, data):
        for s in socks:
            if s.fileno() in self.closed:
                continue
            try:
                s.send(data)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._mark_closed(s)

    def open_count(self):
        return len(self.heads) + len(self.bodies) - len(self.closed)

    def run(self, stop_at, until=None):
        """Trickles until every head and body connection is closed (or stop_at, or until()
        says so); True when they all were."""
        next_head = next_body = time.monotonic()
        tick = 0.01 if self.spread else self.head_every
        slices = max(1, round(self.head_every / tick))
        part = 0
        while time.monotonic() < stop_at and not (until and until()):
            now = time.monotonic()
            if now >= next_head:
                n = -(-len(self.heads) // slices)
                self._trickle(self.heads[part * n:(part + 1) * n], b"X")
                part = (part + 1) % slices
                next_head += tick
                if next_head < now:
                    next_head = now + tick
            if now >= next_body:
                self._trickle(self.bodies, b"b")
                next_body = now + self.body_every
            for key, _ in self.sel.select(timeout=min(0.1, max(0.0, next_head - now))):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    self._mark_closed(s)
                    continue
                if not data:
                    self._mark_closed(s)
                else:
                    self.answers.setdefault(s.fileno(), data[:12])
            if all(s.fileno() in self.closed for s in self.heads + self.bodies):
                return True
        return False

    def drain_readers(self, timeout):
        """Reads each slow reader to EOF; returns the bytes each got (short of the whole
        response when edged closed it)."""
        got = []
        for s in self.readers:
            s.settimeout(timeout)
            n = 0
            try:
                while True:
                    d = s.recv(1 << 20)
                    if not d:
                        break
                    n += len(d)
            except (ConnectionResetError, socket.timeout):
                pass
            got.append(n)
        return got

    def close(self):
        for s in self.heads + self.bodies + self.readers:
            s.close()
        self.sel.close()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from origin import Origin
    # Patient: a slow body must be ended by the proxy's client_body (30 s in tools/slow-clients),
    # not by the origin giving up on it at the same moment.
    o = Origin("o", origin_handler, backlog=1024, read_timeout=120)
    print("PORT %d" % o.port, flush=True)
    while True:
        time.sleep(3600)
