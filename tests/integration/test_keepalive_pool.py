"""Keep-alive on both sides: origin connections are pooled (at most `keepalive` idle), HTTP/1.0
clients get keep-alive only on request, and stale pooled connections never surface as errors
(idempotent requests are retried on a fresh connection; a POST is never sent twice)."""

import threading
import time

import pytest

import httpwire
from harness import make_config
from origin import CLOSE


def pooled_config(o, keepalive=8, **upstream):
    return make_config({"api": {"keepalive": keepalive, "servers": [{"address": o.address}],
                                **upstream}})


def test_1000_requests_reuse_a_bounded_set_of_origin_connections(edged, origin):
    o = origin("a")
    e = edged(pooled_config(o, keepalive=8))
    in_flight = threading.Semaphore(8)   # never more concurrent requests than pooled slots
    failures = []
    per_conn = 100

    def client(n):
        try:
            with httpwire.connect(e.port, timeout=10) as s:
                bs = httpwire.BufferedSocket(s)
                for i in range(per_conn):
                    with in_flight:
                        s.sendall(httpwire.build_request("GET", "/c%d/r%d" % (n, i)))
                        r = httpwire.read_response(bs)
                    if r.status != 200 or r.body != b"GET /c%d/r%d from a\n" % (n, i):
                        failures.append((n, i, r.status, r.body[:100]))
                        return
                    if "close" in r.headers.tokens("connection"):
                        failures.append((n, i, "edged closed the client connection"))
                        return
        except Exception as ex:  # reported below
            failures.append((n, repr(ex)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
    assert not failures, failures[:5]
    assert o.request_count() == 10 * per_conn
    assert o.accepts <= 12, "%d origin connections for 1000 requests (keepalive 8, %.1f s)" % (
        o.accepts, time.monotonic() - t0)


def test_idle_pool_is_capped_at_keepalive(edged, origin):
    def slow(conn, req):
        time.sleep(0.4)
        conn.respond(200, b"slow")

    o = origin("a", slow)
    e = edged(pooled_config(o, keepalive=4))
    results = []

    def one(i):
        try:
            results.append(httpwire.request(e.port, "GET", "/burst%d" % i, timeout=10).status)
        except Exception as ex:
            results.append(repr(ex))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert results == [200] * 12, results
    assert o.max_open_conns >= 10, "expected ~12 concurrent origin connections"
    # after the burst edged keeps at most 4 idle connections and closes the rest
    deadline = time.monotonic() + 3
    while o.open_conns > 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert o.open_conns <= 4, "%d origin connections still open, keepalive is 4" % o.open_conns
    assert o.open_conns >= 1, "no idle origin connection was kept"
    accepts = o.accepts
    assert httpwire.request(e.port, "GET", "/reuse").status == 200
    assert o.accepts == accepts, "the pooled connection was not reused"


def test_http10_client_keepalive_only_on_request(edged, origin):
    o = origin("a")
    e = edged(pooled_config(o))

    # HTTP/1.0 without Connection: keep-alive -> closed after the response
    with httpwire.connect(e.port, timeout=5) as s:
        s.sendall(httpwire.build_request("GET", "/10close", version="HTTP/1.0"))
        bs = httpwire.BufferedSocket(s)
        r = httpwire.read_response(bs)
        assert r.status == 200
        assert "keep-alive" not in r.headers.tokens("connection"), r.headers
        assert r.body == b"GET /10close from a\n"
        closed, extra = httpwire.wait_closed(s, 3)
        assert closed and bs.buf + extra == b"", "edged kept an HTTP/1.0 connection open"

    # HTTP/1.0 with Connection: keep-alive -> kept, length-delimited, reusable
    with httpwire.connect(e.port, timeout=5) as s:
        bs = httpwire.BufferedSocket(s)
        for i in range(3):
            s.sendall(httpwire.build_request("GET", "/10ka%d" % i, version="HTTP/1.0",
                                             headers=[("Connection", "keep-alive")]))
            r = httpwire.read_response(bs)
            assert r.status == 200
            assert r.framing == "length", r.headers
            assert "keep-alive" in r.headers.tokens("connection"), r.headers
            assert r.body == b"GET /10ka%d from a\n" % i

    # HTTP/1.1 with Connection: close -> closed after the response
    with httpwire.connect(e.port, timeout=5) as s:
        s.sendall(httpwire.build_request("GET", "/11close", headers=[("Connection", "close")]))
        bs = httpwire.BufferedSocket(s)
        r = httpwire.read_response(bs)
        assert r.status == 200 and "close" in r.headers.tokens("connection"), r.headers
        closed, _ = httpwire.wait_closed(s, 3)
        assert closed


@pytest.mark.parametrize("advertised", [True, False], ids=["advertised", "silent"])
def test_origin_keepalive_timeout_race_gives_no_502(edged, origin, advertised):
    """Like Node's http server: idle connections closed at exactly 1 s, announced with
    `Keep-Alive: timeout=1` (or not, as many servers do). Requests land right around then."""
    def handler(conn, req):
        conn.respond(200, b"ok", headers=[conn.origin.ka_header()] if advertised else [])

    o = origin("node", handler, keepalive_timeout=1)
    e = edged(pooled_config(o))
    statuses = []
    with httpwire.connect(e.port, timeout=10) as s:
        bs = httpwire.BufferedSocket(s)
        for gap in [None, 1.0, 1.05, 0.95, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0, 0.97, 1.03]:
            if gap:
                time.sleep(gap)
            s.sendall(httpwire.build_request("GET", "/tick"))
            r = httpwire.read_response(bs)
            statuses.append(r.status)
    assert statuses == [200] * len(statuses), statuses
    assert o.accepts >= 2  # the origin really did close idle connections


def test_idle_connection_closed_by_origin_is_not_used(edged, origin):
    o = origin("a", keepalive_timeout=0.3)   # closes idle connections silently after 0.3 s
    e = edged(pooled_config(o))
    assert httpwire.request(e.port, "GET", "/first").status == 200
    time.sleep(0.8)
    r = httpwire.request(e.port, "GET", "/second")
    assert r.status == 200 and r.body == b"GET /second from a\n"
    assert o.accepts == 2


def drop_reused(conn, req):
    """Answer the first request on a connection; read any later one and close without answer,
    as an origin does when its idle timer fires just as the request arrives."""
    if req.conn_index >= 1:
        return CLOSE
    conn.respond(200, b"%s %s answered" % (req.method.encode(), req.target.encode()))


def test_get_on_dead_pooled_connection_is_retried_on_a_fresh_one(edged, origin):
    o = origin("a", drop_reused)
    e = edged(pooled_config(o))
    assert httpwire.request(e.port, "GET", "/warm").status == 200
    r = httpwire.request(e.port, "GET", "/retry-me")
    assert r.status == 200, r
    assert r.body == b"GET /retry-me answered"
    tries = [(q.conn_id, q.conn_index) for q in o.snapshot() if q.target == "/retry-me"]
    assert tries == [(1, 1), (2, 0)], tries


def test_post_on_dead_pooled_connection_is_never_sent_twice(edged, origin):
    o = origin("a", drop_reused)
    e = edged(pooled_config(o, health={"max_fails": 0}))
    assert httpwire.request(e.port, "GET", "/warm").status == 200
    r = httpwire.request(e.port, "POST", "/once", body=b"x" * 5000)
    time.sleep(1.0)
    posts = [q for q in o.snapshot() if q.target == "/once"]
    assert len(posts) == 1, "POST reached the origin %d times" % len(posts)
    assert posts[0].body == b"x" * 5000
    assert r.status == 502, r
    # and edged still works afterwards
    assert httpwire.request(e.port, "GET", "/after").status == 200
