"""HTTP/1.x wire helpers for the integration tests: a buffered socket reader, request and
response parsers that keep the framing visible (so tests can assert exactly what was on the
wire), chunked encoding, and small raw-socket clients. Standard library only."""

import socket
import time
import zlib

CRLF = b"\r\n"


class PeerClosed(Exception):
    """The peer closed the connection before the expected bytes arrived."""


class BufferedSocket:
    """A socket with a read buffer. Every read honours the socket timeout (set by the caller)."""

    def __init__(self, sock, recv_size=65536):
        self.sock = sock
        self.buf = bytearray()
        self.recv_size = recv_size
        self.eof = False

    def _fill(self):
        if self.eof:
            return False
        data = self.sock.recv(self.recv_size)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_until(self, delim, limit=1 << 20):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[: i + len(delim)])
                del self.buf[: i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (delim, limit))
            if not self._fill():
                raise PeerClosed("closed while waiting for %r (have %d bytes: %r)"
                                 % (delim, len(self.buf), bytes(self.buf[:200])))

    def read_line(self):
        return self.read_until(CRLF)

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise PeerClosed("closed after %d of %d bytes" % (len(self.buf), n))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_some(self):
        """Whatever is buffered, else one recv(); b'' at EOF."""
        if not self.buf:
            if not self._fill():
                return b""
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def read_to_eof(self, max_bytes=1 << 31):
        out = bytearray(self.buf)
        self.buf.clear()
        while not self.eof and len(out) <= max_bytes:
            data = self.sock.recv(self.recv_size)
            if not data:
                self.eof = True
                break
            out += data
        return bytes(out)


class Headers:
    """An ordered multi-map of header fields with case-insensitive lookup."""

    def __init__(self, items=None):
        self.items = list(items or [])

    def get(self, name, default=None):
        n = name.lower()
        for k, v in self.items:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self.items if k.lower() == n]

    def __contains__(self, name):
        return self.get(name) is not None

    def names(self):
        return [k.lower() for k, _ in self.items]

    def tokens(self, name):
        """Comma-separated tokens across every field with this name, lower-cased."""
        out = []
        for v in self.get_all(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def __repr__(self):
        return "Headers(%r)" % self.items


def parse_head(raw):
    """raw: bytes of a start line + fields ending with CRLFCRLF -> (start_line, Headers)."""
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    start = lines[0]
    items = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("bad header line %r" % line)
        items.append((name, value.strip(" \t")))
    return start, Headers(items)


def chunk_encode(data, sizes, trailers=None):
    """Chunked-encode data with chunk sizes taken cyclically from `sizes`; returns bytes."""
    out = bytearray()
    pos = 0
    i = 0
    while pos < len(data):
        n = min(sizes[i % len(sizes)], len(data) - pos)
        i += 1
        out += b"%x\r\n" % n + data[pos: pos + n] + CRLF
        pos += n
    out += b"0\r\n"
    for k, v in (trailers or []):
        out += ("%s: %s\r\n" % (k, v)).encode("latin-1")
    out += CRLF
    return bytes(out)


class ChunkedTruncated(Exception):
    pass


def read_chunked(bs, sink=None):
    """Decode a chunked body from bs. Returns (body_or_None, length, crc32, trailers).
    With sink (callable on each piece) the body is not kept. Raises PeerClosed on truncation."""
    body = bytearray() if sink is None else None
    length = 0
    crc = 0
    while True:
        line = bs.read_line()
        size_text = line[:-2].split(b";")[0].strip()
        size = int(size_text, 16)
        if size == 0:
            break
        remaining = size
        while remaining:
            if not bs.buf:
                if not bs._fill():
                    raise PeerClosed("closed inside a chunk (%d bytes left)" % remaining)
            piece = bytes(bs.buf[:remaining])
            del bs.buf[: len(piece)]
            remaining -= len(piece)
            length += len(piece)
            crc = zlib.crc32(piece, crc)
            if sink is None:
                body += piece
            else:
                sink(piece)
        if bs.read_exact(2) != CRLF:
            raise ValueError("chunk not followed by CRLF")
    trailers = []
    while True:
        line = bs.read_line()
        if line == CRLF:
            break
        k, _, v = line[:-2].decode("latin-1").partition(":")
        trailers.append((k, v.strip()))
    return (bytes(body) if body is not None else None), length, crc, trailers


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = Headers()
        self.body = b""
        self.framing = None      # "length", "chunked", "close", "none"
        self.interim = []        # list of (status, Headers) for 1xx
        self.raw_head = b""
        self.trailers = []
        self.body_len = 0
        self.body_crc = 0

    def __repr__(self):
        return "<Response %s %s framing=%s len=%d>" % (self.status, self.version, self.framing,
                                                      len(self.body))


def read_response(bs, method="GET", keep_interim=True, sink=None):
    """Read one final response (collecting 1xx interim responses) from bs."""
    resp = Response()
    while True:
        raw = bs.read_until(b"\r\n\r\n")
        start, headers = parse_head(raw)
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        status = int(code)
        if 100 <= status < 200 and status != 101:
            resp.interim.append((status, headers))
            continue
        resp.version, resp.status, resp.reason = version, status, reason
        resp.headers = headers
        resp.raw_head = raw
        break
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        resp.framing = "none"
        return resp
    te = headers.tokens("transfer-encoding")
    if te:
        if te[-1] != "chunked":
            raise ValueError("unsupported transfer-encoding %r" % te)
        resp.framing = "chunked"
        body, resp.body_len, resp.body_crc, resp.trailers = read_chunked(bs, sink)
        resp.body = body if body is not None else b""
        return resp
    cl = headers.get("content-length")
    if cl is not None:
        resp.framing = "length"
        n = int(cl)
        if sink is None:
            resp.body = bs.read_exact(n)
            resp.body_len = n
            resp.body_crc = zlib.crc32(resp.body)
        else:
            remaining = n
            while remaining:
                if not bs.buf and not bs._fill():
                    raise PeerClosed("closed with %d of %d body bytes missing" % (remaining, n))
                piece = bytes(bs.buf[:remaining])
                del bs.buf[: len(piece)]
                remaining -= len(piece)
                resp.body_len += len(piece)
                resp.body_crc = zlib.crc32(piece, resp.body_crc)
                sink(piece)
        return resp
    resp.framing = "close"
    resp.body = bs.read_to_eof()
    resp.body_len = len(resp.body)
    resp.body_crc = zlib.crc32(resp.body)
    return resp


def connect(port, timeout=10.0, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def build_request(method="GET", target="/", headers=None, body=None, version="HTTP/1.1",
                  host="localhost"):
    """Bytes of a request. headers: list of (k, v); Host is added first unless host is None
    or headers already has one. Content-Length added for a bytes body unless present."""
    headers = list(headers or [])
    names = [k.lower() for k, _ in headers]
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None and "host" not in names:
        lines.append("Host: %s" % host)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None:
        out += body
    return out


def request(port, method="GET", target="/", headers=None, body=None, version="HTTP/1.1",
            host="localhost", timeout=10.0):
    """One request on a fresh connection; returns the Response (connection then closed)."""
    with connect(port, timeout) as s:
        s.sendall(build_request(method, target, headers, body, version, host))
        return read_response(BufferedSocket(s), method)


def wait_closed(sock, timeout=5.0):
    """True when the peer closes (EOF or reset) within timeout without sending more bytes;
    returns the bytes received meanwhile as the second element."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    got = bytearray()
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True, bytes(got)
        if not data:
            return True, bytes(got)
        got += data
    return False, bytes(got)
