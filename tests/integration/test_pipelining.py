"""HTTP/1.1 pipelining: requests written in one send() are answered in request order, even
when the origin is slow on the first one, and also after a request that carries a body."""

import os
import time

import httpwire
from harness import make_config


def timed_handler(conn, req):
    # /slow answers late; everything else at once
    if req.target.startswith("/slow"):
        time.sleep(0.7)
    body = b"%s %s body=%d" % (req.method.encode(), req.target.encode(), req.body_len)
    if req.method == "HEAD":
        conn.respond(200, b"", headers=[("X-Path", req.target),
                                        ("Content-Length", str(len(body)))])
    else:
        conn.respond(200, body, headers=[("X-Path", req.target)])


def read_all(bs, n, methods=None):
    out = []
    for i in range(n):
        out.append(httpwire.read_response(bs, (methods or {}).get(i, "GET")))
    return out


def test_pipelined_requests_answered_in_order(edged, origin):
    o = origin("a", timed_handler)
    e = edged(make_config({"api": [o.address]}))
    paths = ["/slow1", "/fast2", "/fast3", "/slow4", "/fast5"]
    wire = b"".join(httpwire.build_request("GET", p) for p in paths)
    with httpwire.connect(e.port, timeout=10) as s:
        s.sendall(wire)   # one send()
        rs = read_all(httpwire.BufferedSocket(s), len(paths))
    assert [r.status for r in rs] == [200] * len(paths)
    assert [r.headers.get("x-path") for r in rs] == paths
    assert [r.body for r in rs] == [b"GET %s body=0" % p.encode() for p in paths]
    assert sorted(q.target for q in o.snapshot()) == sorted(paths)


def test_pipelined_after_body_carrying_request(edged, origin):
    o = origin("a", timed_handler)
    e = edged(make_config({"api": [o.address]}))
    body1 = os.urandom(30_000)
    body2 = b"abcdefghij" * 7
    wire = (httpwire.build_request("POST", "/slow-post", body=body1)
            + httpwire.build_request("GET", "/fast-get")
            + httpwire.build_request("PUT", "/put-chunked",
                                     headers=[("Transfer-Encoding", "chunked")])
            + httpwire.chunk_encode(body2, [3, 17, 1])
            + httpwire.build_request("HEAD", "/fast-head")
            + httpwire.build_request("GET", "/last", headers=[("Connection", "close")]))
    with httpwire.connect(e.port, timeout=10) as s:
        s.sendall(wire)
        bs = httpwire.BufferedSocket(s)
        rs = read_all(bs, 5, {3: "HEAD"})
        closed, extra = httpwire.wait_closed(s, 3)
    assert [r.status for r in rs] == [200] * 5
    assert [r.headers.get("x-path") for r in rs] == ["/slow-post", "/fast-get", "/put-chunked",
                                                     "/fast-head", "/last"]
    assert rs[0].body == b"POST /slow-post body=30000"
    assert rs[1].body == b"GET /fast-get body=0"
    assert rs[2].body == b"PUT /put-chunked body=70"
    assert rs[3].body == b""
    assert rs[4].body == b"GET /last body=0"
    assert closed and extra == b"", "connection not closed after `Connection: close`"
    got = {q.target: q for q in o.snapshot()}
    assert got["/slow-post"].body == body1
    assert got["/put-chunked"].body == body2
