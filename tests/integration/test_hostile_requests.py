"""Malformed and hostile requests on raw sockets (RFC 9112 / RFC 9110): each is answered with the
right 4xx/5xx at once and the origin receives nothing; an absolute-form target's authority wins
over Host, and the origin gets exactly one Host regenerated from it. Every case checks the bytes
the origin received, or that it received nothing."""

import email.utils
import socket
import time

import pytest

import httpwire
from harness import free_port, make_config

ANSWER_WITHIN = 2.0   # seconds: "at once", far below client_header (5 s in make_config)


def exchange(port, raw, timeout=6.0):
    """Sends raw bytes; returns (status or None when closed without a response, elapsed s,
    Response or None)."""
    t0 = time.monotonic()
    with httpwire.connect(port, timeout) as s:
        s.sendall(raw)
        bs = httpwire.BufferedSocket(s)
        try:
            r = httpwire.read_response(bs)
        except (httpwire.PeerClosed, ConnectionResetError):
            return None, time.monotonic() - t0, None
        except socket.timeout:
            return "timeout", time.monotonic() - t0, None
        return r.status, time.monotonic() - t0, r


@pytest.fixture
def proxy(edged, origin):
    o = origin("a")
    e = edged(make_config({"app": [o.address]}))
    return e, o


H = b"Host: example.com\r\n"

