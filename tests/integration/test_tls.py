"""TLS end to end (issue 14), with certificates made here by tlstools.py (openssl CLI): HTTPS
listeners (SNI picks the certificate, ALPN http/1.1, session resumption, TLSv1.1 refused, plain
HTTP answered 400, garbage closed), redirect_https 308, X-Forwarded-Proto and the access log's
TLS fields, TLS to origins (verify on and off, a wrong name is a 502, pooled TLS connections,
health checks over TLS), WebSocket over TLS both ways, metrics, a reload swapping the served
certificate under an open keep-alive connection, and close_notify at shutdown.

Real clients: curl, openssl s_client, Python ssl / http.client, the Debian `websockets` package.
The TLS origin and the wss origin are written here (Python ssl), in this process's threads."""

import asyncio
import hashlib
import http.client
import http.server
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest
import websockets

from harness import Edged, free_port, to_yaml
import tlstools
from tlstools import Pki, cert_fingerprint, client_context, pem_fingerprint, read_all, subject_cn

TIMEOUT = 20


# -- origins --------------------------------------------------------------------------------

class TlsOrigin:
    """HTTPS origin: echoes the request line and X-Forwarded-Proto; /big?n=N sends N bytes;
    POST answers the body's SHA-256. Counts connections (all, and those carrying proxied
    requests) and health-check requests."""

    def __init__(self, cert):
        origin = self
        self.connections = 0
        self.proxy_connections = 0   # connections that carried proxied requests
        self.health_checks = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # head and body are two writes

            def setup(self):
                super().setup()
                with origin.lock:
                    origin.connections += 1

            def _send(self, body, status=200):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.headers.get("User-Agent") == "edged-health-check":
                    with origin.lock:
                        origin.health_checks += 1
                elif not getattr(self, "counted", False):   # one handler per connection
                    self.counted = True
                    with origin.lock:
                        origin.proxy_connections += 1
                if self.path.startswith("/v/big") or self.path.startswith("/nv/big"):
                    n = int(self.path.split("n=")[1])
                    self._send(bytes(i % 251 for i in range(n)))
                    return
                self._send(("path=%s xfp=%s\n" % (self.path, self.headers.get("X-Forwarded-Proto"))).encode())

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self._send(hashlib.sha256(body).hexdigest().encode())

            def log_message(self, *args):
                pass

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert.cert, cert.key)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class WssOrigin:
    """WebSocket echo origin over TLS, on its own asyncio loop in a thread."""

    def __init__(self, cert):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert.cert, cert.key)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def echo(ws, path):
            async for message in ws:
                await ws.send(message)

        async def main():
            self.server = await websockets.serve(echo, "127.0.0.1", 0, ssl=ctx, max_size=None)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        self.thread = threading.Thread(target=lambda: (self.loop.run_until_complete(main()), self.loop.run_forever()),
                                       daemon=True)
        self.thread.start()
        assert ready.wait(TIMEOUT)

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)


