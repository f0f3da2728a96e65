"""Error paths: bad client requests get the right 4xx/5xx without reaching the origin, origin
failures map to 502/504, a response cut short by the origin never looks complete to the
client, and after every one of them edged keeps serving."""

import socket
import time

import pytest

import httpwire
from harness import free_port, make_config

MAX_BODY = 64 * 1024


@pytest.fixture
def setup(edged, origin, blackhole):
    """edged with a healthy route (/) plus one route per failure mode."""
    good = origin("good")

    def slow(conn, req):
        time.sleep(3)
        conn.respond(200, b"too late")

    def reset_mid_body(conn, req):
        # /reset/<length|chunked>-<reset|fin|stall>: send part of the body, then cut it
        framing, how = req.target.rsplit("/", 1)[1].split("-")
        if framing == "chunked":
            conn.send(b"HTTP/1.1 200 OK\r\nX-Origin: reset\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(10):
                conn.send(b"1388\r\n" + b"c" * 5000 + b"\r\n")
        else:
            conn.send(b"HTTP/1.1 200 OK\r\nX-Origin: reset\r\nContent-Length: 200000\r\n\r\n"
                      + b"l" * 50000)
        time.sleep(3 if how == "stall" else 0.3)   # stall: past edged's 1 s read timeout
        if how == "reset":
            conn.reset()
        else:
            conn.close()

    slow_o = origin("slow", slow)
    reset_o = origin("reset", reset_mid_body)
    hole = blackhole()

    def failing(address):
        return {"retries": 0, "health": {"max_fails": 0}, "servers": [{"address": address}]}

    cfg = make_config(
        {"good": [good.address],
         "refused": failing("127.0.0.1:%d" % free_port()),
         "hole": failing(hole.address),
         "slow": failing(slow_o.address),
         "reset": failing(reset_o.address)},
        routes=[{"match": {"prefix": "/"}, "upstream": "good"},
                {"match": {"prefix": "/refused/"}, "upstream": "refused"},
                {"match": {"prefix": "/hole/"}, "upstream": "hole"},
                {"match": {"prefix": "/slow/"}, "upstream": "slow"},
                {"match": {"prefix": "/reset/"}, "upstream": "reset"}],
        timeouts={"connect": "1s", "read": "1s"},
        limits={"max_header_bytes": "4KiB", "max_body_bytes": "64KiB"})
    e = edged(cfg)
    return e, good


def still_works(e, good):
    n = good.request_count()
    r = httpwire.request(e.port, "GET", "/ok", timeout=5)
    assert r.status == 200 and r.body == b"GET /ok from good\n"
    assert good.request_count() == n + 1


def send_raw(e, data, timeout=5):
    """Send bytes on a fresh connection; return (Response or None, closed_after, raw_rest)."""
    with httpwire.connect(e.port, timeout=timeout) as s:
        s.sendall(data)
        bs = httpwire.BufferedSocket(s)
        r = httpwire.read_response(bs)
        closed, extra = httpwire.wait_closed(s, 3)
        return r, closed, bytes(bs.buf) + extra


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost: a\r\nNo-Colon-Here\r\n\r\n",
    b"\x16\x03\x01\x02\x00garbage\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Name : x\r\n\r\n",   # RFC 9112 5.1: MUST 400
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    # RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing
    b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
], ids=["no-colon", "tls-hello", "bad-content-length", "space-in-name", "space-before-colon",
        "two-content-lengths", "bad-chunk-size", "http10-transfer-encoding"])
def test_malformed_request_gets_400(setup, raw):
    e, good = setup
    r, closed, _ = send_raw(e, raw)
    assert r.status == 400, r
    assert closed, "connection left open after a malformed request"
    assert good.request_count() == 0
    still_works(e, good)


def test_header_over_limit_gets_431(setup):
    e, good = setup
    r, _, _ = send_raw(e, httpwire.build_request("GET", "/big",
                                                 headers=[("X-Big", "a" * 8000)]))
    assert r.status == 431, r
    r, _, _ = send_raw(e, httpwire.build_request(
        "GET", "/many", headers=[("X-H%d" % i, "v" * 40) for i in range(200)]))
    assert r.status == 431, r
    assert good.request_count() == 0
    still_works(e, good)


def test_body_over_limit_with_content_length_gets_413(setup):
    e, good = setup
    # only the head is sent: edged must answer from Content-Length alone
    head = httpwire.build_request("POST", "/upload",
                                  headers=[("Content-Length", str(MAX_BODY + 1))])
    with httpwire.connect(e.port, timeout=5) as s:
        s.sendall(head)
        r = httpwire.read_response(httpwire.BufferedSocket(s))
    assert r.status == 413, r
    assert good.request_count() == 0
    # exactly at the limit is fine
    r = httpwire.request(e.port, "POST", "/at-limit", body=b"z" * MAX_BODY)
    assert r.status == 200
    assert good.snapshot()[-1].body_len == MAX_BODY
    still_works(e, good)


def test_chunked_body_going_over_limit_gets_413(setup):
    e, good = setup
    body = b"q" * (MAX_BODY + 40_000)
    wire = (httpwire.build_request("POST", "/chunked-upload",
                                   headers=[("Transfer-Encoding", "chunked")])
            + httpwire.chunk_encode(body, [10_000, 3_333]))
    with httpwire.connect(e.port, timeout=5) as s:
        try:
            s.sendall(wire)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = httpwire.read_response(httpwire.BufferedSocket(s))
    assert r.status == 413, r
    assert all(q.body_len <= MAX_BODY for q in good.snapshot())
    still_works(e, good)


