"""Response compression: Accept-Encoding negotiation (RFC 9110 12.5.3), the cases that must
pass through untouched, the headers of a compressed response, byte-exact round trips decoded by
Python's zlib / brotli / zstandard and by `curl --compressed`, HTTP/1.0 clients, per-event
latency of a compressed text/event-stream, a 1 GiB compressed download in bounded memory, and
the /metrics compression byte counters."""

import functools
import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import zlib

import brotli
import pytest
import zstandard

import httpwire
from harness import Edged, RssSampler, free_port, make_config
from origin import CLOSE, KEEP, Origin

ALL = "gzip, br, zstd"
COMPRESSION = {
    "algorithms": ["br", "zstd", "gzip"],
    "min_length": 1024,
    "level": {"gzip": 6, "br": 4, "zstd": 3},
    "types": ["text/*", "application/json", "application/javascript", "application/xml",
              "image/svg+xml"],
}


# -- bodies ---------------------------------------------------------------------------------

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
         "rho sigma tau upsilon phi chi psi omega proxy upstream request response header "
         "chunk stream buffer socket worker route origin client server cache vary").split()


@functools.lru_cache(maxsize=32)
def make_body(n, seed=1, kind="text"):
    """n deterministic bytes. text: JSON-ish lines of random words and numbers (compressible
    but not trivially); mixed: text with random binary runs; random: incompressible."""
    rng = random.Random("%d-%s" % (seed, kind))
    if kind == "random":
        return rng.randbytes(n)
    out = bytearray()
    i = 0
    while len(out) < n:
        if kind == "mixed" and i % 25 == 24:
            out += rng.randbytes(rng.randint(16, 512))
        else:
            words = " ".join(rng.choices(WORDS, k=rng.randint(3, 14)))
            out += ('{"seq":%d,"n":%d,"f":%.6f,"text":"%s"}\n'
                    % (i, rng.randint(0, 1 << 40), rng.random(), words)).encode()
        i += 1
    return bytes(out[:n])


def target(path="/b", n=4096, seed=1, kind="text", frame="length", ct="text/plain",
           status=200, headers=()):
    q = [("n", n), ("seed", seed), ("kind", kind), ("frame", frame), ("ct", ct),
         ("status", status)] + [("h", "%s: %s" % hv) for hv in headers]
    return path + "?" + urllib.parse.urlencode(q)


# -- the origin -----------------------------------------------------------------------------

class Sse:
    """Per-request record of when the origin wrote each event."""
    lock = threading.Lock()
    writes = {}


SSE_EVENTS = 10
SSE_INTERVAL = 0.2


def sse_handler(conn, req, q):
    tag = q.get("tag", "x")
    conn.send(("HTTP/1.1 200 OK\r\nX-Origin: %s\r\nContent-Type: text/event-stream\r\n"
               "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
               % conn.origin.name).encode())
    times = []
    with Sse.lock:
        Sse.writes[tag] = times
    t0 = time.monotonic()
    for i in range(SSE_EVENTS):
        delay = t0 + SSE_INTERVAL * (i + 1) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(12))
        event = ("id: %d\nevent: tick\ndata: {\"n\": %d, \"words\": \"%s\"}\n\n"
                 % (i, i, words)).encode()
        times.append(time.monotonic())
        conn.send(b"%x\r\n" % len(event) + event + b"\r\n")
    conn.send(b"0\r\n\r\n")
    return KEEP


JSON_BLOCK = b"".join(
    (b'{"id":%d,"user":"user%05d","action":"%s","ok":true,"latency_ms":%d,"path":"/api/v1/%s"}\n'
     % (i, i * 7919 % 100000, WORDS[i % len(WORDS)].encode(), i * 31 % 997,
        WORDS[(i * 3) % len(WORDS)].encode()))
    for i in range(700))
JSON_CHUNK = b"%x\r\n" % len(JSON_BLOCK) + JSON_BLOCK + b"\r\n"


