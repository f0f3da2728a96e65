"""RFC 9111 conformance of the response cache as a shared cache, probe by probe, in the manner of
the public HTTP Caching Tests suite (cache-tests.fyi): one edged and one scripted origin for the
module. Each probe has its own path; the origin answers by path and request number (SCRIPT) and
counts requests per path, so each test asserts what the client saw and how many requests reached
the origin. Staleness comes from Age and max-age, never from waiting."""

import email.utils
import time

import pytest

import httpwire
from harness import Edged, make_config
from origin import Origin


def http_date(offset=0):
    return email.utils.formatdate(time.time() + offset, usegmt=True)


LM_OLD = http_date(-10 * 86400)   # a Last-Modified ten days old: the heuristic gives a day
SCRIPT = {}


def script(path):
    def register(fn):
        SCRIPT[path] = fn
        return fn
    return register


def handler(conn, req):
    path = req.target
    n = conn.origin.request_count(req.target)
    fn = SCRIPT.get(path.split("?")[0])
    res = fn(n, req) if fn else (404, [], b"no script\n")
    if res is None:          # the origin drops the connection without an answer
        conn.close()
        return "close"
    status, headers, body = res
    if body is None:
        body = ("%s %s #%d\n" % (req.method, path, n)).encode()
    if status in (204, 304) or req.method == "HEAD":
        h = list(headers)
        if req.method == "HEAD" and status not in (204, 304):
            h.append(("Content-Length", str(len(body))))
        conn.respond(status, b"", headers=h, length=False)
    else:
        conn.respond(status, body, headers=headers)
    return None


def fixed(status, *headers, body=None):
    """A response that is the same for every request (Date: now)."""
    return lambda n, req: (status, [("Date", http_date())] + list(headers), body)


@pytest.fixture(scope="module")
def origin():
    o = Origin("o", handler)
    yield o
    o.stop()


@pytest.fixture(scope="module")
def edged(origin, tmp_path_factory):
    cfg = make_config({"api": [origin.address]},
                      routes=[{"match": {"prefix": "/sc-store/"}, "upstream": "api",
                               "cache": {"store_set_cookie": True}},
                              {"match": {"prefix": "/"}, "upstream": "api", "cache": "on"}],
                      cache={"memory": "4MiB"})
    e = Edged(cfg, tmp_path_factory.mktemp("edged")).start()
    yield e
    e.stop()


def get(e, target, method="GET", headers=(), body=None, host="localhost"):
    return httpwire.request(e.port, method, target, headers=list(headers), body=body, host=host)


def twice(e, origin, path, headers=()):
    """Two GETs of `path`; returns (second response, origin request count)."""
    get(e, path, headers=headers)
    r = get(e, path, headers=headers)
    return r, origin.request_count(path)


# --- Freshness (RFC 9111 §4.2) -------------------------------------------------------------

@pytest.mark.parametrize("name,headers,reused", [
    ("max-age-0", [("Cache-Control", "max-age=0")], False),
    ("max-age-60", [("Cache-Control", "max-age=60")], True),
    ("s-maxage-over-max-age", [("Cache-Control", "max-age=0, s-maxage=60")], True),
    ("s-maxage-0-over-max-age", [("Cache-Control", "max-age=60, s-maxage=0")], False),
    ("expires-past", [("Expires", http_date(-60))], False),
    ("expires-0", [("Expires", "0")], False),
    ("expires-garbage", [("Expires", "garbage")], False),
    ("max-age-over-expires-past", [("Cache-Control", "max-age=60"), ("Expires", http_date(-60))], True),
    ("negative-max-age", [("Cache-Control", "max-age=-1")], False),
    ("max-age-huge", [("Cache-Control", "max-age=99999999999999999999")], True),
    ("max-age-2-31", [("Cache-Control", "max-age=2147483648")], True),
    ("max-age-leading-zero", [("Cache-Control", "max-age=003600")], True),
    ("max-age-quoted", [("Cache-Control", 'max-age="3600"')], True),
    ("max-age-single-quoted", [("Cache-Control", "max-age='3600'")], False),
    ("max-age-in-quoted-extension", [("Cache-Control", 'extension="max-age=3600", max-age=0')], False),
    ("max-age-in-quoted-extension-rev", [("Cache-Control", 'max-age=0, extension="max-age=3600"')], False),
    ("max-age-0-expires-future", [("Expires", http_date(10000)), ("Cache-Control", "max-age=0")], False),
    ("max-age-a100", [("Cache-Control", "max-age=a100")], False),
    ("max-age-100a", [("Cache-Control", "max-age=100a")], False),
    ("max-age-extension", [("Cache-Control", "foobar, max-age=3600")], True),
    ("max-age-case", [("Cache-Control", "MaX-aGe=3600")], True),
    ("max-age-ignore-quoted-all", [("Cache-Control", 'extension="max-age=100", max-age="0"')], False),
    ("s-maxage-multiple-lines", [("Cache-Control", "max-age=3600"), ("Cache-Control", "s-maxage=0")], False),
    # §4.2.1: duplicates may use the first or be stale; edged is conservative (stale).
    ("max-age-dup-sameline", [("Cache-Control", "max-age=60, max-age=1")], False),
    ("max-age-dup-twoline", [("Cache-Control", "max-age=1"), ("Cache-Control", "max-age=60")], False),
    ("max-age-space-before-equals", [("Cache-Control", "max-age =60")], False),   # RFC 9110 §5.6.2
    ("max-age-space-after-equals", [("Cache-Control", "max-age= 60")], False),
    ("age-over-max-age", [("Cache-Control", "max-age=60"), ("Age", "61")], False),
    ("age-under-max-age", [("Cache-Control", "max-age=60"), ("Age", "30")], True),
    ("heuristic-200", [("Last-Modified", LM_OLD)], True),
    ("heuristic-404", [("Last-Modified", LM_OLD)], True),
    ("no-store-case", [("Cache-Control", "No-StOrE, max-age=60")], False),
    ("no-cache-case", [("Cache-Control", "max-age=60, No-CaChE")], False),
    ("private", [("Cache-Control", "private, max-age=60")], False),
    ("private-s-maxage", [("Cache-Control", "private, s-maxage=60")], False),
    ("vary-star", [("Cache-Control", "max-age=60"), ("Vary", "*")], False),
    ("must-understand-200", [("Cache-Control", "must-understand, no-store, max-age=60")], True),
    ("pragma-response", [("Cache-Control", "max-age=60"), ("Pragma", "no-cache")], True),
])
def test_freshness_and_storing(edged, origin, name, headers, reused):
    path = "/f/" + name
    status = 404 if name == "heuristic-404" else 200
    SCRIPT[path] = fixed(status, *headers)
    r, count = twice(edged, origin, path)
    assert r.status == status
    assert count == (1 if reused else 2), (name, r.headers)


