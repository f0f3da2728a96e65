"""The response cache end to end: one edged (2 workers, a small memory budget) and one fake origin
for the module; the origin's behaviour is chosen by the path, and it counts requests per path, so
each test sees exactly what reached it. Hits, Age and the stored Date, Vary, revalidation with a
304 header update, invalidation by unsafe methods and Location, Authorization, no-store/private,
Range 206, HEAD from GET, request collapsing across workers, a lying origin, eviction,
stale-while-revalidate's background refresh, the cache state in the access log, and the scheme in
the key (an HTTPS listener beside the plain one)."""

import email.utils
import json
import re
import socket
import threading
import time
import urllib.request

import ssl

import pytest

import httpwire
from harness import Edged, free_port, make_config
from lbtools import admin_call, wait_admin
from origin import Origin
from tlstools import Pki

PAST_DATE = email.utils.formatdate(time.time() - 5, usegmt=True)
GZ_BODY = b'{"items": [' + b",".join(b'{"id": %d, "name": "item"}' % i for i in range(200)) + b"]}"
GZIP_IN = 'edged_compression_bytes_in_total{algorithm="gzip"}'
# stale-while-revalidate: a path's refresh (its second request on) is held until the test sets
# its gate, so that the test sees the stale answer arrive while the origin has not answered yet.
GATES = {}


def handler(conn, req):
    path = req.target.split("?")[0]
    n = conn.origin.request_count(req.target)   # this request included
    body = ("%s %s #%d\n" % (req.method, req.target, n)).encode()
    h = [("Content-Type", "text/plain"), ("Date", PAST_DATE)]
    if path.startswith("/swr"):
        # Stale at once (max-age=0, Date now), usable stale for 60 s while one refresh runs.
        now = email.utils.formatdate(time.time(), usegmt=True)
        if n > 1 and path in GATES:
            assert GATES[path].wait(10), "gate of %s never opened" % path
        if n > 1 and path.startswith("/swr304/") and req.headers.get("if-none-match") == '"w1"':
            conn.respond(304, b"", headers=[("ETag", '"w1"'), ("Cache-Control", "max-age=60"),
                                           ("X-Rev", "updated"), ("Date", now)], length=False)
            return None
        cc = "max-age=0, stale-while-revalidate=60" if n == 1 else "max-age=60"
        h = [("Content-Type", "text/plain"), ("Date", now), ("Cache-Control", cc), ("ETag", '"w%d"' % n),
             ("X-Rev", "first" if n == 1 else "second")]
    elif path.startswith("/early/"):
        # RFC 9110 §15.2: an interim 103 first, the final (cacheable) response a moment later.
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
        time.sleep(0.1)
        h += [("Cache-Control", "max-age=60")]
    elif path.startswith("/fresh/"):
        h += [("Cache-Control", "max-age=60"), ("ETag", '"e%d"' % n), ("Surrogate-Key", "all t-%s" % path[7:])]
    elif path.startswith("/aged/"):
        h += [("Cache-Control", "max-age=60"), ("Age", "10")]
    elif path.startswith("/vary/"):
        h += [("Cache-Control", "max-age=60"), ("Vary", "X-Lang")]
        body = ("lang=%s #%d\n" % (req.headers.get("x-lang"), n)).encode()
    elif path.startswith("/reval/"):
        if req.headers.get("if-none-match") == '"v1"':
            conn.respond(304, b"", headers=[("ETag", '"v1"'), ("Cache-Control", "max-age=60"),
                                           ("X-Rev", "updated"), ("Date", PAST_DATE)], length=False)
            return None
        h += [("Cache-Control", "max-age=0"), ("ETag", '"v1"'), ("X-Rev", "first")]
    elif path.startswith("/unsafe/"):
        h += [("Cache-Control", "max-age=60")]
        if req.method == "POST":
            h += [("Location", "/unsafe/other")]
    elif path.startswith("/auth/"):
        h += [("Cache-Control", "max-age=60")]
    elif path.startswith("/authpublic/"):
        h += [("Cache-Control", "public, max-age=60")]
    elif path.startswith("/nostore/"):
        h += [("Cache-Control", "no-store")]
    elif path.startswith("/private/"):
        h += [("Cache-Control", "private, max-age=60")]
    elif path.startswith("/range/"):
        h += [("Cache-Control", "max-age=60")]
        body = bytes(range(100))
    elif path.startswith("/slow/"):
        time.sleep(1.0)
        h += [("Cache-Control", "max-age=60")]
    elif path.startswith("/lie/"):
        h += [("Cache-Control", "max-age=60"), ("Content-Length", "100")]
        conn.respond(200, b"x" * 50, headers=h)
        return "close"
    elif path.startswith("/gz/"):
        h += [("Cache-Control", "max-age=60")]
        body = GZ_BODY
        h[0] = ("Content-Type", "application/json")
    elif path.startswith("/sie/"):
        if n > 1:
            conn.respond(500, b"down\n", headers=[("Content-Type", "text/plain")])
            return None
        h += [("Cache-Control", "max-age=0, stale-if-error=60"), ("ETag", '"s"')]
    elif path.startswith("/sied/"):
        h += [("Cache-Control", "max-age=0, stale-if-error=60"), ("ETag", '"s"')]
    elif path.startswith("/lt/"):
        time.sleep(1.5)
        h += [("Cache-Control", "max-age=60")]
    elif path.startswith("/ns/"):
        time.sleep(0.5)
        h += [("Cache-Control", "no-store")]
    elif path.startswith("/huge"):
        h += [("Cache-Control", "max-age=60")]
        body = bytes(range(256)) * 1200          # 300 KiB, over max_object (256 KiB)
        if path.startswith("/hugec/"):
            conn.respond(200, body, headers=h, chunked=True, chunk_sizes=(16384,))
            return None
    elif path.startswith("/bigrange/"):
        h += [("Cache-Control", "max-age=60")]
        body = bytes(range(251)) * 400               # 100,400 bytes: several stored buffers
        conn.respond(200, body, headers=h, chunked=True, chunk_sizes=(5000, 20000, 7000))
        return None
    elif path.startswith("/gauge/"):
        h += [("Cache-Control", "max-age=60")]
        body = b"g" * 3000
    elif path.startswith("/big/"):
        h += [("Cache-Control", "max-age=60")]
        body = b"b" * (64 * 1024)
    if req.method == "HEAD":
        conn.respond(200, b"", headers=h + [("Content-Length", str(len(body)))])
    else:
        conn.respond(200, body, headers=h)
    return None


