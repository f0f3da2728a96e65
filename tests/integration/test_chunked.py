"""Message framing through edged: chunked bodies both ways, read-until-close responses,
body-less responses (HEAD, 204, 304) on a kept-alive connection, and 1xx interim responses."""

import os
import subprocess
import time

import httpwire
from harness import make_config
from origin import CLOSE

SIZES = [1, 7, 13, 4099, 2, 65537, 300, 8191]


def test_chunked_request_body_arrives_intact(edged, origin):
    def handler(conn, req):
        conn.respond(200, b"%d" % req.body_len)

    o = origin("a", handler)
    e = edged(make_config({"api": [o.address]}))
    body = os.urandom(300_000)
    wire = httpwire.chunk_encode(body, SIZES)
    head = httpwire.build_request("POST", "/chunked", headers=[("Transfer-Encoding", "chunked")])
    with httpwire.connect(e.port) as s:
        s.sendall(head)
        # odd write boundaries: split inside chunk-size lines and inside data
        pos = 0
        step = [3, 1000, 5, 70000, 11]
        i = 0
        while pos < len(wire):
            n = step[i % len(step)]
            s.sendall(wire[pos: pos + n])
            pos += n
            i += 1
            if i % 7 == 0:
                time.sleep(0.002)
        r = httpwire.read_response(httpwire.BufferedSocket(s))
    assert r.status == 200
    assert r.body == b"%d" % len(body)
    req = o.snapshot()[-1]
    assert req.body == body
    # the message edged sent upstream is correctly framed one way or the other
    assert req.framing in ("chunked", "length")


