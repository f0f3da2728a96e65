"""The access log: json lines that parse and say what happened, combined lines nginx's regex
reads, lines written within a second without a shutdown, none lost at SIGTERM, and SIGUSR1
reopening the file after logrotate renamed it."""

import json
import re
import signal
import time

import httpwire
from harness import free_port, make_config

# nginx's combined format (what log parsers such as GoAccess expect), then edged's fields.
NGINX_COMBINED = re.compile(r'^(\S+) - (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"')
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$")
JSON_KEYS = ["time", "client", "method", "path", "protocol", "status", "bytes", "duration", "upstream",
             "upstream_time", "termination", "phase", "request_id", "referer", "user_agent"]


def handler(conn, req):
    if req.target.startswith("/missing"):
        conn.respond(404, b"no such thing\n")
    else:
        conn.respond(200, ("%s %s\n" % (req.method, req.target)).encode())


def config(o, **kw):
    return make_config(
        {"good": [o.address],
         "refused": {"retries": 0, "health": {"max_fails": 0},
                     "servers": [{"address": "127.0.0.1:%d" % free_port()}]}},
        routes=[{"match": {"prefix": "/"}, "upstream": "good"},
                {"match": {"prefix": "/refused/"}, "upstream": "refused"}],
        timeouts={"connect": "1s"}, **kw)


def read_lines(path):
    try:
        return [l for l in path.read_text(errors="replace").splitlines() if l]
    except FileNotFoundError:
        return []