@pytest.fixture(scope="module")
def origin():
    o = Origin("o", handler, backlog=512)
    yield o
    o.stop()


@pytest.fixture(scope="module")
def flaky():
    o = Origin("flaky", handler)
    yield o
    o.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.localhost = p.leaf("localhost", dns=["localhost"])
    return p


@pytest.fixture(scope="module")
def edged(origin, flaky, pki, tmp_path_factory):
    routes = [{"match": {"prefix": "/sied/"}, "upstream": "flaky", "cache": "on"},
              {"match": {"prefix": "/gz/"}, "upstream": "api", "cache": "on", "compression": "on"},
              {"match": {"prefix": "/lt/"}, "upstream": "api", "cache": {"lock_timeout": "300ms"}},
              {"match": {"prefix": "/ns/"}, "upstream": "api", "cache": {"lock_timeout": "60s"}},
              {"match": {"prefix": "/gauge/"}, "upstream": "api", "cache": "on"},
              {"match": {"prefix": "/"}, "upstream": "api", "cache": "on"}]
    admin_port = free_port()
    cfg = make_config({"api": [origin.address], "flaky": [flaky.address]}, routes=routes, workers=2,
                      admin={"address": "127.0.0.1:%d" % admin_port},
                      cache={"memory": "1MiB", "max_object": "256KiB", "purge_allow": ["127.0.0.1/32"]})
    tls_port = free_port()
    cfg["listen"] = [{"address": "127.0.0.1:%d" % free_port()},
                     {"address": "127.0.0.1:%d" % tls_port,
                      "tls": {"certificates": [{"cert": pki.localhost.cert, "key": pki.localhost.key}]}}]
    e = Edged(cfg, tmp_path_factory.mktemp("edged")).start()
    e.tls_port = tls_port
    wait_admin(admin_port)
    e.admin_port = admin_port
    yield e
    e.stop()


