"""The reference backend when its dependencies fail, against the real components (tools/stack):
the replica stops (reads fall back to the primary, nothing crashes, the replica is used again once
back), Redis stops (requests still succeed, the circuit breaker opens; it closes when Redis
returns), and a slow query is logged with its plan."""

import json
import re
import time

import pytest

from backend_harness import Backend, start_stack


@pytest.fixture(scope="module")
def stack():
    s = start_stack()
    yield s
    s.stop_all()


def metric(b, name):
    _, _, text = b.request("GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{") and line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no metric %s" % name)


def wait_for(what, fn, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def test_replica_down_reads_fall_back_to_primary(stack):
    b = Backend(stack, processes=2)
    try:
        status, _, body = b.request("POST", "/users", {"email": "fallback@example.com", "name": "F"})
        assert status == 201
        uid = json.loads(body)["id"]
        time.sleep(0.3)
        wait_for("a replica read", lambda: b.request("GET", "/users?after=0&limit=1")[1]["x-served-by"] == "replica1")

        stack.run("stop", "replica1")
        for i in range(60):
            status, h, body = b.request("GET", "/users?after=%d&limit=2" % i)
            assert status == 200, body
            assert h["x-served-by"] == "primary"
        status, _, body = b.request("GET", "/users/%d" % uid)
        assert status == 200
        assert b.worker_pids() and b.proc.poll() is None

        stack.run("start", "replica1")
        wait_for("reads on the replica again",
                 lambda: b.request("GET", "/users?after=0&limit=1")[1]["x-served-by"] == "replica1", timeout=20)
    finally:
        log = b.stop()
    assert "connect failed" in log or "health check failed" in log


def test_redis_down_breaker_opens_and_closes(stack):
    b = Backend(stack, "--breaker-cooldown-ms", "300", processes=1)
    try:
        status, _, body = b.request("POST", "/users", {"email": "breaker@example.com", "name": "B"})
        uid = json.loads(body)["id"]
        time.sleep(0.2)
        assert b.request("GET", "/users/%d" % uid)[0] == 200
        assert metric(b, "backend_redis_breaker_open") == 0

        stack.run("stop", "redis")
        for i in range(30):
            status, h, body = b.request("GET", "/users/%d" % uid)
            assert status == 200, body
            status, h, body = b.request("PUT", "/users/%d" % uid, {"email": "breaker@example.com", "name": "B%d" % i})
            assert status == 200, body
            cookie = {"Cookie": h["set-cookie"].split(";")[0]}
            status, h, body = b.request("GET", "/users/%d" % uid, headers=cookie)
            assert status == 200 and json.loads(body)["name"] == "B%d" % i
        assert metric(b, "backend_redis_breaker_open") == 1
        assert metric(b, "backend_redis_breaker_opens_total") >= 1

        stack.run("start", "redis")
        def closed():
            b.request("GET", "/users/%d" % uid)
            return metric(b, "backend_redis_breaker_open") == 0
        wait_for("the breaker to close", closed)
        # The subscription comes back by itself (its reconnects while Redis was down were refused:
        # those must be reported, not wait forever), and with it L1, cleared, then filled again.
        wait_for("an L1 hit", lambda: b.request("GET", "/users/%d" % uid)[1]["x-cache"] == "L1")
    finally:
        log = b.stop()
    assert "circuit breaker open" in log and "circuit breaker closed" in log


def test_slow_query_log_has_the_plan(stack):
    b = Backend(stack, "--slow-query-ms", "1", replica=False)
    try:
        for _ in range(5):
            assert b.request("GET", "/users?after=0&limit=1000&offset=5000")[0] == 200
    finally:
        log = b.stop()
    lines = [l for l in log.splitlines() if "slow query" in l]
    assert lines and re.search(r'plan: \[ *\{ *"Plan"', lines[0]), lines[:3]


def test_pool_exhausted_answers_503_with_retry_after(stack):
    """One primary connection, held by an export whose client stopped reading (backpressure keeps
    the cursor's transaction open): other requests wait at most the acquire timeout, then get 503
    with Retry-After; never an unbounded queue. Once the export ends, requests succeed again."""
    import socket
    import subprocess
    from backend_harness import backend_bin
    seeded = subprocess.run([backend_bin(), "seed", "--primary", stack.dsn(), "--count", "50000"],
                            capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    b = Backend(stack, "--pool-max", "1", "--pool-min-idle", "1", "--acquire-timeout-ms", "100",
                "--max-waiters", "4", replica=False, redis=False)
    try:
        s = socket.create_connection(("127.0.0.1", b.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.sendall(b"GET /export/users.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(1024).startswith(b"HTTP/1.1 200")
        time.sleep(0.5)  # the export now waits for the client, holding the connection
        started = time.monotonic()
        status, h, body = b.request("GET", "/users?after=0&limit=1")
        assert status == 503, body
        assert h["retry-after"] == "1" and time.monotonic() - started < 2
        while s.recv(65536):
            pass
        s.close()
        wait_for("the pool to serve again", lambda: b.request("GET", "/users?after=0&limit=1")[0] == 200)
    finally:
        b.stop()
