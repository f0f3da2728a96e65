"""Hot reload: SIGHUP and `POST /reload` (admin) re-read the `--config` file. A valid file becomes
the next generation: new requests use its routes, upstreams, timeouts and limits, while requests
and tunnels in flight finish on the configuration they started with; listeners are added and
removed (one whose address stays is never closed); servers that stay keep their drain, health
and active counts; a `workers` change is logged as needing a restart. An invalid file changes
nothing: every error is logged with FILE:LINE:COL, the failure is counted and answered 400.
Under continuous keep-alive load and 100 WebSockets, 20 reloads alternating two configs move the
traffic each time with zero failed requests and zero closed tunnels. Also: a second SIGTERM
during a graceful shutdown exits at once."""

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import websockets

import httpwire
from harness import edged_bin, edged_env, free_port, make_config
from lbtools import (Client, Health, admin_call, in_background, server_info, set_drain, wait_admin,
                     wait_for)
from origin import default_handler
from wsorigin import WsOriginProcess, client_handshake, frame, read_frame

MOVE_WITHIN = 5.0        # seconds for a reload to show in traffic (it takes milliseconds)


# -- helpers ----------------------------------------------------------------------------------

def admin_of(port):
    return {"address": "127.0.0.1:%d" % port}


def get_json(admin_port, path):
    status, body = admin_call(admin_port, "GET", path)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def generation(admin_port):
    c = get_json(admin_port, "/config")
    assert "generation" in c, "GET /config has no top-level \"generation\"; keys: %s" % sorted(c)
    return c["generation"]


def post_reload(admin_port):
    """POST /reload: (status, parsed JSON or None, raw body)."""
    status, body = admin_call(admin_port, "POST", "/reload", timeout=15)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    return status, doc, body


def admin_reload_ok(admin_port, expect_generation):
    status, doc, body = post_reload(admin_port)
    assert status == 200 and isinstance(doc, dict), \
        "POST /reload answered %s %r; expected 200 {\"result\": \"success\", \"generation\": %d}" \
        % (status, body[:300], expect_generation)
    assert doc.get("result") == "success" and doc.get("generation") == expect_generation, doc
    return doc


def metric(admin_port, name, **labels):
    """The value of one sample of GET /metrics (None when absent)."""
    status, body = admin_call(admin_port, "GET", "/metrics")
    assert status == 200, status
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted(p.strip() for p in (m.group(2) or "").split(",") if p.strip()))
        if got == want:
            return float(m.group(3))
    return None


def reload_metrics(admin_port):
    return (metric(admin_port, "edged_config_reloads_total", result="success"),
            metric(admin_port, "edged_config_reloads_total", result="failure"),
            metric(admin_port, "edged_config_generation"))


def ask(port, path="/", timeout=5.0):
    """(status, X-Origin) of one GET on a fresh connection, or the error's repr."""
    try:
        r = httpwire.request(port, "GET", path, timeout=timeout)
        return r.status, r.headers.get("x-origin")
    except (OSError, httpwire.PeerClosed, ValueError) as ex:
        return repr(ex)


def wait_origin(e, name, path="/", timeout=MOVE_WITHIN, what="the reload", errors=None):
    """Poll GETs of `path` on fresh connections until origin `name` answers 200. Answers other
    than 200 from some origin go to `errors` when given (a request that failed), else they are
    only shown if the wait times out."""
    t0 = time.monotonic()
    seen = []
    while True:
        got = ask(e.port, path)
        if got == (200, name):
            return time.monotonic() - t0
        seen.append(got)
        if errors is not None and (not isinstance(got, tuple) or got[0] != 200):
            errors.append("probe %s: %r" % (path, got))
        if time.monotonic() - t0 > timeout:
            raise AssertionError(
                "after %s, GET %s still not answered by origin %r within %.0f s (%d polls; last "
                "answers %r)\n--- edged stderr tail ---\n%s"
                % (what, path, name, timeout, len(seen), seen[-3:], e.error_log()[-1500:]))
        time.sleep(0.01)


def log_mark(e):
    return len(e.error_log())


def log_since(e, mark):
    return e.error_log()[mark:].splitlines()


def wait_log(e, mark, pattern, timeout=5.0, count=1):
    rx = re.compile(pattern)
    wait_for(lambda: len([l for l in log_since(e, mark) if rx.search(l)]) >= count, timeout,
             "%d log line(s) matching %r; new lines:\n%s" % (count, pattern,
                                                             "\n".join(log_since(e, mark))[-2000:]))
    return [l for l in log_since(e, mark) if rx.search(l)]


def listen_inodes(pid, port):
    """Inodes of the IPv4 sockets of process `pid` listening on `port` (one per worker)."""
    mine = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            mine.add(link[8:-1])
    found = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].split(":")[1], 16) == port and parts[9] in mine:
                found.add(parts[9])
    return found


