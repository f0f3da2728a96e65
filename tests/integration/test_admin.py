"""The admin listener: /healthz, /readyz (with the reason when not ready), /config (the
effective configuration as JSON), 404 for anything else, 405 for a wrong method."""

import json

from harness import free_port, make_config
from lbtools import admin_call, wait_admin


def test_health_ready_config_and_unknown_paths(edged, origin):
    o = origin("app")
    admin_port = free_port()
    cfg = make_config(
        {"app": [o.address],
         "dead": {"health": {"max_fails": 0},
                  "servers": [{"address": "127.0.0.1:%d" % free_port(), "down": True}]}},
        routes=[{"match": {"prefix": "/"}, "upstream": "app"},
                {"match": {"prefix": "/dead/"}, "upstream": "dead"}],
        admin={"address": "127.0.0.1:%d" % admin_port},
        timeouts={"connect": "1500ms"})
    e = edged(cfg)
    wait_admin(admin_port)

    status, body = admin_call(admin_port, "GET", "/healthz")
    assert (status, body.strip()) == (200, b"ok")

    # one upstream has no usable server: not ready, and the reason names it
    status, body = admin_call(admin_port, "GET", "/readyz")
    text = body.decode()
    assert status == 503, (status, text)
    assert '"dead"' in text and "no usable server" in text, text
    assert '"app"' not in text, text

    status, body = admin_call(admin_port, "GET", "/config")
    assert status == 200
    c = json.loads(body)
    assert c["timeouts_ms"]["connect"] == 1500
    assert c["timeouts_ms"]["keepalive"] == 10000
    assert c["limits"]["max_body_bytes"] == 10 * 1024 * 1024
    assert [r["prefix"] for r in c["routes"]] == ["/", "/dead/"]
    assert c["upstreams"]["dead"]["servers"][0]["down"] is True
    assert c["upstreams"]["app"]["servers"][0]["address"] == o.address
    assert c["admin"]["address"] == "127.0.0.1:%d" % admin_port

    assert admin_call(admin_port, "GET", "/nope")[0] == 404
    assert admin_call(admin_port, "GET", "/metricsx")[0] == 404
    assert admin_call(admin_port, "POST", "/healthz")[0] == 405
    assert admin_call(admin_port, "POST", "/upstreams/nope/servers/127.0.0.1:1/drain")[0] == 404


def test_ready_when_every_upstream_has_a_server(edged, origin):
    o = origin("app")
    admin_port = free_port()
    e = edged(make_config({"app": [o.address]}, admin={"address": "127.0.0.1:%d" % admin_port}))
    wait_admin(admin_port)
    status, body = admin_call(admin_port, "GET", "/readyz")
    assert status == 200, body
