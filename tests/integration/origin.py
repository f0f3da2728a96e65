"""Fake origin servers for the integration tests: raw sockets on 127.0.0.1, one thread per
connection, so every test controls the framing exactly. Each response carries
`X-Origin: <name>`; the origin counts accepted TCP connections and records every request."""

import socket
import struct
import threading
import time
import zlib

from httpwire import BufferedSocket, Headers, PeerClosed, chunk_encode, parse_head

STORE_BODY_LIMIT = 16 << 20


class Request:
    def __init__(self):
        self.method = self.target = self.version = None
        self.headers = Headers()
        self.raw_head = b""
        self.body = b""          # None when longer than the origin's store limit
        self.body_len = 0
        self.body_crc = 0
        self.framing = "none"    # how the request body arrived: none, length, chunked
        self.conn_id = 0         # which accepted connection (1-based)
        self.conn_index = 0      # 0 for the first request on its connection
        self.received_at = 0.0

    def __repr__(self):
        return "<Request %s %s conn=%d#%d>" % (self.method, self.target, self.conn_id,
                                               self.conn_index)


class OriginConn:
    def __init__(self, origin, sock, conn_id):
        self.origin = origin
        self.sock = sock
        self.id = conn_id
        self.bs = BufferedSocket(sock)
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def respond(self, status=200, body=b"", headers=None, chunked=False, chunk_sizes=(4096,),
                reason=None, length=True, trailers=None, version="HTTP/1.1"):
        """Send a whole response: X-Origin added, then Content-Length (unless chunked, or
        length=False for a read-until-close or body-less response)."""
        reason = reason or REASONS.get(status, "Whatever")
        lines = ["%s %d %s" % (version, status, reason), "X-Origin: %s" % self.origin.name]
        names = []
        for k, v in (headers or []):
            lines.append("%s: %s" % (k, v))
            names.append(k.lower())
        if chunked:
            if "transfer-encoding" not in names:
                lines.append("Transfer-Encoding: chunked")
        elif length and "content-length" not in names:
            lines.append("Content-Length: %d" % len(body))
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if chunked:
            self.send(head + chunk_encode(body, list(chunk_sizes), trailers))
        else:
            self.send(head + body)

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def reset(self):
        """Close with SO_LINGER 0: the peer gets a RST."""
        if not self.closed:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close()


REASONS = {100: "Continue", 103: "Early Hints", 200: "OK", 204: "No Content",
           304: "Not Modified", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error",
           502: "Bad Gateway"}

KEEP = "keep"
CLOSE = "close"


def default_handler(conn, req):
    body = ("%s %s from %s\n" % (req.method, req.target, conn.origin.name)).encode()
    if req.method == "HEAD":
        conn.respond(200, b"", headers=[("Content-Type", "text/plain"),
                                        ("Content-Length", str(len(body)))])
    else:
        conn.respond(200, body, headers=[("Content-Type", "text/plain")])


