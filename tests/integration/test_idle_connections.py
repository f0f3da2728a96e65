"""Many idle keep-alive client connections: each one, left idle after its first response, still
answers its next request (in any order, interleaved with the others), a pipelined pair on an
idle connection still comes back in order, and connections idle past `keepalive` are closed
while the ones in use are not."""

import resource
import time

import pytest

import httpwire
from harness import make_config

IDLE_CONNS = 2000


def _raise_nofile(need):
    """Raise this process's open-file limit (edged inherits it); skip when the hard one is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip("open-file hard limit %d < %d" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def _closed_by_peer(s):
    """True when the peer has closed `s` (EOF or reset); bytes before that fail the test."""
    s.setblocking(False)
    try:
        data = s.recv(65536)
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        s.setblocking(True)
    assert data == b"", "an idle connection received %r" % data[:100]
    return True


def _get(s, bs, target):
    s.sendall(httpwire.build_request("GET", target))
    return httpwire.read_response(bs)


def test_2000_idle_keepalive_connections_all_still_work(edged, origin):
    _raise_nofile(2 * IDLE_CONNS + 512)
    o = origin("a")
    e = edged(make_config({"api": {"keepalive": 8, "servers": [{"address": o.address}]}},
                          timeouts={"keepalive": "120s"}))
    conns = []
    try:
        for i in range(IDLE_CONNS):
            s = httpwire.connect(e.port, timeout=10)
            bs = httpwire.BufferedSocket(s)
            r = _get(s, bs, "/first/%d" % i)
            assert r.status == 200 and r.body == b"GET /first/%d from a\n" % i, (i, r.status)
            conns.append((s, bs))
        # Every connection is idle now. The second requests go in another order than the
        # first ones, so each connection is woken from the middle of the idle list.
        order = list(range(0, IDLE_CONNS, 2)) + list(range(IDLE_CONNS - 1, 0, -2))
        for i in order:
            s, bs = conns[i]
            r = _get(s, bs, "/second/%d" % i)
            assert r.status == 200 and r.body == b"GET /second/%d from a\n" % i, (i, r.status)
            assert "close" not in r.headers.tokens("connection"), i
        # Pipelined on connections that were idle: answered in order.
        for i in (0, IDLE_CONNS // 2, IDLE_CONNS - 1):
            s, bs = conns[i]
            s.sendall(httpwire.build_request("GET", "/p1/%d" % i) +
                      httpwire.build_request("GET", "/p2/%d" % i))
            for p in ("p1", "p2"):
                r = httpwire.read_response(bs)
                assert r.status == 200 and r.body == b"GET /%s/%d from a\n" % (p.encode(), i)
    finally:
        for s, _ in conns:
            s.close()
    assert o.request_count() == 2 * IDLE_CONNS + 6
    # Sequential requests through 8 pooled origin connections: the origin saw only a few.
    assert o.accepts <= 8, o.accepts
    assert len(e.wait_access_lines(2 * IDLE_CONNS + 6, timeout=20)) == 2 * IDLE_CONNS + 6


def test_connections_idle_past_keepalive_are_closed_busy_ones_are_not(edged, origin):
    _raise_nofile(1024)
    o = origin("a")
    e = edged(make_config({"api": [o.address]}, timeouts={"keepalive": "1s"}))
    idle = []
    for i in range(200):
        s = httpwire.connect(e.port, timeout=10)
        bs = httpwire.BufferedSocket(s)
        assert _get(s, bs, "/idle/%d" % i).status == 200
        idle.append(s)
    # One connection kept busy meanwhile: a request every 0.3 s (under the 1 s keepalive).
    with httpwire.connect(e.port, timeout=10) as busy:
        bbs = httpwire.BufferedSocket(busy)
        deadline = time.monotonic() + 15
        open_idle = list(idle)
        n = 0
        while open_idle and time.monotonic() < deadline:
            r = _get(busy, bbs, "/busy/%d" % n)
            assert r.status == 200 and "close" not in r.headers.tokens("connection"), n
            n += 1
            time.sleep(0.3)
            still = []
            for s in open_idle:
                if _closed_by_peer(s):
                    s.close()
                else:
                    still.append(s)
            open_idle = still
        assert not open_idle, "%d of 200 idle connections still open 15 s after keepalive 1s" \
            % len(open_idle)
        # The busy connection outlived them all and still works.
        assert _get(busy, bbs, "/busy/last").status == 200
    # New connections are served as before.
    assert httpwire.request(e.port, "GET", "/after").status == 200
