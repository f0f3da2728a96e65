"""RFC 9112 / RFC 9110 rules for an intermediary that test_hostile_requests.py does not cover,
each found failing by probing the binary: what the client gets (exact status) and the exact bytes
the origin receives, or that it receives nothing. One edged and one origin for the module."""

import socket
import time

import pytest

import httpwire
from harness import Edged, make_config
from origin import Origin

H = b"Host: example.com\r\n"
C = b"Connection: close\r\n"

# Responses the origin sends as they are, keyed by the request target.
RAW_RESPONSES = {
    "/resp/empty-name": b"HTTP/1.1 200 OK\r\n: v\r\nContent-Length: 2\r\n\r\nok",
    "/resp/http2": b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "/resp/reason-ctl": b"HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok",
    "/resp/te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x00",
    "/resp/te-gzip-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                             b"4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n",
    # Over limits.max_response_header_bytes (64 KiB by default): never buffered whole.
    "/resp/huge-head": b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * (100 << 10) + b"\r\nContent-Length: 2\r\n\r\nok",
    # The same limit holds for a head gathered for repair (bare LF line ends).
    "/resp/huge-head-lf": b"HTTP/1.1 200 OK\nX-Big: " + b"v" * (100 << 10) + b"\nContent-Length: 2\n\nok",
    # A repaired head is still judged: a control byte in a value stays a 502.
    "/resp/lf-and-ctl": b"HTTP/1.1 200 OK\nX-A: b\x01c\nContent-Length: 2\n\nok",
}
# Heads RFC 9112 lets a proxy repair (§2.2: a bare LF may end a line; §5.1: a proxy MUST remove
# whitespace between a field name and its colon): forwarded, repaired, whatever the reads.
REPAIRED_RESPONSES = {
    "/fix/bare-lf": b"HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 2\n\nok",
    "/fix/mixed": b"HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\nok",
    "/fix/space-colon": b"HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length\t: 2\r\n\r\nok",
    "/fix/both-chunked": b"HTTP/1.1 200 OK\nX-A  : 1\nTransfer-Encoding: chunked\n\n2\r\nok\r\n0\r\n\r\n",
}
BIG_HEAD_OK = b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * (40 << 10) + b"\r\nContent-Length: 2\r\n\r\nok"


def handler(conn, req):
    if req.target == "/resp/big-head-ok":
        conn.send(BIG_HEAD_OK)
        return "keep"
    fix = REPAIRED_RESPONSES.get(req.target.split("?")[0])
    if fix is not None:
        if req.target.endswith("?bytewise"):
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(fix)):
                conn.send(fix[i:i + 1])
                time.sleep(0.002)
        else:
            conn.send(fix)
        return "keep"
    raw = RAW_RESPONSES.get(req.target)
    if raw is not None:
        conn.send(raw)
        return "keep"   # edged must drop the connection itself
    conn.respond(200, b"ok")


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    o = Origin("a", handler)
    e = Edged(make_config({"app": {"servers": [{"address": o.address}], "keepalive": 4}}),
              tmp_path_factory.mktemp("edged"))
    try:
        e.start()
        yield e, o
    finally:
        try:
            e.stop()
        finally:
            o.stop()


def send_bytewise(s, raw):
    """A byte per segment, each read by edged on its own (as some clients and attackers send)."""
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(raw)):
        s.sendall(raw[i:i + 1])
        time.sleep(0.002)


def exchange(port, raw, method="GET", bytewise=False):
    """One request on a fresh connection: (status or None if closed without an answer, Response)."""
    with httpwire.connect(port, 5) as s:
        if bytewise:
            send_bytewise(s, raw)
        else:
            s.sendall(raw)
        bs = httpwire.BufferedSocket(s)
        try:
            r = httpwire.read_response(bs, method)
        except (httpwire.PeerClosed, ConnectionResetError):
            return None, None
        return r.status, r


