"""Active health checks: a server whose check fails `fall` times in a row gets no client
requests (only checks) until it passes `rise` checks in a row; `initially: unhealthy` servers
wait for `rise` passes before their first request; a closed port is taken out by the checks
alone (max_fails: 0) and comes back once it listens. Every state change is logged once."""

import re
import socket
import time
from unittest import mock

import httpwire
from harness import free_port, make_config
from lbtools import Health
from origin import Origin

INTERVAL = 0.3       # seconds; matches "300ms" below
RISE = FALL = 2
SLACK = 1.5          # scheduling, ASan, a loaded machine
FLIP_WITHIN = INTERVAL * 1.1 * max(RISE, FALL) + 0.2 + SLACK   # jitter is +-10%, timeout 200ms


def check(**extra):
    c = {"path": "/healthz", "interval": "300ms", "timeout": "200ms", "rise": RISE, "fall": FALL}
    c.update(extra)
    return c


def upstream(servers, **check_extra):
    return {"health": {"max_fails": 0, "check": check(**check_extra)},
            "servers": [{"address": s} for s in servers]}


def client_requests(o):
    return sum(1 for r in o.snapshot() if r.target != "/healthz")


def checks(o):
    return o.request_count("/healthz")


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    assert pred(), "timed out after %.1f s waiting for %s" % (timeout, what)


def flips(e, address, state):
    """Error-log lines saying `address` is now `state` ("healthy" / "unhealthy")."""
    pat = re.compile(r"server %s is now %s \(" % (re.escape(address), state))
    return [l for l in e.error_log().splitlines() if pat.search(l)]


def wait_flip(e, address, state, timeout, count=1):
    """Wait for the count-th `is now <state>` line for address; returns (seconds taken, line)."""
    t0 = time.monotonic()
    wait_for(lambda: len(flips(e, address, state)) >= count, timeout,
             "'%s is now %s' in the error log; log tail:\n%s"
             % (address, state, e.error_log()[-2000:]))
    return time.monotonic() - t0, flips(e, address, state)[count - 1]


def origins_of(e, n):
    """X-Origin of n sequential requests on fresh connections, each answered 200."""
    got = []
    for i in range(n):
        r = httpwire.request(e.port, "GET", "/r%d" % i, timeout=5)
        assert r.status == 200, r
        got.append(r.headers.get("X-Origin"))
    return got


def origin_on_port(name, port, handler):
    """An Origin listening on a given port (the harness's binds port 0)."""
    real_bind = socket.socket.bind

    def bind(sock, addr):
        return real_bind(sock, (addr[0], port))

    with mock.patch.object(socket.socket, "bind", bind):
        return Origin(name, handler)


def test_failing_check_takes_server_out_and_back(edged, origin):
    ha, hb = Health(), Health()
    a, b = origin("a", ha), origin("b", hb)
    e = edged(make_config({"app": upstream([a.address, b.address])}))

    # Both start healthy (nginx-compatible): round robin reaches both at once.
    assert set(origins_of(e, 4)) == {"a", "b"}
    wait_for(lambda: checks(a) >= 2 and checks(b) >= 2, 3 * INTERVAL + SLACK, "first checks")

    # The checks are connection-per-check GETs of the configured path.
    req = next(r for r in b.snapshot() if r.target == "/healthz")
    assert req.method == "GET" and req.version == "HTTP/1.1"
    assert req.headers.get("host") == b.address
    assert req.headers.tokens("connection") == ["close"]
    assert req.headers.get("user-agent") == "edged-health-check"

    hb.status = 503
    took, line = wait_flip(e, b.address, "unhealthy", FLIP_WITHIN)
    assert took <= FLIP_WITHIN
    assert "status 503" in line and "[warn]" in line and '"app"' in line, line

    # Out: every client request goes to a; b only sees checks.
    n_b, n_checks = client_requests(b), checks(b)
    assert origins_of(e, 20) == ["a"] * 20
    assert client_requests(b) == n_b
    wait_for(lambda: checks(b) >= n_checks + 2, 3 * INTERVAL + SLACK, "checks of b while out")
    assert client_requests(b) == n_b

    hb.status = 200
    took, line = wait_flip(e, b.address, "healthy", FLIP_WITHIN)
    assert took <= FLIP_WITHIN
    assert "ok 200" in line, line
    assert "b" in origins_of(e, 4)
    assert client_requests(b) > n_b

    # A second outage is logged again, once.
    hb.status = 500
    wait_flip(e, b.address, "unhealthy", FLIP_WITHIN, count=2)
    assert origins_of(e, 6) == ["a"] * 6
    time.sleep(3 * INTERVAL)   # more failing checks: still no further line
    assert len(flips(e, b.address, "unhealthy")) == 2
    assert len(flips(e, b.address, "healthy")) == 1
    assert flips(e, a.address, "unhealthy") == [] and flips(e, a.address, "healthy") == []


def test_initially_unhealthy_server_waits_for_rise_checks(edged, origin):
    ha, hc = Health(), Health(503)
    a, c = origin("a", ha), origin("c", hc)
    e = edged(make_config({"cold": upstream([a.address, c.address], initially="unhealthy")}))

    # Until a server passed `rise` checks it gets nothing: edged answers 503 (no server) or,
    # once a passed them, sends to a.
    r = httpwire.request(e.port, "GET", "/early", timeout=5)
    if r.status == 200:
        assert r.headers.get("X-Origin") == "a" and checks(a) >= RISE
    else:
        assert r.status == 503, r
    assert client_requests(c) == 0

    wait_flip(e, a.address, "healthy", FLIP_WITHIN)
    assert checks(a) >= RISE
    assert origins_of(e, 10) == ["a"] * 10

    wait_for(lambda: checks(c) >= RISE + 1, 4 * INTERVAL + SLACK, "failing checks of c")
    assert flips(e, c.address, "healthy") == []
    assert client_requests(c) == 0

    hc.status = 200
    before = checks(c)
    took, _ = wait_flip(e, c.address, "healthy", FLIP_WITHIN)
    assert took <= FLIP_WITHIN
    assert checks(c) >= before + RISE
    assert "c" in origins_of(e, 4)
    # Starting unhealthy is not a state change: nothing says "is now unhealthy".
    assert "is now unhealthy" not in e.error_log()
    assert len(flips(e, a.address, "healthy")) == 1
    assert len(flips(e, c.address, "healthy")) == 1


def test_closed_port_is_taken_out_by_checks_alone_and_back_when_listening(edged, origin):
    a = origin("a", Health())
    port = free_port()
    d_address = "127.0.0.1:%d" % port
    e = edged(make_config({"app": upstream([a.address, d_address])}))

    took, line = wait_flip(e, d_address, "unhealthy", FLIP_WITHIN)
    assert "refused" in line, line
    # max_fails: 0, so only the active checks can have taken it out; no client request tried it.
    assert origins_of(e, 10) == ["a"] * 10
    assert "connect() to %s failed" % d_address not in e.error_log()

    d = origin_on_port("d", port, Health())
    try:
        took, line = wait_flip(e, d_address, "healthy", FLIP_WITHIN)
        assert took <= FLIP_WITHIN
        assert "ok 200" in line, line
        assert "d" in origins_of(e, 4)
        assert checks(d) >= RISE
    finally:
        d.stop()
    assert len(flips(e, d_address, "unhealthy")) == 1
    assert len(flips(e, d_address, "healthy")) == 1