def connect_outcome(port):
    """'ok' when a GET on a fresh connection to `port` is answered 200, 'refused', or the error."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return "refused"
    except OSError as ex:
        return repr(ex)
    try:
        s.settimeout(5)
        s.sendall(httpwire.build_request("GET", "/listener-probe", [("Connection", "close")]))
        r = httpwire.read_response(httpwire.BufferedSocket(s))
        return "ok" if r.status == 200 else "status %d" % r.status
    except (OSError, httpwire.PeerClosed, ValueError) as ex:
        return repr(ex)
    finally:
        s.close()


def check_errors(config_path):
    """What `edged --check` says about the file: its FILE:LINE:COL error lines."""
    p = subprocess.run([edged_bin(), "--config", str(config_path), "--check"],
                       capture_output=True, timeout=20, env=edged_env(), stdin=subprocess.DEVNULL)
    assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
    return [l for l in p.stderr.decode().splitlines() if l.startswith(str(config_path) + ":")]


def two_origin_configs(o1, o2, admin_port, extra_a=None, extra_b=None, **kw):
    """Config A routes / to upstream a (origin o1), config B to upstream b (origin o2)."""
    ups_a = {"a": [o1.address]}
    ups_a.update(extra_a or {})
    ups_b = {"b": [o2.address]}
    ups_b.update(extra_b or {})
    a = make_config(ups_a, routes=[{"match": {"prefix": "/"}, "upstream": "a"}],
                    admin=admin_of(admin_port), **kw)
    b = make_config(ups_b, routes=[{"match": {"prefix": "/"}, "upstream": "b"}],
                    admin=admin_of(admin_port), **kw)
    return a, b


# -- 1: SIGHUP and POST /reload, generation, metrics, log ---------------------------------------

def test_sighup_and_admin_reload_switch_routes(edged, origin):
    o1, o2 = origin("one"), origin("two")
    admin_port = free_port()
    cfg_a, cfg_b = two_origin_configs(o1, o2, admin_port)
    e = edged(cfg_a)
    wait_admin(admin_port)
    assert ask(e.port) == (200, "one")

    # start-up is generation 1 and counts as one successful load
    ts0 = metric(admin_port, "edged_config_last_reload_success_timestamp_seconds")
    assert ts0 is not None
    assert reload_metrics(admin_port)[:2] == (1, 0)
    # /reload answers POST only
    for method in ("GET", "PUT", "DELETE"):
        status, body = admin_call(admin_port, method, "/reload")
        assert status == 405, "%s /reload answered %s %r (expected 405)" % (method, status, body)

    # the success timestamp has whole-second resolution at least: make sure a second passes
    wait_for(lambda: time.time() >= ts0 + 1.05, 2.5, "the next second")
    mark = log_mark(e)
    t_wall = time.time()
    e.reload(cfg_b)                                   # SIGHUP
    wait_origin(e, "two", what="SIGHUP with config B")
    assert generation(admin_port) == 2
    c = get_json(admin_port, "/config")
    assert [r["upstream"] for r in c["routes"]] == ["b"] and list(c["upstreams"]) == ["b"], c
    lines = wait_log(e, mark, r"\[info\].*reload: generation 2\b")
    assert len(lines) == 1, lines
    # every new request now goes to two, on new connections and on a kept-alive one
    client = Client(e.port)
    try:
        assert [client.get("/k%d" % i).headers.get("x-origin") for i in range(5)] == ["two"] * 5
        success, failure, gen = reload_metrics(admin_port)
        assert (success, failure, gen) == (2, 0, 2)
        ts1 = metric(admin_port, "edged_config_last_reload_success_timestamp_seconds")
        assert ts1 > ts0 and ts1 >= int(t_wall), (ts0, ts1, t_wall)

        # POST /reload does the same, and answers once the new generation is in place
        e.write_config(cfg_a)
        mark = log_mark(e)
        admin_reload_ok(admin_port, 3)
        wait_origin(e, "one", what="POST /reload with config A")
        assert generation(admin_port) == 3
        wait_log(e, mark, r"\[info\].*reload: generation 3\b")
        # the kept-alive client connection's next requests go to the new route too
        wait_for(lambda: client.get("/k").headers.get("x-origin") == "one", MOVE_WITHIN,
                 "the kept-alive connection's requests to move to origin one")
        assert [client.get("/k%d" % i).headers.get("x-origin") for i in range(5)] == ["one"] * 5
    finally:
        client.close()
    assert reload_metrics(admin_port) == (3, 0, 3)
    # reloading the same file again is a new generation too
    admin_reload_ok(admin_port, 4)
    assert generation(admin_port) == 4
    assert ask(e.port) == (200, "one")
    assert reload_metrics(admin_port) == (4, 0, 4)
    assert "not supported" not in e.error_log()


# -- 2: an invalid file changes nothing -------------------------------------------------------

def test_invalid_config_keeps_serving_and_reports_every_error(edged, origin):
    o1, o2 = origin("one"), origin("two")
    admin_port = free_port()
    cfg_a, cfg_b = two_origin_configs(o1, o2, admin_port)
    e = edged(cfg_a)
    wait_admin(admin_port)
    assert ask(e.port) == (200, "one")
    path = str(e.config_path)

    # three errors: an unknown key, an out-of-range weight, a route to an unknown upstream
    bad = json.loads(json.dumps(cfg_b))
    bad["listen"] = [{"address": "127.0.0.1:%d" % e.port}]
    bad["timeouts"]["bogus_key"] = "5s"
    bad["upstreams"]["b"]["servers"][0]["weight"] = 0
    bad["routes"][0]["upstream"] = "nope"
    e.write_config(bad)
    expected = check_errors(path)
    assert len(expected) == 3, expected

    mark = log_mark(e)
    status, doc, body = post_reload(admin_port)
    assert status == 400 and isinstance(doc, dict), \
        "POST /reload of an invalid file answered %s %r (expected 400 JSON)" % (status, body[:300])
    assert doc.get("result") == "failure" and doc.get("generation") == 1, doc
    errors = doc.get("errors")
    assert isinstance(errors, list) and sorted(errors) == sorted(expected), (errors, expected)
    for err in errors:
        assert re.match(re.escape(path) + r":\d+:\d+: ", err), err
    # the log: one [warn] per error with FILE:LINE:COL, then the verdict
    wait_log(e, mark, r"\[warn\].*reload failed.*keeping generation 1\b|"
                      r"\[warn\].*keeping generation 1\b.*reload failed")
    new = log_since(e, mark)
    for err in expected:
        where = err.split(": ", 1)[0] + ": "           # FILE:LINE:COL:
        hits = [l for l in new if where in l]
        assert hits and all("[warn]" in l for l in hits), (err, new)
    assert not [l for l in new if "[error]" in l], new
    # nothing changed
    assert generation(admin_port) == 1
    c = get_json(admin_port, "/config")
    assert list(c["upstreams"]) == ["a"] and [r["upstream"] for r in c["routes"]] == ["a"], c
    assert [ask(e.port, "/x%d" % i) for i in range(5)] == [(200, "one")] * 5
    assert reload_metrics(admin_port) == (1, 1, 1)

    # not even YAML, by SIGHUP: same story, counted again
    e.write_config("workers: 1\nlisten: [\n  - address: 127.0.0.1:%d\n" % e.port)
    expected = check_errors(path)
    assert len(expected) == 1, expected
    mark = log_mark(e)
    e.reload()
    wait_for(lambda: reload_metrics(admin_port)[1] == 2, MOVE_WITHIN,
             "edged_config_reloads_total{result=\"failure\"} to reach 2 after SIGHUP")
    wait_log(e, mark, r"\[warn\].*reload failed")
    new = log_since(e, mark)
    where = expected[0].split(": ", 1)[0] + ": "
    assert [l for l in new if where in l and "[warn]" in l], (expected, new)
    assert [l for l in new if "keeping generation 1" in l and "[warn]" in l], new
    assert generation(admin_port) == 1
    assert [ask(e.port, "/y%d" % i) for i in range(5)] == [(200, "one")] * 5
    assert reload_metrics(admin_port) == (1, 2, 1)

    # a valid file again: generation 2, traffic moves
    e.write_config(cfg_b)
    admin_reload_ok(admin_port, 2)
    wait_origin(e, "two", what="POST /reload of the fixed file")
    assert reload_metrics(admin_port) == (2, 2, 2)


# -- 3: requests in flight finish on their own configuration ----------------------------------

def test_in_flight_request_keeps_its_read_timeout(edged, origin):
    def slow(conn, req):
        time.sleep(3.0)
        conn.respond(200, b"slow and complete\n" * 100)

    o1, o2, s = origin("one"), origin("two"), origin("slow", slow)
    admin_port = free_port()
    extra = {"s": [s.address]}
    slow_route = {"match": {"prefix": "/slow"}, "upstream": "s"}
    cfg_a, cfg_b = two_origin_configs(o1, o2, admin_port, extra, extra)
    cfg_a["routes"].insert(0, slow_route)
    cfg_b["routes"].insert(0, slow_route)
    cfg_b["timeouts"] = dict(cfg_b["timeouts"], read="1s")     # A keeps read: 5s
    e = edged(cfg_a)
    wait_admin(admin_port)

    t1, box1 = in_background(httpwire.request, e.port, "GET", "/slow/first")
    assert s.wait_requests(1, 5), "the first slow request never reached the origin"
    e.write_config(cfg_b)
    admin_reload_ok(admin_port, 2)
    wait_origin(e, "two", what="the reload to read: 1s")
    assert box1[0] is None, "the slow request finished before the reload took effect; the " \
        "test cannot tell anything (%r)" % box1[0]

    # a new request under B times out after 1 s
    t0 = time.monotonic()
    r2 = httpwire.request(e.port, "GET", "/slow/second", timeout=10)
    took = time.monotonic() - t0
    assert r2.status == 504, r2
    assert 0.8 <= took <= 2.5, "504 after %.2f s with read: 1s" % took

    # the first one, started under read: 5s, gets its whole answer
    t1.join(timeout=10)
    r1 = box1[0]
    assert isinstance(r1, httpwire.Response), r1
    assert r1.status == 200 and r1.body == b"slow and complete\n" * 100, r1
    assert r1.headers.get("x-origin") == "slow"


def test_in_flight_upload_keeps_its_request_deadline(edged, origin):
    """timeouts.request is a client-side deadline, re-armed at every read of the body: a request
    started under A (request: 20s) keeps A's deadline after a reload to B (request: 1500ms)."""
    o1, o2 = origin("one"), origin("two")
    admin_port = free_port()
    cfg_a, cfg_b = two_origin_configs(o1, o2, admin_port)
    cfg_a["timeouts"] = dict(cfg_a["timeouts"], request="20s")
    cfg_b["timeouts"] = dict(cfg_b["timeouts"], request="1500ms")
    cfg_b["routes"][0]["upstream"] = "a"                 # same origin: only the deadline changes
    cfg_b["upstreams"] = cfg_a["upstreams"]
    e = edged(cfg_a)
    wait_admin(admin_port)
    piece = b"x" * 1000
    with httpwire.connect(e.port, timeout=10) as sock:
        sock.sendall(httpwire.build_request("POST", "/upload", headers=[
            ("Content-Length", str(len(piece) * 8))]))
        sock.sendall(piece)
        time.sleep(0.3)
        e.write_config(cfg_b)
        admin_reload_ok(admin_port, 2)
        for _ in range(7):                               # 2.1 s more: past B's 1.5 s deadline
            time.sleep(0.3)
            sock.sendall(piece)
        r = httpwire.read_response(httpwire.BufferedSocket(sock))
    assert r.status == 200, r
    # a new request under B gets B's deadline
    with httpwire.connect(e.port, timeout=10) as sock:
        sock.sendall(httpwire.build_request("POST", "/upload2", headers=[
            ("Content-Length", str(len(piece) * 8))]))
        try:
            for _ in range(8):
                sock.sendall(piece)
                time.sleep(0.3)
        except OSError:
            pass
        r2 = httpwire.read_response(httpwire.BufferedSocket(sock))
    assert r2.status == 504, r2