# (id, raw request, status). None of them may reach the origin.
REFUSED = [
    # RFC 9110 §5.1: field-name = token, never empty (llhttp takes ": v")
    ("empty-field-name", b"GET / HTTP/1.1\r\n" + H + b": v\r\n" + C + b"\r\n", 400),
    ("empty-field-name-first", b"GET / HTTP/1.1\r\n: v\r\n" + H + C + b"\r\n", 400),
    ("empty-field-name-no-value", b"GET / HTTP/1.1\r\n" + H + b":\r\n" + C + b"\r\n", 400),
    # RFC 9112 §2.3 / RFC 9110 §15.6.6: only HTTP/1.x here
    ("version-0.9", b"GET / HTTP/0.9\r\n" + H + C + b"\r\n", 505),
    ("version-3.0", b"GET / HTTP/3.0\r\n" + H + C + b"\r\n", 505),
    # RFC 9110 §9.1: methods are case-sensitive tokens; one edged does not know is 501
    ("method-unknown", b"FOO / HTTP/1.1\r\n" + H + C + b"\r\n", 501),
    ("method-lowercase", b"get / HTTP/1.1\r\n" + H + C + b"\r\n", 501),
    ("method-not-a-token", b"GE(T / HTTP/1.1\r\n" + H + C + b"\r\n", 400),
    # RFC 9110 §7.2 / RFC 3986 §3.2.3: a port above 65535 is no port
    ("host-port-65536", b"GET / HTTP/1.1\r\nHost: example.com:65536\r\n" + C + b"\r\n", 400),
    ("absolute-port-99999", b"GET http://example.com:99999/ HTTP/1.1\r\n" + H + C + b"\r\n", 400),
    # RFC 9112 §5.2: obs-fold (test_hostile_requests has it whole; here it matters sent a byte at a time)
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: one\r\n two\r\n" + C + b"\r\n", 400),
    ("obs-fold-tab", b"GET / HTTP/1.1\r\n" + H + b"X-A: one\r\n\t two\r\n" + C + b"\r\n", 400),
]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("name,raw,expected", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_and_never_forwarded(proxy, name, raw, expected, bytewise):
    # Sent whole or a byte per read: the same answer (a split must not change the verdict).
    e, o = proxy
    before = o.request_count()
    status, r = exchange(e.port, raw, bytewise=bytewise)
    assert status == expected, (name, status, r and r.raw_head)
    assert r.headers.get("connection") == "close", r.raw_head
    time.sleep(0.05)
    assert o.request_count() == before, o.snapshot()[before:]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_http_1_2_is_served_as_http_1_1(proxy, bytewise):
    """RFC 9110 §2.5: a higher minor version of a major version edged speaks is processed as
    HTTP/1.1: answered in HTTP/1.1, kept alive, forwarded as HTTP/1.1; also when the version
    arrives a byte per read."""
    e, o = proxy
    before = o.request_count()
    send = send_bytewise if bytewise else (lambda s, raw: s.sendall(raw))
    with httpwire.connect(e.port, 5) as s:
        bs = httpwire.BufferedSocket(s)
        send(s, b"GET /v12 HTTP/1.2\r\n" + H + b"\r\n")
        r = httpwire.read_response(bs)
        assert (r.version, r.status, r.body) == ("HTTP/1.1", 200, b"ok"), r.raw_head
        assert "connection" not in r.headers, r.raw_head
        send(s, b"GET /v19 HTTP/1.9\r\n" + H + C + b"\r\n")
        assert httpwire.read_response(bs).status == 200
    reqs = o.snapshot()[before:]
    assert [q.raw_head.split(b"\r\n", 1)[0] for q in reqs] == [b"GET /v12 HTTP/1.1", b"GET /v19 HTTP/1.1"]
    assert [q.headers.get_all("via") for q in reqs] == [["1.1 edged"], ["1.1 edged"]]


def test_options_asterisk_is_answered_by_edged(proxy):
    """RFC 9110 §9.3.7 / RFC 9112 §3.2.4: "OPTIONS *" is about the server, which edged is to
    its client: 200 with Allow and no body, never routed (it was a 404) nor forwarded."""
    e, o = proxy
    before = o.request_count()
    for extra in (b"", b"Max-Forwards: 3\r\n"):
        status, r = exchange(e.port, b"OPTIONS * HTTP/1.1\r\n" + H + extra + C + b"\r\n", "OPTIONS")
        assert status == 200, r and r.raw_head
        assert "OPTIONS" in r.headers.get("allow"), r.raw_head
        assert r.headers.get("content-length") == "0" and r.body == b"", r.raw_head
    time.sleep(0.05)
    assert o.request_count() == before


@pytest.mark.parametrize("target", sorted(RAW_RESPONSES))
def test_unforwardable_origin_response_is_502_and_its_connection_dropped(proxy, target):
    """An empty field name (RFC 9110 §5.1), an HTTP/2.0 status line on an HTTP/1.1 connection
    (RFC 9112 §2.3), a control byte in the reason phrase (RFC 9112 §4), a transfer coding other
    than chunked (RFC 9112 §6.1; edged forwarded the gzip-coded bytes as identity): 502, nothing
    of the response reaches the client, and the next request goes to a new origin connection."""
    e, o = proxy
    before = o.request_count()
    with httpwire.connect(e.port, 5) as s:
        bs = httpwire.BufferedSocket(s)
        s.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\n" + H + b"\r\n")
        r = httpwire.read_response(bs)
        assert r.status == 502, r.raw_head
        assert b"\x1f\x8b" not in r.body and b"ok" != r.body
        assert r.headers.get("transfer-encoding") is None and b": v" not in r.raw_head
        assert r.raw_head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), r.raw_head
    status, r = exchange(e.port, b"GET /after HTTP/1.1\r\n" + H + C + b"\r\n")
    assert status == 200 and r.body == b"ok", r and r.raw_head
    bad, after = o.snapshot()[before:]
    assert bad.target == target and after.target == "/after"
    assert after.conn_id != bad.conn_id, "the connection of an invalid response was reused"


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("target", sorted(REPAIRED_RESPONSES))
def test_a_bare_lf_or_space_before_colon_in_an_origin_head_is_repaired(proxy, target, bytewise):
    e, o = proxy
    path = target + ("?bytewise" if bytewise else "")
    with httpwire.connect(e.port, 10) as s:
        bs = httpwire.BufferedSocket(s)
        for _ in range(2):  # the origin connection stays usable after a repaired head
            s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\n" + H + b"\r\n")
            r = httpwire.read_response(bs)
            assert r.status == 200 and r.body == b"ok", r.raw_head
            assert r.headers.get("x-a") == "1" and b" :" not in r.raw_head and b"\t:" not in r.raw_head, r.raw_head
    ours = [q for q in o.snapshot() if q.target == path]
    assert len(ours) == 2 and ours[0].conn_id == ours[1].conn_id