def test_expires_without_date_and_a_date_in_the_future(edged, origin):
    SCRIPT["/f/expires-no-date"] = lambda n, req: (200, [("Expires", http_date(60))], None)
    r, count = twice(edged, origin, "/f/expires-no-date")
    assert count == 1
    SCRIPT["/f/date-future"] = lambda n, req: (200, [("Date", http_date(3600)), ("Cache-Control", "max-age=60")], None)
    r, count = twice(edged, origin, "/f/date-future")
    assert count == 1 and int(r.headers.get("age")) <= 2   # apparent age never negative (§4.2.3)


def test_status_codes_with_explicit_freshness_and_must_understand(edged, origin):
    # §3: any final status with explicit freshness may be stored (cache-tests status-299-fresh is
    # "optimal"); must-understand limits storing to the status codes the cache understands.
    SCRIPT["/s/299"] = fixed(299, ("Cache-Control", "max-age=60"))
    SCRIPT["/s/599-mu"] = fixed(599, ("Cache-Control", "must-understand, no-store, max-age=60"))
    SCRIPT["/s/299-heur"] = fixed(299, ("Last-Modified", LM_OLD))
    assert twice(edged, origin, "/s/299")[1] == 1
    assert twice(edged, origin, "/s/599-mu")[1] == 2
    assert twice(edged, origin, "/s/299-heur")[1] == 2


# --- Storing ---------------------------------------------------------------------------------

def test_request_no_store_is_not_stored(edged, origin):
    SCRIPT["/st/req-no-store"] = fixed(200, ("Cache-Control", "max-age=60"))
    get(edged, "/st/req-no-store", headers=[("Cache-Control", "no-store")])
    get(edged, "/st/req-no-store")
    assert origin.request_count("/st/req-no-store") == 2


@pytest.mark.parametrize("cc,stored", [
    ("max-age=60", False), ("public, max-age=60", True), ("s-maxage=60", True),
    ("max-age=60, must-revalidate", True)])
def test_authorization(edged, origin, cc, stored):
    path = "/st/auth-" + cc.replace(", ", "-").replace("=", "")
    SCRIPT[path] = fixed(200, ("Cache-Control", cc))
    get(edged, path, headers=[("Authorization", "Basic dTpw")])
    get(edged, path, headers=[("Authorization", "Basic dTpw")])
    assert origin.request_count(path) == (1 if stored else 2)


def test_a_post_response_is_never_served_for_get(edged, origin):
    path = "/st/post"
    SCRIPT[path] = fixed(200, ("Cache-Control", "max-age=60"), ("Content-Location", path))
    get(edged, path, method="POST", body=b"x")
    r = get(edged, path)
    assert r.body.startswith(b"GET ")
    assert origin.request_count(path) == 2


def test_a_206_is_not_stored_and_a_range_is_answered_from_a_stored_200(edged, origin):
    path = "/st/partial"

    def partial(n, req):
        if req.headers.get("range"):
            return (206, [("Date", http_date()), ("Cache-Control", "max-age=60"),
                          ("Content-Range", "bytes 0-1/10")], b"01")
        return (200, [("Date", http_date()), ("Cache-Control", "max-age=60")], b"0123456789")
    SCRIPT[path] = partial
    r = get(edged, path, headers=[("Range", "bytes=0-1")])
    assert r.status == 206 and r.body == b"01"
    r = get(edged, path)
    assert r.status == 200 and r.body == b"0123456789"
    assert origin.request_count(path) == 2
    r = get(edged, path, headers=[("Range", "bytes=2-3")])
    assert r.status == 206 and r.body == b"23" and origin.request_count(path) == 2
    r = get(edged, path, headers=[("Range", "bytes=7-")])
    assert (r.status, r.body, r.headers.get("content-range")) == (206, b"789", "bytes 7-9/10")
    r = get(edged, path, headers=[("Range", "bytes=-1")])
    assert (r.status, r.body) == (206, b"9") and origin.request_count(path) == 2


# --- Revalidation (RFC 9111 §4.3) ------------------------------------------------------------

@pytest.mark.parametrize("path,cookies", [("/r/etag", []), ("/sc-store/r/etag", ["a=c"])])
def test_etag_revalidation_304_updates_headers_but_not_framing(edged, origin, path, cookies):
    # The 304's Set-Cookie is merged only where the route stores Set-Cookie (store_set_cookie).
    def etag(n, req):
        if n == 1:
            return (200, [("Date", http_date()), ("Cache-Control", "max-age=60"), ("Age", "61"), ("ETag", '"a"'),
                          ("X-Test", "A"), ("Content-Type", "text/plain")], b"stored body\n")
        assert req.headers.get("if-none-match") == '"a"'
        return (304, [("Date", http_date()), ("Cache-Control", "max-age=60"), ("ETag", '"a"'), ("X-Test", "B"),
                      ("Content-Type", "text/plain;charset=utf-8"), ("Set-Cookie", "a=c"),
                      ("Content-Length", "0")], b"")
    SCRIPT[path] = etag
    get(edged, path)
    r = get(edged, path)
    assert r.status == 200 and r.body == b"stored body\n"
    assert r.headers.get("x-test") == "B" and r.headers.get("content-type") == "text/plain;charset=utf-8"
    assert r.headers.get("content-length") == str(len(b"stored body\n"))
    r = get(edged, path)
    assert r.body == b"stored body\n" and r.headers.get("x-test") == "B"
    assert r.headers.get_all("set-cookie") == cookies
    assert origin.request_count(path) == 2


