"""The reference backend against a real PostgreSQL primary + streaming replica and Redis
(tools/stack): CRUD, validation, read-your-writes, cache invalidation across processes, HTTP
caching headers, streaming export with bounded memory, metrics, worker restart, graceful shutdown.
The replica applies commits 150 ms late, so any read that wrongly goes to it after a write is
visibly stale."""

import csv
import io
import json
import os
import signal
import socket
import time

import pytest

from backend_harness import Backend, rss_kib, start_stack
from harness import edged, free_port  # noqa: F401 (edged is a fixture)


@pytest.fixture(scope="module")
def stack():
    s = start_stack(replica_delay_ms=150)
    yield s
    s.stop_all()


@pytest.fixture
def backend(stack):
    started = []

    def make(*extra, **kw):
        b = Backend(stack, *extra, **kw)
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


def create(b, email, name, conn=None):
    status, headers, body = b.request("POST", "/users", {"email": email, "name": name}, conn=conn)
    assert status == 201, body
    return json.loads(body), headers


def test_crud_and_http_caching(backend):
    b = backend()
    user, headers = create(b, "Ada@Example.com", "Ada")
    assert user["email"] == "ada@example.com" and user["name"] == "Ada"
    assert headers["location"] == "/users/%d" % user["id"]
    assert "x-commit-lsn" in headers and "edged_lsn=" in headers["set-cookie"]
    lsn = {"X-Min-LSN": headers["x-commit-lsn"]}

    status, h, body = b.request("GET", "/users/%d" % user["id"], headers=lsn)
    assert status == 200 and json.loads(body) == user
    assert h["surrogate-key"] == "user:%d" % user["id"]
    assert h["cache-control"].startswith("max-age=") and "stale-while-revalidate=" in h["cache-control"]
    etag = h["etag"]
    status, h, body = b.request("GET", "/users/%d" % user["id"], headers={"If-None-Match": etag, **lsn})
    assert status == 304 and body == b"" and h["etag"] == etag

    status, _, body = b.request("GET", "/users?email=ada%40example.com", headers=lsn)
    assert status == 200 and json.loads(body)["id"] == user["id"]

    status, h, body = b.request("PUT", "/users/%d" % user["id"], {"email": "ada2@example.com", "name": "Ada L"})
    assert status == 200, body
    lsn = {"X-Min-LSN": h["x-commit-lsn"]}
    assert json.loads(body)["name"] == "Ada L"
    # The old address no longer finds the user; the new one does (no stale by-email key).
    status, _, _ = b.request("GET", "/users?email=ada%40example.com", headers=lsn)
    assert status == 404
    status, _, body = b.request("GET", "/users?email=ada2%40example.com", headers=lsn)
    assert status == 200 and json.loads(body)["name"] == "Ada L"
    status, h, body = b.request("GET", "/users/%d" % user["id"], headers=lsn)
    assert status == 200 and json.loads(body)["name"] == "Ada L" and h["etag"] != etag

    status, h, _ = b.request("DELETE", "/users/%d" % user["id"])
    assert status == 204
    lsn = {"X-Min-LSN": h["x-commit-lsn"]}
    assert b.request("GET", "/users/%d" % user["id"], headers=lsn)[0] == 404
    assert b.request("GET", "/users?email=ada2%40example.com", headers=lsn)[0] == 404
    assert b.request("DELETE", "/users/%d" % user["id"])[0] == 404