def test_in_flight_streaming_response_finishes_on_the_old_route(edged, origin):
    release = threading.Event()
    piece = b"0123456789abcdef" * 64                   # 1 KiB

    def streaming(conn, req):
        if req.target != "/stream":
            return default_handler(conn, req)
        conn.send(b"HTTP/1.1 200 OK\r\nX-Origin: one\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        release.wait(15)
        for _ in range(19):
            time.sleep(0.05)
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")

    o1, o2 = origin("one", streaming), origin("two")
    admin_port = free_port()
    cfg_a, cfg_b = two_origin_configs(o1, o2, admin_port)
    e = edged(cfg_a)
    wait_admin(admin_port)

    with httpwire.connect(e.port, timeout=10) as sock:
        bs = httpwire.BufferedSocket(sock)
        sock.sendall(httpwire.build_request("GET", "/stream"))
        head = bs.read_until(b"\r\n\r\n")              # the stream has started, under A
        assert head.startswith(b"HTTP/1.1 200") and b"X-Origin: one" in head, head
        try:
            e.reload(cfg_b)
            wait_origin(e, "two", what="SIGHUP routing / to origin two")
        finally:
            release.set()
        body, n, _, _ = httpwire.read_chunked(bs)
        assert n == 20 * len(piece) and body == piece * 20, n
        # the same connection's next request is a new request: config B
        sock.sendall(httpwire.build_request("GET", "/after"))
        r = httpwire.read_response(bs)
        assert (r.status, r.headers.get("x-origin")) == (200, "two"), r
    assert o1.request_count("/stream") == 1


def test_limits_apply_to_new_requests_only(edged, origin):
    o1, o2 = origin("one"), origin("two")
    admin_port = free_port()
    cfg_a, cfg_b = two_origin_configs(o1, o2, admin_port)
    cfg_b["limits"] = dict(cfg_b["limits"], max_body_bytes="1KiB")     # A: 10MiB
    e = edged(cfg_a)
    wait_admin(admin_port)
    body = os.urandom(4096)
    r = httpwire.request(e.port, "POST", "/upload/before", body=body)
    assert (r.status, r.headers.get("x-origin")) == (200, "one"), r

    # a chunked upload starts under A: the origin's 100 Continue came back, so it is in flight
    with httpwire.connect(e.port, timeout=10) as sock:
        bs = httpwire.BufferedSocket(sock)
        sock.sendall(httpwire.build_request("POST", "/upload/in-flight", [
            ("Transfer-Encoding", "chunked"), ("Expect", "100-continue")]))
        sock.sendall(b"200\r\n" + body[:512] + b"\r\n")
        interim = bs.read_until(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100"), interim

        e.write_config(cfg_b)
        admin_reload_ok(admin_port, 2)
        wait_origin(e, "two", what="the reload to max_body_bytes: 1KiB")

        # new requests over the new limit: 413, whether the length is declared or not
        r = httpwire.request(e.port, "POST", "/upload/after", body=body)
        assert r.status == 413, r
        with httpwire.connect(e.port, timeout=10) as s2:
            s2.sendall(httpwire.build_request("POST", "/upload/after-chunked",
                                              [("Transfer-Encoding", "chunked")]))
            s2.sendall(httpwire.chunk_encode(body, [1024]))
            r = httpwire.read_response(httpwire.BufferedSocket(s2))
            assert r.status == 413, r
        small = httpwire.request(e.port, "POST", "/upload/small", body=b"x" * 1000)
        assert (small.status, small.headers.get("x-origin")) == (200, "two"), small

        # the upload started under A finishes under A's 10 MiB limit
        sock.sendall(httpwire.chunk_encode(body[512:], [1024]))
        r = httpwire.read_response(bs)
        assert (r.status, r.headers.get("x-origin")) == (200, "one"), (r, r.body[:200])
    got = [q for q in o1.snapshot() if q.target == "/upload/in-flight"]
    assert len(got) == 1 and got[0].body == body, got
    assert o2.request_count("/upload/after") == 0
    assert o2.request_count("/upload/after-chunked") == 0


# -- 4: listeners ------------------------------------------------------------------------------

def test_listeners_added_kept_and_removed(edged, origin):
    def handler(conn, req):
        if req.target == "/slow":
            time.sleep(2.0)
            conn.respond(200, b"slow on the removed listener\n")
            return None
        return default_handler(conn, req)

    o = origin("one", handler)
    admin_port = free_port()
    keep, old, new = free_port(), free_port(), free_port()

    def cfg(*ports):
        return make_config({"a": [o.address]}, admin=admin_of(admin_port), workers=2,
                           listen=[{"address": "127.0.0.1:%d" % p} for p in ports])

    cfg_a, cfg_b = cfg(keep, old), cfg(keep, new)
    e = edged(cfg_a)
    wait_admin(admin_port)
    assert e.port == keep
    inodes = listen_inodes(e.pid, keep)
    assert len(inodes) == 2, inodes                   # one socket per worker
    assert connect_outcome(old) == "ok"
    assert connect_outcome(new) == "refused"

    # a client on the soon-removed listener, its request in flight
    conn = httpwire.connect(old, timeout=10)
    bs = httpwire.BufferedSocket(conn)
    conn.sendall(httpwire.build_request("GET", "/first"))
    assert httpwire.read_response(bs).status == 200
    conn.sendall(httpwire.build_request("GET", "/slow"))
    assert o.wait_requests(3, 5), "the slow request never reached the origin"

    # meanwhile connections to the kept listener never stop being answered
    stop = threading.Event()
    outcomes = []

    def prober():
        while not stop.is_set():
            outcomes.append(connect_outcome(keep))
            time.sleep(0.005)

    pt = threading.Thread(target=prober, daemon=True)
    pt.start()
    try:
        wait_for(lambda: len(outcomes) >= 5, 5, "the prober to start")

        def switch(cfg_to, opened, closed, via, gen):
            e.write_config(cfg_to)
            if via == "sighup":
                e.signal(signal.SIGHUP)
            else:
                admin_reload_ok(admin_port, gen)
            wait_for(lambda: connect_outcome(opened) == "ok", MOVE_WITHIN,
                     "new listener %d to answer (reload to generation %d); stderr tail:\n%s"
                     % (opened, gen, e.error_log()[-1500:]))
            wait_for(lambda: connect_outcome(closed) == "refused", MOVE_WITHIN,
                     "removed listener %d to refuse connections (generation %d)" % (closed, gen))
            assert [connect_outcome(closed) for _ in range(3)] == ["refused"] * 3
            assert listen_inodes(e.pid, keep) == inodes, \
                "the listening sockets of the kept address %d changed" % keep
            assert len(listen_inodes(e.pid, opened)) == 2

        switch(cfg_b, new, old, "sighup", 2)
        # the request accepted on the removed listener finishes
        r = httpwire.read_response(bs)
        assert r.status == 200 and r.body == b"slow on the removed listener\n", r
        conn.close()
        switch(cfg_a, old, new, "admin", 3)
        switch(cfg_b, new, old, "sighup", 4)
        n_before = len(outcomes)
        wait_for(lambda: len(outcomes) >= n_before + 5, 5, "more probes after the last reload")
    finally:
        stop.set()
        pt.join(timeout=10)
        conn.close()
    bad = [x for x in outcomes if x != "ok"]
    assert not bad, "%d of %d connections to the kept listener failed: %r" % (
        len(bad), len(outcomes), bad[:10])
    assert len(outcomes) >= 20, len(outcomes)
    assert generation(admin_port) == 4


# -- 5: servers that stay keep their state ----------------------------------------------------

def client_requests(o):
    return sum(1 for r in o.snapshot() if r.target != "/healthz")


def test_kept_servers_keep_drain_health_and_active_counts(edged, origin):
    s1, s2, s3, s4 = (origin("s1", Health()), origin("s2", Health()), origin("s3", Health(503)),
                      origin("s4", Health()))
    m1, m2 = origin("one"), origin("two")
    admin_port = free_port()
    check = {"path": "/healthz", "interval": "1s", "timeout": "300ms", "rise": 1, "fall": 1}

    def cfg(servers, mark):
        return make_config(
            {"pool": {"health": {"max_fails": 0, "check": check},
                      "servers": [{"address": s.address} for s in servers]},
             "mark": [mark.address]},
            routes=[{"match": {"prefix": "/mark"}, "upstream": "mark"},
                    {"match": {"prefix": "/"}, "upstream": "pool"}],
            admin=admin_of(admin_port))

    cfg_a, cfg_b = cfg([s1, s2, s3], m1), cfg([s1, s2, s3, s4], m2)
    e = edged(cfg_a)
    wait_admin(admin_port)
    unhealthy_line = re.compile(r"server %s is now unhealthy" % re.escape(s3.address))
    wait_for(lambda: server_info(admin_port, "pool", s3.address)["state"] == "unhealthy", 5,
             "s3 to fail its check")
    assert len(unhealthy_line.findall(e.error_log())) == 1
    assert set_drain(admin_port, "pool", s1.address)["state"] == "draining"

    # s2 is the only server left: a slow request holds it
    t, box = in_background(httpwire.request, e.port, "GET", "/slow")
    assert s2.wait_requests(1, 5)
    wait_for(lambda: server_info(admin_port, "pool", s2.address)["active_requests"] == 1, 2,
             "s2's active count to show the slow request")

    checks_s3 = s3.request_count("/healthz")
    e.write_config(cfg_b)
    admin_reload_ok(admin_port, 2)
    wait_origin(e, "two", path="/mark", what="the reload adding s4")
    # right after the reload: drained still drained, unhealthy still unhealthy, the request in
    # flight still counted, the new server up
    assert box[0] is None, "the slow request finished before the checks; raise its delay"
    info = {s["address"]: s for u in get_json(admin_port, "/upstreams")["upstreams"]
            if u["name"] == "pool" for s in u["servers"]}
    assert set(info) == {s1.address, s2.address, s3.address, s4.address}, info
    assert info[s1.address]["state"] == "draining", info[s1.address]
    assert info[s3.address]["state"] == "unhealthy", info[s3.address]
    assert info[s2.address]["active_requests"] == 1, info[s2.address]
    assert info[s4.address]["state"] == "up", info[s4.address]
    got = [ask(e.port, "/after%d" % i) for i in range(20)]
    assert all(g[0] == 200 for g in got), got
    assert {g[1] for g in got} == {"s2", "s4"}, got
    assert client_requests(s1) == 0 and client_requests(s3) == 0

    # the slow request completes, and its server's count goes back to zero (not below)
    t.join(timeout=10)
    assert isinstance(box[0], httpwire.Response) and box[0].status == 200, box
    wait_for(lambda: server_info(admin_port, "pool", s2.address)["active_requests"] == 0, 2,
             "s2's active count to drop to 0")
    # s3's checks go on failing without a new "is now unhealthy": its state was never reset
    wait_for(lambda: s3.request_count("/healthz") >= checks_s3 + 2, 5, "two more checks of s3")
    assert len(unhealthy_line.findall(e.error_log())) == 1, \
        [l for l in e.error_log().splitlines() if s3.address in l]
    assert server_info(admin_port, "pool", s2.address)["active_requests"] == 0
    assert client_requests(s1) == 0 and client_requests(s3) == 0


# -- 6: workers --------------------------------------------------------------------------------

def test_workers_change_is_logged_as_needing_a_restart(edged, origin):
    o1, o2 = origin("one"), origin("two")
    admin_port = free_port()
    cfg_a, cfg_b = two_origin_configs(o1, o2, admin_port)
    cfg_b["workers"] = 2                               # A: workers 1
    e = edged(cfg_a)
    wait_admin(admin_port)
    inodes = listen_inodes(e.pid, e.port)
    assert len(inodes) == 1, inodes
    mark = log_mark(e)
    e.reload(cfg_b)
    wait_origin(e, "two", what="SIGHUP with workers: 2")   # the rest of the file applies
    assert generation(admin_port) == 2
    lines = wait_log(e, mark, r"\[warn\].*workers.*restart|\[warn\].*restart.*workers")
    assert len(lines) == 1, lines
    assert listen_inodes(e.pid, e.port) == inodes      # still one worker, same socket
    assert reload_metrics(admin_port) == (2, 0, 2)


# -- 7: 20 reloads under load ------------------------------------------------------------------

class HttpLoad:
    """Keep-alive GETs from `n` threads, each on its own persistent connection; every request's
    (sent_at, status, origin, error) is kept. An error is an exception, a status other than 200
    or a body that does not match the X-Origin header."""

    def __init__(self, port, n=4):
        self.port = port
        self.results = [[] for _ in range(n)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(n)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, n):
        c = Client(self.port, timeout=10)
        out = self.results[n]
        i = 0
        try:
            while not self.stop.is_set():
                path = "/load/%d/%d" % (n, i)
                i += 1
                sent = time.monotonic()
                try:
                    r = c.get(path)
                except (OSError, httpwire.PeerClosed, ValueError) as ex:
                    out.append((sent, None, None, repr(ex)))
                    continue
                origin = r.headers.get("x-origin")
                err = None
                if r.status != 200:
                    err = "status %d %r" % (r.status, r.body[:100])
                elif r.body != ("GET %s from %s\n" % (path, origin)).encode():
                    err = "body %r from %r" % (r.body[:100], origin)
                out.append((sent, r.status, origin, err))
        finally:
            c.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)
        assert not any(t.is_alive() for t in self.threads), "load threads hang"

    def failures(self):
        return [(n, r) for n, rs in enumerate(self.results) for r in list(rs) if r[3]]

    @staticmethod
    def _since(rs, since):
        """The results sent at or after `since` (scanning back from the newest)."""
        j = len(rs)
        while j > 0 and rs[j - 1][0] >= since:
            j -= 1
        return rs[j:]

    def each_saw(self, origin, since):
        return all(any(r[2] == origin for r in self._since(rs, since)) for rs in self.results)

    def count_since(self, since):
        return min(len(self._since(rs, since)) for rs in self.results)


class WsFleet:
    """n WebSocket clients through edged, opened together, each sending a message and awaiting
    its echo every ~period s until stopped; on an asyncio loop in its own thread."""

    def __init__(self, port, n, period=0.2):
        self.port = port
        self.n = n
        self.period = period
        self.done = [[] for _ in range(n)]      # monotonic time of each completed echo
        self.failures = []                       # (client, time, what)
        self.open_errors = []
        self.close_codes = []
        self.opened = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self):
        self.thread.start()
        return self

    async def _one(self, i, ws):
        rnd = random.Random(i)
        await asyncio.sleep(rnd.uniform(0, self.period))
        k = 0
        while not self.stop.is_set():
            msg = "ws%d-m%d" % (i, k)
            try:
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 10)
            except (websockets.ConnectionClosed, asyncio.TimeoutError, OSError) as ex:
                self.failures.append((i, time.monotonic(), "%r (code %s)" % (ex, ws.close_code)))
                return
            if got != msg:
                self.failures.append((i, time.monotonic(), "echo %r for %r" % (got, msg)))
                return
            self.done[i].append(time.monotonic())
            k += 1
            await asyncio.sleep(self.period * rnd.uniform(0.5, 1.5))

    async def _main(self):
        kw = dict(max_size=None, ping_interval=None, compression=None, open_timeout=30,
                  close_timeout=5)
        socks = await asyncio.gather(
            *[websockets.connect("ws://127.0.0.1:%d/ws/echo-%d" % (self.port, i), **kw)
              for i in range(self.n)], return_exceptions=True)
        self.open_errors = [repr(s) for s in socks if isinstance(s, BaseException)]
        socks = [s for s in socks if not isinstance(s, BaseException)]
        self.opened.set()
        if not self.open_errors:
            await asyncio.gather(*[self._one(i, ws) for i, ws in enumerate(socks)])
        await asyncio.gather(*[ws.close() for ws in socks], return_exceptions=True)
        self.close_codes = [ws.close_code for ws in socks]

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "websocket clients hang"

    def each_echoed_since(self, t):
        return all(d and d[-1] >= t for d in self.done)

    def echoes_since(self, t):
        n = 0
        for d in self.done:
            j = len(d)
            while j > 0 and d[j - 1] >= t:
                j -= 1
            n += len(d) - j
        return n