def test_last_modified_revalidation_sends_if_modified_since(edged, origin):
    path = "/r/lm"

    def lm(n, req):
        if n == 1:
            return (200, [("Date", http_date()), ("Cache-Control", "max-age=1"), ("Age", "5"),
                          ("Last-Modified", LM_OLD)], b"lm body\n")
        assert req.headers.get("if-modified-since") == LM_OLD
        return (304, [("Date", http_date()), ("Cache-Control", "max-age=60"), ("Last-Modified", LM_OLD)], b"")
    SCRIPT[path] = lm
    get(edged, path)
    r = get(edged, path)
    assert r.status == 200 and r.body == b"lm body\n"
    assert get(edged, path).body == b"lm body\n"
    assert origin.request_count(path) == 2


def test_a_304_with_another_strong_etag_does_not_update_the_stored_response(edged, origin):
    # §4.3.4: a 304 whose strong validator matches no stored response updates none of them.
    path = "/r/etag-mismatch"

    def mismatch(n, req):
        if n == 1:
            return (200, [("Date", http_date()), ("Cache-Control", "max-age=60"), ("Age", "61"), ("ETag", '"a"'),
                          ("X-Test", "A")], b"old\n")
        if req.headers.get("if-none-match"):
            return (304, [("Date", http_date()), ("Cache-Control", "max-age=60"), ("ETag", '"b"'),
                          ("X-Test", "B")], b"")
        return (200, [("Date", http_date()), ("Cache-Control", "max-age=60"), ("ETag", '"b"'),
                      ("X-Test", "C")], b"new\n")
    SCRIPT[path] = mismatch
    get(edged, path)
    for n in (2, 3):   # not freshened either: each request revalidates again
        r = get(edged, path)
        assert (r.status, r.body, r.headers.get("x-test"), r.headers.get("etag")) == (200, b"old\n", "A", '"a"')
        status = r.headers.get("cache-status")
        assert status.startswith("edged; fwd=stale; fwd-status=304; ttl=-") and status.endswith("; detail=unmatched-304")
        assert origin.request_count(path) == n


def test_response_no_cache_revalidates_every_time(edged, origin):
    path = "/r/no-cache"

    def nc(n, req):
        if req.headers.get("if-none-match") == '"n"':
            return (304, [("Date", http_date()), ("ETag", '"n"'), ("Cache-Control", "no-cache, max-age=60")], b"")
        return (200, [("Date", http_date()), ("ETag", '"n"'), ("Cache-Control", "no-cache, max-age=60")], b"nc\n")
    SCRIPT[path] = nc
    for _ in range(3):
        assert get(edged, path).body == b"nc\n"
    reqs = [q for q in origin.snapshot() if q.target == path]
    assert len(reqs) == 3 and all(q.headers.get("if-none-match") == '"n"' for q in reqs[1:])


def test_must_revalidate_stale_is_never_served_stale(edged, origin):
    path = "/r/must-revalidate"

    def mr(n, req):
        if n == 1:
            return (200, [("Date", http_date()), ("ETag", '"m"'), ("Age", "61"),
                          ("Cache-Control", "max-age=60, must-revalidate, stale-if-error=60")], b"mr\n")
        return (503, [("Date", http_date())], b"down\n")
    SCRIPT[path] = mr
    get(edged, path)
    r = get(edged, path, headers=[("Cache-Control", "max-stale=600")])
    assert r.status == 503
    assert origin.request_count(path) == 2


# --- Request directives (RFC 9111 §5.2.1) -----------------------------------------------------

def test_request_max_age_0_and_only_if_cached(edged, origin):
    # §5.2.1.1: max-age=0 accepts a response of age 0; Age: 5 makes the stored one older.
    path = "/q/max-age-0"
    SCRIPT[path] = fixed(200, ("Cache-Control", "max-age=60"), ("Age", "5"))
    get(edged, path)
    get(edged, path, headers=[("Cache-Control", "max-age=0")])
    assert origin.request_count(path) == 2
    r = get(edged, path, headers=[("Cache-Control", "only-if-cached")])
    assert r.status == 200 and origin.request_count(path) == 2
    assert r.headers.get_all("cache-control") == ["max-age=60"]   # the request's never leaks
    r = get(edged, "/q/absent", headers=[("Cache-Control", "only-if-cached")])
    assert r.status == 504 and origin.request_count("/q/absent") == 0


# --- Invalidation (RFC 9111 §4.4) ------------------------------------------------------------

@pytest.mark.parametrize("method,status,invalidated", [
    ("POST", 200, True), ("PUT", 201, True), ("DELETE", 204, True), ("PATCH", 303, True), ("M-SEARCH", 200, True),
    ("POST", 404, False), ("DELETE", 500, False)])
def test_unsafe_methods_invalidate_on_success_only(edged, origin, method, status, invalidated):
    base = "/i/%s-%d" % (method.lower(), status)
    loc, cl = base + "-loc", base + "-cl"

    def target(n, req):
        if req.method != "GET":
            return (status, [("Date", http_date()), ("Location", loc), ("Content-Location", cl)], b"")
        return (200, [("Date", http_date()), ("Cache-Control", "max-age=60")], None)
    for p in (base, loc, cl):
        SCRIPT[p] = target
        get(edged, p)
    get(edged, base, method=method, body=b"x")
    for p in (base, loc, cl):
        get(edged, p)
        gets = sum(1 for q in origin.snapshot() if q.target == p and q.method == "GET")
        assert gets == (2 if invalidated else 1), p


