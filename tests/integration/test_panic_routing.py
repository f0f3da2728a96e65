"""Panic routing: one malformed answer from the only server of a group marks it down (max_fails
1 by default), yet the next requests still reach it instead of getting 503 for fail_timeout;
each such pick is counted in edged_upstream_panic_total{upstream=...}. A server configured
`down: true` is never tried, panic or not."""

import re

import httpwire
from harness import free_port, make_config
from lbtools import admin_call, wait_admin


def garbage_once(conn, req):
    if conn.origin.request_count() == 1:
        conn.send(b"THIS IS NOT HTTP\r\n\r\n")
        conn.close()
        return "close"
    conn.respond(200, b"ok from " + conn.origin.name.encode() + b"\n")


def panic_count(admin_port, upstream):
    status, body = admin_call(admin_port, "GET", "/metrics")
    assert status == 200
    m = re.search(r'^edged_upstream_panic_total\{upstream="%s"\} (\d+)$' % re.escape(upstream),
                  body.decode(), re.M)
    assert m, body.decode()[-2000:]
    return int(m.group(1))


def test_lone_server_answering_garbage_once_still_gets_the_next_requests(edged, origin):
    o = origin("a", garbage_once)
    admin_port = free_port()
    e = edged(make_config({"app": {"retries": 1, "health": {"fail_timeout": "30s"},
                                   "servers": [{"address": o.address}]}},
                          admin={"address": "127.0.0.1:%d" % admin_port}))
    wait_admin(admin_port)

    r = httpwire.request(e.port, "GET", "/first", timeout=5)
    assert r.status == 502, r
    assert panic_count(admin_port, "app") == 0

    # The server is held out for 30 s; without panic routing this would be 503.
    r = httpwire.request(e.port, "GET", "/second", timeout=5)
    assert r.status == 200, r
    assert r.body == b"ok from a\n"
    assert o.request_count("/second") == 1
    assert panic_count(admin_port, "app") == 1
    assert "trying %s anyway (panic)" % o.address in e.error_log()

    # The panic try succeeded, so it was the server's probe: it is back, no more panic.
    for i in range(3):
        r = httpwire.request(e.port, "GET", "/after/%d" % i, timeout=5)
        assert r.status == 200, r
    assert panic_count(admin_port, "app") == 1


def test_a_server_configured_down_is_not_tried_in_panic(edged, origin):
    o = origin("a")
    admin_port = free_port()
    e = edged(make_config({"app": {"servers": [{"address": o.address, "down": True}]}},
                          admin={"address": "127.0.0.1:%d" % admin_port}))
    wait_admin(admin_port)
    r = httpwire.request(e.port, "GET", "/", timeout=5)
    assert r.status == 503, r
    assert o.request_count() == 0
    assert panic_count(admin_port, "app") == 0