def test_batch_and_keyset_pagination(backend):
    b = backend()
    rows = [{"email": "batch%d@example.com" % i, "name": "B %d" % i} for i in range(2500)]
    rows.append({"email": "batch7@example.com", "name": "duplicate"})
    status, h, body = b.request("POST", "/users/batch", rows)
    assert status == 200, body
    assert json.loads(body) == {"inserted": 2500, "skipped": 1}
    lsn = {"X-Min-LSN": h["x-commit-lsn"]}
    status, _, body = b.request("POST", "/users/batch", rows[:10])
    assert json.loads(body) == {"inserted": 0, "skipped": 10}

    seen, after = [], 0
    while True:
        status, _, body = b.request("GET", "/users?after=%d&limit=1000" % after, headers=lsn)
        assert status == 200
        page = json.loads(body)
        seen += [u["id"] for u in page["users"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == sorted(set(seen)) and len(seen) >= 2500
    status, h, _ = b.request("GET", "/users?offset=999999999&limit=5")
    assert status == 200 and h["x-offset-capped"] == "10000"
    assert b.request("GET", "/users?limit=5000")[0] == 400


def test_validation_errors_write_nothing(backend, stack):
    b = backend("--max-body", "65536")
    before = stack.psql("SELECT count(*) FROM users")
    create(b, "taken@example.com", "Taken")
    cases = [
        ("POST", "/users", b"{not json", 400),
        ("POST", "/users", b"[1,2", 400),
        ("POST", "/users", b'"just a string"', 400),
        ("POST", "/users", {"name": "No Email"}, 422),
        ("POST", "/users", {"email": "noname@example.com"}, 422),
        ("POST", "/users", {"email": "not-an-address", "name": "X"}, 422),
        ("POST", "/users", {"email": "a b@example.com", "name": "X"}, 422),
        ("POST", "/users", {"email": "long@example.com", "name": "x" * 201}, 422),
        ("POST", "/users", {"email": 5, "name": "X"}, 422),
        ("POST", "/users", {"email": "TAKEN@example.com", "name": "Again"}, 409),
        ("POST", "/users", b'{"email":"bad\\ud800@example.com","name":"x"}', 400),
        ("GET", "/users/abc", None, 400),
        ("GET", "/users/0", None, 400),
        ("GET", "/users/9223372036854775808", None, 400),
        ("GET", "/users/-1", None, 400),
        ("PUT", "/users/99999999999", {"email": "ghost@example.com", "name": "G"}, 404),
        ("POST", "/users/batch", [{"email": "ok1@example.com", "name": "ok"}, {"email": "bad"}], 422),
        ("POST", "/users/batch", {"users": "nope"}, 400),
        ("POST", "/users", {"email": "big@example.com", "name": "x" * 70000}, 413),
        ("GET", "/nowhere", None, 404),
        ("PATCH", "/users/1", {"name": "x"}, 405),
    ]
    for method, path, body, want in cases:
        status, headers, text = b.request(method, path, body)
        assert status == want, (method, path, status, text)
        assert headers["content-type"] == "application/json"
        err = json.loads(text)["error"]
        assert err["status"] == want and err["message"]
    assert int(stack.psql("SELECT count(*) FROM users")) == int(before) + 1
    assert stack.psql("SELECT count(*) FROM users WHERE email IN ('ok1@example.com', 'big@example.com')") == "0"


def test_read_your_writes_on_one_connection(backend):
    """1,000 write-then-read pairs on one keep-alive connection, carrying the LSN cookie as a
    browser would: never a 404 or an old row, although the replica applies commits 150 ms late."""
    b = backend()
    conn = b.connect()
    cookie = {}
    stale, served = 0, {}
    ids = []
    for i in range(1000):
        if i % 2 == 0:
            status, h, body = b.request("POST", "/users", {"email": "ryw%d@example.com" % i, "name": "v0"}, conn=conn)
            assert status == 201, body
            uid, want = json.loads(body)["id"], "v0"
            ids.append(uid)
        else:
            uid, want = ids[-1], "v%d" % i
            status, h, body = b.request("PUT", "/users/%d" % uid, {"email": "ryw%d@example.com" % (i - 1), "name": want}, conn=conn)
            assert status == 200, body
        cookie = {"Cookie": h["set-cookie"].split(";")[0]}
        status, h, body = b.request("GET", "/users/%d" % uid, headers=cookie, conn=conn)
        if status != 200 or json.loads(body)["name"] != want:
            stale += 1
        served[h.get("x-served-by")] = served.get(h.get("x-served-by"), 0) + 1
    assert stale == 0, served
    # Without the cookie, once the replica caught up, reads do go to the replica.
    time.sleep(0.4)
    status, h, _ = b.request("GET", "/users?after=0&limit=1", conn=conn)
    assert h["x-served-by"] == "replica1", h


def distinct_connections(b, n=2, tries=200):
    conns = {}
    for _ in range(tries):
        c = b.connect()
        status, h, _ = b.request("GET", "/healthz", conn=c)
        pid = int(h["x-backend-pid"])
        if pid in conns:
            c.close()
        else:
            conns[pid] = c
        if len(conns) == n:
            return list(conns.values())
    pytest.fail("could not reach %d distinct worker processes" % n)


def test_invalidation_reaches_every_process(backend):
    b = backend("--l1-ttl-ms", "60000", processes=2)
    a, other = distinct_connections(b)
    user, h = create(b, "inv@example.com", "before", conn=a)
    path = "/users/%d" % user["id"]
    time.sleep(0.3)  # past the replica delay: plain reads may come from anywhere
    for conn in (a, other):
        for _ in range(2):
            status, h, _ = b.request("GET", path, conn=conn)
            assert status == 200
        assert h["x-cache"] in ("L1", "L2")
        b.request("GET", "/users?email=inv%40example.com", conn=conn)
        status, h, _ = b.request("GET", "/users?email=inv%40example.com", conn=conn)
        assert h["x-cache"] == "L1"

    status, h, body = b.request("PUT", path, {"email": "inv2@example.com", "name": "after"}, conn=a)
    assert status == 200
    # The other process, without the writer's cookie: its L1 copy is gone (pub/sub), within 1 s.
    deadline = time.monotonic() + 1
    while True:
        status, h, body = b.request("GET", path, conn=other)
        if json.loads(body)["name"] == "after":
            break
        assert time.monotonic() < deadline, "process %s still serves the old row (%s)" % (h["x-backend-pid"], h["x-cache"])
        time.sleep(0.02)
    status, _, _ = b.request("GET", "/users?email=inv%40example.com", conn=other)
    assert status == 404
    status, _, body = b.request("GET", "/users?email=inv2%40example.com", conn=other)
    assert status == 200 and json.loads(body)["name"] == "after"


def test_l1_full_evicts(backend, stack):
    b = backend("--l1-max-entries", "10")
    ids = [int(x) for x in stack.psql("SELECT id FROM users ORDER BY id LIMIT 50").split()]
    conn = b.connect()
    for _ in range(2):
        for uid in ids:
            assert b.request("GET", "/users/%d" % uid, conn=conn)[0] == 200
    _, _, text = b.request("GET", "/metrics")
    text = text.decode()
    evictions = [l for l in text.splitlines() if l.startswith("backend_cache_evictions_total")]
    assert evictions and float(evictions[0].split()[1]) >= 80
    for name in ("backend_pool_connections{pool=\"primary\",state=\"total\"}", "backend_query_duration_seconds_bucket",
                 "backend_cache_hit_ratio{level=\"l1\"}", "backend_replica_lag_bytes{replica=\"replica1\"}",
                 "backend_pool_wait_seconds_total"):
        assert name in text


def read_export(b, path, pause_after=None, pause=0.0, pid_probe=None):
    """Reads a chunked export over a raw socket; optionally stops reading for `pause` seconds after
    `pause_after` bytes and samples the worker's RSS then. Returns (body, headers, samples)."""
    s = socket.create_connection(("127.0.0.1", b.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
    raw, samples = bytearray(), []
    paused = False
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        raw += chunk
        if pause_after is not None and not paused and len(raw) >= pause_after:
            paused = True
            head = bytes(raw[:raw.find(b"\r\n\r\n")]).decode()
            pid = int(head.split("X-Backend-Pid: ")[1].split("\r\n")[0]) if "X-Backend-Pid" in head else pid_probe
            end = time.monotonic() + pause
            while time.monotonic() < end:
                samples.append(rss_kib(pid))
                time.sleep(0.05)
    s.close()
    head, _, rest = bytes(raw).partition(b"\r\n\r\n")
    body, pos = bytearray(), 0
    while True:
        eol = rest.index(b"\r\n", pos)
        size = int(rest[pos:eol], 16)
        if size == 0:
            break
        body += rest[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
    return bytes(body), head.decode(), samples


def test_export_streams_with_bounded_memory(backend, stack):
    stack.psql("DROP DATABASE IF EXISTS edged_empty", db="postgres", user="postgres")
    stack.psql("CREATE DATABASE edged_empty OWNER edged", db="postgres", user="postgres")
    empty = backend(db="edged_empty", replica=False, redis=False)
    body, head, _ = read_export(empty, "/export/users.json")
    assert head.startswith("HTTP/1.1 200") and body == b"[]"
    body, _, _ = read_export(empty, "/export/users.csv")
    assert body == b"id,email,name,created_at\r\n"

    b = backend()
    for email, name in [("csv1@example.com", 'Quote "me", please'), ("csv2@example.com", "two\nlines\r\nhere"),
                        ("csv3@example.com", "plain")]:
        create(b, email, name)
    import subprocess
    from backend_harness import backend_bin
    seeded = subprocess.run([backend_bin(), "seed", "--primary", stack.dsn(), "--count", "100000"],
                            capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    time.sleep(0.5)  # the replica applies the seed 150 ms late
    count = int(stack.psql("SELECT count(*) FROM users"))
    assert count >= 100000

    pid = b.worker_pids()[0]
    base = rss_kib(pid)
    body, head, samples = read_export(b, "/export/users.json", pause_after=65536, pause=1.5, pid_probe=pid)
    rows = json.loads(body)
    assert len(rows) == count and [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert len({r["id"] for r in rows}) == count
    peak = max(samples)
    print("export RSS: base %d KiB, peak while the client pauses %d KiB, VmHWM %d KiB" % (base, peak, rss_kib(pid, "VmHWM")))
    # Without backpressure the whole ~10 MB export would be queued while the client pauses.
    assert peak - base < 6 * 1024, (base, peak)

    body, head, _ = read_export(b, "/export/users.csv")
    assert "text/csv" in head
    parsed = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert parsed[0] == ["id", "email", "name", "created_at"] and len(parsed) == count + 1
    names = {r[1]: r[2] for r in parsed[1:]}
    assert names["csv1@example.com"] == 'Quote "me", please'
    assert names["csv2@example.com"] == "two\nlines\r\nhere"


def test_worker_restart_and_graceful_shutdown(backend):
    b = backend(processes=2)
    pids = b.worker_pids()
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while True:
        now = b.worker_pids()
        if len(now) == 2 and pids[0] not in now:
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.05)
    for _ in range(20):
        assert b.request("GET", "/healthz")[0] == 200

    # A slow export in flight when SIGTERM arrives still completes; then the backend exits 0.
    s = socket.create_connection(("127.0.0.1", b.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /export/users.csv HTTP/1.1\r\nHost: x\r\n\r\n")
    raw = bytearray(s.recv(65536))
    b.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    while not raw.endswith(b"\r\n0\r\n\r\n"):
        chunk = s.recv(65536)
        assert chunk, "export cut short by the shutdown"
        raw += chunk
    assert s.recv(10) == b""  # draining: closed after the response in flight
    s.close()
    b.proc.wait(timeout=20)
    assert b.proc.returncode == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", b.port), timeout=2).close()


def test_update_purges_edged_cache_by_tag(backend, edged):
    """edged caches the backend's reads (max-age=5, Surrogate-Key: user:ID); an update made
    straight at the backend (not through edged, so edged's own invalidation of the URI cannot
    help) purges the tag through edged's admin API before it answers, and the next read through
    edged, by id or by email, gets the new row from the backend."""
    import http.client
    from harness import make_config
    from lbtools import wait_admin

    admin_port = free_port()
    b = backend("--edged-admin", "127.0.0.1:%d" % admin_port)
    e = edged(make_config({"backend": ["127.0.0.1:%d" % b.port]},
                          routes=[{"match": {"prefix": "/users"}, "upstream": "backend", "cache": "on"}],
                          admin={"address": "127.0.0.1:%d" % admin_port}, cache={"memory": "16MiB"}))
    wait_admin(admin_port)
    email = "purge-%d@example.com" % int(time.monotonic() * 1e6)
    user, _ = create(b, email, "Before")
    time.sleep(0.5)  # the replica applies commits 150 ms late; edged's reads carry no LSN

    def via_edged(path):
        c = http.client.HTTPConnection("127.0.0.1", e.port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        c.close()
        return out

    by_id, by_email = "/users/%d" % user["id"], "/users?email=%s" % email
    for path in (by_id, by_email):
        deadline = time.monotonic() + 10
        while via_edged(path)[0] != 200:  # a busy replica may still answer 404 for a moment
            assert time.monotonic() < deadline, path
            time.sleep(0.1)
        status, headers, body = via_edged(path)
        assert status == 200 and "; hit" in headers.get("cache-status", ""), headers
        assert b"Before" in body

    status, _, _ = b.request("PUT", by_id, {"email": email, "name": "After"})
    assert status == 200
    for path in (by_id, by_email):
        # Purged before the PUT answered: the next read is forwarded, never a hit (the row is
        # cached for 5 s otherwise). The backend then serves the new row (its LSN markers keep
        # a lagging replica's old row out); a busy machine may need a few tries.
        status, headers, body = via_edged(path)
        assert "; hit" not in headers.get("cache-status", ""), headers
        deadline = time.monotonic() + 2
        while b"After" not in body:
            assert time.monotonic() < deadline, (path, headers, body)
            time.sleep(0.1)
            status, headers, body = via_edged(path)
        assert status == 200
    metrics = b.request("GET", "/metrics")[2].decode()
    assert 'backend_edged_purges_total{result="ok"} 1' in metrics