class SlowReadingOrigin:
    """Plain HTTP origin that reads request bodies slowly (so that edged's side toward the
    client is paused and resumed many times) and answers the body's SHA-256."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(TIMEOUT)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            digest = hashlib.sha256(body)
            got = len(body)
            time.sleep(0.3)
            while got < length:
                chunk = conn.recv(min(65536, length - got))
                if not chunk:
                    return
                digest.update(chunk)
                got += len(chunk)
                time.sleep(0.001)
            answer = digest.hexdigest().encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(answer) + answer)
        finally:
            conn.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


# -- the module's edged -----------------------------------------------------------------------

def tls_config(pki, certs, origin_port, wss_port, tls_port, redirect_port, admin_port, slow_port, mtls_port):
    ca = pki.ca.cert
    return {
        "workers": 2,
        "listen": [
            {"address": "127.0.0.1:%d" % tls_port,
             "tls": {"certificates": [{"cert": c.cert, "key": c.key} for c in certs],
                     "session_timeout": "10m"}},
            {"address": "127.0.0.1:%d" % redirect_port, "redirect_https": True},
            {"address": "127.0.0.1:%d" % mtls_port,
             "tls": {"certificates": [{"cert": certs[0].cert, "key": certs[0].key}], "client_ca": ca}},
        ],
        "timeouts": {"connect": "2s", "read": "5s", "send": "5s", "client_header": "2s",
                     "client_body": "5s", "keepalive": "10s", "shutdown_grace": "2s"},
        "access_log": {"path": "stdout"},
        "limits": {"max_body_bytes": "16MiB"},
        "admin": {"address": "127.0.0.1:%d" % admin_port},
        "upstreams": {
            "verified": {"tls": {"verify": True, "ca": ca, "sni": "origin.test"},
                         "servers": [{"address": "127.0.0.1:%d" % origin_port}],
                         "health": {"check": {"path": "/healthz", "interval": "300ms", "timeout": "1s"}}},
            "unverified": {"tls": {"verify": False},
                           "servers": [{"address": "127.0.0.1:%d" % origin_port}]},
            "wrongname": {"tls": {"verify": True, "ca": ca, "sni": "wrong.test"}, "retries": 0,
                          "servers": [{"address": "127.0.0.1:%d" % origin_port}]},
            "wss": {"tls": {"verify": True, "ca": ca, "sni": "origin.test"},
                    "servers": [{"address": "127.0.0.1:%d" % wss_port}]},
            "slow": {"servers": [{"address": "127.0.0.1:%d" % slow_port}]},
        },
        "routes": [
            {"match": {"prefix": "/v/"}, "upstream": "verified"},
            {"match": {"prefix": "/nv/"}, "upstream": "unverified"},
            {"match": {"prefix": "/wrong/"}, "upstream": "wrongname"},
            {"match": {"prefix": "/ws"}, "upstream": "wss"},
            {"match": {"prefix": "/slow/"}, "upstream": "slow"},
        ],
    }


class Env:
    pass


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls")
    e = Env()
    e.pki = Pki(base / "pki")
    e.example = e.pki.leaf("example.com", dns=["example.com", "*.example.com"])       # ECDSA P-256
    e.api = e.pki.leaf("api.example.net", key="rsa")
    e.origin_cert = e.pki.leaf("origin.test")
    e.origin = TlsOrigin(e.origin_cert)
    e.wss = WssOrigin(e.origin_cert)
    e.slow = SlowReadingOrigin()
    e.client = e.pki.leaf("client one", dns=[], client=True)
    e.port, e.redirect_port, e.admin_port, e.mtls_port = free_port(), free_port(), free_port(), free_port()
    cfg = tls_config(e.pki, [e.example, e.api], e.origin.port, e.wss.port, e.port, e.redirect_port, e.admin_port,
                     e.slow.port, e.mtls_port)
    e.edged = Edged(to_yaml(cfg) + "\n", base / "edged")
    e.edged.start()
    yield e
    try:
        e.edged.stop()
    finally:
        e.origin.stop()
        e.wss.stop()
        e.slow.stop()


def curl(env, url, *extra):
    host = re.match(r"https://([^:/]+)", url).group(1)
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", env.pki.ca.cert,
                        "--resolve", "%s:%d:127.0.0.1" % (host, env.port), "-w", "\n%{http_code}",
                        *extra, url], capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    body, _, code = p.stdout.rpartition(b"\n")
    return p.returncode, int(code or 0), body, p.stderr.decode(errors="replace")


def s_client(env, *args, stdin=b""):
    return tlstools.s_client(env.port, *args, stdin=stdin)


GET = b"GET /v/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"


# -- tests ----------------------------------------------------------------------------------

def test_sni_picks_the_certificate_and_origin_sees_https(env):
    for name in ("example.com", "api.example.net", "www.example.com"):   # exact, exact, wildcard
        rc, code, body, err = curl(env, "https://%s:%d/v/a?b=1" % (name, env.port))
        assert rc == 0 and code == 200, err
        assert body == b"path=/v/a?b=1 xfp=https\n"
    # Unknown name and no SNI at all: the first certificate.
    for args in (["-servername", "other.test"], ["-noservername"]):
        rc, out = s_client(env, *args, stdin=GET)
        assert subject_cn(out) == "example.com", out
    rc, out = s_client(env, "-servername", "api.example.net", stdin=GET)
    assert subject_cn(out) == "api.example.net", out
    lines = env.edged.wait_access_lines(1)
    assert any('tls=TLSv1.3 cipher=TLS_' in l and 'sni="api.example.net"' in l for l in lines), lines


def test_alpn_offers_http11_and_h2_only_client_gets_a_clean_alert(env):
    rc, out = s_client(env, "-servername", "example.com", "-alpn", "http/1.1", stdin=GET)
    assert "ALPN protocol: http/1.1" in out, out
    # Offering only h2: a clean "no_application_protocol" alert (RFC 7301 §3.2), not a hang
    # (s_client returned within its timeout).
    rc, out = s_client(env, "-servername", "example.com", "-alpn", "h2", "-ign_eof", stdin=GET)
    assert "alert no application protocol" in out or "HTTP/1.1 200" in out, out


def test_tls11_is_refused(env):
    rc, out = s_client(env, "-servername", "example.com", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
                       stdin=GET)
    assert rc != 0, out
    assert "alert protocol version" in out and "Cipher is (NONE)" in out and "HTTP/1.1 200" not in out, out


@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_resumption_with_sess_out_and_sess_in(env, tmp_path, version):
    sess = str(tmp_path / "session.pem")
    rc, out = s_client(env, "-servername", "example.com", version, "-ign_eof", "-sess_out", sess, stdin=GET)
    assert "HTTP/1.1 200" in out and "\nNew, " in out, out
    rc, out = s_client(env, "-servername", "example.com", version, "-ign_eof", "-sess_in", sess, stdin=GET)
    assert "HTTP/1.1 200" in out and "\nReused, " in out, out


def test_python_ssl_keepalive_connection(env):
    conn = http.client.HTTPSConnection("127.0.0.1", env.port, timeout=TIMEOUT,
                                       context=client_context(env.pki))
    conn._tunnel_host = None
    conn.sock = socket.create_connection(("127.0.0.1", env.port), timeout=TIMEOUT)
    conn.sock = client_context(env.pki).wrap_socket(conn.sock, server_hostname="example.com")
    peer = conn.sock.getsockname()
    for i in range(5):
        conn.request("GET", "/v/keep%d" % i, headers={"Host": "example.com"})
        r = conn.getresponse()
        assert r.status == 200 and r.read() == ("path=/v/keep%d xfp=https\n" % i).encode()
        assert conn.sock.getsockname() == peer   # one connection for all five
    # Bodies larger than a record and than a read buffer, both ways, through TLS on both sides.
    data = os.urandom(3 << 20)
    conn.request("POST", "/v/upload", body=data, headers={"Host": "example.com"})
    r = conn.getresponse()
    assert r.status == 200 and r.read().decode() == hashlib.sha256(data).hexdigest()
    n = 5 * (1 << 20) + 17
    conn.request("GET", "/v/big?n=%d" % n, headers={"Host": "example.com"})
    r = conn.getresponse()
    assert r.status == 200 and r.read() == bytes(i % 251 for i in range(n))
    conn.close()


def test_upload_to_a_slow_origin_pauses_and_resumes_tls_reading_without_losing_bytes(env):
    # The origin reads slowly: edged stops reading the TLS client many times; plaintext it had
    # already decrypted when it stopped must wait for the next start, in order.
    conn = http.client.HTTPSConnection("example.com", env.port, timeout=TIMEOUT, context=client_context(env.pki))
    conn.sock = client_context(env.pki).wrap_socket(socket.create_connection(("127.0.0.1", env.port), timeout=TIMEOUT),
                                                    server_hostname="example.com")
    data = os.urandom(12 << 20)
    conn.request("POST", "/slow/up", body=data)
    r = conn.getresponse()
    assert r.status == 200 and r.read().decode() == hashlib.sha256(data).hexdigest()
    conn.close()


def test_pipelined_requests_over_tls(env):
    sock = client_context(env.pki).wrap_socket(socket.create_connection(("127.0.0.1", env.port), timeout=TIMEOUT),
                                               server_hostname="example.com")
    n = 100
    filler = "x" * 3000   # long heads: the pipelined bytes outgrow what one read leaves room for
    sock.sendall(b"".join(("GET /v/pipe%d HTTP/1.1\r\nHost: example.com\r\nX-Filler: %s\r\n\r\n"
                           % (i, filler)).encode() for i in range(n)))
    got = b""
    deadline = time.monotonic() + TIMEOUT
    while got.count(b"xfp=https\n") < n and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    sock.close()
    bodies = re.findall(rb"path=(/v/pipe\d+) xfp=https\n", got)
    assert bodies == [("/v/pipe%d" % i).encode() for i in range(n)]


def test_upstream_tls_verify_on_off_wrong_name_pool_and_health(env):
    before = env.origin.proxy_connections
    for i in range(6):
        rc, code, body, err = curl(env, "https://example.com:%d/v/p%d" % (env.port, i))
        assert code == 200 and body == ("path=/v/p%d xfp=https\n" % i).encode(), err
    rc, code, body, err = curl(env, "https://example.com:%d/nv/x" % env.port)
    assert code == 200 and body == b"path=/nv/x xfp=https\n", err
    # Seven requests through two workers' pools: pooled TLS connections, not one each.
    assert env.origin.proxy_connections - before <= 3
    rc, code, body, err = curl(env, "https://example.com:%d/wrong/x" % env.port)
    assert code == 502, (code, body)
    deadline = time.monotonic() + 5
    while env.origin.health_checks < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert env.origin.health_checks >= 2   # the origin speaks only TLS: the checks did too
    assert re.search(r"TLS handshake with 127\.0\.0\.1:\d+ failed: certificate verify failed",
                     env.edged.error_log()), env.edged.error_log()[-2000:]


def test_websocket_over_tls_both_ways(env):
    ctx = client_context(env.pki)

    async def run():
        async with websockets.connect("wss://example.com:%d/ws/echo" % env.port, ssl=ctx,
                                      host="127.0.0.1", port=env.port, server_hostname="example.com",
                                      max_size=None,
                                      open_timeout=TIMEOUT) as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hello"
            big = os.urandom(2 << 20)
            await ws.send(big)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == big

    asyncio.run(run())


def test_plain_http_on_tls_port_gets_400_and_garbage_is_closed(env):
    with socket.create_connection(("127.0.0.1", env.port), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        got = read_all(s)
    assert got.startswith(b"HTTP/1.1 400 ") and b"plain HTTP request was sent to HTTPS port" in got
    with socket.create_connection(("127.0.0.1", env.port), timeout=TIMEOUT) as s:
        s.sendall(b"\x00\x01garbage that is no ClientHello\r\n\r\n")
        assert s.recv(4096) == b""


def test_silent_client_is_closed_after_client_header_not_keepalive(env):
    # client_header is 2s, keepalive 10s: a client that never sends its ClientHello (or sends
    # half of it) is gone well before the keep-alive timeout.
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", env.port), timeout=8) as silent, \
            socket.create_connection(("127.0.0.1", env.port), timeout=8) as half:
        half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        assert silent.recv(4096) == b""
        assert half.recv(4096) == b""
    assert time.monotonic() - started < 8


def test_mutual_tls_requires_a_client_certificate_and_logs_its_subject(env):
    def get(cert):
        args = ["curl", "-sS", "--max-time", "10", "--cacert", env.pki.ca.cert, "-o", "/dev/null",
                "-w", "%{http_code}", "--resolve", "example.com:%d:127.0.0.1" % env.mtls_port]
        if cert:
            args += ["--cert", cert.cert, "--key", cert.key]
        p = subprocess.run(args + ["https://example.com:%d/v/mtls" % env.mtls_port], capture_output=True,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        return p.stdout.decode()

    assert get(env.client) == "200"
    assert get(None) != "200"   # refused in the handshake
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [l for l in env.edged.access_log() if "/v/mtls" in l]
        if lines:
            break
        time.sleep(0.1)
    assert lines and 'client_cert="CN=client one' in lines[0], lines


def test_redirect_https_answers_308_keeping_path_and_query(env):
    with socket.create_connection(("127.0.0.1", env.redirect_port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /p/q?x=1&y=2 HTTP/1.1\r\nHost: Example.com:8080\r\nConnection: close\r\n\r\n")
        got = read_all(s)
    head = got.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 308 Permanent Redirect"), head
    assert re.search(r"(?im)^Location: https://example\.com/p/q\?x=1&y=2\r?$", head), head


def test_metrics_count_handshakes_and_certificate_expiry(env):
    s_client(env, "-servername", "example.com", stdin=GET)
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % env.admin_port, timeout=TIMEOUT).read().decode()

    def value(pattern):
        m = re.search(r"(?m)^" + pattern + r" (\S+)$", text)
        assert m, (pattern, text[-3000:])
        return float(m.group(1))

    assert value(r'edged_tls_handshakes_total\{side="server",result="full"\}') >= 1
    assert value(r'edged_tls_handshakes_total\{side="client",result="full"\}') >= 1
    assert value(r'edged_tls_handshakes_by_version_total\{side="server",version="TLSv1.3"\}') >= 1
    assert value(r'edged_tls_handshake_failures_total\{side="client",reason="handshake"\}') >= 1   # wrong name
    assert value(r'edged_tls_handshakes_total\{side="server",result="resumed"\}') >= 2
    for reason in ("plain_http", "not_tls", "handshake", "closed"):   # 400, garbage, TLSv1.1, silent
        assert value(r'edged_tls_handshake_failures_total\{side="server",reason="%s"\}' % reason) >= 1
    expiry = value(r'edged_tls_certificate_expiry_seconds\{listener="127.0.0.1:%d",certificate="%s"\}'
                   % (env.port, re.escape(env.example.cert)))
    assert 20 * 86400 < expiry <= 31 * 86400


# -- reload and shutdown (an edged of their own) -----------------------------------------------

def test_reload_swaps_certificate_open_connection_keeps_working_and_close_notify(tmp_path):
    pki = Pki(tmp_path / "pki")
    first = pki.leaf("example.com")
    second = pki.leaf("example.com")
    origin = TlsOrigin(pki.leaf("origin.test"))
    port = free_port()
    cfg = {
        "workers": 1,
        "listen": [{"address": "127.0.0.1:%d" % port,
                    "tls": {"certificates": [{"cert": first.cert, "key": first.key}]}}],
        "timeouts": {"keepalive": "30s", "shutdown_grace": "3s"},
        "access_log": {"path": "off"},
        "upstreams": {"o": {"tls": {"verify": True, "ca": pki.ca.cert, "sni": "origin.test"},
                            "servers": [{"address": "127.0.0.1:%d" % origin.port}]}},
        "routes": [{"match": {"prefix": "/"}, "upstream": "o"}],
    }
    e = Edged(to_yaml(cfg) + "\n", tmp_path / "edged")
    e.start()
    ctx = client_context(pki)

    def request(sock, path):
        sock.sendall(("GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path).encode())
        got = b""
        while True:
            if b"\r\n\r\n" in got:
                head, body = got.split(b"\r\n\r\n", 1)
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                if len(body) >= length:
                    return got
            chunk = sock.recv(65536)
            assert chunk, got
            got += chunk

    try:
        strict = client_context(pki)
        strict.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF   # a FIN without close_notify raises
        kept = strict.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT),
                                  server_hostname="example.com", suppress_ragged_eofs=False)
        assert cert_fingerprint(kept) == pem_fingerprint(first.cert)
        assert b"xfp=https" in request(kept, "/before")
        cfg["listen"][0]["tls"]["certificates"] = [{"cert": second.cert, "key": second.key}]
        e.reload(to_yaml(cfg) + "\n")
        deadline = time.monotonic() + 10
        while True:
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT),
                                 server_hostname="example.com") as fresh:
                if cert_fingerprint(fresh) == pem_fingerprint(second.cert):
                    break
            assert time.monotonic() < deadline, "the reload did not swap the certificate"
            time.sleep(0.1)
        # The connection opened before the reload: same certificate, still serving.
        assert cert_fingerprint(kept) == pem_fingerprint(first.cert)
        assert b"path=/after xfp=https" in request(kept, "/after")
        # Graceful shutdown: the idle keep-alive connection gets close_notify (a clean TLS end:
        # b"", where a bare FIN raises SSLError "unexpected eof" with this context).
        e.signal(signal.SIGTERM)
        kept.settimeout(TIMEOUT)
        assert kept.recv(4096) == b""
        kept.close()
    finally:
        e.stop()
        origin.stop()
