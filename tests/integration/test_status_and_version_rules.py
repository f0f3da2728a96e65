"""What edged, as the server its client talks to, must not pass on from the origin or the client,
on raw sockets (one edged and one fake origin for the module; the origin's answer is chosen by
the path). Each test checks the exact bytes the client received (Date, the one varying field,
replaced by "-"), or the exact head the origin received:
- RFC 9110 §8.6 / RFC 9112 §6.1: no Content-Length or Transfer-Encoding in a 1xx or 204, from the
  origin or from the cache; a 304's Transfer-Encoding is not taken as framing;
- RFC 9110 §10.1.1: an HTTP/1.0 request's Expect: 100-continue is ignored (not forwarded); an
  HTTP/1.1 one still is, and its 100 still reaches the client;
- RFC 9110 §15.2: no 1xx (100, 103) to an HTTP/1.0 client, the final response still goes out;
- RFC 9110 §7.8: an HTTP/1.0 request's Upgrade is ignored: no Upgrade to the origin, no tunnel;
- RFC 9112 §6.1: an origin's HTTP/1.0 response with Transfer-Encoding has faulty framing: its
  connection is closed after it, never pooled;
- RFC 9110 §7.8: an origin's 101 to a protocol the client did not offer is a 502, not a tunnel."""

import re
import socket
import time

import pytest

import httpwire
from harness import Edged, make_config
from origin import Origin

EARLY = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nContent-Length: 0\r\n\r\n"