def origin_runs(results):
    """How many runs of the same origin a thread's answers make (a a b b a = 3)."""
    runs = 0
    last = None
    for r in results:
        if r[2] is not None and r[2] != last:
            runs += 1
            last = r[2]
    return runs


def test_twenty_reloads_under_load_with_100_websockets(edged, origin):
    o1, o2 = origin("one"), origin("two")
    wso = WsOriginProcess()
    load = fleet = None
    try:
        admin_port = free_port()
        ws_up = {"ws": [wso.address]}
        cfg_a, cfg_b = two_origin_configs(o1, o2, admin_port, ws_up, ws_up, workers=2,
                                          timeouts={"tunnel_idle": "60s"})
        for c in (cfg_a, cfg_b):
            c["routes"].insert(0, {"match": {"prefix": "/ws/"}, "upstream": "ws"})
        e = edged(cfg_a)
        wait_admin(admin_port)

        fleet = WsFleet(e.port, 100).start()
        assert fleet.opened.wait(40), "the websockets did not open"
        assert not fleet.open_errors, fleet.open_errors[:5]
        load = HttpLoad(e.port, 4).start()
        t_start = time.monotonic()
        wait_for(lambda: load.each_saw("one", t_start) and fleet.each_echoed_since(t_start), 10,
                 "load and every websocket to get going")

        probe_errors = []
        marks = []                      # (generation, trigger time, moved time)
        log0 = log_mark(e)
        for k in range(1, 21):
            cfg, want = (cfg_b, "two") if k % 2 else (cfg_a, "one")
            via = "sighup" if k % 4 in (1, 2) else "admin"
            gen = k + 1
            t_k = time.monotonic()
            e.write_config(cfg)
            if via == "sighup":
                e.signal(signal.SIGHUP)
            else:
                admin_reload_ok(admin_port, gen)
            wait_origin(e, want, what="reload %d (%s, to generation %d)" % (k, via, gen),
                        errors=probe_errors, path="/probe/%d" % k)
            wait_for(lambda: load.each_saw(want, t_k), MOVE_WITHIN,
                     "every load connection to reach origin %r after reload %d" % (want, k))
            # every tunnel exchanges a message in every generation (about one period)
            wait_for(lambda: fleet.each_echoed_since(t_k) or fleet.failures, 10,
                     "every websocket to exchange a message after reload %d" % k)
            assert not fleet.failures, fleet.failures[:10]
            marks.append((gen, t_k, time.monotonic()))
            assert generation(admin_port) == gen
        reloads_took = time.monotonic() - marks[0][1]

        # an invalid file during load: nothing changes
        assert reload_metrics(admin_port) == (21, 0, 21)
        bad = json.loads(json.dumps(cfg_a))
        bad["listen"] = [{"address": "127.0.0.1:%d" % e.port}]
        bad["routes"][1]["upstream"] = "nope"
        bad["upstreams"]["a"]["servers"][0]["weight"] = 0
        e.write_config(bad)
        expected = check_errors(e.config_path)
        t_bad = time.monotonic()
        status, doc, body = post_reload(admin_port)
        assert status == 400 and doc and doc.get("result") == "failure" and \
            doc.get("generation") == 21 and sorted(doc.get("errors", [])) == sorted(expected), \
            (status, body[:500], expected)
        e.signal(signal.SIGHUP)
        wait_for(lambda: reload_metrics(admin_port)[1] == 2, MOVE_WITHIN,
                 "the SIGHUP of the invalid file to be counted")
        wait_for(lambda: load.count_since(t_bad) >= 30, 10, "30 requests per load connection "
                 "after the invalid reloads")
        assert generation(admin_port) == 21
        assert [ask(e.port, "/after-bad/%d" % i) for i in range(5)] == [(200, "one")] * 5
        after_bad = [r for rs in load.results for r in list(rs) if r[0] >= t_bad]
        assert {r[2] for r in after_bad} == {"one"}, {r[2] for r in after_bad}
        wait_for(lambda: fleet.each_echoed_since(t_bad), 10,
                 "every websocket to exchange a message after the invalid reloads")
        t_end = time.monotonic()
        assert wso.count("CLOSED") == 0, [x for x in wso.events if x.startswith("CLOSED")][:5]
        ws_failures = list(fleet.failures)
        load.finish()
        fleet.finish()

        # zero failed requests
        failures = load.failures()
        total = sum(len(rs) for rs in load.results)
        assert not failures and not probe_errors, \
            "%d of %d load requests failed, %d probes failed:\n%s" % (
                len(failures), total, len(probe_errors),
                "\n".join("conn %d at %+.3f s: %s" % (n, r[0] - marks[0][1], r[3])
                          for n, r in failures[:20]) + "\n" + "\n".join(probe_errors[:10]))
        # each connection moved once per reload and never back (a, then b, then a...)
        runs = [origin_runs(rs) for rs in load.results]
        assert runs == [21] * len(runs), runs
        # zero closed tunnels; every tunnel kept exchanging all along
        assert not ws_failures, ws_failures[:10]
        assert fleet.close_codes == [1000] * 100, fleet.close_codes
        gaps = []
        for d in fleet.done:
            assert d and d[0] < marks[0][1] and d[-1] >= t_bad, "a websocket stopped exchanging"
            gaps.append(max(b - a for a, b in zip(d, d[1:])))
        assert max(gaps) < 5.0, "a websocket waited %.1f s for an echo" % max(gaps)
        ends = [t for _, t, _ in marks[1:]] + [t_bad]
        for (gen, t_k, _), end in zip(marks, ends):
            for i, d in enumerate(fleet.done):
                assert any(t_k <= x < end for x in d), \
                    "websocket %d had no echo while generation %d was current" % (i, gen)
        # the origin saw each tunnel open once and close once, by the clients' close at the end
        assert wso.count("OPEN") == 100, wso.count("OPEN")
        wait_for(lambda: wso.count("CLOSED") == 100, 10, "the origin to see 100 closes")
        assert all(x.split()[2] == "1000" for x in wso.events if x.startswith("CLOSED")), \
            [x for x in wso.events if x.startswith("CLOSED")][:5]
        assert not wso.errors(), wso.errors()[:5]

        # metrics and log
        assert reload_metrics(admin_port) == (21, 2, 21)
        new = log_since(e, log0)
        for gen in range(2, 22):
            assert [l for l in new if "[info]" in l and re.search(r"reload: generation %d\b" % gen,
                                                                  l)], gen
        assert len([l for l in new if "[warn]" in l and "reload failed" in l and
                    "keeping generation 21" in l]) == 2, [l for l in new if "reload" in l][-5:]
        for err in expected:
            where = err.split(": ", 1)[0] + ": "
            assert len([l for l in new if where in l and "[warn]" in l]) >= 2, (err, new[-20:])
        print("20 reloads in %.2f s (moves took %s s); %d keep-alive requests, %d websocket "
              "echoes; %.1f s in all" % (
                  reloads_took, ", ".join("%.2f" % (m - t) for _, t, m in marks), total,
                  sum(len(d) for d in fleet.done), t_end - t_start))
    finally:
        if load:
            load.stop.set()
        if fleet:
            fleet.stop.set()
            fleet.thread.join(timeout=30)
        wso.kill()


