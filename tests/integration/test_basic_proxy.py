"""Basic reverse proxying: bytes relayed exactly, Host kept, X-Forwarded-* added, hop-by-hop
headers dropped both ways, routes chosen by longest prefix and by host; an HTTP/1.0 request
without Host gets the listen address."""

import os
import socket
import subprocess
import threading

import requests

import httpwire
from harness import make_config


def test_get_is_relayed_byte_exact(edged, origin):
    payload = os.urandom(200_000) + b"\r\n\r\n0\r\n\r\n" + bytes(range(256))

    def handler(conn, req):
        conn.respond(200, payload, headers=[("Content-Type", "application/octet-stream"),
                                            ("X-Custom", "Value With  Spaces"),
                                            ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])

    o = origin("a", handler)
    e = edged(make_config({"api": [o.address]}))

    http = requests.Session()
    http.trust_env = False   # no proxy from the environment
    r = http.get(e.url("/file.bin?x=1&y=%20z"), timeout=10)
    assert r.status_code == 200
    assert r.content == payload
    assert r.headers["X-Origin"] == "a"
    assert r.headers["X-Custom"] == "Value With  Spaces"
    assert o.snapshot()[-1].target == "/file.bin?x=1&y=%20z"

    # The same with curl, and the two Set-Cookie fields kept apart.
    out = subprocess.run(["curl", "--noproxy", "*", "-sS", "-D", "-", "-o", str(e.workdir / "curl.bin"),
                          "--max-time", "10", e.url("/file.bin")],
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert (e.workdir / "curl.bin").read_bytes() == payload
    head = out.stdout.decode("latin-1").lower()
    assert "set-cookie: a=1" in head and "set-cookie: b=2" in head

    # Request body relayed byte-exact too.
    body = os.urandom(50_000)
    r = http.post(e.url("/upload"), data=body, timeout=10)
    assert r.status_code == 200
    assert o.snapshot()[-1].body == body

    lines = e.wait_access_lines(3)
    assert len(lines) >= 3, lines
    assert '"GET /file.bin?x=1&y=%%20z HTTP/1.1" 200 %d' % len(payload) in lines[0], lines[0]
    assert lines[0].startswith("127.0.0.1 ")


def test_bytes_ending_on_a_full_read_buffer_are_not_held_back(edged, origin):
    # edged leaves the flush of a read that filled its 64 KiB buffer to the read that follows at
    # once; when that read finds nothing, what was read must still go out, not wait for more.
    first = 64 * 1024          # what the origin sends first: exactly one read buffer
    rest = os.urandom(10_000)
    go_on = threading.Event()

    def handler(conn, req):
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
        length = first - len(head % 10000) + len(rest)   # a five-digit length either way
        head = head % length
        head += b"x" * (first - len(head))           # the first send ends on the buffer's end
        conn.send(head)
        go_on.wait(10)
        conn.send(rest)

    o = origin("a", handler)
    e = edged(make_config({"api": [o.address]}))
    with httpwire.connect(e.port) as s:
        s.sendall(httpwire.build_request("GET", "/boundary"))
        s.settimeout(3)
        got = b""
        try:
            while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < 60_000:
                chunk = s.recv(65536)
                assert chunk, "edged closed the connection"
                got += chunk
        finally:
            go_on.set()      # the origin sends the rest only now
        assert set(got.split(b"\r\n\r\n", 1)[1]) == {ord("x")}
        bs = httpwire.BufferedSocket(s)
        bs.buf += got
        s.settimeout(10)
        r = httpwire.read_response(bs)
    assert r.status == 200
    assert r.body.endswith(rest) and set(r.body[:-len(rest)]) == {ord("x")}


def test_request_bytes_ending_on_a_full_read_buffer_reach_the_origin(edged):
    # The same on the way in: a client read that fills the 64 KiB buffer leaves its flush toward
    # the origin to the next read; when that finds nothing, the bytes must still go out.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(5)
    e = edged(make_config({"api": ["127.0.0.1:%d" % srv.getsockname()[1]]}))
    first, rest = 64 * 1024, b"z" * 10_000
    with httpwire.connect(e.port) as c, srv:
        c.settimeout(5)
        # A first request leaves a kept-alive origin connection, so the next one is written to it
        # at once (no connect in between to flush for us).
        c.sendall(httpwire.build_request("GET", "/warm"))
        o, _ = srv.accept()
        o.settimeout(3)
        ob = httpwire.BufferedSocket(o)
        ob.read_until(b"\r\n\r\n")
        o.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        cb = httpwire.BufferedSocket(c)
        assert httpwire.read_response(cb).status == 200

        head = b"POST /boundary HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
        head = head % (first - len(head % 10000) + len(rest))   # a five-digit length either way
        c.sendall(head + b"y" * (first - len(head)))            # exactly one read buffer
        got = ob.read_until(b"\r\n\r\n")
        assert got.startswith(b"POST /boundary ")
        assert set(ob.read_exact(first - len(head))) == {ord("y")}   # the client holds the rest
        c.sendall(rest)
        assert ob.read_exact(len(rest)) == rest
        o.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        assert httpwire.read_response(cb).status == 200
        o.close()


def test_host_kept_and_forwarded_headers_added(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))

    r = httpwire.request(e.port, "GET", "/h1", host="Example.TEST:1234",
                         headers=[("X-Forwarded-For", "10.1.2.3")])
    assert r.status == 200
    req = o.snapshot()[-1]
    assert req.headers.get_all("host") == ["Example.TEST:1234"]
    assert req.headers.get_all("x-forwarded-for") == ["10.1.2.3, 127.0.0.1"]
    assert req.headers.get("x-forwarded-proto") == "http"
    assert req.headers.get("x-forwarded-host") == "Example.TEST:1234"
    assert req.headers.get("x-real-ip") == "127.0.0.1"

    r = httpwire.request(e.port, "GET", "/h2", host="plain.test")
    assert r.status == 200
    req = o.snapshot()[-1]
    assert req.headers.get_all("x-forwarded-for") == ["127.0.0.1"]
    assert req.headers.get_all("host") == ["plain.test"]



