"""Every timeout in `timeouts:` fires with the right outcome at the right time, and the access
log line names it (` termination=<cause>`): read (504 before the response head, a cut connection
after it), send (an origin that never reads a 50 MiB upload), client_header, client_body,
keepalive, client_send (a client that never reads a 50 MiB response, with bounded memory) and
request (a total deadline that a steady trickle, never tripping `read`, still hits).
`connect` -> 504 is covered by test_errors.py (blackhole upstream)."""

import socket
import threading
import time

import pytest

import httpwire
from harness import RssSampler, make_config

MIB = 1 << 20
SLACK = 2.0       # seconds allowed past a 1 s timeout (ASan build, 1 s access-log flush)
EARLY = 0.8       # a 1 s timeout must not fire before this


def failing(address):
    return {"retries": 0, "health": {"max_fails": 0}, "servers": [{"address": address}]}


def cfg_for(address, **timeouts):
    t = {"connect": "2s", "read": "5s", "send": "5s", "client_header": "5s",
         "client_body": "5s", "keepalive": "10s"}
    t.update(timeouts)
    return make_config({"api": failing(address)}, timeouts=t, limits={"max_body_bytes": 0})


def log_line(e, path, timeout=3.0):
    """The access-log line for `path` (edged flushes its log at least once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        for l in e.access_log():
            if (" %s " % path) in l:
                return l
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def termination(line):
    if line is None or " termination=" not in line:
        return None
    return line.split(" termination=", 1)[1].split()[0]


def status_of(line):
    # ... "GET /x HTTP/1.1" 504 123 ...
    return int(line.split('" ', 1)[1].split()[0])


def read_until_closed(s, timeout):
    """Read until EOF/reset; returns (closed, bytes, seconds)."""
    t0 = time.monotonic()
    closed, data = httpwire.wait_closed(s, timeout)
    return closed, data, time.monotonic() - t0


class SilentOrigin:
    """Accepts connections and never reads or writes (small receive buffer, so a big upload
    stalls quickly)."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.conns = []
        self.accepted = threading.Event()
        self._stop = False
        self.listener.settimeout(0.1)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop:
            try:
                c, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            self.accepted.set()

    def close(self):
        self._stop = True
        self.t.join(timeout=2)
        for c in self.conns:
            c.close()
        self.listener.close()


# -- connect (the 504 itself is in test_errors.py; here: timing and the log token) --------------

def test_connect_timeout_logged_as_upstream_timeout(edged, blackhole):
    hole = blackhole()
    e = edged(cfg_for(hole.address, connect="1s"))
    t0 = time.monotonic()
    r = httpwire.request(e.port, "GET", "/connect-hole", timeout=10)
    took = time.monotonic() - t0
    assert r.status == 504, r
    assert EARLY <= took <= 1 + SLACK, "504 after %.2f s (connect 1s)" % took
    line = log_line(e, "/connect-hole")
    assert line is not None and status_of(line) == 504, line
    assert termination(line) == "upstream_timeout", line


# -- read ------------------------------------------------------------------------------------

def test_read_timeout_before_head_gives_504(edged, origin):
    def stall(conn, req):
        time.sleep(4)

    o = origin("stall", stall)
    e = edged(cfg_for(o.address, read="1s"))
    t0 = time.monotonic()
    r = httpwire.request(e.port, "GET", "/read-before-head", timeout=10)
    took = time.monotonic() - t0
    assert r.status == 504, r
    assert EARLY <= took <= 1 + SLACK, "504 after %.2f s (read 1s)" % took
    line = log_line(e, "/read-before-head")
    assert line is not None and status_of(line) == 504, line
    assert termination(line) == "upstream_timeout", line


def test_read_timeout_mid_body_cuts_connection(edged, origin):
    def partial(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"p" * 1000)
        time.sleep(4)

    o = origin("partial", partial)
    e = edged(cfg_for(o.address, read="1s"))
    with httpwire.connect(e.port, timeout=10) as s:
        s.sendall(httpwire.build_request("GET", "/read-mid-body"))
        bs = httpwire.BufferedSocket(s)
        start, headers = httpwire.parse_head(bs.read_until(b"\r\n\r\n"))
        t0 = time.monotonic()
        assert start.split()[1] == "200" and headers.get("content-length") == "100000"
        closed, data, _ = read_until_closed(s, 6)
        took = time.monotonic() - t0
        body = bytes(bs.buf) + data
    assert closed, "connection still open 6 s after the origin stalled (read 1s)"
    assert len(body) < 100000 and body == b"p" * len(body)
    assert took <= 1 + SLACK, "cut after %.2f s" % took
    line = log_line(e, "/read-mid-body")
    assert line is not None, e.access_log()
    assert termination(line) == "upstream_timeout", line


# -- send ------------------------------------------------------------------------------------

