"""Failover with real origins that stamp X-Origin: an origin killed under load costs the clients
nothing (retries move its requests) and is left alone for fail_timeout; backups serve only
while every primary is out; draining moves new traffic away without failing in-flight
requests; a POST is never sent twice while a GET is retried; retry_on 503 retries a GET and
without retries the 503 is relayed."""

import threading
import time

import pytest

import httpwire
from harness import free_port, make_config
from lbtools import (Client, by_origin, in_background, run_load, server_info, set_drain,
                     upstreams, wait_admin, wait_for)
from origin import CLOSE, default_handler

FAIL_TIMEOUT = 2.0
HEALTH = {"max_fails": 1, "fail_timeout": "2s"}


def admin_cfg(port):
    return {"address": "127.0.0.1:%d" % port}


def assert_all_ok(results):
    bad = [r for r in results if r.status != 200]
    assert not bad, "%d of %d client requests failed, first: %r" % (len(bad), len(results),
                                                                     bad[:5])


def sequential(port, n, prefix):
    c = Client(port)
    try:
        out = []
        for i in range(n):
            r = c.get("%s/%d" % (prefix, i))
            out.append((r.status, r.headers.get("x-origin")))
        return out
    finally:
        c.close()


# -- an origin dies under load ---------------------------------------------------------------

def test_origin_killed_under_load_no_client_errors(edged, origin):
    o = {n: origin(n) for n in "abcd"}
    admin_port = free_port()
    cfg = make_config({"pool": {"health": HEALTH,
                                "servers": [{"address": o[n].address} for n in "abcd"]}},
                      admin=admin_cfg(admin_port))
    e = edged(cfg)
    wait_admin(admin_port)
    dead = o["d"].address

    samples = []   # (t, state, fails, total_requests) of d, every 0.1 s
    stop_sampling = threading.Event()

    def sample():
        while not stop_sampling.is_set():
            s = server_info(admin_port, "pool", dead)
            samples.append((time.monotonic(), s["state"], s["fails"], s["total_requests"]))
            stop_sampling.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t_load, box = in_background(lambda: run_load(e.port, threads=4, duration=20,
                                                 target=lambda i: "/load/%d" % i))
    time.sleep(5)
    before_kill = o["d"].request_count()
    kill_t = time.monotonic()
    o["d"].stop()
    t_load.join(50)
    stop_sampling.set()
    sampler.join(5)
    assert not t_load.is_alive()
    results = box[0]
    assert not isinstance(results, BaseException), results
    assert_all_ok(results)
    got = by_origin(results)
    assert before_kill > 50, "d served only %d requests before the kill" % before_kill
    after_kill = [r for r in results if r.t > kill_t + 0.5]
    assert len(after_kill) > 500, "load too thin after the kill: %d" % len(after_kill)
    for n in "abc":
        assert sum(1 for r in after_kill if r.origin == n) > 100, by_origin(after_kill)
    assert not any(r.origin == "d" for r in after_kill)

    # passive health took d out at once, and only a probe per fail_timeout reached it since
    post = [s for s in samples if s[0] > kill_t]
    assert post, "no admin samples after the kill"
    first_out = next((s for s in post if s[1] == "unhealthy"), None)
    assert first_out is not None, "d never shown unhealthy: %s" % post[-3:]
    assert first_out[0] - kill_t < 1.0, "d shown unhealthy only %.2f s after the kill" % (
        first_out[0] - kill_t)
    assert post[-1][2] >= 1, "fails count of d stayed 0: %s" % (post[-1],)
    tries_at_kill = post[0][3]
    tries_after = post[-1][3] - tries_at_kill
    span = post[-1][0] - kill_t
    # one failing try right after the kill (a few in flight at that moment), then at most one
    # probe per fail_timeout
    allowed = 4 + span / FAIL_TIMEOUT + 1
    assert tries_after <= allowed, \
        "%d tries to the dead origin in %.1f s (fail_timeout %.0f s): %s" % (
            tries_after, span, FAIL_TIMEOUT, post[::10])
    # no two new tries within most of fail_timeout, once the first failures are in
    settled = [s for s in post if s[0] > first_out[0] + 0.3]
    steps = [(settled[i][0], settled[i][3] - settled[i - 1][3]) for i in range(1, len(settled))
             if settled[i][3] > settled[i - 1][3]]
    # server.h: after fail_timeout one request probes the server; here every probe fails
    assert len(steps) >= 3, "expected a probe about every %.0f s after the kill: %s" % (
        FAIL_TIMEOUT, steps)
    for (t1, _), (t2, _) in zip(steps, steps[1:]):
        assert t2 - t1 >= FAIL_TIMEOUT * 0.75, \
            "tries to the dead origin %.2f s apart (fail_timeout %.0f s): %s" % (
                t2 - t1, FAIL_TIMEOUT, steps)
    assert got["d"] <= o["d"].request_count()