def test_location_of_another_origin_is_not_invalidated(edged, origin):
    path = "/i/other-host"
    SCRIPT[path] = lambda n, req: (200 if req.method == "GET" else 201,
                                   [("Date", http_date()), ("Cache-Control", "max-age=60"),
                                    ("Location", "http://other.example/i/other-host")], None)
    get(edged, path, host="other.example")
    get(edged, "/i/trigger", method="POST", body=b"x")
    SCRIPT["/i/trigger"] = SCRIPT[path]
    get(edged, "/i/trigger", method="POST", body=b"x")
    get(edged, path, host="other.example")
    assert sum(1 for q in origin.snapshot() if q.target == path and q.method == "GET") == 1


# --- Headers on a hit ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/h/hit", "/sc-store/h/hit"])
def test_headers_on_a_hit(edged, origin, path):
    # Set-Cookie only where the route stores it: elsewhere the response would not be stored.
    date = http_date(-3)
    cookie = [("Set-Cookie", "s=1")] if path.startswith("/sc-store/") else []
    SCRIPT[path] = lambda n, req: (200, [("Date", date), ("Cache-Control", "max-age=60"), ("Age", "7"),
                                         *cookie, ("Connection", "X-Hop"), ("X-Hop", "1"),
                                         ("Keep-Alive", "timeout=5"), ("X-Keep", "k"),
                                         ("Proxy-Authentication-Info", 'nextnonce="n"')], b"hit body\n")
    get(edged, path)
    r = get(edged, path, headers=[("Cache-Control", "max-stale=5, min-fresh=1")])
    assert origin.request_count(path) == 1
    assert r.headers.get("date") == date
    age = int(r.headers.get("age"))   # §4.2.3: max(apparent age 3, Age 7 + delay), plus time resident
    assert 7 <= age <= 12
    assert "warning" not in r.headers
    assert r.headers.get("content-length") == str(len(b"hit body\n")) and r.body == b"hit body\n"
    assert "x-hop" not in r.headers and "keep-alive" not in r.headers and r.headers.get("x-keep") == "k"
    assert "proxy-authentication-info" not in r.headers   # §3.1: never stored
    assert r.headers.get_all("cache-control") == ["max-age=60"]
    assert r.headers.get_all("set-cookie") == [v for _, v in cookie]   # RFC 9111 §7.3 allows storing it


def test_set_cookie_responses_are_not_stored_by_default(edged, origin):
    # As nginx and Varnish: one client's session cookie must never be another's cache hit. Each
    # client still gets its own response, Set-Cookie and all.
    path = "/sc/login"
    SCRIPT[path] = lambda n, req: (200, [("Date", http_date()), ("Cache-Control", "public, max-age=60"),
                                         ("Set-Cookie", "session=user%d" % n)], b"welcome\n")
    a = get(edged, path)
    b = get(edged, path)
    assert origin.request_count(path) == 2
    assert a.headers.get_all("set-cookie") == ["session=user1"]
    assert b.headers.get_all("set-cookie") == ["session=user2"]
    assert "stored" not in b.headers.get("cache-status") and "hit" not in b.headers.get("cache-status")
    # The same response on a route with store_set_cookie: true is stored, cookie and all.
    path = "/sc-store/login"
    SCRIPT[path] = SCRIPT["/sc/login"]
    get(edged, path)
    r = get(edged, path)
    assert origin.request_count(path) == 1 and r.headers.get_all("set-cookie") == ["session=user1"]
    assert r.headers.get("cache-status").startswith("edged; hit")


def test_head_from_a_stored_get_and_never_get_from_a_head(edged, origin):
    path = "/h/head"
    SCRIPT[path] = fixed(200, ("Cache-Control", "max-age=60"), ("X-Rep", "1"), body=b"head body\n")
    get(edged, path)
    g = get(edged, path)
    h = get(edged, path, method="HEAD")
    assert h.status == 200 and h.body == b"" and h.headers.get("x-rep") == "1"
    assert h.headers.get("content-length") == g.headers.get("content-length") == str(len(b"head body\n"))
    assert origin.request_count(path) == 1
    path2 = "/h/head-first"
    SCRIPT[path2] = fixed(200, ("Cache-Control", "max-age=60"), body=b"head first\n")
    get(edged, path2, method="HEAD")
    r = get(edged, path2)
    assert r.body == b"head first\n"
    assert origin.request_count(path2) == 2


# --- More probes -------------------------------------------------------------------------------

@pytest.mark.parametrize("name,status,reused", [
    ("h301", 301, True), ("h410", 410, True), ("h501", 501, True), ("h302", 302, False),
    ("h307", 307, False), ("h500", 500, False), ("h203", 203, True), ("h204", 204, True), ("h405", 405, True),
    ("h414", 414, True), ("h201", 201, False), ("h202", 202, False), ("h403", 403, False), ("h502", 502, False),
    ("h503", 503, False), ("h504", 504, False), ("h599", 599, False), ("h599-public", 599, True)])
def test_heuristic_freshness_only_for_heuristically_cacheable_codes(edged, origin, name, status, reused):
    # RFC 9110 §15.1 / RFC 9111 §4.2.2 (cache-tests heuristic-*), Last-Modified ten days old, no
    # explicit freshness; `public` allows the heuristic for any status (§4.2.2).
    path = "/m/" + name
    extra = [("Cache-Control", "public")] if name.endswith("public") else []
    SCRIPT[path] = fixed(status, ("Last-Modified", LM_OLD), ("Location", "/elsewhere"), *extra)
    assert twice(edged, origin, path)[1] == (1 if reused else 2)