def wait_lines(path, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = read_lines(path)
        if len(lines) >= n:
            return lines
        time.sleep(0.05)
    return read_lines(path)


def test_json_lines(edged, origin):
    o = origin("good", handler)
    e = edged(config(o, access_log={"path": "stdout", "format": "json"}))

    assert httpwire.request(e.port, "GET", "/ok?a=1&b=%22q%22",
                            headers=[("User-Agent", 'ua "with" quotes\\'),
                                     ("Referer", "http://r.test/")]).status == 200
    assert httpwire.request(e.port, "POST", "/missing", body=b"x" * 10).status == 404
    assert httpwire.request(e.port, "GET", "/refused/x").status == 502

    lines = e.wait_access_lines(3)
    assert len(lines) == 3, lines
    recs = [json.loads(l) for l in lines]
    for rec in recs:
        assert list(rec) == JSON_KEYS, rec
        assert ISO_TIME.match(rec["time"]), rec["time"]
        assert rec["client"] == "127.0.0.1"
        assert rec["protocol"] == "HTTP/1.1"
        assert isinstance(rec["duration"], float) and 0 <= rec["duration"] < 5
        assert rec["phase"] is None or isinstance(rec["phase"], str)
        assert rec["request_id"] is None or isinstance(rec["request_id"], str)
    ok, missing, refused = sorted(recs, key=lambda r: r["status"])
    assert (ok["method"], ok["path"], ok["status"]) == ("GET", "/ok?a=1&b=%22q%22", 200)
    assert ok["bytes"] == len(b"GET /ok?a=1&b=%22q%22\n")
    assert ok["upstream"] == o.address
    assert isinstance(ok["upstream_time"], float)
    assert ok["termination"] is None
    assert ok["user_agent"] == 'ua "with" quotes\\'
    assert ok["referer"] == "http://r.test/"

    assert (missing["method"], missing["path"], missing["status"]) == ("POST", "/missing", 404)
    assert missing["upstream"] == o.address
    assert missing["bytes"] == len(b"no such thing\n")
    assert missing["user_agent"] is None and missing["referer"] is None

    assert (refused["method"], refused["path"], refused["status"]) == ("GET", "/refused/x", 502)
    assert refused["upstream_time"] is None
    assert refused["termination"], refused


def test_json_escapes_bytes_that_are_not_utf8(edged, origin):
    o = origin("good", handler)
    e = edged(config(o, access_log={"path": "stdout", "format": "json"}))
    with httpwire.connect(e.port) as s:
        s.sendall(b"GET /bytes HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\xc3\xa9 \xff\r\n\r\n")
        assert httpwire.read_response(httpwire.BufferedSocket(s)).status == 200
    lines = e.wait_access_lines(1)
    raw = e.stdout_path.read_bytes()
    raw.decode("utf-8")  # the file stays valid UTF-8
    rec = json.loads(lines[0])
    assert rec["user_agent"] == "caf\u00e9 \u00ff"


def test_combined_lines_match_nginx(edged, origin):
    o = origin("good", handler)
    e = edged(config(o))  # combined is the default
    assert httpwire.request(e.port, "GET", "/a?x=1", headers=[("User-Agent", "t/1")]).status == 200
    assert httpwire.request(e.port, "GET", "/missing").status == 404
    assert httpwire.request(e.port, "GET", "/refused/y").status == 502
    lines = e.wait_access_lines(3)
    assert len(lines) == 3, lines
    got = {}
    for l in lines:
        m = NGINX_COMBINED.match(l)
        assert m, l
        got[m.group(4)] = (m.group(1), int(m.group(5)), m.group(8), l[m.end():])
    assert got["GET /a?x=1 HTTP/1.1"][:3] == ("127.0.0.1", 200, "t/1")
    assert " upstream=%s upstream_time=" % o.address in got["GET /a?x=1 HTTP/1.1"][3]
    assert got["GET /missing HTTP/1.1"][1] == 404
    assert got["GET /refused/y HTTP/1.1"][1] == 502
    assert " termination=" in got["GET /refused/y HTTP/1.1"][3]


def test_lines_written_within_a_second_without_shutdown(edged, origin, tmp_path):
    o = origin("good", handler)
    log = tmp_path / "access.log"
    e = edged(config(o, access_log={"path": str(log), "format": "json"}))
    for i in range(3):
        assert httpwire.request(e.port, "GET", "/soon/%d" % i).status == 200
    t0 = time.monotonic()
    lines = wait_lines(log, 3, timeout=3)
    assert len(lines) == 3, lines
    assert time.monotonic() - t0 < 1.5
    assert e.proc.poll() is None


def test_no_line_lost_at_sigterm(edged, origin, tmp_path):
    o = origin("good", handler)
    log = tmp_path / "access.log"
    e = edged(config(o, access_log={"path": str(log)}, workers=2))
    n = 200
    for i in range(n):
        assert httpwire.request(e.port, "GET", "/n/%d" % i).status == 200
    e.stop()   # SIGTERM right away: the lines are still in the workers' buffers
    lines = read_lines(log)
    assert len(lines) == n, (len(lines), lines[-3:])
    assert sorted(NGINX_COMBINED.match(l).group(4) for l in lines) == \
        sorted("GET /n/%d HTTP/1.1" % i for i in range(n))


def test_sigusr1_reopens_after_rename(edged, origin, tmp_path):
    o = origin("good", handler)
    log = tmp_path / "access.log"
    rotated = tmp_path / "access.log.1"
    e = edged(config(o, access_log={"path": str(log), "format": "json"}, workers=2))
    for i in range(5):
        assert httpwire.request(e.port, "GET", "/before/%d" % i).status == 200
    assert len(wait_lines(log, 5)) == 5
    log.rename(rotated)                     # what logrotate does, then it signals
    e.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while "SIGUSR1: reopened access log %s" % log not in e.error_log():
        assert time.monotonic() < deadline, e.error_log()[-2000:]
        time.sleep(0.05)
    assert "[info] SIGUSR1: reopened access log %s" % log in e.error_log()
    assert log.exists()
    for i in range(7):
        assert httpwire.request(e.port, "GET", "/after/%d" % i).status == 200
    new = wait_lines(log, 7)
    assert len(new) == 7, new
    assert all(json.loads(l)["path"].startswith("/after/") for l in new)
    old = read_lines(rotated)
    assert len(old) == 5 and all(json.loads(l)["path"].startswith("/before/") for l in old)
    # a second rotation works too, and everything is there after shutdown
    log.rename(tmp_path / "access.log.2")
    e.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while e.error_log().count("SIGUSR1: reopened access log") < 2:
        assert time.monotonic() < deadline, e.error_log()[-2000:]
        time.sleep(0.05)
    assert httpwire.request(e.port, "GET", "/third").status == 200
    e.stop()
    assert [json.loads(l)["path"] for l in read_lines(log)] == ["/third"]
    assert len(read_lines(tmp_path / "access.log.2")) == 7


def test_sigusr1_with_stdout_is_harmless(edged, origin):
    o = origin("good", handler)
    e = edged(config(o))
    e.signal(signal.SIGUSR1)
    time.sleep(0.3)
    assert e.proc.poll() is None
    assert httpwire.request(e.port, "GET", "/still").status == 200
    assert len(e.wait_access_lines(1)) == 1
    assert "SIGUSR1" in e.error_log()
