"""The exchange filter chain end to end, with edged_test_filters (edged plus the test filters of
tests/filters): a filter that answers locally, one that waits 50 ms and resumes (on to the origin,
or with its own answer), one that rewrites the origin request, and one that replaces the origin's
response; with keep-alive, pipelining, and a client that goes away during the wait. The test
binary aborts when the filter API breaks a promise (onFinish twice or never, a call after
onFinish), which the harness sees as a non-zero exit."""

import os
import socket
import time
from pathlib import Path

import pytest

import httpwire
from harness import make_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def test_filters_binary(monkeypatch):
    path = os.environ.get("EDGED_TEST_FILTERS_BIN") or str(REPO / "build" / "test" / "tests" / "edged_test_filters")
    monkeypatch.setenv("EDGED_BIN", path)


def get(bs, s, target, mode=None, method="GET", headers=(), body=None):
    h = list(headers)
    if mode:
        h.append(("X-Test-Filter", mode))
    s.sendall(httpwire.build_request(method, target, headers=h, body=body))
    return httpwire.read_response(bs, method)


def test_local_answer_never_reaches_the_origin(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))
    with httpwire.connect(e.port) as s:
        bs = httpwire.BufferedSocket(s)
        r1 = get(bs, s, "/one", "local")
        r2 = get(bs, s, "/two")            # same keep-alive connection, no filter
        r3 = get(bs, s, "/three", "local", method="HEAD")
    assert r1.status == 200 and r1.body == b"local answer\n"
    assert r1.headers.get("x-test-filter-answer") == "local"
    assert r1.headers.get("content-length") == str(len(b"local answer\n"))
    assert r2.status == 200 and b"GET /two" in r2.body
    assert r3.status == 200 and r3.body == b"" and r3.headers.get("content-length") == "13"
    assert [q.target for q in o.snapshot()] == ["/two"]


def test_wait_then_continue_reaches_the_origin(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))
    with httpwire.connect(e.port) as s:
        bs = httpwire.BufferedSocket(s)
        t0 = time.monotonic()
        r = get(bs, s, "/waited", "wait")
        waited = time.monotonic() - t0
        r2 = get(bs, s, "/after", "wait-local")
        r3 = get(bs, s, "/posted", "wait", method="POST", body=b"x" * 100_000)
    assert r.status == 200 and b"GET /waited" in r.body
    assert waited >= 0.045
    assert r2.status == 200 and r2.body == b"answered after a wait\n"
    # The body that arrived during the wait reached the origin whole.
    assert r3.status == 200 and b"POST /posted" in r3.body
    reqs = o.snapshot()
    assert [q.target for q in reqs] == ["/waited", "/posted"]
    assert reqs[1].body_len == 100_000


def test_pipelined_requests_around_a_wait_keep_their_order(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))
    wire = (httpwire.build_request("GET", "/p1", headers=[("X-Test-Filter", "wait")])
            + httpwire.build_request("GET", "/p2", headers=[("X-Test-Filter", "local")])
            + httpwire.build_request("GET", "/p3", headers=[("X-Test-Filter", "wait-local")])
            + httpwire.build_request("GET", "/p4"))
    with httpwire.connect(e.port) as s:
        s.sendall(wire)
        bs = httpwire.BufferedSocket(s)
        rs = [httpwire.read_response(bs) for _ in range(4)]
    assert [r.status for r in rs] == [200, 200, 200, 200]
    assert b"GET /p1" in rs[0].body
    assert rs[1].body == b"local answer\n"
    assert rs[2].body == b"answered after a wait\n"
    assert b"GET /p4" in rs[3].body
    assert [q.target for q in o.snapshot()] == ["/p1", "/p4"]


def test_client_gone_during_the_wait(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))
    for _ in range(5):
        s = httpwire.connect(e.port)
        s.sendall(httpwire.build_request("GET", "/gone", headers=[("X-Test-Filter", "wait")]))
        time.sleep(0.01)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()   # a reset while the filter waits
    time.sleep(0.2)  # past every 50 ms timer: none may resume a finished exchange
    r = httpwire.request(e.port, "GET", "/alive")
    assert r.status == 200
    assert [q.target for q in o.snapshot()] == ["/alive"]
    lines = e.wait_access_lines(6)
    assert sum(1 for l in lines if '"GET /gone' in l and " 499 " in l) == 5


def test_rewrite_of_the_origin_request(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))
    r = httpwire.request(e.port, "GET", "/rewrite/inner?q=1", headers=[("X-Test-Filter", "rewrite")])
    assert r.status == 200
    assert r.headers.get("x-test-filter-saw") == "response"
    (q,) = o.snapshot()
    assert q.target == "/inner?q=1"
    assert q.headers.get("x-test-rewritten") == "yes"


def test_response_replaced_by_a_filter(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))
    with httpwire.connect(e.port) as s:
        bs = httpwire.BufferedSocket(s)
        r = get(bs, s, "/replaced", "replace")
        r2 = get(bs, s, "/next")
    assert r.status == 203 and r.body == b"replaced by a filter\n"
    assert r2.status == 200 and b"GET /next" in r2.body
    assert [q.target for q in o.snapshot()] == ["/replaced", "/next"]