def test_send_timeout_origin_never_reads_upload(edged):
    o = SilentOrigin()
    total = 50 * MIB
    e = edged(cfg_for(o.address, send="1s", client_body="30s", read="30s"))
    try:
        with httpwire.connect(e.port, timeout=15) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
            s.sendall(httpwire.build_request("POST", "/upload-stall",
                                             headers=[("Content-Length", str(total))]))
            sent = [0]
            last_progress = [time.monotonic()]

            def upload():
                block = b"u" * (256 * 1024)
                try:
                    while sent[0] < total:
                        s.sendall(block)
                        sent[0] += len(block)
                        last_progress[0] = time.monotonic()
                except OSError:
                    pass

            t = threading.Thread(target=upload, daemon=True)
            t.start()
            t0 = time.monotonic()
            bs = httpwire.BufferedSocket(s)
            outcome = None
            try:
                r = httpwire.read_response(bs)
                outcome = r.status
            except (httpwire.PeerClosed, ConnectionResetError):
                outcome = "closed"
            except socket.timeout:
                outcome = "timeout"
            took = time.monotonic() - t0
            stall_to_outcome = time.monotonic() - last_progress[0]
            s.shutdown(socket.SHUT_RDWR)
            t.join(timeout=5)
        assert o.accepted.is_set(), "edged never connected to the origin"
        assert outcome in (504, "closed"), "outcome %r after %.1f s" % (outcome, took)
        assert sent[0] < total, "the whole upload went into edged without the origin reading"
        assert stall_to_outcome <= 1 + SLACK + 1, \
            "answered %.2f s after the upload stalled (send 1s)" % stall_to_outcome
        assert took >= EARLY, "answered after only %.2f s" % took
        line = log_line(e, "/upload-stall")
        assert line is not None, e.access_log()
        assert termination(line) == "upstream_timeout", line
    finally:
        o.close()


# -- client_header / client_body -------------------------------------------------------------

def _expect_408_or_close(s, limit):
    """Wait for the answer to a stalled client: (status or None, seconds)."""
    t0 = time.monotonic()
    s.settimeout(limit)
    bs = httpwire.BufferedSocket(s)
    try:
        r = httpwire.read_response(bs)
        status = r.status
        closed, _ = httpwire.wait_closed(s, 2)
        assert closed, "connection left open after the %d" % status
    except (httpwire.PeerClosed, ConnectionResetError):
        status = None
    except socket.timeout:
        raise AssertionError("no answer and no close within %.0f s" % limit)
    return status, time.monotonic() - t0


def test_client_header_timeout_slow_head(edged, origin):
    o = origin("o")
    e = edged(cfg_for(o.address, client_header="1s"))
    with httpwire.connect(e.port, timeout=10) as s:
        s.sendall(b"GET /slow-head HTTP/1.1\r\n")
        status, took = _expect_408_or_close(s, 6)
    assert status in (408, None), status
    assert EARLY <= took <= 1 + SLACK, "client_header 1s fired after %.2f s" % took
    assert o.request_count() == 0
    line = log_line(e, "/slow-head")
    assert line is not None, "no access-log line for the timed-out head: %r" % e.access_log()
    assert status_of(line) == 408, line
    assert termination(line) == "client_timeout", line


def test_client_header_timeout_is_total_not_per_read(edged, origin):
    """A head trickled one byte every 0.2 s never lets the connection idle for 1 s, but the
    whole head must arrive within client_header."""
    o = origin("o")
    e = edged(cfg_for(o.address, client_header="1s"))
    with httpwire.connect(e.port, timeout=10) as s:
        t0 = time.monotonic()
        closed = False
        try:
            for b in b"GET /trickle-head HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 40:
                s.sendall(bytes([b]))
                time.sleep(0.2)
                if time.monotonic() - t0 > 5:
                    break
        except OSError:
            closed = True
        took = time.monotonic() - t0
        if not closed:
            status, _ = _expect_408_or_close(s, 3)
            took = time.monotonic() - t0
    assert took <= 1 + SLACK + 0.5, "a trickled head was accepted for %.1f s" % took
    assert o.request_count() == 0


def test_client_body_timeout_stalled_upload(edged, origin):
    o = origin("o")
    e = edged(cfg_for(o.address, client_body="1s"))
    with httpwire.connect(e.port, timeout=10) as s:
        s.sendall(httpwire.build_request("POST", "/stalled-body",
                                         headers=[("Content-Length", "100000")]) + b"b" * 1000)
        status, took = _expect_408_or_close(s, 6)
    assert status in (408, None), status
    assert EARLY <= took <= 1 + SLACK, "client_body 1s fired after %.2f s" % took
    assert not any(q.body_len == 100000 for q in o.snapshot())
    line = log_line(e, "/stalled-body")
    assert line is not None, e.access_log()
    assert termination(line) == "client_timeout", line


# -- keepalive -------------------------------------------------------------------------------

