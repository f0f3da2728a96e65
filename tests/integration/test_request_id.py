"""X-Request-Id: kept when the client sent a valid one, generated otherwise (128 random bits,
hex), passed to the origin, returned to the client, and logged."""

import json
import re

import pytest

import httpwire
from harness import make_config

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def setup(edged, origin):
    o = origin("app")
    e = edged(make_config({"app": [o.address]}, access_log={"path": "stdout", "format": "json"}))
    return e, o


def logged_ids(e, n):
    lines = e.wait_access_lines(n)
    assert len(lines) >= n, lines
    return [json.loads(line)["request_id"] for line in lines[:n]]


def test_valid_client_id_round_trips(setup):
    e, o = setup
    r = httpwire.request(e.port, "GET", "/a", headers=[("X-Request-Id", "req-42.abc_DEF:9")])
    assert r.status == 200
    assert r.headers.get("x-request-id") == "req-42.abc_DEF:9"
    assert o.snapshot()[-1].headers.get("x-request-id") == "req-42.abc_DEF:9"
    assert logged_ids(e, 1) == ["req-42.abc_DEF:9"]


@pytest.mark.parametrize("sent", [None, "bad id with spaces", "x" * 129, ""])
def test_missing_or_invalid_id_is_generated(setup, sent):
    e, o = setup
    headers = [] if sent is None else [("X-Request-Id", sent)]
    r = httpwire.request(e.port, "GET", "/b", headers=headers)
    assert r.status == 200
    rid = r.headers.get("x-request-id")
    assert rid and HEX32.match(rid), rid
    seen = o.snapshot()[-1].headers
    assert seen.get("x-request-id") == rid, "origin saw a different id"
    assert len(seen.get_all("x-request-id")) == 1, "the client's invalid id was forwarded too"
    assert logged_ids(e, 1) == [rid]


def test_generated_ids_differ(setup):
    e, o = setup
    ids = {httpwire.request(e.port, "GET", "/c%d" % i).headers.get("x-request-id") for i in range(50)}
    assert len(ids) == 50
    assert all(HEX32.match(i) for i in ids)