def test_heuristic_freshness_with_a_query_string(edged, origin):
    # RFC 9111 has no query-string exception (RFC 2616 §13.9 had one).
    SCRIPT["/m/query"] = fixed(200, ("Last-Modified", LM_OLD))
    get(edged, "/m/query?a=1")
    get(edged, "/m/query?a=1")
    assert origin.request_count("/m/query?a=1") == 1


def test_s_maxage_and_stale_responses_under_request_directives(edged, origin):
    # §5.2.2.10: s-maxage implies proxy-revalidate: never served stale, even for max-stale.
    SCRIPT["/m/s-maxage-stale"] = fixed(200, ("Cache-Control", "s-maxage=60"), ("Age", "61"))
    get(edged, "/m/s-maxage-stale")
    get(edged, "/m/s-maxage-stale", headers=[("Cache-Control", "max-stale")])
    assert origin.request_count("/m/s-maxage-stale") == 2
    # max-stale does allow a plain stale response; only-if-cached with a stale one is 504.
    SCRIPT["/m/stale"] = fixed(200, ("Cache-Control", "max-age=60"), ("Age", "61"))
    get(edged, "/m/stale")
    assert get(edged, "/m/stale", headers=[("Cache-Control", "max-stale=30")]).status == 200
    assert origin.request_count("/m/stale") == 1
    assert get(edged, "/m/stale", headers=[("Cache-Control", "only-if-cached")]).status == 504
    assert origin.request_count("/m/stale") == 1


def test_request_no_cache_and_pragma_revalidate_with_the_stored_validator(edged, origin):
    path = "/m/req-no-cache"

    def rnc(n, req):
        if req.headers.get("if-none-match") == '"q"':
            return (304, [("Date", http_date()), ("ETag", '"q"'), ("Cache-Control", "max-age=60")], b"")
        return (200, [("Date", http_date()), ("ETag", '"q"'), ("Cache-Control", "max-age=60")], b"q\n")
    SCRIPT[path] = rnc
    get(edged, path)
    assert get(edged, path, headers=[("Cache-Control", "no-cache")]).body == b"q\n"
    assert get(edged, path, headers=[("Pragma", "no-cache")]).body == b"q\n"
    reqs = [q for q in origin.snapshot() if q.target == path]
    assert len(reqs) == 3 and [q.headers.get("if-none-match") for q in reqs] == [None, '"q"', '"q"']


def test_a_stale_response_without_validator_is_fetched_again(edged, origin):
    SCRIPT["/m/no-validator"] = fixed(200, ("Cache-Control", "max-age=60"), ("Age", "61"))
    get(edged, "/m/no-validator")
    r = get(edged, "/m/no-validator")
    assert r.status == 200 and r.body.endswith(b"#2\n")
    reqs = [q for q in origin.snapshot() if q.target == "/m/no-validator"]
    assert len(reqs) == 2 and "if-none-match" not in reqs[1].headers and "if-modified-since" not in reqs[1].headers


def test_absolute_same_origin_location_is_invalidated(edged, origin):
    target, loc = "/m/abs-post", "/m/abs-loc"
    SCRIPT[loc] = fixed(200, ("Cache-Control", "max-age=60"))
    SCRIPT[target] = fixed(201, ("Location", "http://localhost" + loc))
    get(edged, loc)
    get(edged, target, method="POST", body=b"x")
    get(edged, loc)
    assert origin.request_count(loc) == 2


def test_a_response_without_date_is_stored_with_the_time_it_was_received(edged, origin):
    # RFC 9110 §6.6.1: a recipient with a clock adds the time it received a response without Date
    # to what it caches: a later hit carries that Date (and its Age), not the time of the hit.
    SCRIPT["/m/no-date"] = lambda n, req: (200, [("Cache-Control", "max-age=60"), ("Age", "3")], None)
    first = get(edged, "/m/no-date")
    time.sleep(1.1)   # the next HTTP-date second
    r = get(edged, "/m/no-date")
    assert origin.request_count("/m/no-date") == 1
    assert r.headers.get_all("date") == first.headers.get_all("date")
    assert len(r.headers.get_all("age")) == 1 and int(r.headers.get("age")) >= 4


def test_a_client_conditional_that_does_not_match_gets_the_stored_200(edged, origin):
    SCRIPT["/m/inm"] = fixed(200, ("Cache-Control", "max-age=60"), ("ETag", '"x"'), body=b"inm\n")
    get(edged, "/m/inm")
    r = get(edged, "/m/inm", headers=[("If-None-Match", '"y"')])
    assert (r.status, r.body) == (200, b"inm\n")
    r = get(edged, "/m/inm", headers=[("If-None-Match", 'W/"x"')])
    assert r.status == 304 and r.headers.get("etag") == '"x"'
    assert origin.request_count("/m/inm") == 1


def test_query_arguments_are_keys_and_a_cookie_does_not_prevent_reuse(edged, origin):
    SCRIPT["/m/qa"] = fixed(200, ("Cache-Control", "max-age=60"))
    get(edged, "/m/qa?test=1")
    assert get(edged, "/m/qa?test=2").body.endswith(b"#1\n")   # its own first request
    assert origin.request_count("/m/qa?test=2") == 1
    get(edged, "/m/qa?test=1", headers=[("Cookie", "a=b")])
    assert origin.request_count("/m/qa?test=1") == 1


@pytest.mark.parametrize("cc,field", [
    ('private="X-Secret", max-age=60', "x-secret"),
    ('no-cache="Set-Cookie", max-age=60', "set-cookie"),
    ("no-cache=X-Secret, max-age=60", "x-secret")])