# -- 8: a second signal ------------------------------------------------------------------------

def test_second_signal_exits_at_once(edged):
    wso = WsOriginProcess()
    try:
        e = edged(make_config({"ws": [wso.address]},
                              timeouts={"shutdown_grace": "30s", "tunnel_idle": "60s"}))
        req, _ = client_handshake("/echo-second-signal")
        with httpwire.connect(e.port, timeout=10) as s:
            s.sendall(req)
            bs = httpwire.BufferedSocket(s)
            start, _ = httpwire.parse_head(bs.read_until(b"\r\n\r\n"))
            assert start.split()[1] == "101", start
            s.sendall(frame(0x1, b"before", mask_key=b"abcd"))
            assert read_frame(bs) == (True, 0x1, b"before")

            mark = log_mark(e)
            e.signal(signal.SIGTERM)
            wait_log(e, mark, r"graceful shutdown")
            # the tunnel holds the shutdown up (grace 30 s): still there, still carrying
            t0 = time.monotonic()
            s.sendall(frame(0x1, b"during", mask_key=b"abcd"))
            assert read_frame(bs) == (True, 0x1, b"during")
            while time.monotonic() - t0 < 0.5:
                assert e.proc.poll() is None, "edged exited with a tunnel open, grace 30 s"
                time.sleep(0.05)

            t1 = time.monotonic()
            e.signal(signal.SIGTERM)
            rc = e.wait(timeout=5)
            took = time.monotonic() - t1
            closed, _ = httpwire.wait_closed(s, 2)
        assert rc == 0
        assert took < 5, "edged took %.1f s to exit after the second SIGTERM" % took
        assert closed
        assert "LeakSanitizer" not in e.error_log()
    finally:
        wso.kill()
