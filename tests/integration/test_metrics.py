"""The admin listener's GET /metrics: the scrape after mixed traffic passes `promtool check
metrics`, its counters equal what the test sent (per route, method and status class; per
upstream server; failures; connections), histograms are well-formed, counters never go down
between scrapes, and a real Prometheus server scraping edged answers edged_requests_total for
the route through its HTTP API."""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import httpwire
from harness import free_port, make_config

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


# -- the exposition ---------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def _unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def _labels(text):
    out = {}
    pos = 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        assert m, "bad label set %r at %d" % (text, pos)
        out[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return out


class Exposition:
    """Parsed Prometheus text format: types {family: type}; samples {(name, labels): value}."""

    def __init__(self, text):
        self.text = text
        self.types = {}
        self.samples = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 4 and parts[1] == "TYPE":
                    assert parts[2] not in self.types, "TYPE repeated: %r" % line
                    self.types[parts[2]] = parts[3].strip()
                continue
            m = _SAMPLE.match(line)
            assert m, "unparsable sample line %r" % line
            key = (m.group(1), frozenset(_labels(m.group(3) or "").items()))
            assert key not in self.samples, "duplicate series %r" % line
            self.samples[key] = float(m.group(4))

    def get(self, name, **labels):
        key = (name, frozenset(labels.items()))
        assert key in self.samples, "no series %s%r in:\n%s" % (
            name, labels, "\n".join(l for l in self.text.splitlines() if l.startswith(name)))
        return self.samples[key]

    def series(self, name):
        """[(labels dict, value)] of every sample named `name`."""
        return [(dict(k[1]), v) for k, v in self.samples.items() if k[0] == name]

    def family_of(self, sample_name):
        for suffix in ("_bucket", "_count", "_sum", ""):
            if suffix and sample_name.endswith(suffix):
                base = sample_name[: -len(suffix)]
                if self.types.get(base) == "histogram":
                    return base
        return sample_name

    def counter_keys(self):
        """Keys of every sample that must never decrease: counters and histogram parts."""
        keys = []
        for key in self.samples:
            t = self.types.get(self.family_of(key[0]))
            if t in ("counter", "histogram"):
                keys.append(key)
        return keys


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        assert r.status == 200
        ctype = r.headers.get("Content-Type", "")
        body = r.read().decode()
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    return Exposition(body)


def promtool_check(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


# -- client side ------------------------------------------------------------------------------

def exchange(port, method, target, body=None):
    """One request with Connection: close on a fresh connection; read to EOF. Returns
    (status, request bytes sent, response bytes received)."""
    wire = httpwire.build_request(method, target, headers=[("Connection", "close")], body=body)
    with httpwire.connect(port, timeout=10) as s:
        s.sendall(wire)
        raw = httpwire.BufferedSocket(s).read_to_eof()
    status = int(raw.split(b" ", 2)[1])
    return status, len(wire), len(raw)


def admin_config(cfg):
    admin_port = free_port()
    cfg["admin"] = {"address": "127.0.0.1:%d" % admin_port}
    return admin_port


# -- 1: mixed traffic, promtool and exact counts ----------------------------------------------

def test_metrics_after_mixed_traffic(edged, origin):
    web = origin("web")
    api = origin("api")
    refused_addr = "127.0.0.1:%d" % free_port()
    cfg = make_config(
        {"web": [web.address],
         "api": [api.address],
         "refused": {"retries": 0, "health": {"max_fails": 0},
                     "servers": [{"address": refused_addr}]}},
        routes=[{"match": {"prefix": "/web/"}, "upstream": "web"},
                {"match": {"prefix": "/api/"}, "upstream": "api"},
                {"match": {"prefix": "/refused/"}, "upstream": "refused"}])
    admin_port = admin_config(cfg)
    e = edged(cfg)
    listener = "127.0.0.1:%d" % e.port

    # (route label, method, code_class) -> count; route -> request / response bytes
    want = {}
    req_bytes = {}
    resp_bytes = {}
    conns = 0
    plan = ([("/web/", "GET", "/web/page%d" % i, None, 200) for i in range(5)]
            + [("/api/", "GET", "/api/item%d" % i, None, 200) for i in range(3)]
            + [("/api/", "POST", "/api/upload%d" % i, b"p" * (1000 + i), 200) for i in range(2)]
            + [("/web/", "HEAD", "/web/head%d" % i, None, 200) for i in range(2)]
            + [("unmatched", "GET", "/nowhere/%d" % i, None, 404) for i in range(2)]
            + [("/refused/", "GET", "/refused/x%d" % i, None, 502) for i in range(3)])
    for route, method, target, body, status in plan:
        got, sent, received = exchange(e.port, method, target, body)
        conns += 1
        assert got == status, (method, target, got)
        key = (route, method, "%dxx" % (status // 100))
        want[key] = want.get(key, 0) + 1
        req_bytes[route] = req_bytes.get(route, 0) + sent
        resp_bytes[route] = resp_bytes.get(route, 0) + received
    routes = ["/web/", "/api/", "/refused/", "unmatched"]
    per_route = {r: sum(v for k, v in want.items() if k[0] == r) for r in routes}
    assert web.request_count() == 7 and api.request_count() == 5
    assert [q.body_len for q in api.snapshot() if q.method == "POST"] == [1000, 1001]

    # the request is accounted when edged finishes it, which may trail the client's EOF a bit
    deadline = time.monotonic() + 5
    while True:
        m1 = scrape(admin_port)
        total = sum(v for _, v in m1.series("edged_requests_total"))
        if total >= len(plan) or time.monotonic() > deadline:
            break
        time.sleep(0.05)

    rc, out, err = promtool_check(m1.text)
    if out.strip() or err.strip():
        print("promtool check metrics said:\n%s%s" % (out, err))
    assert rc == 0, "promtool check metrics exit %d:\n%s\n%s" % (rc, out, err)

    # edged_requests_total: exactly the planned (route, method, class) counts, zero elsewhere
    for labels, value in m1.series("edged_requests_total"):
        key = (labels["route"], labels["method"], labels["code_class"])
        assert value == want.get(key, 0), ("edged_requests_total", labels, value,
                                           want.get(key, 0))
    assert {l["route"] for l, _ in m1.series("edged_requests_total")} == set(routes)
    assert m1.types["edged_requests_total"] == "counter"

    # request duration histogram per route: _count, +Inf, cumulative buckets, sane sum
    assert m1.types["edged_request_duration_seconds"] == "histogram"
    check_histograms(m1, "edged_request_duration_seconds", "route",
                     {r: per_route[r] for r in routes})

    # bytes per route: at least the bodies (the exact head+body check is
    # test_byte_counters_count_heads_and_bodies)
    body_in = {"/web/": 0, "/api/": 2001, "/refused/": 0, "unmatched": 0}
    for r in routes:
        assert m1.get("edged_request_bytes_total", route=r) >= body_in[r], ("request bytes", r)
        assert m1.get("edged_response_bytes_total", route=r) <= resp_bytes[r], (
            "response bytes", r)

    # upstream side: response heads per server == what each origin saw
    ups = {("web", web.address): web.request_count(), ("api", api.address): api.request_count(),
           ("refused", refused_addr): 0}
    for (u, s), n in ups.items():
        assert m1.get("edged_upstream_requests_total", upstream=u, server=s,
                      code_class="2xx") == n, (u, s)
        for c in ("1xx", "3xx", "4xx", "5xx"):
            assert m1.get("edged_upstream_requests_total", upstream=u, server=s,
                          code_class=c) == 0, (u, s, c)
    check_histograms(m1, "edged_upstream_response_seconds", "upstream",
                     {u: n for (u, _), n in ups.items()})
    # new upstream connections: at least one each for the servers that answered, at most one
    # per request (pooled connections are reused); none completed to the refused port
    for (u, s), n in ups.items():
        c = m1.get("edged_upstream_connect_seconds_count", upstream=u, server=s)
        assert (1 <= c <= n) if n else c == 0, ("connect count", u, s, c, n)
    check_histograms(m1, "edged_upstream_connect_seconds", "upstream", None)

    # failures: one connect_failed per refused try (retries: 0 -> one try per request)
    for labels, value in m1.series("edged_upstream_failures_total"):
        expect = 3 if (labels["upstream"] == "refused"
                       and labels["reason"] == "connect_failed") else 0
        assert value == expect, ("edged_upstream_failures_total", labels, value, expect)
    for labels, value in m1.series("edged_retries_total"):
        assert value == 0, ("edged_retries_total", labels, value)

    # gauges: servers up (max_fails 0 never marks the refused one down), nothing in flight
    for u, s in ups:
        assert m1.get("edged_upstream_server_up", upstream=u, server=s) == 1, (u, s)
        assert m1.get("edged_upstream_active_requests", upstream=u, server=s) == 0, (u, s)
        assert m1.get("edged_upstream_pool_idle_connections", upstream=u, server=s) >= 0
    assert m1.get("edged_connections_total", listener=listener) >= conns
    assert m1.get("edged_connections_active", listener=listener) >= 0
    assert m1.get("edged_websocket_tunnels_active") == 0
    assert [v for _, v in m1.series("edged_build_info")] == [1]
    assert m1.get("process_resident_memory_bytes") > 0
    assert m1.get("process_open_fds") > 0

    # more traffic (one keep-alive connection with three requests), then a second scrape:
    # no counter went down, and the ones this traffic touched went up by exactly its size
    with httpwire.connect(e.port, timeout=10) as s:
        bs = httpwire.BufferedSocket(s)
        for i in range(3):
            s.sendall(httpwire.build_request("GET", "/web/again%d" % i))
            assert httpwire.read_response(bs).status == 200
    conns += 1
    deadline = time.monotonic() + 5
    while True:
        m2 = scrape(admin_port)
        if m2.get("edged_requests_total", route="/web/", method="GET",
                  code_class="2xx") >= 8 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    rc, out, err = promtool_check(m2.text)
    assert rc == 0, "promtool check metrics (2nd scrape) exit %d:\n%s\n%s" % (rc, out, err)
    went_down = [(k, m1.samples[k], m2.samples.get(k)) for k in m1.counter_keys()
                 if m2.samples.get(k, -1) < m1.samples[k]]
    assert not went_down, "counters decreased or vanished: %r" % went_down[:10]
    assert m2.get("edged_requests_total", route="/web/", method="GET", code_class="2xx") == 8
    assert m2.get("edged_request_duration_seconds_count", route="/web/") == per_route["/web/"] + 3
    assert m2.get("edged_upstream_requests_total", upstream="web", server=web.address,
                  code_class="2xx") == web.request_count() == 10
    assert m2.get("edged_connections_total", listener=listener) >= conns
    check_histograms(m2, "edged_request_duration_seconds", "route", None)


def check_histograms(m, family, key_label, want_counts):
    """Every series of `family`: buckets cumulative (non-decreasing in le), +Inf == _count,
    _sum >= 0 (and 0 when _count is 0). want_counts: {key_label value: expected _count}."""
    groups = {}
    for labels, value in m.series(family + "_bucket"):
        le = labels.pop("le")
        groups.setdefault(frozenset(labels.items()), []).append(
            (math.inf if le == "+Inf" else float(le), value))
    assert groups, "no %s_bucket series" % family
    seen = set()
    for key, buckets in groups.items():
        labels = dict(key)
        buckets.sort()
        assert buckets[-1][0] == math.inf, (family, labels, "no +Inf bucket")
        values = [v for _, v in buckets]
        assert values == sorted(values), (family, labels, "buckets not cumulative", buckets)
        count = m.get(family + "_count", **labels)
        total = m.get(family + "_sum", **labels)
        assert values[-1] == count, (family, labels, "+Inf bucket", values[-1], "_count", count)
        assert total >= 0 and (count > 0 or total == 0), (family, labels, count, total)
        if want_counts is not None and labels[key_label] in want_counts:
            assert count == want_counts[labels[key_label]], (
                family, labels, "_count", count, "expected", want_counts[labels[key_label]])
            seen.add(labels[key_label])
    if want_counts is not None:
        assert seen == set(want_counts), (family, "series missing for", set(want_counts) - seen)


# -- bytes: HELP says "head and body" ---------------------------------------------------------

def test_byte_counters_count_heads_and_bodies(edged, origin):
    """edged_request_bytes_total / edged_response_bytes_total per route equal the bytes on the
    wire (heads and bodies, including responses edged generates itself)."""
    web = origin("web")
    cfg = make_config(
        {"web": [web.address],
         "refused": {"retries": 0, "health": {"max_fails": 0},
                     "servers": [{"address": "127.0.0.1:%d" % free_port()}]}},
        routes=[{"match": {"prefix": "/web/"}, "upstream": "web"},
                {"match": {"prefix": "/refused/"}, "upstream": "refused"}])
    admin_port = admin_config(cfg)
    e = edged(cfg)
    sent = {}
    received = {}
    for route, method, target, body in [("/web/", "GET", "/web/a", None),
                                        ("/web/", "POST", "/web/b", b"x" * 500),
                                        ("/web/", "HEAD", "/web/c", None),
                                        ("/refused/", "GET", "/refused/d", None),
                                        ("unmatched", "GET", "/nowhere", None)]:
        _, n_in, n_out = exchange(e.port, method, target, body)
        sent[route] = sent.get(route, 0) + n_in
        received[route] = received.get(route, 0) + n_out
    deadline = time.monotonic() + 5
    while True:
        m = scrape(admin_port)
        if sum(v for _, v in m.series("edged_requests_total")) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    wrong = []
    for r in sent:
        got_in = m.get("edged_request_bytes_total", route=r)
        got_out = m.get("edged_response_bytes_total", route=r)
        if got_in != sent[r]:
            wrong.append("edged_request_bytes_total{route=%r} = %d, wire %d" % (r, got_in, sent[r]))
        if got_out != received[r]:
            wrong.append("edged_response_bytes_total{route=%r} = %d, wire %d"
                         % (r, got_out, received[r]))
    assert not wrong, "\n".join(wrong)


# -- 2: a real Prometheus server scrapes edged ------------------------------------------------

def test_prometheus_server_scrapes_edged(edged, origin, tmp_path):
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail("prometheus server binary not found at %s (tools/install-deps installs it)"
                    % PROMETHEUS)
    o = origin("root")
    cfg = make_config({"root": [o.address]})
    admin_port = admin_config(cfg)
    e = edged(cfg)

    n = 6
    for i in range(n):
        assert httpwire.request(e.port, "GET", "/p%d" % i).status == 200
    assert o.request_count() == n

    prom_port = free_port()
    prom_dir = tmp_path / "prometheus"
    (prom_dir / "data").mkdir(parents=True)
    (prom_dir / "prometheus.yml").write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: edged\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n" % admin_port)
    log = open(prom_dir / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [PROMETHEUS, "--config.file=%s" % (prom_dir / "prometheus.yml"),
         "--storage.tsdb.path=%s" % (prom_dir / "data"),
         "--web.listen-address=127.0.0.1:%d" % prom_port],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(prom_dir))
    try:
        query = urllib.parse.urlencode({"query": "edged_requests_total"})
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (prom_port, query)
        deadline = time.monotonic() + 20
        found = None
        last = None
        while time.monotonic() < deadline and found is None:
            assert proc.poll() is None, "prometheus exited with %s:\n%s" % (
                proc.returncode, (prom_dir / "prometheus.log").read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    last = json.loads(r.read().decode())
            except (OSError, ValueError) as ex:
                last = repr(ex)
                time.sleep(0.25)
                continue
            if last.get("status") == "success":
                for item in last["data"]["result"]:
                    met = item["metric"]
                    if (met.get("route") == "/" and met.get("method") == "GET"
                            and met.get("code_class") == "2xx"
                            and float(item["value"][1]) >= n):
                        found = item
                        break
            if found is None:
                time.sleep(0.25)
        assert found is not None, (
            "no edged_requests_total{route=\"/\",method=\"GET\",code_class=\"2xx\"} >= %d from "
            "Prometheus within 20 s; last answer: %s\nprometheus log tail:\n%s"
            % (n, json.dumps(last)[:3000] if not isinstance(last, str) else last,
               (prom_dir / "prometheus.log").read_text(errors="replace")[-3000:]))
        assert float(found["value"][1]) == n, found
        assert found["metric"]["__name__"] == "edged_requests_total"
        assert found["metric"]["job"] == "edged"
        assert found["metric"]["instance"] == "127.0.0.1:%d" % admin_port
        # the target is healthy in Prometheus' own view too
        up = urllib.parse.urlencode({"query": 'up{job="edged"}'})
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?%s" % (prom_port, up),
                                    timeout=5) as r:
            res = json.loads(r.read().decode())["data"]["result"]
        assert [float(x["value"][1]) for x in res] == [1.0], res
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log.close()