def test_a_big_response_head_under_the_limit_is_forwarded(proxy):
    """40 KiB of header fields (under the default 64 KiB of limits.max_response_header_bytes)."""
    e, _ = proxy
    status, r = exchange(e.port, b"GET /resp/big-head-ok HTTP/1.1\r\n" + H + C + b"\r\n")
    assert status == 200 and r.body == b"ok"
    assert len(r.headers.get("x-big")) == 40 << 10


@pytest.mark.parametrize("size", [b"ffffffffffffffff", b"a00001"])
def test_chunk_larger_than_the_body_limit_is_413_at_its_size_line(proxy, size):
    """A chunk that cannot fit in limits.max_body_bytes (10 MiB here) is refused when its size
    line arrives, as nginx does, instead of waiting for bytes that never come (client_body,
    5 s, then 408). The origin never gets a complete request."""
    e, o = proxy
    before = o.request_count()
    with httpwire.connect(e.port, 3) as s:   # less than client_body: the answer comes first
        s.sendall(b"POST /up HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n" + size + b"\r\nxyz")
        r = httpwire.read_response(httpwire.BufferedSocket(s))
        assert r.status == 413, r.raw_head
        assert r.headers.get("connection") == "close", r.raw_head
    time.sleep(0.05)
    assert o.request_count() == before, o.snapshot()[before:]


def test_underscore_spellings_of_forwarding_fields_never_reach_the_origin(proxy):
    """CGI/PHP/WSGI origins read X_Forwarded_For as X-Forwarded-For: a client's must not stand
    beside edged's own. Other names with '_' pass as they are."""
    e, o = proxy
    before = o.request_count()
    status, _ = exchange(e.port, b"GET /underscores HTTP/1.1\r\n" + H + C +
                         b"X_Forwarded_For: 6.6.6.6\r\nX-Real_IP: 6.6.6.6\r\nX_Forwarded_Proto: https\r\n"
                         b"X_Custom: kept\r\n\r\n")
    assert status == 200
    (q,) = o.snapshot()[before:]
    head = q.raw_head.lower()
    assert b"x_forwarded_for" not in head and b"x-real_ip" not in head and b"x_forwarded_proto" not in head, q.raw_head
    assert b"\r\nx_custom: kept\r\n" in head and b"\r\nx-forwarded-for: 127.0.0.1\r\n" in head, q.raw_head