# -- backups ---------------------------------------------------------------------------------

def backup_cfg(o, admin_port=None, down=()):
    servers = [{"address": o["p1"].address}, {"address": o["p2"].address},
               {"address": o["bk"].address, "backup": True}]
    for s, n in zip(servers, ["p1", "p2", "bk"]):
        if n in down:
            s["down"] = True
    extra = {"admin": admin_cfg(admin_port)} if admin_port else {}
    return make_config({"pool": {"retries": 2, "health": HEALTH, "servers": servers}}, **extra)


def test_backup_serves_when_primaries_configured_down(edged, origin):
    o = {n: origin(n) for n in ("p1", "p2", "bk")}
    e = edged(backup_cfg(o))
    got = sequential(e.port, 20, "/up")
    assert all(s == 200 for s, _ in got)
    assert {n for _, n in got} == {"p1", "p2"}, got
    e.stop()

    e = edged(backup_cfg(o, down=("p1", "p2")))
    got = sequential(e.port, 20, "/down")
    assert got == [(200, "bk")] * 20, got
    assert o["p1"].request_count("/down/0") == 0
    e.stop()

    e = edged(backup_cfg(o, down=("p1",)))
    got = sequential(e.port, 20, "/one-back")
    assert got == [(200, "p2")] * 20, got


def test_backup_serves_while_primaries_killed_and_stops_when_one_returns(edged, origin):
    o = {n: origin(n) for n in ("p1", "p2", "bk")}
    admin_port = free_port()
    e = edged(backup_cfg(o, admin_port))
    wait_admin(admin_port)
    got = sequential(e.port, 20, "/before")
    assert all(s == 200 for s, _ in got) and {n for _, n in got} == {"p1", "p2"}, got
    assert o["bk"].request_count() == 0

    p1_port = o["p1"].port
    o["p1"].stop()
    o["p2"].stop()
    got = sequential(e.port, 30, "/killed")
    assert got == [(200, "bk")] * 30, got
    states = {s["address"]: s["state"] for s in upstreams(admin_port)["upstreams"][0]["servers"]}
    assert states[o["p1"].address] == "unhealthy" and states[o["p2"].address] == "unhealthy", \
        states

    # p1 comes back on the same port; within fail_timeout (plus slack) it gets traffic again
    p1 = origin("p1", port=p1_port)
    t0 = time.monotonic()
    c = Client(e.port)
    first_p1 = None
    i = 0
    while time.monotonic() - t0 < FAIL_TIMEOUT + 3:
        r = c.get("/return/%d" % i)
        i += 1
        assert r.status == 200, r
        if r.headers.get("x-origin") == "p1":
            first_p1 = time.monotonic() - t0
            break
        time.sleep(0.05)
    assert first_p1 is not None, "restarted p1 got no request within %.0f s" % (
        FAIL_TIMEOUT + 3)
    assert first_p1 <= FAIL_TIMEOUT + 1.0, "p1 back in rotation only after %.2f s" % first_p1
    bk_before = o["bk"].request_count()
    after = [c.get("/after/%d" % j) for j in range(40)]
    c.close()
    assert all(r.status == 200 for r in after)
    origins = [r.headers.get("x-origin") for r in after]
    assert origins == ["p1"] * 40, origins
    assert o["bk"].request_count() == bk_before, "backup still got requests with p1 back"
    assert p1.request_count() >= 41


# -- drain -----------------------------------------------------------------------------------

def test_drain_moves_traffic_without_failing_in_flight(edged, origin):
    release = threading.Event()

    def handler(conn, req):
        if conn.origin.name == "a" and req.target.startswith("/slow"):
            release.wait(20)
        return default_handler(conn, req)

    o = {n: origin(n, handler) for n in "abcd"}
    admin_port = free_port()
    e = edged(make_config({"pool": {"servers": [{"address": o[n].address} for n in "abcd"]}},
                          admin=admin_cfg(admin_port)))
    wait_admin(admin_port)

    # slow requests until two of them are held on a
    held = []
    try:
        for i in range(12):
            n_before = sum(x.request_count() for x in o.values())
            held.append(in_background(httpwire.request, e.port, "GET", "/slow/%d" % i, None,
                                      None, "HTTP/1.1", "localhost", 30))
            wait_for(lambda: sum(x.request_count() for x in o.values()) > n_before, 5,
                     "slow request %d at an origin" % i)
            if o["a"].request_count() >= 2:
                break
        assert o["a"].request_count() == 2
        assert server_info(admin_port, "pool", o["a"].address)["active_requests"] == 2

        resp = set_drain(admin_port, "pool", o["a"].address, True)
        assert resp["state"] == "draining", resp
        assert server_info(admin_port, "pool", o["a"].address)["state"] == "draining"
        results = run_load(e.port, total=60, threads=3, target=lambda i: "/drained/%d" % i)
        assert_all_ok(results)
        got = by_origin(results)
        assert got["a"] == 0, dict(got)
        assert all(got[n] > 0 for n in "bcd"), dict(got)
    finally:
        release.set()
    for t, box in held:
        t.join(10)
        assert not isinstance(box[0], BaseException), box[0]
        assert box[0].status == 200, box[0]
    assert sum(1 for t, box in held if box[0].headers.get("x-origin") == "a") == 2

    resp = set_drain(admin_port, "pool", o["a"].address, False)
    assert resp["state"] == "up", resp
    results = run_load(e.port, total=80, threads=2, target=lambda i: "/undrained/%d" % i)
    assert_all_ok(results)
    got = by_origin(results)
    assert got["a"] >= 15, "a after undrain: %s" % dict(got)