def test_chunked_response_arrives_intact(edged, origin):
    body = os.urandom(400_000)

    def handler(conn, req):
        conn.respond(200, body, chunked=True, chunk_sizes=SIZES)

    o = origin("a", handler)
    e = edged(make_config({"api": [o.address]}))

    # raw socket, HTTP/1.1: decode and compare; then the connection is still usable
    with httpwire.connect(e.port) as s:
        bs = httpwire.BufferedSocket(s)
        s.sendall(httpwire.build_request("GET", "/c1"))
        r = httpwire.read_response(bs)
        assert r.status == 200
        assert r.framing in ("chunked", "length")
        assert r.body == body
        s.sendall(httpwire.build_request("GET", "/c2"))
        r = httpwire.read_response(bs)
        assert r.status == 200 and r.body == body

    # curl
    out_file = e.workdir / "curl.out"
    p = subprocess.run(["curl", "--noproxy", "*", "-sS", "--max-time", "10", "-o", str(out_file), e.url("/c3")],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert out_file.read_bytes() == body

    # HTTP/1.0 client: cannot receive chunked
    with httpwire.connect(e.port) as s:
        s.sendall(httpwire.build_request("GET", "/c4", version="HTTP/1.0"))
        r = httpwire.read_response(httpwire.BufferedSocket(s))
    assert r.status == 200
    assert r.framing in ("close", "length"), r.headers
    assert r.body == body


def test_read_until_close_response_relayed_completely(edged, origin):
    body = os.urandom(250_000)

    def handler(conn, req):
        # no Content-Length, no chunked: the body ends when the origin closes
        conn.respond(200, body, length=False, headers=[("Connection", "close")])
        return CLOSE

    o = origin("a", handler)
    e = edged(make_config({"api": [o.address]}))

    with httpwire.connect(e.port) as s:
        bs = httpwire.BufferedSocket(s)
        s.sendall(httpwire.build_request("GET", "/u11"))
        r = httpwire.read_response(bs)
        assert r.status == 200
        assert r.body == body, (r.framing, len(r.body))
        if r.framing != "close":
            # re-framed for HTTP/1.1 (chunked or length): the connection may stay usable
            s.sendall(httpwire.build_request("GET", "/u11b"))
            r2 = httpwire.read_response(bs)
            assert r2.status == 200 and r2.body == body

    with httpwire.connect(e.port) as s:
        s.sendall(httpwire.build_request("GET", "/u10", version="HTTP/1.0"))
        r = httpwire.read_response(httpwire.BufferedSocket(s))
    assert r.status == 200
    assert "chunked" not in r.headers.tokens("transfer-encoding")
    assert r.framing == "close", r.headers
    assert r.body == body


def test_head_204_304_carry_no_body_and_connection_stays_usable(edged, origin):
    def handler(conn, req):
        if req.method == "HEAD" and req.target == "/head-chunked":
            # the GET would be chunked: the HEAD response says so and carries nothing
            conn.respond(200, b"", length=False, headers=[("Transfer-Encoding", "chunked")])
        elif req.method == "HEAD":
            # a HEAD response announces the length of the GET body but carries none
            conn.respond(200, b"", headers=[("Content-Length", "12345")])
        elif req.target == "/204":
            conn.respond(204, b"", length=False)
        elif req.target == "/304":
            conn.respond(304, b"", length=False, headers=[("ETag", '"v1"')])
        elif req.target == "/304-with-length":
            # RFC 9110 8.6: a 304 may state the selected representation's Content-Length;
            # there is still no content
            conn.respond(304, b"", headers=[("ETag", '"v1"'), ("Content-Length", "500")])
        else:
            conn.respond(200, b"normal body")

    o = origin("a", handler)
    e = edged(make_config({"api": [o.address]}))
    cases = [("HEAD", "/h", 200), ("GET", "/204", 204), ("GET", "/304", 304),
             ("HEAD", "/head-chunked", 200), ("GET", "/304-with-length", 304)]
    with httpwire.connect(e.port, timeout=3) as s:
        bs = httpwire.BufferedSocket(s)
        for method, path, status in cases:
            s.sendall(httpwire.build_request(method, path,
                                             headers=[("If-None-Match", '"v1"')]
                                             if path.startswith("/304") else None))
            r = httpwire.read_response(bs, method)
            assert r.status == status, (method, path, r.status)
            # no stray body bytes: the next response must start right after this head
            s.sendall(httpwire.build_request("GET", "/after"))
            try:
                r = httpwire.read_response(bs)
            except (httpwire.PeerClosed, TimeoutError, ConnectionError) as ex:
                raise AssertionError("after %s %s (%d) the next request on the connection got "
                                     "no response: %r" % (method, path, status, ex))
            assert r.status == 200 and r.body == b"normal body", (method, path, r, r.raw_head)
        assert bs.buf == b""
    assert o.request_count() == 2 * len(cases)


def test_100_continue_with_curl(edged, origin):
    def handler(conn, req):
        conn.respond(200, b"got %d" % req.body_len)

    o = origin("a", handler)
    e = edged(make_config({"api": [o.address]}))
    data = os.urandom(200_000)
    f = e.workdir / "upload.bin"
    f.write_bytes(data)
    t0 = time.monotonic()
    # --expect100-timeout 5: if nobody sends the 100, curl would wait 5 s, not 1 s
    p = subprocess.run(["curl", "--noproxy", "*", "-sS", "-v", "--max-time", "15", "--expect100-timeout", "5",
                        "-H", "Expect: 100-continue", "--data-binary", "@%s" % f,
                        e.url("/continue")], capture_output=True, timeout=30)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"got %d" % len(data)
    verbose = p.stderr.decode("latin-1")
    assert "< HTTP/1.1 100 Continue" in verbose, verbose
    assert elapsed < 4, "curl waited %.1f s for the 100 Continue" % elapsed
    assert o.snapshot()[-1].body == data


def test_103_early_hints_relayed_before_final_response(edged, origin):
    def handler(conn, req):
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n")
        time.sleep(0.8)
        conn.respond(200, b"final")

    o = origin("a", handler)
    e = edged(make_config({"api": [o.address]}))
    with httpwire.connect(e.port, timeout=5) as s:
        s.sendall(httpwire.build_request("GET", "/hints"))
        t0 = time.monotonic()
        early = bytearray()
        s.settimeout(0.1)
        while time.monotonic() - t0 < 0.6 and b"\r\n\r\n" not in early:
            try:
                data = s.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            early += data
        assert early.startswith(b"HTTP/1.1 103 "), \
            "no 103 within 0.6 s (origin sent it at once); got %r" % bytes(early)
        assert b"</style.css>; rel=preload" in early
        s.settimeout(5)
        bs = httpwire.BufferedSocket(s)
        bs.buf += early
        r = httpwire.read_response(bs)
    assert [st for st, _ in r.interim] == [103]
    assert r.status == 200 and r.body == b"final"