def test_fields_withheld_by_qualified_private_and_no_cache(edged, origin, cc, field):
    # RFC 9111 §5.2.2.7 / §5.2.2.4: the response is stored and reused without the listed field.
    path = "/m/withheld-%s-%s" % (cc.split("=")[0], field)
    # (Set-Cookie only where it is withheld: otherwise it keeps the response out of the cache.)
    cookie = [("Set-Cookie", "a=b")] if field == "set-cookie" else []
    SCRIPT[path] = fixed(200, ("Cache-Control", cc), ("X-Secret", "s"), *cookie, ("X-Kept", "k"))
    first = get(edged, path)
    assert first.headers.get(field) is not None   # the response itself is not changed
    r = get(edged, path)
    assert origin.request_count(path) == 1
    assert r.headers.get(field) is None and r.headers.get("x-kept") == "k"


def test_must_revalidate_when_the_origin_cannot_answer(edged, origin):
    # §5.2.2.2: a stale must-revalidate response is never reused; when the origin cannot be
    # reached the cache generates an error (SHOULD be 504).
    path = "/m/mr-down"
    SCRIPT[path] = fixed(200, ("Cache-Control", "max-age=60, must-revalidate"), ("Age", "61"), ("ETag", '"d"'))
    get(edged, path)

    SCRIPT[path] = lambda n, req: None
    r = get(edged, path, headers=[("Cache-Control", "max-stale")])
    assert r.status == 504 and b"#1" not in r.body, (r.status, r.body)
    assert "fwd=stale" in r.headers.get("cache-status", ""), r.headers
    assert origin.request_count(path) >= 2
    # Without must-revalidate the same failure stays the gateway's own 502 (and max-stale would
    # have served it stale, so this one asks for a revalidation).
    plain = "/m/mr-down-plain"
    SCRIPT[plain] = fixed(200, ("Cache-Control", "max-age=60"), ("Age", "61"), ("ETag", '"p"'))
    get(edged, plain)
    SCRIPT[plain] = lambda n, req: None
    assert get(edged, plain).status == 502


def test_two_expires_are_invalid(edged, origin):
    SCRIPT["/m/two-expires"] = fixed(200, ("Expires", http_date(60)), ("Expires", http_date(120)))
    assert twice(edged, origin, "/m/two-expires")[1] == 2


def test_cache_tests_headers_omit_listed_in_no_cache_and_connection(edged, origin):
    # cache-tests headers-omit-headers-listed-in-Cache-Control-no-cache(-single) and
    # headers-omit-headers-listed-in-Connection: required there.
    SCRIPT["/m/omit-no-cache"] = fixed(200, ("Cache-Control", 'no-cache="a, b"'), ("a", "1"), ("b", "2"), ("c", "3"),
                                       ("Cache-Control", "max-age=3600"))
    SCRIPT["/m/omit-connection"] = fixed(200, ("Connection", "a, b"), ("a", "1"), ("b", "2"), ("c", "3"),
                                         ("Cache-Control", "max-age=3600"))
    for path in ("/m/omit-no-cache", "/m/omit-connection"):
        r, count = twice(edged, origin, path)
        assert count == 1, path
        assert r.headers.get("c") == "3" and r.headers.get("a") is None and r.headers.get("b") is None, path


@pytest.mark.parametrize("cc,stale_ok", [
    ("max-age=60, stale-if-error=600", True),
    ("max-age=60, must-revalidate, stale-if-error=600", False),
    ("max-age=60, proxy-revalidate, stale-if-error=600", False),
    ("max-age=60, no-cache, stale-if-error=600", False),
    ("s-maxage=60, stale-if-error=600", False)])
def test_stale_if_error_never_overrides_a_directive_that_forbids_stale(edged, origin, cc, stale_ok):
    # cache-tests stale-sie-close / stale-close-*: RFC 9111 §4.2.4, RFC 5861 §4.
    path = "/m/sie-" + cc.replace(", ", "-").replace("=", "")
    SCRIPT[path] = fixed(200, ("Cache-Control", cc), ("Age", "61"), ("ETag", '"e"'), body=b"stale body\n")
    get(edged, path)
    SCRIPT[path] = lambda n, req: None   # the origin drops the connection
    r = get(edged, path)
    if stale_ok:
        assert (r.status, r.body) == (200, b"stale body\n")
    else:
        # §5.2.2.2: must-revalidate (and the directives that imply it) SHOULD generate a 504;
        # no-cache names no status, so the gateway's own 502 stays.
        assert r.status == (502 if "no-cache" in cc else 504) and r.body != b"stale body\n", cc


def test_if_none_match_wins_over_if_modified_since_and_vary_fields_go_with_a_revalidation(edged, origin):
    # cache-tests conditional-etag-precedence and conditional-etag-vary-headers (required).
    SCRIPT["/m/inm-ims"] = fixed(200, ("Cache-Control", "max-age=60"), ("ETag", '"p"'), ("Last-Modified", LM_OLD))
    get(edged, "/m/inm-ims")
    r = get(edged, "/m/inm-ims", headers=[("If-None-Match", '"p"'), ("If-Modified-Since", http_date(-20 * 86400))])
    assert r.status == 304 and origin.request_count("/m/inm-ims") == 1
    path = "/m/vary-reval"

    def vary(n, req):
        if req.headers.get("if-none-match") == '"v"':
            return (304, [("Date", http_date()), ("ETag", '"v"'), ("Vary", "Abc"), ("Cache-Control", "max-age=60")], b"")
        return (200, [("Date", http_date()), ("ETag", '"v"'), ("Vary", "Abc"), ("Cache-Control", "max-age=60"),
                      ("Age", "61")], b"vary\n")
    SCRIPT[path] = vary
    get(edged, path, headers=[("Abc", "123")])
    assert get(edged, path, headers=[("Abc", "123")]).body == b"vary\n"
    reqs = [q for q in origin.snapshot() if q.target == path]
    assert len(reqs) == 2 and reqs[1].headers.get("if-none-match") == '"v"' and reqs[1].headers.get("abc") == "123"