# -- POST is never sent twice, GET is retried ------------------------------------------------

def bad_a(mode):
    def handler(conn, req):
        if conn.origin.name != "a":
            return default_handler(conn, req)
        if mode == "502":
            conn.respond(502, b"a says bad gateway\n")
            return None
        return CLOSE   # request (and body) read, no answer
    return handler


@pytest.mark.parametrize("mode", ["502", "close"])
def test_post_never_sent_twice_but_get_is_retried(edged, origin, mode):
    o = {n: origin(n, bad_a(mode)) for n in "abcd"}
    cfg = make_config({"pool": {"retries": 2,
                                "retry_on": ["connect_failure", "timeout", "502", "503", "504"],
                                "health": {"max_fails": 0},
                                "servers": [{"address": o[n].address} for n in "abcd"]}})
    e = edged(cfg)
    body = b"payload " * 128

    statuses = {}
    for i in range(12):
        r = httpwire.request(e.port, "POST", "/post/%d" % i, body=body, timeout=10)
        statuses[i] = (r.status, r.headers.get("x-origin"))
    for i in range(12):
        path = "/post/%d" % i
        seen = {n: o[n].request_count(path) for n in "abcd"}
        assert sum(seen.values()) == 1, "POST %s reached origins %s (client got %s)" % (
            path, seen, statuses[i])
        if seen["a"]:
            assert statuses[i][0] == 502, (path, statuses[i])
            if mode == "502":
                assert statuses[i][1] == "a"
        else:
            assert statuses[i][0] == 200, (path, statuses[i])
    assert o["a"].request_count() >= 2, "no POST hit the failing origin: %s" % statuses
    for r in o["a"].snapshot():
        assert r.body == body

    for i in range(12):
        path = "/get/%d" % i
        r = httpwire.request(e.port, "GET", path, timeout=10)
        assert r.status == 200 and r.headers.get("x-origin") in ("b", "c", "d"), (path, r)
        assert sum(o[n].request_count(path) for n in "bcd") == 1
    retried = [r for r in o["a"].snapshot() if r.target.startswith("/get/")]
    assert len(retried) >= 2, "no GET hit the failing origin first"


# -- retry_on 503 ----------------------------------------------------------------------------

def a_503(conn, req):
    if conn.origin.name == "a":
        conn.respond(503, b"a is unavailable\n", headers=[("Retry-After", "1")])
        return None
    return default_handler(conn, req)


@pytest.mark.parametrize("retries", [1, 0])
def test_retry_on_503(edged, origin, retries):
    o = {n: origin(n, a_503) for n in "abcd"}
    cfg = make_config({"pool": {"retries": retries,
                                "retry_on": ["connect_failure", "timeout", "503"],
                                "health": {"max_fails": 0},
                                "servers": [{"address": o[n].address} for n in "abcd"]}})
    e = edged(cfg)
    c = Client(e.port)
    got = []
    for i in range(12):
        r = c.get("/r/%d" % i)
        got.append((r.status, r.headers.get("x-origin"), r.body))
    c.close()
    hits_a = o["a"].request_count()
    assert hits_a >= 2, "no request reached the 503 origin"
    if retries:
        assert all(s == 200 and n in ("b", "c", "d") for s, n, _ in got), got
        for i in range(12):
            assert sum(o[n].request_count("/r/%d" % i) for n in "bcd") == 1
    else:
        relayed = [g for g in got if g[0] == 503]
        assert len(relayed) == hits_a, got
        assert all(n == "a" and b == b"a is unavailable\n" for _, n, b in relayed), relayed
        assert all(s == 200 for s, n, _ in got if n != "a"), got