def test_http10_request_without_host_gets_the_listen_address(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))
    r = httpwire.request(e.port, "GET", "/no-host", version="HTTP/1.0", host=None)
    assert r.status == 200
    req = o.snapshot()[-1]
    assert req.headers.get_all("host") == ["127.0.0.1:%d" % e.port]
    assert req.headers.get("x-forwarded-host") == "127.0.0.1:%d" % e.port
    # With a Host, that one is kept (the local address is not even looked up).
    r = httpwire.request(e.port, "GET", "/with-host", version="HTTP/1.0", host="h10.test")
    assert r.status == 200
    assert o.snapshot()[-1].headers.get_all("host") == ["h10.test"]

def test_hop_by_hop_request_headers_removed(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))
    r = httpwire.request(e.port, "GET", "/hop", headers=[
        ("Connection", "keep-alive, X-Secret-Hop"),
        ("X-Secret-Hop", "must not pass"),
        ("Connection", "x-second-hop"),          # a second Connection field counts too
        ("X-Second-Hop", "must not pass"),
        ("Keep-Alive", "timeout=33, max=44"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "h2c"),
        ("X-End-To-End", "kept"),
    ])
    assert r.status == 200
    req = o.snapshot()[-1]
    names = req.headers.names()
    for h in ["x-secret-hop", "x-second-hop", "keep-alive", "proxy-connection", "te", "trailer",
              "upgrade"]:
        assert h not in names, "%s forwarded to the origin: %r" % (h, req.headers)
    # edged may state its own connection management to the origin, but not relay the client's
    for token in req.headers.tokens("connection"):
        assert token in ("keep-alive", "close"), req.headers
    assert req.headers.get("x-end-to-end") == "kept"