def handler(conn, req):
    path = req.target
    if path == "/204-length":
        conn.send(b"HTTP/1.1 204 No Content\r\nX-Origin: o\r\nContent-Length: 7\r\n\r\n")
    elif path == "/204-chunked":
        conn.send(b"HTTP/1.1 204 No Content\r\nX-Origin: o\r\nTransfer-Encoding: chunked\r\n\r\n")
    elif path == "/304-chunked":
        conn.send(b"HTTP/1.1 304 Not Modified\r\nX-Origin: o\r\nETag: \"e\"\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
    elif path == "/cache/204":
        conn.send(b"HTTP/1.1 204 No Content\r\nX-Origin: o\r\nCache-Control: max-age=60\r\n"
                  b"Content-Length: 0\r\n\r\n")
    elif path == "/early":
        conn.send(EARLY)
        conn.respond(200, b"final", headers=[])
    elif path == "/continue":
        # A 100 of the origin's own (the body was read already), then the final response.
        conn.send(b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n")
        conn.respond(200, b"got %d" % req.body_len)
    elif path == "/continue11":
        # The origin (send_continue) answered the client's Expect with a 100 before the body.
        conn.respond(200, b"got %d" % req.body_len)
    elif path == "/ws":
        if req.headers.get("upgrade"):
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n\r\n")
            return "close"
        conn.respond(200, b"plain")
    else:
        conn.respond(200, b"ok")
    return None


def serve(name, handle):
    """An origin for the module, stopped by the fixture that yields from here."""
    o = Origin(name, handle)
    yield o
    o.stop()


@pytest.fixture(scope="module")
def origin():
    # send_continue: a request that reaches it with Expect: 100-continue gets a 100 before its
    # body is read.
    yield from serve("o", handler)


def http10_chunked(conn, req):
    conn.send(b"HTTP/1.0 200 OK\r\nX-Origin: old\r\nConnection: keep-alive\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    return None   # the origin would serve the next request on this connection


@pytest.fixture(scope="module")
def old_origin():
    """Its own upstream, so that every connection to it belongs to the one test that uses it."""
    yield from serve("old", http10_chunked)


def switch_to_h2c(conn, req):
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
    return "close"


@pytest.fixture(scope="module")
def h2c_origin():
    """Its own upstream: the 502 it causes marks its server failed, no other test's."""
    yield from serve("h2c", switch_to_h2c)


@pytest.fixture(scope="module")
def proxy(origin, old_origin, h2c_origin, tmp_path_factory):
    routes = [{"match": {"prefix": "/cache/"}, "upstream": "app", "cache": "on"},
              {"match": {"prefix": "/old/"}, "upstream": "old"},
              {"match": {"prefix": "/h2c/"}, "upstream": "h2c"},
              {"match": {"prefix": "/"}, "upstream": "app"}]
    e = Edged(make_config({"app": [origin.address], "old": [old_origin.address],
                           "h2c": [h2c_origin.address]}, routes=routes, cache={"memory": "1MiB"}),
              tmp_path_factory.mktemp("edged")).start()
    yield e
    e.stop()


def dated(raw):
    """The bytes with the Date field's value (edged's clock) replaced by "-"."""
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: -\r\n", raw)


def read_head(bs):
    return bs.read_until(b"\r\n\r\n")


def last_request(origin, path):
    return [r for r in origin.snapshot() if r.target == path][-1]


def get(path, rid, version="HTTP/1.1", extra=b""):
    return (b"GET %s %s\r\nHost: t\r\nX-Request-Id: %s\r\n%s\r\n"
            % (path.encode(), version.encode(), rid.encode(), extra))


def test_204_and_304_lose_origin_framing_on_a_kept_connection(proxy):
    """Content-Length and Transfer-Encoding of an origin's 204 are not sent (RFC 9110 §8.6, RFC
    9112 §6.1); a 304's chunked coding is not framing (no body is read or written) and is not
    passed on; the next request on the same connection is answered."""
    with httpwire.connect(proxy.port, timeout=5) as s:
        bs = httpwire.BufferedSocket(s)
        s.sendall(get("/204-length", "a1"))
        assert dated(read_head(bs)) == (b"HTTP/1.1 204 No Content\r\nX-Origin: o\r\nDate: -\r\n"
                                        b"X-Request-Id: a1\r\n\r\n")
        s.sendall(get("/204-chunked", "a2"))
        assert dated(read_head(bs)) == (b"HTTP/1.1 204 No Content\r\nX-Origin: o\r\nDate: -\r\n"
                                        b"X-Request-Id: a2\r\n\r\n")
        s.sendall(get("/304-chunked", "a3", extra=b"If-None-Match: \"e\"\r\n"))
        assert dated(read_head(bs)) == (b"HTTP/1.1 304 Not Modified\r\nX-Origin: o\r\nETag: \"e\"\r\n"
                                        b"Date: -\r\nX-Request-Id: a3\r\n\r\n")
        s.sendall(get("/after", "a4"))
        r = httpwire.read_response(bs)
        assert (r.status, r.body) == (200, b"ok"), r.raw_head
        assert bs.buf == b""


def test_cached_204_has_no_content_length_on_miss_or_hit(proxy, origin):
    with httpwire.connect(proxy.port, timeout=5) as s:
        bs = httpwire.BufferedSocket(s)
        heads = []
        for rid in ("c1", "c2"):
            s.sendall(get("/cache/204", rid))
            heads.append(read_head(bs))
    assert origin.request_count("/cache/204") == 1, heads   # the second one was a hit
    for head in heads:
        assert head.startswith(b"HTTP/1.1 204 No Content\r\n"), head
        assert b"content-length" not in head.lower() and b"transfer-encoding" not in head.lower(), head
    assert b"Cache-Status: edged; hit" in heads[1], heads[1]


def test_interim_to_http11_client_has_no_content_length(proxy):
    with httpwire.connect(proxy.port, timeout=5) as s:
        bs = httpwire.BufferedSocket(s)
        s.sendall(get("/early", "b1"))
        assert read_head(bs) == b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        r = httpwire.read_response(bs)
        assert (r.status, r.body, r.interim) == (200, b"final", [])


def test_no_interim_response_to_an_http10_client(proxy):
    """The origin's 103 is dropped; the final response is the first and only thing sent."""
    with httpwire.connect(proxy.port, timeout=5) as s:
        s.sendall(get("/early", "b2", version="HTTP/1.0"))
        got = httpwire.BufferedSocket(s).read_to_eof()
    assert dated(got) == (b"HTTP/1.1 200 OK\r\nX-Origin: o\r\nContent-Length: 5\r\nDate: -\r\n"
                          b"X-Request-Id: b2\r\nConnection: close\r\n\r\nfinal")


def test_http10_expect_100_continue_is_ignored(proxy, origin):
    """Not forwarded to the origin; the origin's own 100 is not relayed; the body goes through."""
    with httpwire.connect(proxy.port, timeout=5) as s:
        s.sendall(b"POST /continue HTTP/1.0\r\nHost: t\r\nX-Request-Id: d1\r\n"
                  b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        got = httpwire.BufferedSocket(s).read_to_eof()
    assert dated(got) == (b"HTTP/1.1 200 OK\r\nX-Origin: o\r\nContent-Length: 5\r\nDate: -\r\n"
                          b"X-Request-Id: d1\r\nConnection: close\r\n\r\ngot 5")
    req = last_request(origin, "/continue")
    assert req.headers.get("expect") is None, req.raw_head
    assert req.body == b"hello"


def test_http11_expect_100_continue_is_forwarded_and_its_100_relayed(proxy, origin):
    """Unchanged for HTTP/1.1: the origin gets Expect, its 100 reaches the client before the
    client sends the body."""
    with httpwire.connect(proxy.port, timeout=5) as s:
        bs = httpwire.BufferedSocket(s)
        s.sendall(b"POST /continue11 HTTP/1.1\r\nHost: t\r\nX-Request-Id: d2\r\n"
                  b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        assert read_head(bs) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello")
        r = httpwire.read_response(bs)
        assert (r.status, r.body, r.interim) == (200, b"got 5", [])
    assert last_request(origin, "/continue11").headers.get("expect") == "100-continue"


def test_http10_upgrade_is_not_a_tunnel(proxy, origin):
    """RFC 9110 §7.8: the origin sees no Upgrade (it would answer 101), the client gets the plain
    response and the connection is HTTP to its end."""
    with httpwire.connect(proxy.port, timeout=5) as s:
        s.sendall(get("/ws", "e1", version="HTTP/1.0",
                      extra=b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"))
        got = httpwire.BufferedSocket(s).read_to_eof()
    assert dated(got) == (b"HTTP/1.1 200 OK\r\nX-Origin: o\r\nContent-Length: 5\r\nDate: -\r\n"
                          b"X-Request-Id: e1\r\nConnection: close\r\n\r\nplain")
    req = last_request(origin, "/ws")
    assert req.headers.get("upgrade") is None and "upgrade" not in req.headers.tokens("connection"), \
        req.raw_head


def test_http10_origin_response_with_transfer_encoding_is_not_pooled(proxy, old_origin):
    """The body is decoded and passed on, then the origin connection is closed: the second request
    opens a new one although the origin said keep-alive."""
    with httpwire.connect(proxy.port, timeout=5) as s:
        bs = httpwire.BufferedSocket(s)
        for rid in ("f1", "f2"):
            s.sendall(get("/old/x", rid))
            r = httpwire.read_response(bs)
            assert (r.status, r.framing, r.body) == (200, "chunked", b"ok"), r.raw_head
    assert [r.conn_id for r in old_origin.snapshot()] == [1, 2]


def test_101_to_a_protocol_the_client_did_not_offer_is_502(proxy, h2c_origin):
    with httpwire.connect(proxy.port, timeout=5) as s:
        s.sendall(get("/h2c/x", "g1", extra=b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                               b"Sec-WebSocket-Version: 13\r\n"))
        r = httpwire.read_response(httpwire.BufferedSocket(s))
    assert r.status == 502, r.raw_head
    assert b"h2c" not in r.raw_head.lower() and r.headers.get("upgrade") is None, r.raw_head
    req = h2c_origin.snapshot()[0]
    assert req.headers.get("upgrade") == "websocket", req.raw_head