# (id, raw request, expected status; None = the connection closes without a response)
REFUSED = [
    # RFC 9110 §7.2 / RFC 9112 §3.2: Host is uri-host [":" port]
    ("host-userinfo", b"GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n", 400),
    ("host-userinfo-pw", b"GET / HTTP/1.1\r\nHost: u:p@example.com\r\n\r\n", 400),
    ("host-space", b"GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n", 400),
    ("host-path", b"GET / HTTP/1.1\r\nHost: example.com/evil\r\n\r\n", 400),
    ("host-port-letters", b"GET / HTTP/1.1\r\nHost: example.com:8o\r\n\r\n", 400),
    ("host-two-ports", b"GET / HTTP/1.1\r\nHost: example.com:80:81\r\n\r\n", 400),
    ("host-ipv6-unbracketed", b"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", 400),
    ("host-missing-http11", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("host-twice", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    # RFC 9112 §3.3 + RFC 9110 §4.2.1: an empty Host makes an http URI with an empty host
    ("host-empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
    ("host-empty-http10", b"GET / HTTP/1.0\r\nHost: \r\n\r\n", 400),
    # RFC 9112 §3.2.2: absolute-form with an invalid authority or a scheme that is not http(s)
    ("absolute-userinfo", b"GET http://u@example.com/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute-empty-host", b"GET http:///x HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute-ftp", b"GET ftp://example.com/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute-bad-port", b"GET http://example.com:x/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    # RFC 9112 §3.2: no fragment, no control characters in the request target
    ("target-fragment", b"GET /a#frag HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target-ctl", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target-del", b"GET /a\x7fb HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target-asterisk-get", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target-authority-form-get", b"GET example.com:80 HTTP/1.1\r\n" + H + b"\r\n", 400),
    # RFC 9110 §9.3.8: TRACE is not forwarded
    ("trace", b"TRACE / HTTP/1.1\r\n" + H + b"\r\n", 405),
    # RFC 9112 §5.2: obs-fold in a request is rejected
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: one\r\n two\r\n\r\n", 400),
    # RFC 9112 §5.1: no whitespace between field name and colon
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", 400),
    ("tab-before-colon", b"GET / HTTP/1.1\r\n" + H + b"X-A\t: 1\r\n\r\n", 400),
    ("space-in-name", b"GET / HTTP/1.1\r\n" + H + b"X A: 1\r\n\r\n", 400),
    # RFC 9110 §5.5: field values are VCHAR / obs-text / SP / HTAB
    ("value-nul", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("value-cr", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400),
    ("value-ctl", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    # RFC 9110 §8.6: Content-Length = 1*DIGIT; a list of different values is an error
    ("cl-letters", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1a\r\n\r\nx", 400),
    ("cl-plus", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +1\r\n\r\nx", 400),
    ("cl-minus", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\nx", 400),
    ("cl-list", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1, 2\r\n\r\nxx", 400),
    ("cl-twice", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400),
    ("cl-huge", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    ("cl-and-te", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    # RFC 9112 §6.3: a request whose final transfer coding is not chunked has no length
    ("te-not-chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nabc", 400),
    ("te-chunked-then-gzip", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400),
    ("te-gzip-chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    # RFC 9112 §2.3: the version
    ("version-2", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("version-garbage", b"GET / HTTP/x.y\r\n" + H + b"\r\n", 400),
]

# Bad chunked framing is found after the head went to the origin (bodies are streamed, not
# buffered): the client still gets 400 and the origin's connection is dropped mid-body.
BAD_CHUNKS = [
    ("chunk-size-letters", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("chunk-size-overflow", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"fffffffffffffffffff\r\n"),
    ("chunk-no-crlf", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n"),
]


def assert_one_date(r):
    """RFC 9110 §6.6.1: one Date, an IMF-fixdate close to now (edged's clock is this machine's)."""
    dates = r.headers.get_all("date")
    assert len(dates) == 1, r.raw_head
    assert dates[0].endswith(" GMT") and len(dates[0]) == 29, dates
    when = email.utils.parsedate_to_datetime(dates[0]).timestamp()
    assert abs(when - time.time()) < 60, dates


def test_local_and_forwarded_answers_carry_a_date(edged, origin):
    """edged's own 502/404 and the origin's answer without Date get one Date; an origin's own
    Date is forwarded unchanged and not doubled."""
    o = origin("a")
    dated = origin("dated", handler=lambda conn, req: conn.respond(
        200, b"x", headers=[("Date", "Sun, 06 Nov 1994 08:49:37 GMT")]))
    e = edged(make_config({"app": [o.address], "dead": ["127.0.0.1:%d" % free_port()],
                           "dated": [dated.address]},
                          routes=[{"match": {"prefix": "/dead"}, "upstream": "dead"},
                                  {"match": {"prefix": "/dated"}, "upstream": "dated"},
                                  {"match": {"prefix": "/"}, "upstream": "app"}]))
    for raw, want in ((b"GET /x HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", 200),
                      (b"GET /dead HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", 502)):
        status, _, r = exchange(e.port, raw)
        assert status == want, r and r.raw_head
        assert_one_date(r)
    status, _, r = exchange(e.port, b"GET /dated HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    assert status == 200, r and r.raw_head
    assert r.headers.get_all("date") == ["Sun, 06 Nov 1994 08:49:37 GMT"], r.raw_head


@pytest.mark.parametrize("name,raw", BAD_CHUNKS, ids=[c[0] for c in BAD_CHUNKS])
def test_bad_chunked_body_is_400(proxy, name, raw):
    e, o = proxy
    status, took, r = exchange(e.port, raw)
    assert status == 400, (name, status, r and r.raw_head)
    assert took < ANSWER_WITHIN


@pytest.mark.parametrize("name,raw,expected", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_at_once_and_never_forwarded(proxy, name, raw, expected):
    e, o = proxy
    status, took, r = exchange(e.port, raw)
    assert status == expected, (name, status, r and r.raw_head)
    assert took < ANSWER_WITHIN, "%s answered after %.2f s" % (name, took)
    assert_one_date(r)
    time.sleep(0.05)
    assert o.request_count() == 0, o.snapshot()


def test_request_line_with_several_spaces_is_parsed_on_word_boundaries(proxy):
    """RFC 9112 §3: a recipient MAY split the request line on whitespace; llhttp does, and the
    origin gets a clean single-space line."""
    e, o = proxy
    status, _, r = exchange(e.port, b"GET  /x HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    assert status == 200, r
    assert o.snapshot()[0].raw_head.startswith(b"GET /x HTTP/1.1\r\n")


def test_empty_field_values_are_not_folds(proxy):
    e, o = proxy
    status, _, r = exchange(e.port, b"GET / HTTP/1.1\r\n" + H + b"X-Empty:\r\nX-Blank: \r\n"
                                    b"Connection: close\r\n\r\n")
    assert status == 200, r
    assert o.snapshot()[0].headers.get_all("x-empty") == [""]


def test_trace_405_names_the_allowed_methods(proxy):
    e, o = proxy
    status, _, r = exchange(e.port, b"TRACE / HTTP/1.1\r\n" + H + b"\r\n")
    assert status == 405
    allow = [m.strip() for m in r.headers.get("allow").split(",")]
    assert "GET" in allow and "TRACE" not in allow and "CONNECT" not in allow
    assert o.request_count() == 0


def test_http09_request_line_is_refused_at_once(proxy):
    e, o = proxy
    for raw in (b"GET /\r\n", b"GET /index.html\n"):
        status, took, _ = exchange(e.port, raw)
        assert status == 400, raw
        assert took < ANSWER_WITHIN, "%r answered after %.2f s" % (raw, took)
    assert o.request_count() == 0


def test_http2_preface_on_http1_port(proxy):
    e, o = proxy
    status, took, _ = exchange(e.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert status in (None, 400, 505), status
    assert took < ANSWER_WITHIN
    assert o.request_count() == 0


def test_absolute_form_authority_wins_over_host(proxy):
    e, o = proxy
    status, _, r = exchange(e.port, b"GET http://a.example:81/p?q=1 HTTP/1.1\r\nHost: b.example\r\n"
                                    b"Connection: close\r\n\r\n")
    assert status == 200, r
    (req,) = o.snapshot()
    assert req.raw_head.startswith(b"GET /p?q=1 HTTP/1.1\r\n"), req.raw_head
    assert req.headers.get_all("host") == ["a.example:81"], req.raw_head
    assert req.headers.get("x-forwarded-host") == "a.example:81"
    assert b"b.example" not in req.raw_head


def test_absolute_form_without_path_or_host_header(proxy):
    e, o = proxy
    status, _, r = exchange(e.port, b"GET HTTP://A.example?x HTTP/1.0\r\n\r\n")
    assert status == 200, r
    (req,) = o.snapshot()
    assert req.raw_head.startswith(b"GET /?x HTTP/1.1\r\n"), req.raw_head
    assert req.headers.get_all("host") == ["A.example"], req.raw_head


def test_valid_hosts_still_pass(proxy):
    e, o = proxy
    for host in ("example.com", "example.com:8080", "[::1]:8080", "127.0.0.1", "xn--bcher-kva.example"):
        status, _, r = exchange(e.port, b"GET / HTTP/1.1\r\nHost: " + host.encode() +
                                b"\r\nConnection: close\r\n\r\n")
        assert status == 200, (host, r)
    assert [r.headers.get("host") for r in o.snapshot()] == [
        "example.com", "example.com:8080", "[::1]:8080", "127.0.0.1", "xn--bcher-kva.example"]


def test_options_max_forwards(proxy):
    """RFC 9110 §7.6.2: Max-Forwards 0 -> answered by edged (200 + Allow), never forwarded;
    N > 0 -> forwarded with N - 1; malformed -> 400."""
    e, o = proxy
    status, _, r = exchange(e.port, b"OPTIONS / HTTP/1.1\r\n" + H + b"Max-Forwards: 0\r\n\r\n")
    assert status == 200, r
    assert "GET" in r.headers.get("allow") and r.body == b""
    status, _, r = exchange(e.port, b"OPTIONS * HTTP/1.1\r\n" + H + b"Max-Forwards: 0\r\n\r\n")
    assert status == 200, r
    status, _, r = exchange(e.port, b"OPTIONS / HTTP/1.1\r\n" + H + b"Max-Forwards: x1\r\n\r\n")
    assert status == 400, r
    assert o.request_count() == 0
    status, _, r = exchange(e.port, b"OPTIONS / HTTP/1.1\r\n" + H + b"Max-Forwards: 5\r\n"
                                    b"Connection: close\r\n\r\n")
    assert status == 200, r
    (req,) = o.snapshot()
    assert req.method == "OPTIONS"
    assert req.headers.get_all("max-forwards") == ["4"], req.raw_head
    # Other methods: Max-Forwards means nothing and is passed on as it is.
    status, _, r = exchange(e.port, b"GET / HTTP/1.1\r\n" + H + b"Max-Forwards: 0\r\n"
                                    b"Connection: close\r\n\r\n")
    assert status == 200, r
    assert o.snapshot()[-1].headers.get("max-forwards") == "0"


def test_connection_cannot_name_away_host_or_framing(edged, origin):
    """RFC 9110 §7.6.1 drops the fields a Connection header names, but Host and the framing are
    the message's own: a client naming them still gets Host and its body to the origin, and an
    origin naming Content-Length still gets its length to the client (else a kept-alive response
    would have no end). Other named fields still go."""
    def handler(conn, req):
        if req.target == "/named-length":
            conn.send(b"HTTP/1.1 200 OK\r\nConnection: Content-Length, X-Hop\r\nX-Hop: 1\r\n"
                      b"Content-Length: 5\r\n\r\nhello")
        else:
            conn.respond(200, b"ok")
    o = origin("a", handler)
    e = edged(make_config({"app": [o.address]}))
    with httpwire.connect(e.port, 6) as s:
        bs = httpwire.BufferedSocket(s)
        s.sendall(b"POST /up HTTP/1.1\r\n" + H + b"Connection: Host, Content-Length, X-Drop\r\n"
                  b"X-Drop: 1\r\nContent-Length: 5\r\n\r\nhello")
        assert httpwire.read_response(bs).status == 200
        s.sendall(b"GET /named-length HTTP/1.1\r\n" + H + b"\r\n")
        r = httpwire.read_response(bs)
        assert r.status == 200 and r.body == b"hello", r.raw_head
        assert r.headers.get_all("content-length") == ["5"], r.raw_head
        assert "x-hop" not in r.headers and "connection" not in r.headers, r.raw_head
        # the connection is still in step: a third exchange on it works
        s.sendall(b"GET /third HTTP/1.1\r\n" + H + b"\r\n")
        assert httpwire.read_response(bs).status == 200
    first = o.snapshot()[0]
    assert first.raw_head.startswith(b"POST /up HTTP/1.1\r\nHost: example.com\r\n"), first.raw_head
    assert first.headers.get_all("content-length") == ["5"], first.raw_head
    assert first.body == b"hello"
    assert "x-drop" not in first.headers and "connection" not in first.headers, first.raw_head


def test_via_names_this_hop_after_earlier_ones(proxy):
    """RFC 9110 §7.6.3: a gateway MUST send Via in each request it forwards, with the protocol
    version it received; an earlier hop's Via is kept before it."""
    e, o = proxy
    for raw in (b"GET /a HTTP/1.1\r\n" + H + b"Via: 1.1 cdn\r\nConnection: close\r\n\r\n",
                b"GET /b HTTP/1.0\r\n" + H + b"\r\n"):
        status, _, r = exchange(e.port, raw)
        assert status == 200, r
    a, b = o.snapshot()
    assert a.headers.get_all("via") == ["1.1 cdn", "1.1 edged"], a.raw_head
    assert b.headers.get_all("via") == ["1.0 edged"], b.raw_head


CHUNK_EXTENSIONS = b"5;a=b;c=d\r\nhello\r\n3;name;q=\"x;y\";z=\r\nabc\r\n0;last=1;more\r\n\r\n"


def test_chunk_extensions_are_ignored_both_ways(edged, origin):
    """RFC 9112 §7.1.1: a recipient MUST ignore unknown chunk extensions; llhttp 8.1.0 refused a
    second one after an unquoted value (proxy/http1/chunk_extension_fix.h). The origin gets the
    body re-chunked without them; a response's reach the client the same way."""
    def handler(conn, req):
        if req.target == "/ext":
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNK_EXTENSIONS)
        else:
            conn.respond(200, b"ok")
    o = origin("a", handler)
    e = edged(make_config({"app": [o.address]}))
    status, _, r = exchange(e.port, b"POST /up HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
                                    b"Connection: close\r\n\r\n" + CHUNK_EXTENSIONS)
    assert status == 200, r
    (req,) = o.snapshot()
    assert req.framing == "chunked" and req.body == b"helloabc", req
    status, _, r = exchange(e.port, b"GET /ext HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
    assert status == 200 and r.body == b"helloabc", r and r.raw_head


def test_origin_status_outside_100_to_599_is_502(edged, origin):
    """RFC 9110 §15: a status code is 100..599. llhttp reads "099" or "20" as numbers; edged took
    them for an interim response, forwarded it, then added a 502 after it on the same
    connection. Now they are an invalid response: one 502."""
    def handler(conn, req):
        status = req.target.strip("/").encode()
        conn.send(b"HTTP/1.1 " + status + b" Odd\r\nContent-Length: 2\r\n\r\nok")
        return "close"
    o = origin("a", handler)
    e = edged(make_config({"app": [o.address]}))
    for status in (b"099", b"20", b"600"):
        got, _, r = exchange(e.port, b"GET /" + status + b" HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
        assert got == 502, (status, r and r.raw_head)
        assert r.body.count(b"HTTP/1.1") == 0, r.body