def test_hop_by_hop_response_headers_removed(edged, origin):
    def handler(conn, req):
        conn.respond(200, b"hop", headers=[("Connection", "X-Resp-Hop"),
                                           ("X-Resp-Hop", "must not pass"),
                                           ("Connection", "x-second-hop"),
                                           ("X-Second-Hop", "must not pass"),
                                           ("Keep-Alive", "timeout=77, max=123"),
                                           ("Proxy-Connection", "keep-alive"),
                                           ("TE", "trailers"),
                                           ("Trailer", "X-Checksum"),
                                           ("Upgrade", "h2c"),
                                           ("X-End-To-End", "kept")])

    o = origin("a", handler)
    e = edged(make_config({"api": [o.address]}))
    r = httpwire.request(e.port, "GET", "/hop")
    assert r.status == 200 and r.body == b"hop"
    names = r.headers.names()
    for h in ["x-resp-hop", "x-second-hop", "proxy-connection", "te", "trailer", "upgrade"]:
        assert h not in names, "%s relayed to the client: %r" % (h, r.headers)
    for v in r.headers.get_all("keep-alive"):
        assert "max=123" not in v and "timeout=77" not in v, r.headers
    for token in r.headers.tokens("connection"):
        assert token in ("keep-alive", "close"), r.headers
    assert r.headers.get("x-end-to-end") == "kept"


def test_routes_longest_prefix_and_host(edged, origin):
    root = origin("root")
    api = origin("api")
    www = origin("www")
    cfg = make_config(
        {"root": [root.address], "api": [api.address], "www": [www.address]},
        routes=[
            {"match": {"prefix": "/"}, "upstream": "root"},
            {"match": {"prefix": "/api/"}, "upstream": "api"},
            {"match": {"prefix": "/", "host": "www.example.com"}, "upstream": "www"},
        ])
    e = edged(cfg)

    def who(path, host="other.test"):
        r = httpwire.request(e.port, "GET", path, host=host)
        assert r.status == 200, (path, host, r.status)
        return r.headers.get("x-origin")

    assert who("/") == "root"
    assert who("/index.html") == "root"
    assert who("/api/") == "api"
    assert who("/api/v1/users?x=1") == "api"
    assert who("/apix") == "root"
    assert who("/api") == "root"
    assert who("/foo", host="www.example.com") == "www"
    assert who("/foo", host="WWW.Example.COM:8080") == "www"
    assert who("/foo", host="example.com") == "root"
    # each origin saw exactly its own requests
    assert [r.target for r in api.snapshot()] == ["/api/", "/api/v1/users?x=1"]
    assert [r.target for r in www.snapshot()] == ["/foo", "/foo"]


def test_absolute_form_target_routes_on_its_host_and_forwards_the_path(edged, origin):
    """RFC 9112 3.2.2: a server must accept absolute-form; the origin gets origin-form."""
    root = origin("root")
    www = origin("www")
    e = edged(make_config(
        {"root": [root.address], "www": [www.address]},
        routes=[{"match": {"prefix": "/"}, "upstream": "root"},
                {"match": {"prefix": "/", "host": "www.example.com"}, "upstream": "www"}]))
    for target, want_origin, want_path in [
            ("http://www.example.com/x?y=1", "www", "/x?y=1"),
            ("http://other.test/z", "root", "/z"),
            ("http://www.example.com", "www", "/"),
            ("http://www.example.com?q=1", "www", "/?q=1")]:
        r = httpwire.request(e.port, "GET", target, host="ignored.test")
        assert r.status == 200, (target, r)
        assert r.headers.get("x-origin") == want_origin, target
    assert [r.target for r in www.snapshot()] == ["/x?y=1", "/", "/?q=1"]
    assert [r.target for r in root.snapshot()] == ["/z"]