def admin_post(e, path, obj):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (e.admin_port, path), method="POST",
                                 data=json.dumps(obj).encode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def metric(e, name):
    status, body = admin_call(e.admin_port, "GET", "/metrics")
    assert status == 200
    m = re.search(r"^%s (\d+)$" % re.escape(name), body.decode(), re.M)
    return int(m.group(1)) if m else 0


def concurrent(e, target, n, timeout=10.0):
    results = []
    lock = threading.Lock()

    def client():
        try:
            with httpwire.connect(e.port, timeout) as s:
                s.sendall(httpwire.build_request("GET", target))
                r = httpwire.read_response(httpwire.BufferedSocket(s))
            out = (r.status, r.body, r.headers.get("cache-status"))
        except Exception as ex:  # noqa: BLE001 - recorded and asserted by the caller
            out = (None, repr(ex), None)
        with lock:
            results.append(out)

    threads = [threading.Thread(target=client) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    return results


def get(e, target, method="GET", headers=()):
    return httpwire.request(e.port, method, target, headers=list(headers))


def test_miss_then_hit_with_age_and_the_stored_date(edged, origin):
    r1 = get(edged, "/fresh/a")
    r2 = get(edged, "/fresh/a")
    assert r1.status == 200 and r2.status == 200
    assert r1.headers.get("cache-status") == "edged; fwd=uri-miss; stored"
    assert r2.headers.get("cache-status").startswith("edged; hit; ttl=")
    # The miss is framed as the origin framed it: the cache copies the body as it passes.
    assert r1.headers.get("content-length") == str(len(r1.body)) and r1.headers.get("transfer-encoding") is None
    assert r2.body == r1.body == b"GET /fresh/a #1\n"
    assert r2.headers.get("date") == PAST_DATE
    assert int(r2.headers.get("age")) >= 5          # Date was 5 s before the origin answered
    assert r2.headers.get("surrogate-key") is None and r1.headers.get("surrogate-key") is None
    assert origin.request_count("/fresh/a") == 1
    r3 = get(edged, "/aged/a")
    r4 = get(edged, "/aged/a")
    assert int(r4.headers.get("age")) >= 10 and r3.body == r4.body
    assert origin.request_count("/aged/a") == 1
    # A hit sends each stored field once, its own Age and length instead of the stored ones, and
    # adds no Date of its own beside the stored one.
    names = r4.headers.names()
    for name in ("age", "date", "content-length", "content-type", "cache-control", "cache-status"):
        assert names.count(name) == 1, (name, r4.headers)
    assert r4.headers.get("date") == PAST_DATE
    assert int(r4.headers.get("content-length")) == len(r4.body)


def test_an_interim_1xx_is_relayed_and_never_stored_as_the_response(edged, origin):
    r1 = get(edged, "/early/a")
    assert [st for st, _ in r1.interim] == [103]
    assert r1.status == 200 and r1.body == b"GET /early/a #1\n"
    assert r1.headers.get("cache-status") == "edged; fwd=uri-miss; stored"
    r2 = get(edged, "/early/a")
    assert r2.status == 200 and r2.body == r1.body and r2.interim == []
    assert r2.headers.get("cache-status").startswith("edged; hit; ttl=")
    assert origin.request_count("/early/a") == 1


def test_head_is_answered_from_a_stored_get(edged, origin):
    r1 = get(edged, "/fresh/h")
    r2 = get(edged, "/fresh/h", method="HEAD")
    assert r2.status == 200 and r2.body == b""
    assert r2.headers.get("content-length") == str(len(r1.body))
    assert origin.request_count("/fresh/h") == 1


def test_client_conditional_is_answered_304_from_the_cache(edged, origin):
    r1 = get(edged, "/fresh/c")
    r2 = get(edged, "/fresh/c", headers=[("If-None-Match", r1.headers.get("etag"))])
    assert r2.status == 304 and r2.headers.get("etag") == r1.headers.get("etag")
    assert origin.request_count("/fresh/c") == 1


def test_vary_keeps_one_variant_per_request_value(edged, origin):
    en1 = get(edged, "/vary/x", headers=[("X-Lang", "en")])
    fr1 = get(edged, "/vary/x", headers=[("X-Lang", "fr")])
    en2 = get(edged, "/vary/x", headers=[("X-Lang", " EN ")])
    fr2 = get(edged, "/vary/x", headers=[("X-Lang", "fr")])
    assert en1.body.startswith(b"lang=en") and fr1.body.startswith(b"lang=fr")
    assert fr2.body == fr1.body
    assert origin.request_count("/vary/x") in (2, 3)   # " EN " normalises whitespace, not case
    assert en2.headers.get("cache-status").startswith("edged; hit") or en2.body.startswith(b"lang=")


def test_revalidation_304_updates_the_stored_headers(edged, origin):
    r1 = get(edged, "/reval/a")
    r2 = get(edged, "/reval/a")
    r3 = get(edged, "/reval/a")
    assert r1.headers.get("x-rev") == "first"
    assert r2.status == 200 and r2.body == r1.body and r2.headers.get("x-rev") == "updated"
    assert r2.headers.get("cache-status") == "edged; fwd=stale; fwd-status=304; stored"
    assert r3.headers.get("x-rev") == "updated" and r3.headers.get("cache-status").startswith("edged; hit")
    reqs = [q for q in origin.snapshot() if q.target == "/reval/a"]
    assert len(reqs) == 2 and reqs[1].headers.get("if-none-match") == '"v1"'


def test_unsafe_methods_invalidate_the_target_and_location(edged, origin):
    get(edged, "/unsafe/a")
    get(edged, "/unsafe/other")
    assert get(edged, "/unsafe/a").headers.get("cache-status").startswith("edged; hit")
    r = get(edged, "/unsafe/a", method="POST")
    assert r.status == 200 and r.headers.get("cache-status").startswith("edged; fwd=method")
    assert get(edged, "/unsafe/a").headers.get("cache-status") == "edged; fwd=uri-miss; stored"
    assert get(edged, "/unsafe/other").headers.get("cache-status") == "edged; fwd=uri-miss; stored"
    get(edged, "/unsafe/a", method="DELETE")
    get(edged, "/unsafe/a")
    assert origin.request_count("/unsafe/a") == 5
    assert origin.request_count("/unsafe/other") == 2


def test_authorization_no_store_and_private_are_not_stored(edged, origin):
    for _ in range(2):
        get(edged, "/auth/a", headers=[("Authorization", "Basic dTpw")])
        get(edged, "/authpublic/a", headers=[("Authorization", "Basic dTpw")])
        get(edged, "/nostore/a")
        get(edged, "/private/a")
    assert origin.request_count("/auth/a") == 2
    assert origin.request_count("/authpublic/a") == 1
    assert origin.request_count("/nostore/a") == 2
    assert origin.request_count("/private/a") == 2


def test_range_on_a_stored_200_is_206(edged, origin):
    full = get(edged, "/range/a")
    r = get(edged, "/range/a", headers=[("Range", "bytes=10-19")])
    assert r.status == 206 and r.body == bytes(range(10, 20))
    assert r.headers.get("content-range") == "bytes 10-19/100"
    assert full.body == bytes(range(100))
    assert origin.request_count("/range/a") == 1


def test_a_large_body_is_served_whole_and_in_ranges_across_its_buffers(edged, origin):
    body = bytes(range(251)) * 400
    assert get(edged, "/bigrange/a").body == body
    hit = get(edged, "/bigrange/a")
    assert hit.headers.get("cache-status").startswith("edged; hit") and hit.body == body
    for first, last in ((0, 0), (16000, 40000), (32767, 32768), (100000, 100399)):
        r = get(edged, "/bigrange/a", headers=[("Range", "bytes=%d-%d" % (first, last))])
        assert r.status == 206 and r.body == body[first:last + 1], (first, last)
        assert r.headers.get("content-range") == "bytes %d-%d/%d" % (first, last, len(body))
    assert origin.request_count("/bigrange/a") == 1


def test_only_if_cached_miss_is_504(edged, origin):
    r = get(edged, "/fresh/never", headers=[("Cache-Control", "only-if-cached")])
    assert r.status == 504
    assert origin.request_count("/fresh/never") == 0


def test_collapsing_200_clients_across_workers_make_one_origin_request(edged, origin):
    collapsed_before = metric(edged, 'edged_cache_collapsed_total{route="/"}')
    results = concurrent(edged, "/slow/k", 200)
    assert len(results) == 200
    assert all(s == 200 and b == b"GET /slow/k #1\n" for s, b, _ in results), results[:3]
    assert origin.request_count("/slow/k") == 1
    waiters = sum(1 for _, _, cs in results if "collapsed" in cs)
    assert waiters > 0
    assert metric(edged, 'edged_cache_collapsed_total{route="/"}') - collapsed_before == waiters


def test_waiters_go_to_the_origin_after_lock_timeout(edged, origin):
    results = concurrent(edged, "/lt/k", 3)
    assert [s for s, _, _ in results] == [200] * 3
    assert origin.request_count("/lt/k") == 3   # the fill took 1.5 s, the lock 300 ms


def test_an_uncacheable_fill_releases_its_waiters_at_once(edged, origin):
    # lock_timeout is 60 s on /ns/, the clients give up after 10 s: only an immediate release passes.
    results = concurrent(edged, "/ns/k", 5, timeout=10.0)
    assert [s for s, _, _ in results] == [200] * 5, results
    assert origin.request_count("/ns/k") == 5


def test_stale_if_error_serves_the_stale_entry_on_a_5xx(edged, origin):
    r1 = get(edged, "/sie/a")
    r2 = get(edged, "/sie/a")
    assert r1.status == 200
    assert r2.status == 200 and r2.body == r1.body
    assert origin.request_count("/sie/a") == 2


def wait_metric_at_least(e, name, value, timeout=5.0):
    # A filter counts in its onFinish, just after the client got the last byte.
    deadline = time.monotonic() + timeout
    while metric(e, name) < value and time.monotonic() < deadline:
        time.sleep(0.02)
    return metric(e, name)


def test_stale_if_error_serves_the_stale_entry_when_the_origin_is_down(edged, flaky):
    r1 = get(edged, "/sied/a")
    assert r1.status == 200 and flaky.request_count("/sied/a") == 1
    flaky.stop()                      # connections are refused from now on
    r2 = get(edged, "/sied/a")
    assert r2.status == 200 and r2.body == r1.body
    assert r2.headers.get("cache-status").startswith("edged; hit; ttl=")
    assert get(edged, "/sied/b").status == 502    # nothing stored: the core's answer


def test_compressed_variant_is_stored_and_a_hit_never_compresses(edged, origin):
    ae = [("Accept-Encoding", "gzip")]
    base = metric(edged, GZIP_IN)
    r1 = get(edged, "/gz/a", headers=ae)
    assert wait_metric_at_least(edged, GZIP_IN, base + len(GZ_BODY)) == base + len(GZ_BODY)
    r2 = get(edged, "/gz/a", headers=ae)
    r3 = get(edged, "/gz/a", headers=[("Accept-Encoding", "gzip, deflate")])
    assert r1.headers.get("content-encoding") == "gzip" and r2.headers.get("content-encoding") == "gzip"
    assert r2.body == r1.body and r3.body == r1.body
    assert r2.headers.get("cache-status").startswith("edged; hit")
    # One more miss on another key: the counter then shows exactly two compressor runs.
    get(edged, "/gz/b", headers=ae)
    assert wait_metric_at_least(edged, GZIP_IN, base + 2 * len(GZ_BODY)) == base + 2 * len(GZ_BODY)
    plain = get(edged, "/gz/a")
    assert plain.headers.get("content-encoding") is None and plain.body.startswith(b'{"items"')
    assert origin.request_count("/gz/a") == 2   # one fill per encoding served


def cache_json(e):
    status, body = admin_call(e.admin_port, "GET", "/cache")
    assert status == 200
    return json.loads(body)


def test_purge_by_method_url_prefix_and_tag(edged, origin):
    before = cache_json(edged)
    hits_before = metric(edged, 'edged_cache_hits_total{route="/"}')
    paths = ("/fresh/purge/p1", "/fresh/purge/p2", "/fresh/purge/q/1", "/fresh/purge/q/2", "/fresh/purge/t")
    for p in paths:
        get(edged, p)
    assert get(edged, paths[0]).headers.get("cache-status").startswith("edged; hit")   # this test's own hit
    with socket.create_connection(("127.0.0.1", edged.port), source_address=("127.0.0.2", 0)) as s:
        s.sendall(httpwire.build_request("PURGE", paths[0]))
        denied = httpwire.read_response(httpwire.BufferedSocket(s))
    assert denied.status == 403
    r = get(edged, paths[0], method="PURGE")
    assert r.status == 200 and json.loads(r.body) == {"purged": 1}
    assert json.loads(get(edged, paths[0], method="PURGE").body) == {"purged": 0}
    assert admin_post(edged, "/cache/purge", {"url": "http://localhost" + paths[1]}) == {"purged": 1}
    assert admin_post(edged, "/cache/purge", {"prefix": "http://localhost/fresh/purge/q/"}) == {"purged": 2}
    assert admin_post(edged, "/cache/purge", {"tag": "t-purge/t"}) == {"purged": 1}
    for p in paths:
        assert get(edged, p).headers.get("cache-status") == "edged; fwd=uri-miss; stored", p
        assert origin.request_count(p) == 2
    c = cache_json(edged)
    assert c["enabled"] and c["entries"] >= len(paths)
    assert c["purges"] - before["purges"] == c["routes"]["/"]["purges"] - before["routes"]["/"]["purges"] == 1
    assert c["admin_purges"] - before["admin_purges"] == 4
    assert c["routes"]["/"]["hits"] > before["routes"]["/"]["hits"] and c["routes"]["/gz/"]["hits"] >= 0
    assert metric(edged, 'edged_cache_hits_total{route="/"}') > hits_before and metric(edged, "edged_cache_bytes") > 0


def test_store_gauges_by_route(edged, origin):
    def gauges():
        c = cache_json(edged)
        r = c["routes"]["/gauge/"]
        return c, r["entries"], r["bytes"]

    c, entries, size = gauges()
    assert (entries, size) == (0, 0)
    for p in ("/gauge/a", "/gauge/b", "/gauge/c"):
        assert get(edged, p).status == 200
    c, entries, size = gauges()
    assert entries == 3 and 3 * 3000 < size < 3 * 3000 + 3 * 1024   # bodies, heads, keys, index
    # Every byte the store holds is some route's.
    assert sum(r["bytes"] for r in c["routes"].values()) == c["bytes"]
    assert sum(r["entries"] for r in c["routes"].values()) == c["entries"]
    assert metric(edged, 'edged_cache_route_entries{route="/gauge/"}') == 3
    assert metric(edged, 'edged_cache_route_bytes{route="/gauge/"}') == size
    assert json.loads(get(edged, "/gauge/a", method="PURGE").body) == {"purged": 1}
    _, entries, smaller = gauges()
    assert entries == 2 and 2 * 3000 < smaller < size - 3000
    assert admin_post(edged, "/cache/purge", {"prefix": "http://localhost/gauge/"}) == {"purged": 2}
    assert gauges()[1:] == (0, 0)


def test_a_lying_origin_is_never_stored(edged, origin):
    for _ in range(2):
        try:
            get(edged, "/lie/a")
        except Exception:  # noqa: BLE001 - the truncated response may fail to parse
            pass
    assert origin.request_count("/lie/a") == 2


def test_a_body_over_max_object_streams_through_unstored(edged, origin):
    for p in ("/huge/a", "/hugec/a"):     # announced by Content-Length / found out while chunked
        for _ in range(2):
            r = get(edged, p)
            assert r.status == 200 and r.body == bytes(range(256)) * 1200
        assert origin.request_count(p) == 2


def test_eviction_keeps_the_budget(edged, origin):
    # 40 x 64 KiB = 2.5 MiB of distinct keys through a 1 MiB budget.
    for i in range(40):
        assert get(edged, "/big/%d" % i).status == 200
    assert get(edged, "/big/39").headers.get("cache-status").startswith("edged; hit")
    get(edged, "/big/0")
    assert origin.request_count("/big/0") == 2
    assert origin.request_count("/big/39") == 1
    assert metric(edged, "edged_cache_evictions_total") > 0
    assert metric(edged, "edged_cache_bytes") <= 1.1 * (1 << 20)


def test_entries_survive_a_reload(edged, origin):
    get(edged, "/fresh/reload")
    status, body = admin_call(edged.admin_port, "POST", "/reload")
    assert status == 200, body
    r = get(edged, "/fresh/reload")
    assert r.headers.get("cache-status").startswith("edged; hit")
    assert origin.request_count("/fresh/reload") == 1


def test_request_directives_no_cache_max_stale_min_fresh(edged, origin):
    get(edged, "/fresh/nc")
    r = get(edged, "/fresh/nc", headers=[("Cache-Control", "no-cache")])
    assert origin.request_count("/fresh/nc") == 2 and r.body == b"GET /fresh/nc #2\n"
    assert origin.snapshot()[-1].headers.get("if-none-match") == '"e1"'   # revalidated, not refetched blind
    assert get(edged, "/fresh/nc", headers=[("Cache-Control", "min-fresh=3600")]).body == b"GET /fresh/nc #3\n"
    get(edged, "/reval/ms")                                     # max-age=0: stale at once
    r = get(edged, "/reval/ms", headers=[("Cache-Control", "max-stale")])
    assert r.status == 200 and r.headers.get("x-rev") == "first"
    assert origin.request_count("/reval/ms") == 1


def wait_until(fn, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    return fn()


def log_fields(e, target):
    """The access-log lines of `target` (GET), as dicts of their key=value words."""
    out = []
    for line in e.access_log():
        if '"GET %s HTTP/1.1"' % target not in line:
            continue
        out.append(dict(w.split("=", 1) for w in line.split() if "=" in w and not w.startswith('"')))
    return out


@pytest.mark.parametrize("path,refresh", [("/swr/a", "200"), ("/swr304/a", "304")])
def test_stale_while_revalidate_serves_stale_at_once_and_refreshes_once_in_the_background(
        edged, origin, path, refresh):
    gate = GATES[path] = threading.Event()
    try:
        r1 = get(edged, path)
        assert r1.status == 200 and r1.headers.get("x-rev") == "first"
        # Stale, within stale-while-revalidate: answered from the cache while the origin holds the
        # refresh (the gate is closed, so the origin cannot have answered it).
        r2 = get(edged, path, headers=[("X-Client", "2")])
        assert r2.status == 200 and r2.body == r1.body and not gate.is_set()
        cs = r2.headers.get("cache-status")
        assert re.match(r"edged; hit; ttl=(0|-\d+); detail=stale-while-revalidate$", cs), cs
        assert wait_until(lambda: origin.request_count(path) == 2)
        refresh_req = [q for q in origin.snapshot() if q.target == path][1]
        assert refresh_req.headers.get("if-none-match") == '"w1"'    # a conditional request
        # More stale requests on either worker while the refresh runs: served stale, no second refresh.
        for _ in range(4):
            r = get(edged, path)
            assert r.status == 200 and r.body == r1.body
        assert origin.request_count(path) == 2
    finally:
        gate.set()
    # The refresh lands: the next requests are fresh hits (the new body or the 304-merged head).
    def fresh_hit():
        r = get(edged, path)
        m = re.match(r"edged; hit; ttl=(-?\d+)$", r.headers.get("cache-status"))
        return r if m and int(m.group(1)) > 0 else None
    fresh = wait_until(fresh_hit)
    assert fresh, "no fresh hit after the refresh"
    if refresh == "200":
        assert fresh.body == ("GET %s #2\n" % path).encode() and fresh.headers.get("x-rev") == "second"
    else:
        assert fresh.body == r1.body and fresh.headers.get("x-rev") == "updated"
    assert origin.request_count(path) == 2
    assert wait_metric_at_least(edged, 'edged_cache_refreshes_total{route="/"}', 1) >= 1
    # The access log (each worker's lines in its own order): the miss, the five stale answers
    # (UPDATING, more if a poll came before the refresh landed), the background line, the hit.
    def complete(ls):   # each worker hands its lines over at least once a second
        states = [l.get("cache") for l in ls]
        return ls if any(l.get("background") for l in ls) and "HIT" in states and states.count("UPDATING") >= 5 \
            else None
    lines = wait_until(lambda: complete(log_fields(edged, path)))
    assert lines, edged.access_log()[-10:]
    states = [l.get("cache") for l in lines if not l.get("background")]
    assert states.count("MISS") == 1 and states.count("UPDATING") >= 5 and "HIT" in states, states
    # One refresh; at most one more background exchange that found the refresh running (two
    # workers may ask for one in the same instant) and ended without going to the origin.
    bg = [l for l in lines if l.get("background")]
    done = [l for l in bg if l.get("cache") != "BYPASS"]
    assert len(bg) <= 2 and len(done) == 1, bg
    assert done[0]["cache"] == ("EXPIRED" if refresh == "200" else "REVALIDATED"), bg


def test_the_access_log_has_the_cache_state_and_its_reason(edged, origin):
    get(edged, "/fresh/log")
    get(edged, "/fresh/log")
    get(edged, "/nostore/log")
    get(edged, "/fresh/log", method="POST")
    lines = wait_until(lambda: (lambda ls: ls if len(ls) >= 2 else None)(log_fields(edged, "/fresh/log")))
    assert sorted(l.get("cache") for l in lines[:2]) == ["HIT", "MISS"], lines
    ns = wait_until(lambda: log_fields(edged, "/nostore/log"))
    assert ns[0].get("cache") == "MISS" and ns[0].get("cache_detail") == "no-store-response", ns
    post = wait_until(lambda: [l for l in edged.access_log() if '"POST /fresh/log' in l])
    assert post and " cache=BYPASS cache_detail=method" in post[0]


def test_unsafe_method_cache_status_does_not_repeat_itself(edged, origin):
    r = get(edged, "/fresh/unsafe-cs", method="DELETE")
    assert r.headers.get("cache-status") == "edged; fwd=method"


def test_https_and_http_requests_have_their_own_keys(edged, origin, pki):
    ctx = ssl.create_default_context(cafile=pki.ca.cert)

    def tls_get(target):
        with socket.create_connection(("127.0.0.1", edged.tls_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(httpwire.build_request("GET", target))
                return httpwire.read_response(httpwire.BufferedSocket(s))

    plain = get(edged, "/fresh/scheme")
    first = tls_get("/fresh/scheme")
    again = tls_get("/fresh/scheme")
    assert plain.headers.get("cache-status") == "edged; fwd=uri-miss; stored"
    assert first.headers.get("cache-status") == "edged; fwd=uri-miss; stored"
    assert first.body == b"GET /fresh/scheme #2\n"
    assert again.headers.get("cache-status").startswith("edged; hit") and again.body == first.body
    assert get(edged, "/fresh/scheme").body == plain.body
    assert origin.request_count("/fresh/scheme") == 2
    assert admin_post(edged, "/cache/purge", {"url": "https://localhost/fresh/scheme"}) == {"purged": 1}


def test_a_refresh_in_flight_outlives_a_reload_and_is_ended_at_shutdown(origin, tmp_path):
    admin_port = free_port()
    cfg = make_config({"api": [origin.address]}, routes=[{"match": {"prefix": "/"}, "upstream": "api", "cache": "on"}],
                      admin={"address": "127.0.0.1:%d" % admin_port}, timeouts={"shutdown_grace": "5s"})
    e = Edged(cfg, tmp_path).start()
    held, stuck = "/swr/reload", "/swr/stuck"
    GATES[held], GATES[stuck] = threading.Event(), threading.Event()
    try:
        wait_admin(admin_port)
        get(e, held)
        get(e, stuck)
        assert get(e, held).headers.get("cache-status").endswith("stale-while-revalidate")
        assert wait_until(lambda: origin.request_count(held) == 2)
        status, body = admin_call(admin_port, "POST", "/reload")
        assert status == 200, body
        GATES[held].set()                 # the refresh started before the reload completes after it
        assert wait_until(lambda: re.match(r"edged; hit; ttl=[1-9]", get(e, held).headers.get("cache-status")))
        assert get(e, held).headers.get("x-rev") == "second"
        # A refresh the origin never answers is still running at SIGTERM: edged ends it, closes its
        # connection and exits 0 with no handle left open (stop() checks the exit code and the log).
        assert get(e, stuck).headers.get("cache-status").endswith("stale-while-revalidate")
        assert wait_until(lambda: origin.request_count(stuck) == 2)
        e.stop()
    finally:
        GATES[stuck].set()
        e.stop()
    assert origin.request_count(held) == 2 and origin.request_count(stuck) == 2