@pytest.mark.parametrize("name,vary,first,second,reused", [
    ("omit", "Foo", [("Foo", "1")], [], False),
    ("2-omit", "Foo, Bar", [("Foo", "1")], [], False),
    ("2-no-match", "Foo, Bar", [("Foo", "1"), ("Bar", "abc")], [("Foo", "2"), ("Bar", "abc")], False),
    ("3-order", "Foo, Bar, Baz", [("Foo", "1"), ("Bar", "abc4"), ("Baz", "789")],
     [("Foo", "1"), ("Bar", "abc"), ("Baz", "789")], False),
    ("3-omit", "Foo, Bar, Baz", [("Foo", "1"), ("Baz", "789")], [("Foo", "1"), ("Baz", "789")], True),
    ("cache-key", "Foo", [("Foo", "1"), ("Other", "2")], [("Foo", "1"), ("Other", "3")], True),
    ("normalise-space", "Foo", [("Foo", "1,2")], [("Foo", " 1, 2 ")], True),
    ("normalise-combine", "Foo", [("Foo", "1, 2")], [("Foo", "1"), ("Foo", "2")], True),
    ("case", "foo", [("Foo", "1")], [("FOO", "1")], True)])
def test_vary(edged, origin, name, vary, first, second, reused):
    # cache-tests vary-*: RFC 9111 §4.1.
    path = "/v/" + name
    SCRIPT[path] = fixed(200, ("Expires", http_date(5000)), ("Last-Modified", LM_OLD), ("Vary", vary))
    get(edged, path, headers=first)
    get(edged, path, headers=second)
    assert origin.request_count(path) == (1 if reused else 2)


def test_vary_keeps_the_other_variant(edged, origin):
    path = "/v/invalidate"
    SCRIPT[path] = lambda n, req: (200, [("Date", http_date()), ("Expires", http_date(5000)), ("Vary", "Foo")],
                                   ("foo_%s\n" % req.headers.get("foo")).encode())
    get(edged, path, headers=[("Foo", "1")])
    get(edged, path, headers=[("Foo", "2")])
    r = get(edged, path, headers=[("Foo", "1")])
    assert r.body == b"foo_1\n" and origin.request_count(path) == 2


@pytest.mark.parametrize("name,headers,reused", [
    ("wrong-case", [("Expires", "THU, 18 AUG 2050 02:01:18 gMT")], True),
    ("utc", [("Expires", "Thu, 18 Aug 2050 02:01:18 UTC")], False),
    ("two-digit-year", [("Expires", "Thu, 18 Aug 50 02:01:18 GMT")], False),
    ("no-comma", [("Expires", "Thu 18 Aug 2050 02:01:18 GMT")], False),
    ("multiple-spaces", [("Expires", "Thu, 18  Aug  2050 02:01:18 GMT")], False),
    ("date-dashes", [("Expires", "Thu, 18-Aug-2050 02:01:18 GMT")], False),
    ("time-periods", [("Expires", "Thu, 18 Aug 2050 02.01.18 GMT")], False),
    ("one-digit-hour", [("Expires", "Thu, 18 Aug 2050 2:01:18 GMT")], False),
    ("rfc850", [("Expires", "Thursday, 18-Aug-50 02:01:18 GMT")], True),
    ("asctime", [("Expires", "Thu Aug 18 02:01:18 2050")], True),
])
def test_expires_parsing(edged, origin, name, headers, reused):
    # cache-tests expires-parse / expires-freshness (RFC 9110 §5.6.7: an invalid date is in the past).
    path = "/x/" + name
    SCRIPT[path] = fixed(200, *headers)
    assert twice(edged, origin, path)[1] == (1 if reused else 2)


@pytest.mark.parametrize("name,headers,reused", [
    ("old-date", lambda: [("Expires", http_date(300)), ("Date", http_date(400))], False),
    ("age-slow-date", lambda: [("Date", http_date(-10)), ("Expires", http_date(10)), ("Age", "25")], False),
    ("age-fast-date", lambda: [("Date", http_date(10)), ("Expires", http_date(20)), ("Age", "15")], False),
    ("invalid-date", lambda: [("Date", "foo"), ("Expires", http_date(10))], True),
])
def test_expires_with_date_and_age(edged, origin, name, headers, reused):
    path = "/x/" + name
    SCRIPT[path] = lambda n, req: (200, headers(), None)
    assert twice(edged, origin, path)[1] == (1 if reused else 2)


