"""Limits and access control on raw sockets: limits.max_connections (accept pauses at the limit,
resumes below it), limits.max_headers (431), limits.per_client connections and rate (429 with
Retry-After, then recovery), real_ip from trusted and untrusted peers (what the origin sees in
X-Forwarded-For / X-Real-IP, and the access log), PROXY protocol v1 and v2 (garbage instead of
the header: closed), route allow/deny (403), and the admin bearer token (401 / 200). Each case
checks the bytes the origin received, or that it received nothing."""

import socket
import struct
import time
import urllib.error
import urllib.request

import pytest

import httpwire
from harness import free_port, make_config
from lbtools import wait_admin


def send(sock, raw):
    sock.sendall(raw)
    return httpwire.read_response(httpwire.BufferedSocket(sock))


def get(port, target="/", headers=(), prefix=b""):
    """One request on a new connection (after `prefix` bytes, e.g. a PROXY header)."""
    head = "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (target, "".join("%s: %s\r\n" % h for h in headers))
    with httpwire.connect(port) as s:
        return send(s, prefix + head.encode())


def wait_requests(o, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while len(o.requests) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return o.requests


def closed_without_answer(port, raw):
    with httpwire.connect(port) as s:
        s.sendall(raw)
        s.settimeout(5)
        try:
            return s.recv(100) == b""
        except ConnectionResetError:
            return True


def proxy_v1(src, dst="127.0.0.1", sport=40000, dport=80):
    return ("PROXY TCP4 %s %s %d %d\r\n" % (src, dst, sport, dport)).encode()


def proxy_v2(src, dst="127.0.0.1", sport=40000, dport=80):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


# -- one edged: real_ip, PROXY protocol, allow/deny, max_headers, admin token --------------------

TOKEN = "t0ken-for-tests"


@pytest.fixture
def main(edged, origin, tmp_path):
    o = origin("a")
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")
    plain, pp, admin = free_port(), free_port(), free_port()
    cfg = make_config(
        {"app": [o.address]},
        routes=[{"match": {"prefix": "/internal/"}, "upstream": "app", "allow": ["10.0.0.0/8"]},
                {"match": {"prefix": "/blocked/"}, "upstream": "app",
                 "deny": ["10.9.0.0/16", "127.0.0.1"], "allow": ["10.0.0.0/8"]},
                {"match": {"prefix": "/"}, "upstream": "app"}],
        listen=[{"address": "127.0.0.1:%d" % plain},
                {"address": "127.0.0.1:%d" % pp, "proxy_protocol": True}],
        limits={"max_headers": 10},
        real_ip={"from": ["127.0.0.1/32", "10.0.0.0/8"]},
        admin={"address": "127.0.0.1:%d" % admin, "token_file": str(token_file)})
    e = edged(cfg)
    wait_admin(admin)
    return e, o, plain, pp, admin


def test_real_ip_trusted_and_untrusted_peers(main):
    e, o, plain, pp, _ = main
    # Trusted peer (127.0.0.1): the list is walked from the right past trusted hops; the spoofed
    # leftmost item is dropped from what the origin gets.
    r = get(plain, "/a", [("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.1.1")])
    assert r.status == 200
    # Untrusted peer (PROXY source 203.0.113.9): its X-Forwarded-For counts for nothing.
    r = get(pp, "/b", [("X-Forwarded-For", "6.6.6.6")], prefix=proxy_v1("203.0.113.9"))
    assert r.status == 200
    # Trusted PROXY source (10.0.0.5): its X-Forwarded-For names the client.
    r = get(pp, "/c", [("X-Forwarded-For", "192.0.2.44")], prefix=proxy_v2("10.0.0.5"))
    assert r.status == 200
    reqs = wait_requests(o, 3)
    seen = {q.target: (q.headers.get_all("X-Forwarded-For"), q.headers.get("X-Real-IP")) for q in reqs}
    assert seen["/a"] == (["198.51.100.7, 10.1.1.1, 127.0.0.1"], "198.51.100.7")
    assert seen["/b"] == (["203.0.113.9"], "203.0.113.9")
    assert seen["/c"] == (["192.0.2.44, 10.0.0.5"], "192.0.2.44")
    lines = e.wait_access_lines(3)
    by_target = {t: [l for l in lines if ("GET %s " % t) in l][0] for t in ("/a", "/b", "/c")}
    assert by_target["/a"].startswith("198.51.100.7 ")
    assert by_target["/b"].startswith("203.0.113.9 ")
    assert by_target["/c"].startswith("192.0.2.44 ")
    assert "6.6.6.6" not in "".join(lines)


def test_proxy_protocol_garbage_is_closed(main):
    e, o, plain, pp, _ = main
    assert closed_without_answer(pp, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert closed_without_answer(pp, b"PROXY TCP4 not-an-ip 1.2.3.4 1 2\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert closed_without_answer(pp, b"\r\n\r\n\x00\r\nQUIT\n\x99\x11\x00\x0c" + b"x" * 12)
    time.sleep(0.2)
    assert o.requests == []


def test_allow_deny(main):
    e, o, plain, pp, _ = main
    assert get(plain, "/internal/x").status == 403              # 127.0.0.1: no allow rule matches
    assert get(pp, "/internal/y", prefix=proxy_v2("203.0.113.1")).status == 403
    assert get(plain, "/blocked/x").status == 403               # deny 127.0.0.1 (first match)
    assert get(pp, "/blocked/y", prefix=proxy_v1("10.9.1.1")).status == 403   # deny before allow
    time.sleep(0.2)
    assert o.requests == []                                     # nothing of the refused went out
    assert get(pp, "/internal/ok", prefix=proxy_v2("10.1.2.3")).status == 200
    assert get(pp, "/blocked/ok", prefix=proxy_v1("10.8.0.1")).status == 200
    reqs = wait_requests(o, 2)
    assert [q.target for q in reqs] == ["/internal/ok", "/blocked/ok"]
    assert reqs[0].headers.get("X-Real-IP") == "10.1.2.3"


def test_max_headers(main):
    e, o, plain, pp, _ = main
    nine = [("X-H%d" % i, "v") for i in range(9)]   # + Host = 10: allowed
    assert get(plain, "/ten", nine).status == 200
    r = get(plain, "/eleven", nine + [("X-H9", "v")])
    assert r.status == 431
    time.sleep(0.2)
    assert [q.target for q in o.requests] == ["/ten"]


def admin_post(port, path, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method="POST", data=b"")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as x:
        return x.code, dict(x.headers)


def test_admin_token(main):
    e, o, plain, pp, admin = main
    status, headers = admin_post(admin, "/reload")
    assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert admin_post(admin, "/reload", "wrong")[0] == 401
    assert admin_post(admin, "/upstreams/app/servers/%s/drain" % o.address, "x" + TOKEN)[0] == 401
    assert "refused: no bearer token" in e.error_log()
    assert "refused: wrong bearer token" in e.error_log()
    assert admin_post(admin, "/reload", TOKEN)[0] == 200
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % admin, timeout=10) as resp:
        assert resp.status == 200   # read-only endpoints need no token


# -- limits.max_connections ------------------------------------------------------------------

def test_max_connections_pause_and_resume(edged, origin):
    o = origin("a")
    e = edged(make_config({"app": [o.address]}, limits={"max_connections": 2}))
    time.sleep(0.3)   # the harness's readiness probe connection is gone
    a, b = httpwire.connect(e.port), httpwire.connect(e.port)
    try:
        req = b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"
        assert send(a, req % b"a").status == 200
        assert send(b, req % b"b").status == 200
        c = httpwire.connect(e.port)   # the kernel completes it; edged does not take it
        c.sendall(req % b"c")
        c.settimeout(1.0)
        with pytest.raises(socket.timeout):
            c.recv(1)
        assert [q.target for q in o.requests] == ["/a", "/b"]
        a.close()                      # below the limit: the waiting connection is served
        c.settimeout(10)
        r = httpwire.read_response(httpwire.BufferedSocket(c))
        assert r.status == 200
        assert [q.target for q in wait_requests(o, 3)] == ["/a", "/b", "/c"]
        c.close()
    finally:
        a.close()
        b.close()


# -- limits.per_client -----------------------------------------------------------------------

@pytest.fixture
def limited(edged, origin):
    o = origin("a")
    admin = free_port()
    e = edged(make_config({"app": [o.address]},
                          limits={"per_client": {"connections": 2, "rate": "1/s", "burst": 0, "key": "X-Key"}},
                          admin={"address": "127.0.0.1:%d" % admin}))
    wait_admin(admin)
    time.sleep(0.3)
    return e, o, admin


def metric(admin, limit):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith('edged_client_limited_total{limit="%s"}' % limit):
                return int(line.split()[-1])
    raise AssertionError("no edged_client_limited_total for %s" % limit)


def test_per_client_connections(limited):
    e, o, admin = limited
    req = "GET /%s HTTP/1.1\r\nHost: t\r\nX-Key: %s\r\n\r\n"
    a, b, c = (httpwire.connect(e.port) for _ in range(3))
    try:
        assert send(a, (req % ("a", "ka")).encode()).status == 200
        assert send(b, (req % ("b", "kb")).encode()).status == 200
        r = send(c, (req % ("c", "kc")).encode())
        assert r.status == 429 and r.headers.get("Retry-After") == "1"
        closed, extra = httpwire.wait_closed(c)   # over the limit: the connection goes
        assert closed and extra == b""
        assert [q.target for q in wait_requests(o, 2)] == ["/a", "/b"]
        a.close()
        time.sleep(0.3)
        with httpwire.connect(e.port) as d:
            assert send(d, (req % ("d", "kd")).encode()).status == 200
        assert metric(admin, "connections") == 1
    finally:
        for s in (a, b, c):
            s.close()


def test_per_client_rate(limited):
    e, o, admin = limited
    assert get(e.port, "/r1", [("X-Key", "k1")]).status == 200
    r = get(e.port, "/r2", [("X-Key", "k1")])
    assert r.status == 429 and r.headers.get("Retry-After") == "1"
    assert get(e.port, "/other", [("X-Key", "k2")]).status == 200   # another key, its own bucket
    time.sleep(1.1)
    assert get(e.port, "/r3", [("X-Key", "k1")]).status == 200      # drained: served again
    assert [q.target for q in wait_requests(o, 3)] == ["/r1", "/other", "/r3"]
    assert metric(admin, "rate") == 1


def test_out_of_fds_pauses_accept(edged, origin):
    """EMFILE: accept stops for a moment and the connections completed meanwhile wait in the
    kernel's queue (served once descriptors are free), instead of being reset or spun on."""
    import subprocess
    o = origin("a")
    e = edged(make_config({"app": [o.address]}))
    fds = len(__import__("os").listdir("/proc/%d/fd" % e.proc.pid))
    limit = fds + 10
    subprocess.run(["prlimit", "--pid", str(e.proc.pid), "--nofile=%d:%d" % (limit, limit)], check=True)
    conns = []
    try:
        for _ in range(30):   # 10 fit, the rest wait in the accept queue
            conns.append(httpwire.connect(e.port))
        deadline = time.monotonic() + 5
        while "accept failed" not in e.error_log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "accept failed: too many open files" in e.error_log()
        last = conns[-1]
        for s in conns[:-1]:
            s.close()
        # The last connection was completed while edged had no descriptor: still served.
        assert send(last, b"GET /late HTTP/1.1\r\nHost: t\r\n\r\n").status == 200
        assert [q.target for q in wait_requests(o, 1)] == ["/late"]
        # Paused, not spinning: a handful of warnings, not one per loop turn.
        assert e.error_log().count("accept failed") < 100
    finally:
        for s in conns:
            s.close()