def test_unknown_transfer_encoding_gets_501(setup):
    e, good = setup
    r, _, _ = send_raw(e, httpwire.build_request(
        "POST", "/gz", headers=[("Transfer-Encoding", "gzip, chunked")]) + b"0\r\n\r\n")
    assert r.status == 501, r
    # Without a final chunked the body has no length: 400, RFC 9112 §6.3 (a MUST over the
    # SHOULD of 501).
    r, _, _ = send_raw(e, httpwire.build_request(
        "POST", "/gz", headers=[("Transfer-Encoding", "gzip")]) + b"xxxx")
    assert r.status == 400, r
    assert good.request_count() == 0
    still_works(e, good)


def test_http11_without_host_gets_400(setup):
    e, good = setup
    r, _, _ = send_raw(e, b"GET /nohost HTTP/1.1\r\nUser-Agent: t\r\n\r\n")
    assert r.status == 400, r
    assert good.request_count() == 0
    still_works(e, good)


def test_two_host_headers_get_400(setup):
    e, good = setup
    r, _, _ = send_raw(e, b"GET /twohosts HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n")
    assert r.status == 400, r
    assert good.request_count() == 0
    still_works(e, good)


def test_content_length_with_transfer_encoding_gets_400_and_close(setup):
    e, good = setup
    smuggle = (b"POST /cl-te HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
               b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
    r, closed, rest = send_raw(e, smuggle)
    assert r.status == 400, r
    assert closed, "connection kept open after CL+TE"
    assert rest == b"", "a second response followed: %r" % rest[:200]
    time.sleep(0.2)
    assert good.request_count() == 0, [q.target for q in good.snapshot()]
    still_works(e, good)


def test_connection_refused_gets_502(setup):
    e, good = setup
    t0 = time.monotonic()
    r = httpwire.request(e.port, "GET", "/refused/x", timeout=10)
    assert r.status == 502, r
    assert time.monotonic() - t0 < 3
    still_works(e, good)


def test_connect_timeout_gets_504(setup):
    e, good = setup
    t0 = time.monotonic()
    r = httpwire.request(e.port, "GET", "/hole/x", timeout=10)
    elapsed = time.monotonic() - t0
    assert r.status == 504, r
    assert 0.8 <= elapsed < 4, "504 after %.2f s with connect timeout 1s" % elapsed
    still_works(e, good)


def test_read_timeout_before_head_gets_504(setup):
    e, good = setup
    t0 = time.monotonic()
    r = httpwire.request(e.port, "GET", "/slow/x", timeout=10)
    elapsed = time.monotonic() - t0
    assert r.status == 504, r
    assert 0.8 <= elapsed < 2.9, "504 after %.2f s with read timeout 1s" % elapsed
    still_works(e, good)


def read_until_closed(s, timeout=5.0):
    """All bytes until EOF or reset; fails if the connection stays open past timeout."""
    s.settimeout(0.2)
    deadline = time.monotonic() + timeout
    got = bytearray()
    while True:
        assert time.monotonic() < deadline, \
            "connection still open %.0f s after the origin reset; got %d bytes" % (timeout,
                                                                                  len(got))
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return bytes(got)
        if not data:
            return bytes(got)
        got += data


CUTS = ["reset", "fin", "stall"]


@pytest.mark.parametrize("how", CUTS)
def test_origin_reset_mid_body_truncates_client_response(setup, how):
    e, good = setup
    with httpwire.connect(e.port, timeout=5) as s:
        s.sendall(httpwire.build_request("GET", "/reset/length-" + how))
        raw = read_until_closed(s)
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no response head: %r" % raw[:200]
    start, headers = httpwire.parse_head(head + sep)
    assert start.split()[1] == "200"
    if headers.get("content-length") is not None:
        assert int(headers.get("content-length")) == 200000
        assert len(body) < 200000
    else:  # re-chunked: the terminating chunk must be missing
        assert "chunked" in headers.tokens("transfer-encoding"), headers
        assert not body.endswith(b"0\r\n\r\n")
    assert len(body) >= 1000, "the bytes the origin did send were not relayed"
    still_works(e, good)


@pytest.mark.parametrize("how", CUTS)
def test_origin_reset_mid_chunked_body_sends_no_last_chunk(setup, how):
    e, good = setup
    with httpwire.connect(e.port, timeout=5) as s:
        s.sendall(httpwire.build_request("GET", "/reset/chunked-" + how))
        raw = read_until_closed(s)
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no response head: %r" % raw[:200]
    start, headers = httpwire.parse_head(head + sep)
    assert start.split()[1] == "200"
    assert "chunked" in headers.tokens("transfer-encoding"), headers
    assert b"c" * 1000 in body
    assert not body.endswith(b"0\r\n\r\n"), "a truncated chunked response was terminated"
    bs = httpwire.BufferedSocket(None)
    bs.buf += body
    bs.eof = True
    with pytest.raises(httpwire.PeerClosed):
        httpwire.read_chunked(bs)
    still_works(e, good)


def test_connection_stays_open_after_502(setup):
    """nginx keeps a client connection after answering 502 itself: so does edged."""
    e, good = setup
    with httpwire.connect(e.port, timeout=5) as s:
        s.sendall(b"GET /refused/x HTTP/1.1\r\nHost: a\r\n\r\n")
        bs = httpwire.BufferedSocket(s)
        r = httpwire.read_response(bs)
        assert r.status == 502, r
        s.sendall(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        r2 = httpwire.read_response(bs)
        assert r2.status == 200, r2
    assert good.request_count() == 1