def stream_handler(conn, req, q):
    """n bytes of repeated JSON lines, chunked."""
    n = int(q["n"])
    conn.send(("HTTP/1.1 200 OK\r\nX-Origin: %s\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n" % conn.origin.name).encode())
    full, rest = divmod(n, len(JSON_BLOCK))
    for _ in range(full):
        conn.sock.sendall(JSON_CHUNK)
    if rest:
        conn.sock.sendall(b"%x\r\n" % rest + JSON_BLOCK[:rest] + b"\r\n")
    conn.sock.sendall(b"0\r\n\r\n")
    return KEEP


def handler(conn, req):
    path, _, query = req.target.partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    q = dict(pairs)
    if path.endswith("/sse"):
        return sse_handler(conn, req, q)
    if path.endswith("/stream"):
        return stream_handler(conn, req, q)
    n = int(q.get("n", 4096))
    status = int(q.get("status", 200))
    frame = q.get("frame", "length")
    headers = [("Content-Type", q.get("ct", "text/plain"))] if q.get("ct") else []
    for k, v in pairs:
        if k == "h":
            name, _, value = v.partition(": ")
            headers.append((name, value))
    body = make_body(n, int(q.get("seed", 1)), q.get("kind", "text"))
    if q.get("pre") == "gzip":
        body = gzip_bytes(body)
    if req.method == "HEAD":
        conn.respond(status, b"", headers=headers + [("Content-Length", str(len(body)))])
    elif status in (204, 304):
        conn.respond(status, b"", headers=headers, length=False)
    elif frame == "chunked":
        conn.respond(status, body, headers=headers, chunked=True, chunk_sizes=(4096, 1000, 16384))
    elif frame == "close":
        conn.respond(status, body, headers=headers + [("Connection", "close")], length=False)
        return CLOSE
    else:
        conn.respond(status, body, headers=headers)
    return KEEP


def gzip_bytes(data):
    c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


# -- decoding -------------------------------------------------------------------------------

def decode(body, coding):
    """Decode a complete body; fails on a truncated or trailing-garbage stream."""
    if coding is None:
        return body
    if coding == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(body) + d.flush()
        assert d.eof, "gzip stream not terminated (%d bytes)" % len(body)
        assert not d.unused_data, "%d bytes after the gzip stream" % len(d.unused_data)
        return out
    if coding == "br":
        d = brotli.Decompressor()
        out = d.process(body)
        assert d.is_finished(), "brotli stream not terminated (%d bytes)" % len(body)
        return out
    if coding == "zstd":
        d = zstandard.ZstdDecompressor().decompressobj()
        out = d.decompress(body)
        assert d.eof, "zstd frame not terminated (%d bytes)" % len(body)
        assert not d.unused_data, "%d bytes after the zstd frame" % len(d.unused_data)
        return out
    raise AssertionError("unexpected Content-Encoding %r" % coding)


def incremental(coding):
    """A function bytes -> bytes decoding a stream piece by piece."""
    if coding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress
    if coding == "br":
        return brotli.Decompressor().process
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress
    raise AssertionError("unexpected Content-Encoding %r" % coding)


def get(port, tgt, ae=None, method="GET", version="HTTP/1.1", headers=(), timeout=15):
    """One request; ae: None (no Accept-Encoding), a string, or a list (one field each)."""
    hs = list(headers)
    if isinstance(ae, str):
        hs.append(("Accept-Encoding", ae))
    elif ae is not None:
        hs += [("Accept-Encoding", v) for v in ae]
    return httpwire.request(port, method, tgt, headers=hs, version=version, timeout=timeout)


def coding_of(resp):
    ce = resp.headers.get_all("content-encoding")
    assert len(ce) <= 1, "several Content-Encoding fields: %r" % ce
    return ce[0].strip().lower() if ce else None


def check_compressed(resp, want, coding):
    """A compressed 200 to an HTTP/1.1 client: the right coding, chunked, no Content-Length,
    Vary: Accept-Encoding, and the decoded body is byte-exactly the origin's."""
    assert resp.status == 200, resp
    assert coding_of(resp) == coding, \
        "Content-Encoding %r, expected %r; head:\n%s" % (
            coding_of(resp), coding, resp.raw_head.decode("latin-1"))
    assert "accept-encoding" in resp.headers.tokens("vary"), resp.headers
    assert "content-length" not in resp.headers.names(), resp.headers
    assert resp.framing == "chunked", resp
    got = decode(resp.body, coding)
    assert len(got) == len(want) and got == want, \
        "decoded %d bytes differ from the origin's %d" % (len(got), len(want))