class Origin:
    """handler(conn, req) sends the response and returns KEEP (default when None) or CLOSE.
    keepalive_timeout: close an idle connection exactly that many seconds after the last
    response ended, as Node's http server does (a handler advertises it with `ka_header()`).
    send_continue: answer `Expect: 100-continue` with a 100 before reading the body.
    read_timeout: how long a request may pause while it is read before the origin gives up."""

    def __init__(self, name="origin", handler=None, keepalive_timeout=None, send_continue=True,
                 backlog=128, recv_size=65536, port=0, read_timeout=30):
        self.name = name
        self.handler = handler or default_handler
        self.keepalive_timeout = keepalive_timeout
        self.send_continue = send_continue
        self.recv_size = recv_size
        self.read_timeout = read_timeout
        self.on_body_progress = None   # called with the bytes of request body read so far
        self.lock = threading.Lock()
        self.accepts = 0
        self.open_conns = 0
        self.max_open_conns = 0
        self.requests = []
        self.errors = []
        self._conns = set()
        self._stop = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))   # port: rebind a stopped origin's port
        self.listener.listen(backlog)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._accept_loop, name="origin-" + name,
                                        daemon=True)
        self._thread.start()

    def ka_header(self):
        return ("Keep-Alive", "timeout=%d" % self.keepalive_timeout)

    # -- counters ---------------------------------------------------------------------------
    def request_count(self, path=None):
        with self.lock:
            return sum(1 for r in self.requests if path is None or r.target == path)

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def wait_requests(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.request_count() >= n:
                return True
            time.sleep(0.01)
        return self.request_count() >= n

    # -- server -----------------------------------------------------------------------------
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.accepts += 1
                conn_id = self.accepts
                self.open_conns += 1
                self.max_open_conns = max(self.max_open_conns, self.open_conns)
            conn = OriginConn(self, sock, conn_id)
            conn.bs.recv_size = self.recv_size
            with self.lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _wait_readable(self, conn, timeout):
        """Wait for the next request's first byte. False on idle timeout, EOF or stop."""
        if conn.bs.buf:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                conn.sock.settimeout(min(left, 0.2))
            else:
                conn.sock.settimeout(0.2)
            try:
                if conn.bs._fill():
                    return True
                return False
            except socket.timeout:
                continue
        return False

    def _serve(self, conn):
        index = 0
        try:
            while not self._stop.is_set() and not conn.closed:
                timeout = self.keepalive_timeout if index > 0 else None
                if not self._wait_readable(conn, timeout):
                    break
                conn.sock.settimeout(self.read_timeout)
                req = self._read_request(conn)
                req.conn_index = index
                index += 1
                with self.lock:
                    self.requests.append(req)
                result = self.handler(conn, req)
                if result == CLOSE or conn.closed:
                    break
                if req.version == "HTTP/1.0" and "keep-alive" not in req.headers.tokens(
                        "connection"):
                    break
                if "close" in req.headers.tokens("connection"):
                    break
        except (PeerClosed, ConnectionError, socket.timeout, OSError) as e:
            if not self._stop.is_set() and not isinstance(e, PeerClosed):
                with self.lock:
                    self.errors.append(repr(e))
        except Exception as e:  # a bug in a test handler: keep it visible
            with self.lock:
                self.errors.append("handler: %r" % e)
            raise
        finally:
            conn.close()
            with self.lock:
                self.open_conns -= 1
                self._conns.discard(conn)

    def _read_request(self, conn):
        bs = conn.bs
        raw = bs.read_until(b"\r\n\r\n")
        start, headers = parse_head(raw)
        req = Request()
        req.received_at = time.monotonic()
        req.method, req.target, req.version = start.split(" ", 2)
        req.headers = headers
        req.raw_head = raw
        req.conn_id = conn.id
        te = headers.tokens("transfer-encoding")
        cl = headers.get("content-length")
        expects = (headers.get("expect") or "").lower() == "100-continue"
        if (te or cl is not None) and expects and self.send_continue:
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if te:
            req.framing = "chunked"
            body = bytearray()
            keep = [True]

            def sink(piece):
                if keep[0]:
                    body.extend(piece)
                    if len(body) > STORE_BODY_LIMIT:
                        keep[0] = False
                        body.clear()
            from httpwire import read_chunked
            _, req.body_len, req.body_crc, _ = read_chunked(bs, sink)
            req.body = bytes(body) if keep[0] else None
        elif cl is not None:
            req.framing = "length"
            n = int(cl)
            keep = n <= STORE_BODY_LIMIT
            body = bytearray()
            remaining = n
            crc = 0
            while remaining:
                if not bs.buf and not bs._fill():
                    raise PeerClosed("request body: %d of %d bytes missing" % (remaining, n))
                take = min(remaining, len(bs.buf))
                piece = memoryview(bs.buf)[:take]
                crc = zlib.crc32(piece, crc)
                if keep:
                    body += piece
                piece.release()
                del bs.buf[:take]
                remaining -= take
                if self.on_body_progress:
                    self.on_body_progress(n - remaining)
            req.body_len = n
            req.body_crc = crc
            req.body = bytes(body) if keep else None
        return req

    def stop(self):
        self._stop.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=2)


class Blackhole:
    """A loopback port whose accept queue is full and never drained: a connect() to it gets no
    SYN-ACK, so it stays pending until the connector's timeout."""

    def __init__(self):
        import select
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.fillers = []
        for _ in range(16):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(c)
            _, writable, _ = select.select([], [c], [], 0.3)
            if not writable:
                break
        else:
            raise RuntimeError("could not fill the accept queue of the blackhole port")

    def close(self):
        for c in self.fillers:
            c.close()
        self.listener.close()
