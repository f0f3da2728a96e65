"""Helpers for the load-balancing and failover tests: a keep-alive client, a threaded load
runner that records which origin (X-Origin) answered each request, and the admin API."""

import collections
import json
import socket
import threading
import time
import urllib.request

import httpwire
from origin import CLOSE, default_handler


class Health:
    """An origin handler for the health-check tests: /healthz answers `status` (and closes),
    /slow answers after 2.5 s, anything else the default handler."""

    def __init__(self, status=200):
        self.status = status

    def __call__(self, conn, req):
        if req.target == "/healthz":
            conn.respond(self.status, b"health\n")
            return CLOSE
        if req.target == "/slow":
            time.sleep(2.5)
            conn.respond(200, b"slow\n")
            return None
        return default_handler(conn, req)


class Client:
    """One keep-alive client connection to edged; reconnects when edged closed it (told by
    `Connection: close` or an HTTP/1.0 response)."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.bs = None

    def request(self, method="GET", target="/", headers=None, body=None):
        if self.sock is None:
            self.sock = httpwire.connect(self.port, self.timeout)
            self.bs = httpwire.BufferedSocket(self.sock)
        try:
            self.sock.sendall(httpwire.build_request(method, target, headers, body))
            r = httpwire.read_response(self.bs, method)
        except BaseException:
            self.close()
            raise
        if "close" in r.headers.tokens("connection") or r.version == "HTTP/1.0":
            self.close()
        return r

    def get(self, target="/", headers=None):
        return self.request("GET", target, headers)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = self.bs = None


Result = collections.namedtuple("Result", "index status origin error t")


def run_load(port, total=None, threads=4, target=lambda i: "/r/%d" % i, headers=lambda i: None,
             duration=None, deadline=60.0, on_result=None):
    """GETs from `threads` keep-alive connections: either `total` requests in all, or as many
    as fit in `duration` seconds. Returns the list of Results (error is a repr, or None)."""
    results = []
    lock = threading.Lock()
    counter = [0]
    stop_at = time.monotonic() + (duration if duration is not None else deadline)

    def next_index():
        with lock:
            i = counter[0]
            if total is not None and i >= total:
                return None
            counter[0] += 1
            return i

    def worker():
        c = Client(port)
        try:
            while time.monotonic() < stop_at:
                i = next_index()
                if i is None:
                    return
                try:
                    r = c.get(target(i), headers(i))
                    res = Result(i, r.status, r.headers.get("x-origin"), None, time.monotonic())
                except (OSError, httpwire.PeerClosed, ValueError) as e:
                    res = Result(i, None, None, repr(e), time.monotonic())
                with lock:
                    results.append(res)
                if on_result:
                    on_result(res)
        finally:
            c.close()

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=(duration if duration is not None else deadline) + 30)
    assert not any(t.is_alive() for t in ts), "load threads did not finish"
    if total is not None and duration is None:
        assert len(results) == total, "only %d of %d requests done within %.0f s" % (
            len(results), total, deadline)
    return results


def by_origin(results):
    return collections.Counter(r.origin for r in results)


def in_background(fn, *args):
    """Run fn(*args) on a thread; returns (thread, box) where box[0] is the result or
    exception once the thread ends."""
    box = [None]

    def run():
        try:
            box[0] = fn(*args)
        except BaseException as e:   # noqa: B036 - reported by the caller
            box[0] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def wait_for(pred, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval)
    assert pred(), "timed out after %.1f s waiting for %s" % (timeout, what)


# -- admin API -------------------------------------------------------------------------------

def admin_call(admin_port, method, path, timeout=5.0):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (admin_port, path), method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def upstreams(admin_port):
    status, body = admin_call(admin_port, "GET", "/upstreams")
    assert status == 200, (status, body)
    return json.loads(body)


def server_info(admin_port, upstream, address):
    for u in upstreams(admin_port)["upstreams"]:
        if u["name"] == upstream:
            for s in u["servers"]:
                if s["address"] == address:
                    return s
    raise AssertionError("no server %s in upstream %s" % (address, upstream))


def set_drain(admin_port, upstream, address, drain=True):
    status, body = admin_call(admin_port, "POST", "/upstreams/%s/servers/%s/%s"
                              % (upstream, address, "drain" if drain else "undrain"))
    assert status == 200, (status, body)
    return json.loads(body)


def wait_admin(admin_port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", admin_port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("admin port %d not accepting" % admin_port)
            time.sleep(0.05)