@pytest.mark.parametrize("name,headers,reused", [
    ("max-age", [("CDN-Cache-Control", "max-age=3600")], True),
    ("max-age-max-plus", [("CDN-Cache-Control", "max-age=99999999999")], True),
    ("max-age-age", [("CDN-Cache-Control", "max-age=3600"), ("Age", "7200")], False),
    ("max-age-0", [("CDN-Cache-Control", "max-age=0")], False),
    ("max-age-0-expires", [("CDN-Cache-Control", "max-age=0"), ("Expires", http_date(10000))], False),
    ("max-age-expires-invalid", [("CDN-Cache-Control", "max-age=3600"), ("Expires", "0")], True),
    ("short-cc", [("Cache-Control", "max-age=0"), ("CDN-Cache-Control", "max-age=3600")], True),
    ("long-cc", [("Cache-Control", "max-age=3600"), ("CDN-Cache-Control", "max-age=0")], False),
    ("private", [("CDN-Cache-Control", "private"), ("Cache-Control", "max-age=10000")], False),
    ("no-cache", [("CDN-Cache-Control", "no-cache"), ("Cache-Control", "max-age=10000")], False),
    ("no-store", [("Cache-Control", "max-age=10000"), ("CDN-Cache-Control", "no-store")], False),
    ("fresh-cc-nostore", [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=10000")], True),
    ("invalid-sf-unknown", [("CDN-Cache-Control", "max-age=10000, &&&&&"), ("Cache-Control", "no-store")], False),
    ("invalid-sf-wrong-type", [("CDN-Cache-Control", 'max-age="10000"'), ("Cache-Control", "no-store")], False),
    ("space-before-equals", [("Cache-Control", "max-age=0"), ("CDN-Cache-Control", "max-age =100")], False),
    ("case", [("CDN-Cache-Control", "MaX-aGe=3600")], False),   # sf keys are lowercase: invalid field
])
def test_cdn_cache_control(edged, origin, name, headers, reused):
    # cache-tests cdn-cache-control (RFC 9213).
    path = "/cdn/" + name
    SCRIPT[path] = fixed(200, *headers)
    assert twice(edged, origin, path)[1] == (1 if reused else 2)


def test_if_modified_since_answered_by_the_cache(edged, origin):
    # cache-tests conditional-lm-*: fresh -> 304 from the cache (any HTTP-date form); stale ->
    # validated with the stored Last-Modified, then 304 to the client.
    lm_t = time.time() - 3000
    lm = email.utils.formatdate(lm_t, usegmt=True)
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(lm_t))
    SCRIPT["/c/lm-fresh"] = fixed(200, ("Cache-Control", "max-age=100000"), ("Last-Modified", lm))
    get(edged, "/c/lm-fresh")
    for ims in (lm, email.utils.formatdate(lm_t + 1000, usegmt=True), rfc850):
        assert get(edged, "/c/lm-fresh", headers=[("If-Modified-Since", ims)]).status == 304, ims
    assert get(edged, "/c/lm-fresh", headers=[("If-Modified-Since", http_date(-4000))]).status == 200
    assert origin.request_count("/c/lm-fresh") == 1
    path = "/c/lm-stale"

    def stale(n, req):
        if req.headers.get("if-modified-since") == lm:
            return (304, [("Date", http_date()), ("Cache-Control", "max-age=60"), ("Last-Modified", lm)], b"")
        return (200, [("Date", http_date()), ("Cache-Control", "max-age=1"), ("Age", "2"), ("Last-Modified", lm)], None)
    SCRIPT[path] = stale
    get(edged, path)
    r = get(edged, path, headers=[("If-Modified-Since", lm)])
    assert r.status == 304 and origin.request_count(path) == 2


def test_end_to_end_fields_are_stored_whatever_their_name(edged, origin):
    # RFC 9111 §3.1: all received fields, unrecognised ones included (cache-tests headers-store-*).
    fields = [("Test-Header", "t"), ("Content-Foo", "c"), ("X-Frame-Options", "deny"), ("Clear-Site-Data", '"cookies"'),
              ("Set-Cookie2", "a=b"), ("Strict-Transport-Security", "max-age=1"), ("WWW-Authenticate", "Basic"),
              ("Public-Key-Pins", "x")]
    SCRIPT["/m/store-all"] = fixed(200, ("Cache-Control", "max-age=3600"), *fields)
    r, count = twice(edged, origin, "/m/store-all")
    assert count == 1
    for name, value in fields:
        assert r.headers.get(name) == value, name


def test_equivalent_uris_share_an_entry_and_its_invalidation(edged, origin):
    # RFC 9110 §4.2.3 / RFC 3986 §6.2.2: %7E and ~ are the same URI, so are %2f and %2F.
    def gets(p):
        return sum(1 for q in origin.snapshot() if q.target.startswith(p) and q.method == "GET")
    for p in ("/n/~user", "/n/%7Euser", "/n/%7euser", "/n/a%2fb", "/n/a%2Fb"):
        SCRIPT[p] = lambda n, req: (200 if req.method == "GET" else 204,
                                    [("Date", http_date()), ("Cache-Control", "max-age=60")], None)
    for p in ("/n/~user", "/n/%7Euser", "/n/%7euser"):
        get(edged, p)
    get(edged, "/n/a%2fb")
    get(edged, "/n/a%2Fb")
    assert gets("/n/~") + gets("/n/%7") == 1 and gets("/n/a%2") == 1
    get(edged, "/n/%7euser", method="POST", body=b"x")   # invalidates /n/~user
    get(edged, "/n/~user")
    assert gets("/n/~") + gets("/n/%7") == 2


def test_if_match_and_if_unmodified_since_are_evaluated_by_the_origin(edged, origin):
    # RFC 9111 §4.3.2: not applicable to a cache; the stored response is validated at the origin
    # with the client's precondition alongside, and a 412 leaves the entry as it was.
    path = "/m/if-match"

    def im(n, req):
        if req.headers.get("if-match") == '"other"' or req.headers.get("if-unmodified-since"):
            return (412, [("Date", http_date()), ("Cache-Control", "max-age=60")], b"precondition failed\n")
        if req.headers.get("if-none-match") == '"im"':
            return (304, [("Date", http_date()), ("ETag", '"im"'), ("Cache-Control", "max-age=60")], b"")
        return (200, [("Date", http_date()), ("ETag", '"im"'), ("Cache-Control", "max-age=60")], b"im\n")
    SCRIPT[path] = im
    get(edged, path)
    assert get(edged, path, headers=[("If-Match", '"other"')]).status == 412
    assert get(edged, path).body == b"im\n"        # the 412 (even with max-age) replaced nothing
    assert get(edged, path, headers=[("If-Unmodified-Since", http_date(-86400))]).status == 412
    r = get(edged, path, headers=[("If-Match", '"im"')])
    assert (r.status, r.body) == (200, b"im\n")
    assert get(edged, path).body == b"im\n"
    reqs = [q for q in origin.snapshot() if q.target == path]
    assert len(reqs) == 4 and reqs[1].headers.get("if-match") == '"other"'