def test_keepalive_timeout_closes_idle_connection(edged, origin):
    o = origin("o")
    e = edged(cfg_for(o.address, keepalive="1s"))
    with httpwire.connect(e.port, timeout=10) as s:
        bs = httpwire.BufferedSocket(s)
        # busy: a request every 0.5 s for 2.5 s keeps the same connection
        for i in range(5):
            s.sendall(httpwire.build_request("GET", "/busy%d" % i))
            assert httpwire.read_response(bs).status == 200
            time.sleep(0.5)
        assert o.accepts >= 1
        # idle from here on (the last 0.5 s sleep counts)
        closed, extra, took = read_until_closed(s, 5)
    took += 0.5
    assert closed and extra == b"", (closed, extra)
    assert EARLY <= took <= 1 + SLACK, "idle keep-alive connection closed after %.2f s" % took
    assert len(e.wait_access_lines(5)) == 5    # the keep-alive close is not a request


# -- client_send -----------------------------------------------------------------------------

def test_client_send_timeout_client_never_reads(edged, origin):
    total = 50 * MIB
    block = b"d" * MIB
    origin_end = {}

    def big(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        sent = 0
        try:
            while sent < total:
                conn.sock.sendall(block)
                sent += len(block)
        except OSError as ex:
            origin_end["error"] = ex
        origin_end["at"] = time.monotonic()
        origin_end["sent"] = sent

    o = origin("big", big)
    e = edged(cfg_for(o.address, client_send="1s", read="30s", send="30s"))
    with httpwire.connect(e.port, timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        baseline = e.rss_kib()
        with RssSampler(e, 0.05) as rs:
            s.sendall(httpwire.build_request("GET", "/never-read"))
            bs = httpwire.BufferedSocket(s, recv_size=4096)
            bs.read_until(b"\r\n\r\n")
            stopped_at = time.monotonic()     # from here on the client reads nothing
            deadline = stopped_at + 8
            while "at" not in origin_end and time.monotonic() < deadline:
                time.sleep(0.05)
        growth = rs.max() - baseline
        assert "at" in origin_end, "edged still reading from the origin 8 s after the client " \
            "stopped reading (client_send 1s)"
        took = origin_end["at"] - stopped_at
        assert origin_end["sent"] < total, "the whole 50 MiB went into edged"
        assert EARLY <= took <= 1 + SLACK, "client_send 1s fired after %.2f s" % took
        # the client connection is closed: draining it ends before the full body
        s.settimeout(10)
        got = len(bs.buf)
        while True:
            try:
                d = s.recv(1 << 20)
            except ConnectionResetError:
                break
            if not d:
                break
            got += len(d)
        assert got < total
    assert growth < 16 * 1024, "edged RSS grew by %d KiB while the client stalled" % growth
    line = log_line(e, "/never-read")
    assert line is not None, e.access_log()
    assert termination(line) == "client_timeout", line


# -- request (total deadline) ----------------------------------------------------------------

def test_request_timeout_before_head_gives_504(edged, origin):
    def trickle_head(conn, req):
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: " + b"t" * 30 + b"\r\n\r\nok"
        try:
            for b in head:        # one byte every 0.1 s: `read` (5s) never trips
                conn.send(bytes([b]))
                time.sleep(0.1)
        except OSError:
            pass

    o = origin("trickle", trickle_head)
    e = edged(cfg_for(o.address, request="1s", read="5s"))
    t0 = time.monotonic()
    try:
        r = httpwire.request(e.port, "GET", "/deadline-head", timeout=10)
        outcome = r.status
    except (httpwire.PeerClosed, ConnectionResetError):
        outcome = "closed"
    took = time.monotonic() - t0
    assert outcome == 504, "got %r after %.2f s (request 1s; the head takes ~6 s)" % (outcome,
                                                                                     took)
    assert EARLY <= took <= 1 + SLACK, "504 after %.2f s" % took
    line = log_line(e, "/deadline-head")
    assert line is not None, e.access_log()
    assert status_of(line) == 504, line
    assert termination(line) is not None and "timeout" in termination(line), line


def test_request_timeout_after_head_cuts_connection(edged, origin):
    def trickle_body(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        try:
            for _ in range(100):    # 10 bytes every 0.1 s: 10 s in all
                conn.send(b"0123456789")
                time.sleep(0.1)
        except OSError:
            pass

    o = origin("trickle", trickle_body)
    e = edged(cfg_for(o.address, request="1s", read="5s"))
    with httpwire.connect(e.port, timeout=10) as s:
        t0 = time.monotonic()
        s.sendall(httpwire.build_request("GET", "/deadline-body"))
        bs = httpwire.BufferedSocket(s)
        start, _ = httpwire.parse_head(bs.read_until(b"\r\n\r\n"))
        assert start.split()[1] == "200"
        closed, data, _ = read_until_closed(s, 8)
        took = time.monotonic() - t0
        body = bytes(bs.buf) + data
    assert closed, "a steadily trickling response was not cut by request 1s (%d bytes in %.1f s)" \
        % (len(body), took)
    assert len(body) < 1000
    assert EARLY <= took <= 1 + SLACK, "cut after %.2f s (request 1s)" % took
    line = log_line(e, "/deadline-body")
    assert line is not None, e.access_log()
    assert termination(line) is not None and "timeout" in termination(line), line