def check_untouched(resp, want, status=200):
    """Passed through as the origin sent it (origin used Content-Length)."""
    assert resp.status == status, resp
    assert coding_of(resp) is None, resp.raw_head.decode("latin-1")
    assert resp.headers.get("content-length") == str(len(want)), resp.headers
    assert resp.body == want


# -- the shared server ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One origin and one edged for the stateless tests: `/` uses the top-level compression,
    `/off/` has `compression: off`."""
    o = Origin("comp", handler)
    cfg = make_config(
        {"main": [o.address]},
        routes=[{"match": {"prefix": "/off/"}, "upstream": "main", "compression": "off"},
                {"match": {"prefix": "/"}, "upstream": "main"}],
        compression=COMPRESSION)
    e = Edged(cfg, tmp_path_factory.mktemp("edged-compression"))
    try:
        e.start()
    except AssertionError:
        o.stop()
        raise
    yield e
    try:
        e.stop()
    finally:
        o.stop()
        assert not o.errors, o.errors


# -- negotiation ----------------------------------------------------------------------------

NEGOTIATION = [
    # (Accept-Encoding field value(s), expected coding or None for identity)
    (None, None),
    ("", None),
    ("identity", None),
    ("deflate", None),
    ("gzip", "gzip"),
    ("br", "br"),
    ("zstd", "zstd"),
    ("gzip, br", "br"),                     # tie: the configured order prefers br
    ("gzip, zstd", "zstd"),
    ("gzip, deflate, br, zstd", "br"),      # what curl and browsers send
    ("gzip;q=1, br;q=0.5", "gzip"),
    ("br;q=0.8, zstd;q=0.9", "zstd"),
    ("gzip;q=0.5, br;q=0.5", "br"),
    ("gzip;q=1.000, br;q=0.999", "gzip"),
    ("br;q=0.0, gzip;q=0.001", "gzip"),
    ("br;q=0", None),                       # br refused, nothing else listed
    ("br;q=0, gzip", "gzip"),
    ("br;q=0, zstd;q=0, gzip;q=0", None),
    ("*", "br"),
    ("*;q=0.5, gzip", "gzip"),
    ("*, br;q=0", "zstd"),
    ("gzip;q=0.5, *;q=0.6", "br"),          # * covers br and zstd, not the listed gzip
    ("*;q=0.6, br;q=0.1, zstd;q=0.1", "gzip"),
    ("*;q=0", None),
    ("identity;q=0, gzip", "gzip"),
    ("*;q=0.1, identity;q=0", "br"),
    ("GZIP", "gzip"),
    ("gZiP;Q=0.5, BR;q=0.4", "gzip"),
    ("Br, Zstd;q=0.9", "br"),
    ("br ; q=0.4 , gzip ; q=0.5", "gzip"),  # OWS around ';' (RFC 9110 12.4.2)
    (["gzip", "br"], "br"),                 # two fields are one list
    (["gzip;q=0.9", "zstd"], "zstd"),
]


@pytest.mark.parametrize("ae,want", NEGOTIATION, ids=[repr(a) for a, _ in NEGOTIATION])
def test_accept_encoding_negotiation(srv, ae, want):
    body = make_body(8192, 3)
    r = get(srv.port, target(n=8192, seed=3), ae)
    if want is None:
        check_untouched(r, body)
        # not compressed only because of Accept-Encoding: caches must keep the variants apart
        assert "accept-encoding" in r.headers.tokens("vary"), \
            "no Vary: Accept-Encoding on an uncompressed variant (ae=%r): %r" % (ae, r.headers)
    else:
        check_compressed(r, body, want)


def test_algorithms_list_orders_ties_and_limits_choice(edged, origin):
    """algorithms [gzip, br]: ties go to gzip, and zstd (not listed) is never produced."""
    o = origin("comp", handler)
    e = edged(make_config({"main": [o.address]},
                          compression={**COMPRESSION, "algorithms": ["gzip", "br"]}))
    body = make_body(8192, 4)
    for ae, want in [("gzip, br", "gzip"), ("br, gzip", "gzip"), ("*", "gzip"),
                     ("br", "br"), ("zstd, br;q=0.5", "br"), ("gzip;q=0.5, br", "br")]:
        check_compressed(get(e.port, target(n=8192, seed=4), ae), body, want)
    r = get(e.port, target(n=8192, seed=4), "zstd")
    check_untouched(r, body)
    assert "accept-encoding" in r.headers.tokens("vary"), r.headers


# -- skipped --------------------------------------------------------------------------------

def test_head_not_compressed(srv):
    r = get(srv.port, target(n=4096), ALL, method="HEAD")
    assert r.status == 200 and coding_of(r) is None, r.raw_head
    assert r.headers.get("content-length") == "4096", r.headers


@pytest.mark.parametrize("status", [204, 304])
def test_bodyless_status_not_compressed(srv, status):
    hs = [("ETag", '"v1"')] if status == 304 else []
    req_hs = [("If-None-Match", '"v1"')] if status == 304 else []
    r = get(srv.port, target(n=4096, status=status, headers=hs), ALL, headers=req_hs)
    assert r.status == status, r
    assert coding_of(r) is None, r.raw_head
    assert "transfer-encoding" not in r.headers.names(), r.headers
    if status == 304:
        assert r.headers.get("etag") == '"v1"', r.headers


def test_206_not_compressed(srv):
    body = make_body(2000, 5)
    r = get(srv.port, target(n=2000, seed=5, status=206,
                             headers=[("Content-Range", "bytes 0-1999/10000")]),
            ALL, headers=[("Range", "bytes=0-1999")])
    check_untouched(r, body, status=206)
    assert r.headers.get("content-range") == "bytes 0-1999/10000"


def test_request_with_range_not_compressed(srv):
    """The origin ignores Range and sends the whole 200: still not compressed."""
    body = make_body(6000, 6)
    r = get(srv.port, target(n=6000, seed=6, headers=[("Accept-Ranges", "bytes")]), ALL,
            headers=[("Range", "bytes=0-99")])
    check_untouched(r, body)


def test_already_encoded_passes_through(srv):
    raw = gzip_bytes(make_body(20000, 7))
    tgt = target(n=20000, seed=7, headers=[("Content-Encoding", "gzip")]) + "&pre=gzip"
    for ae in ["gzip", "br", ALL]:
        r = get(srv.port, tgt, ae)
        assert r.status == 200
        assert r.headers.get_all("content-encoding") == ["gzip"], r.headers
        assert r.headers.get("content-length") == str(len(raw)), r.headers
        assert r.body == raw, "an already-encoded body was changed (ae=%r)" % ae


@pytest.mark.parametrize("cc", ["no-transform", "public, no-transform, max-age=60",
                                "No-Transform"])
def test_no_transform_not_compressed(srv, cc):
    body = make_body(8000, 8)
    r = get(srv.port, target(n=8000, seed=8, headers=[("Cache-Control", cc)]), ALL)
    check_untouched(r, body)


@pytest.mark.parametrize("ct,compressed", [
    ("image/png", False),
    ("application/octet-stream", False),
    ("application/jsonx", False),
    ("text/plain", True),
    ("text/html; charset=utf-8", True),      # parameters are ignored
    ("Text/HTML; Charset=UTF-8", True),      # media types are case-insensitive
    ("text/css", True),
    ("application/json", True),
    ("application/json; charset=utf-8", True),
    ("application/javascript", True),
    ("application/xml", True),
    ("image/svg+xml", True),
])
def test_media_types(srv, ct, compressed):
    body = make_body(8000, 9)
    r = get(srv.port, target(n=8000, seed=9, ct=ct), ALL)
    if compressed:
        check_compressed(r, body, "br")
    else:
        check_untouched(r, body)


@pytest.mark.parametrize("n,frame,compressed", [
    (1023, "length", False),
    (1024, "length", True),        # "skip when smaller": 1024 itself is compressed
    (100, "length", False),
    (100, "chunked", True),        # length unknown: min_length does not apply
])
def test_min_length(srv, n, frame, compressed):
    body = make_body(n, 10)
    r = get(srv.port, target(n=n, seed=10, frame=frame), ALL)
    if compressed:
        check_compressed(r, body, "br")
    else:
        check_untouched(r, body)


def test_route_with_compression_off(srv):
    body = make_body(50000, 11)
    for ae in ["gzip", ALL, "*"]:
        r = get(srv.port, target("/off/b", n=50000, seed=11), ae)
        check_untouched(r, body)
    # and the same resource on a compressing route is compressed (the origin is the same)
    check_compressed(get(srv.port, target("/on/b", n=50000, seed=11), "gzip"), body, "gzip")


def test_route_override_map(edged, origin):
    """A route's compression map overrides only the keys it names: /l1/ gzip level 1 (bigger
    output than the top-level 6), /gz/ only gzip and min_length 100; /none/ is off."""
    o = origin("comp", handler)
    e = edged(make_config(
        {"main": [o.address]},
        routes=[{"match": {"prefix": "/l1/"}, "upstream": "main",
                 "compression": {"level": {"gzip": 1}}},
                {"match": {"prefix": "/gz/"}, "upstream": "main",
                 "compression": {"algorithms": ["gzip"], "min_length": 100}},
                {"match": {"prefix": "/none/"}, "upstream": "main", "compression": "off"},
                {"match": {"prefix": "/"}, "upstream": "main"}],
        compression=COMPRESSION))
    body = make_body(200 * 1024, 80)
    tgt = target(n=200 * 1024, seed=80)
    default = get(e.port, "/d" + tgt, "gzip")
    check_compressed(default, body, "gzip")
    level1 = get(e.port, "/l1" + tgt, "gzip")
    check_compressed(level1, body, "gzip")
    assert len(level1.body) > len(default.body) * 1.05, \
        "gzip level 1 route sent %d bytes, level 6 default %d" % (len(level1.body),
                                                                 len(default.body))
    # the /l1/ map did not reset the other keys: types, min_length and algorithms still apply
    check_untouched(get(e.port, "/l1" + target(n=200 * 1024, seed=80, ct="image/png"), "gzip"),
                    body)
    check_untouched(get(e.port, "/l1" + target(n=500, seed=81), "gzip"), make_body(500, 81))
    check_compressed(get(e.port, "/l1" + tgt, "gzip, br"), body, "br")
    # /gz/: gzip only, and 500 bytes is over its min_length
    small = make_body(500, 81)
    check_compressed(get(e.port, "/gz" + target(n=500, seed=81), "br, zstd, gzip"), small,
                     "gzip")
    r = get(e.port, "/gz" + tgt, "br, zstd")
    check_untouched(r, body)
    assert "accept-encoding" in r.headers.tokens("vary"), r.headers
    check_untouched(get(e.port, "/none" + tgt, "gzip"), body)


# -- headers of a compressed response --------------------------------------------------------

def test_compressed_response_headers(srv):
    body = make_body(30000, 12)
    r = get(srv.port, target(n=30000, seed=12, headers=[
        ("ETag", '"abc123"'), ("Accept-Ranges", "bytes"), ("Vary", "Origin"),
        ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"), ("X-Custom", "kept")]), "gzip")
    check_compressed(r, body, "gzip")
    assert r.headers.tokens("transfer-encoding") == ["chunked"], r.headers
    vary = r.headers.tokens("vary")
    assert "origin" in vary and "accept-encoding" in vary, r.headers
    assert vary.count("accept-encoding") == 1, r.headers
    assert r.headers.get_all("etag") == ['W/"abc123"'], r.headers
    assert r.headers.get("accept-ranges", "none").lower() == "none", r.headers
    assert r.headers.get("last-modified") == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert r.headers.get("x-custom") == "kept" and r.headers.get("x-origin") == "comp"


@pytest.mark.parametrize("vary_in", ["Accept-Encoding", "origin, accept-encoding",
                                     "Cookie, Accept-Encoding, Origin"])
def test_vary_already_has_accept_encoding(srv, vary_in):
    body = make_body(30000, 13)
    r = get(srv.port, target(n=30000, seed=13, headers=[("Vary", vary_in)]), "zstd")
    check_compressed(r, body, "zstd")
    vary = r.headers.tokens("vary")
    assert vary.count("accept-encoding") == 1, r.headers
    for token in vary_in.lower().split(","):
        assert token.strip() in vary, r.headers


def test_weak_etag_stays_weak(srv):
    body = make_body(30000, 14)
    r = get(srv.port, target(n=30000, seed=14, headers=[("ETag", 'W/"x"')]), "br")
    check_compressed(r, body, "br")
    assert r.headers.get_all("etag") == ['W/"x"'], r.headers


# -- round trips ----------------------------------------------------------------------------

SIZES = {"2KiB": (2048, "text"), "200KiB": (200 * 1024, "mixed"), "5MiB": (5 << 20, "mixed")}


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
@pytest.mark.parametrize("frame", ["length", "chunked", "close"])
@pytest.mark.parametrize("size", list(SIZES))
def test_round_trip(srv, size, frame, coding):
    n, kind = SIZES[size]
    body = make_body(n, 20, kind)
    r = get(srv.port, target(n=n, seed=20, kind=kind, frame=frame), coding, timeout=30)
    check_compressed(r, body, coding)
    if kind == "text" or n >= 200 * 1024:
        assert len(r.body) < n, "%s did not shrink %d compressible bytes: %d" % (
            coding, n, len(r.body))


def test_random_content_round_trip(srv):
    """Incompressible bytes labelled text/plain still round-trip exactly."""
    body = make_body(300000, 21, "random")
    for coding in ["gzip", "br", "zstd"]:
        check_compressed(get(srv.port, target(n=300000, seed=21, kind="random"), coding),
                         body, coding)


def test_keepalive_reuse_after_compressed_responses(srv):
    """Several compressed responses (chunked and close-less) on one client connection."""
    with httpwire.connect(srv.port, timeout=15) as s:
        bs = httpwire.BufferedSocket(s)
        for i, (coding, frame) in enumerate([("gzip", "length"), ("br", "chunked"),
                                             ("zstd", "length"), (None, "chunked"),
                                             ("gzip", "chunked")]):
            n = 3000 + 5000 * i
            body = make_body(n, 30 + i)
            hs = [("Accept-Encoding", coding)] if coding else []
            s.sendall(httpwire.build_request("GET", target(n=n, seed=30 + i, frame=frame),
                                             headers=hs))
            r = httpwire.read_response(bs)
            assert r.status == 200
            assert coding_of(r) == coding, r.raw_head
            assert decode(r.body, coding) == body


@pytest.mark.parametrize("frame", ["length", "chunked", "close"])
def test_http10_client_gets_close_delimited_compressed_body(srv, frame):
    body = make_body(100000, 40, "mixed")
    r = get(srv.port, target(n=100000, seed=40, kind="mixed", frame=frame), "gzip",
            version="HTTP/1.0")
    assert r.status == 200, r
    assert coding_of(r) == "gzip", r.raw_head
    assert "transfer-encoding" not in r.headers.names(), r.headers
    assert "content-length" not in r.headers.names(), r.headers
    assert r.framing == "close"
    assert "accept-encoding" in r.headers.tokens("vary"), r.headers
    assert decode(r.body, "gzip") == body


# -- curl -----------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_curl_compressed(srv, tmp_path, coding):
    body = make_body(300000, 50, "mixed")
    hdr, out = tmp_path / "h.txt", tmp_path / "b.bin"
    args = ["curl", "-sS", "--compressed", "--max-time", "20", "-D", str(hdr), "-o", str(out)]
    if coding == "gzip":
        args += ["-H", "Accept-Encoding: gzip"]    # plain --compressed offers br too
    p = subprocess.run(args + [srv.url(target(n=300000, seed=50, kind="mixed"))],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    head = hdr.read_text(errors="replace")
    assert re.search(r"(?im)^content-encoding:\s*%s\s*$" % coding, head), head
    got = out.read_bytes()
    assert len(got) == len(body) and got == body, "curl decoded %d bytes, origin sent %d" % (
        len(got), len(body))


# -- SSE ------------------------------------------------------------------------------------

def read_chunks(bs):
    """Yield (payload, monotonic time it was read) for each chunk of a chunked body."""
    while True:
        size = int(bs.read_line()[:-2].split(b";")[0].strip(), 16)
        if size == 0:
            while bs.read_line() != b"\r\n":
                pass
            return
        data = bs.read_exact(size)
        t = time.monotonic()
        assert bs.read_exact(2) == b"\r\n"
        yield data, t


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_sse_events_arrive_promptly(srv, coding):
    tag = "%s-%d" % (coding, os.getpid())
    with httpwire.connect(srv.port, timeout=10) as s:
        bs = httpwire.BufferedSocket(s)
        s.sendall(httpwire.build_request("GET", "/events/sse?tag=" + tag,
                                         headers=[("Accept-Encoding", coding),
                                                  ("Accept", "text/event-stream")]))
        start, headers = httpwire.parse_head(bs.read_until(b"\r\n\r\n"))
        assert start.split()[1] == "200", start
        assert (headers.get("content-encoding") or "").lower() == coding, headers
        assert "chunked" in headers.tokens("transfer-encoding"), headers
        dec = incremental(coding)
        text = b""
        received = {}
        for data, t in read_chunks(bs):
            text += dec(data)
            while b"\n\n" in text:
                event, text = text.split(b"\n\n", 1)
                m = re.match(rb"id: (\d+)\n", event)
                assert m, event
                received[int(m.group(1))] = t
        assert text == b"", "undelimited event text at the end: %r" % text
        # keep-alive: the connection serves another request afterwards
        s.sendall(httpwire.build_request("GET", target(n=5000, seed=60), headers=[
            ("Accept-Encoding", coding)]))
        check_compressed(httpwire.read_response(bs), make_body(5000, 60), coding)
    with Sse.lock:
        written = list(Sse.writes[tag])
    assert sorted(received) == list(range(SSE_EVENTS)), received
    lat = [(received[i] - written[i]) * 1000 for i in range(SSE_EVENTS)]
    print("%s event latencies (ms): %s" % (coding, ", ".join("%.1f" % x for x in lat)))
    late = [(i, round(x, 1)) for i, x in enumerate(lat) if x > 50]
    assert not late, "%s events later than 50 ms after the origin wrote them (event, ms): %r" % (
        coding, late)


# -- 1 GiB in bounded memory ----------------------------------------------------------------

GIB = 1 << 30
RSS_BUDGET_KIB = 24 * 1024     # 16 MiB + the compressor's state
BIG_DEADLINE = 90


def repeated_crc(block, total):
    crc = 0
    full, rest = divmod(total, len(block))
    for _ in range(full):
        crc = zlib.crc32(block, crc)
    return zlib.crc32(block[:rest], crc)


def gzip_download(port, n, pause_at=None):
    """GET /big/stream?n=N with Accept-Encoding: gzip, decompressing incrementally; returns
    (decoded bytes, crc32, compressed bytes, seconds)."""
    t0 = time.monotonic()
    with httpwire.connect(port, timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.sendall(httpwire.build_request("GET", "/big/stream?n=%d" % n,
                                         headers=[("Accept-Encoding", "gzip")]))
        bs = httpwire.BufferedSocket(s, recv_size=256 * 1024)
        start, headers = httpwire.parse_head(bs.read_until(b"\r\n\r\n"))
        assert start.split()[1] == "200", start
        assert (headers.get("content-encoding") or "").lower() == "gzip", headers
        assert "chunked" in headers.tokens("transfer-encoding"), headers
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        st = {"out": 0, "crc": 0, "in": 0, "paused": False}

        def sink(piece):
            st["in"] += len(piece)
            out = d.decompress(piece)
            st["out"] += len(out)
            st["crc"] = zlib.crc32(out, st["crc"])
            if pause_at and not st["paused"] and st["out"] >= pause_at:
                st["paused"] = True
                time.sleep(1.5)     # edged must stop reading from the origin meanwhile
            if time.monotonic() - t0 > BIG_DEADLINE:
                raise AssertionError("too slow: %d of %d bytes after %d s"
                                     % (st["out"], n, BIG_DEADLINE))
        httpwire.read_chunked(bs, sink)
        tail = d.flush()
        st["out"] += len(tail)
        st["crc"] = zlib.crc32(tail, st["crc"])
        assert d.eof, "gzip stream not terminated"
    return st["out"], st["crc"], st["in"], time.monotonic() - t0


def test_1gib_gzip_download_in_bounded_memory(edged, origin):
    """gzip at level 6 (the top-level setting; about 20 s under ASan), with the client pausing
    1.5 s after 256 MiB so edged has to hold the origin back rather than buffer."""
    o = origin("big", handler)
    cfg = make_config(
        {"main": [o.address]},
        compression=COMPRESSION,
        timeouts={"read": "30s", "send": "30s"})
    e = edged(cfg)

    warm = 64 << 20
    got, crc, _, _ = gzip_download(e.port, warm)
    assert (got, crc) == (warm, repeated_crc(JSON_BLOCK, warm))
    time.sleep(0.3)
    before = e.rss_kib()
    with RssSampler(e) as rss:
        got, crc, wire, secs = gzip_download(e.port, GIB, pause_at=256 << 20)
    print("1 GiB gzip-6: %d compressed bytes, %.1f s, RSS %d KiB before, max %d KiB"
          % (wire, secs, before, rss.max()))
    assert got == GIB, "decoded %d of %d bytes" % (got, GIB)
    assert crc == repeated_crc(JSON_BLOCK, GIB)
    assert wire < GIB // 4, wire
    assert len(rss.samples) >= 10
    growth = rss.max() - before
    assert growth < RSS_BUDGET_KIB, \
        "edged RSS grew %d KiB during a 1 GiB gzip download (%d -> %d KiB, %.1f s)" % (
            growth, before, rss.max(), secs)


# -- /metrics -------------------------------------------------------------------------------

def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'(?m)^(edged_compression_bytes_(?:in|out)_total)\{algorithm="(\w+)"\}'
                         r' (\S+)$', text):
        out[(m.group(1), m.group(2))] = float(m.group(3))
    return out, text


def test_metrics_compression_bytes(edged, origin):
    o = origin("comp", handler)
    admin_port = free_port()
    cfg = make_config({"main": [o.address]}, compression=COMPRESSION,
                      admin={"address": "127.0.0.1:%d" % admin_port})
    e = edged(cfg)
    before, text = scrape(admin_port)
    IN, OUT = "edged_compression_bytes_in_total", "edged_compression_bytes_out_total"
    for a in ["gzip", "br", "zstd"]:
        assert (IN, a) in before and (OUT, a) in before, \
            "no %s series for algorithm=%s in:\n%s" % (IN, a, text)

    fed = {"gzip": 0, "br": 0, "zstd": 0}
    sent = {"gzip": 0, "br": 0, "zstd": 0}
    plan = [("gzip", 200 * 1024, "length")] * 3 + [("gzip", 50000, "chunked")] + \
        [("br", 100000, "length"), ("zstd", 100000, "chunked")]
    for i, (coding, n, frame) in enumerate(plan):
        body = make_body(n, 70 + i)
        r = get(e.port, target(n=n, seed=70 + i, frame=frame), coding)
        check_compressed(r, body, coding)
        fed[coding] += n
        sent[coding] += len(r.body)

    deadline = time.monotonic() + 3
    while True:
        after, text = scrape(admin_port)
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        if all(delta.get((IN, a), 0) >= fed[a] for a in fed) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    print("compression counters delta: %r" % delta)
    for a in fed:
        assert delta[(IN, a)] == fed[a], "%s{algorithm=%s} rose by %r, origin bodies were %d" % (
            IN, a, delta[(IN, a)], fed[a])
        assert delta[(OUT, a)] == sent[a], \
            "%s{algorithm=%s} rose by %r, clients received %d compressed bytes" % (
                OUT, a, delta[(OUT, a)], sent[a])
        assert 0 < delta[(OUT, a)] < delta[(IN, a)]
