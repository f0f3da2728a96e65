"""TLS on the admin listener (`admin.tls: {cert, key}`) and a TLS listener behind a PROXY protocol
header (`proxy_protocol: true` with `tls`, as HAProxy's accept-proxy + ssl): the header comes in
plain, then the TLS handshake; its source address becomes the client's.

Real clients: Python http.client over ssl for the admin; for the PROXY listener a raw socket that
sends a v1 or v2 header and then wraps itself in Python ssl, and a memory-BIO client that sends the
header and its ClientHello in one write (the handshake's first bytes arrive in the same read as
the header). One edged and one origin for the module; the admin certificate's reload runs last."""

import hashlib
import http.client
import json
import socket
import ssl
import struct
import time

import pytest

from harness import Edged, free_port
from origin import Origin, default_handler
import tlstools
from tlstools import Pki, cert_fingerprint, pem_fingerprint, read_all

TIMEOUT = 20


BIG = bytes(i % 251 for i in range(1 << 20)) * 12   # 12 MiB: more than the socket buffers hold


def big_or_default(conn, req):
    if req.target == "/big":
        conn.respond(200, BIG, headers=[("Content-Type", "application/octet-stream")])
    else:
        default_handler(conn, req)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls_admin_proxy")
    pki = Pki(tmp / "pki")
    cert = pki.leaf("localhost", dns=["localhost"])
    origin = Origin("o1", handler=big_or_default)
    plain, pp_tls, admin = free_port(), free_port(), free_port()
    config = {
        "workers": 1,
        "listen": [{"address": "127.0.0.1:%d" % plain},
                   {"address": "127.0.0.1:%d" % pp_tls, "proxy_protocol": True,
                    "tls": {"certificates": [{"cert": cert.cert, "key": cert.key}]}}],
        "admin": {"address": "127.0.0.1:%d" % admin, "tls": {"cert": cert.cert, "key": cert.key}},
        "timeouts": {"client_header": "5s", "keepalive": "10s"},
        "access_log": {"path": "stdout"},
        "upstreams": {"u": {"servers": [{"address": "127.0.0.1:%d" % origin.port}]}},
        "routes": [{"match": {"prefix": "/"}, "upstream": "u"}],
    }
    e = Edged(config, tmp / "edged").start()
    e.pp_port, e.admin_port, e.pki, e.config, e.cert = pp_tls, admin, pki, config, cert
    # The listeners' sockets are bound before the admin listener starts: wait for it too.
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", admin), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield e
    finally:
        try:
            e.stop()
        finally:
            origin.stop()


def client_context(env):
    return tlstools.client_context(env.pki)


def proxy_v1(src):
    return ("PROXY TCP4 %s 127.0.0.1 40000 443\r\n" % src).encode()


def proxy_v2(src):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addresses = socket.inet_aton(src) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", 40001, 443)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(addresses)) + addresses


def get_over_tls(env, header, path):
    """Sends `header` in plain, then a TLS handshake and one request on the same socket."""
    raw = socket.create_connection(("127.0.0.1", env.pp_port), timeout=TIMEOUT)
    try:
        raw.sendall(header)
        with client_context(env).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path).encode())
            return read_all(s), s.version()
    finally:
        raw.close()


def wait_log_line(env, needle):
    lines = []
    for _ in range(100):
        lines = env.access_log()
        hits = [l for l in lines if needle in l]
        if hits:
            return hits[-1]
        time.sleep(0.05)
    raise AssertionError("no access log line with %r in:\n%s" % (needle, "\n".join(lines[-5:])))


def test_admin_answers_over_https(env):
    conn = http.client.HTTPSConnection("127.0.0.1", env.admin_port, timeout=TIMEOUT,
                                       context=client_context(env))
    # The certificate is for localhost: connect by address, check the name it was made for.
    conn.sock = client_context(env).wrap_socket(
        socket.create_connection(("127.0.0.1", env.admin_port), timeout=TIMEOUT), server_hostname="localhost")
    version = conn.sock.version()
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    assert r.status == 200
    assert r.read() == b"ok\n"
    assert version in ("TLSv1.2", "TLSv1.3")
    conn.close()


def test_admin_refuses_plain_http_on_its_tls_port(env):
    with socket.create_connection(("127.0.0.1", env.admin_port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = read_all(s)
    assert data.startswith(b"HTTP/1.1 400")
    assert b"ok\n" not in data


@pytest.mark.parametrize("version,src", [("v1", "203.0.113.7"), ("v2", "198.51.100.9")])
def test_proxy_header_then_tls(env, version, src):
    header = proxy_v1(src) if version == "v1" else proxy_v2(src)
    data, tls_version = get_over_tls(env, header, "/pp-%s" % version)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert b"GET /pp-%s from o1" % version.encode() in data
    assert tls_version in ("TLSv1.2", "TLSv1.3")
    line = wait_log_line(env, "/pp-%s" % version)
    assert line.startswith(src + " "), line   # the PROXY source is the client
    assert "tls=" in line


def test_proxy_header_and_client_hello_in_one_write(env):
    """The handshake's first bytes come in the same segment as the header."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(env).wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16"
    with socket.create_connection(("127.0.0.1", env.pp_port), timeout=TIMEOUT) as s:
        s.sendall(proxy_v1("192.0.2.44") + hello)
        for _ in range(50):
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    s.sendall(pending)
                chunk = s.recv(65536)
                assert chunk, "closed during the handshake"
                incoming.write(chunk)
        else:
            raise AssertionError("handshake did not finish")
        tls.write(b"GET /one-write HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        s.sendall(outgoing.read())
        data = b""
        for _ in range(200):
            try:
                data += tls.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            pending = outgoing.read()
            if pending:
                s.sendall(pending)
            chunk = s.recv(65536)
            if not chunk:
                break
            incoming.write(chunk)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert b"GET /one-write from o1" in data
    assert wait_log_line(env, "/one-write").startswith("192.0.2.44 ")


def test_no_proxy_header_on_the_tls_listener_is_closed(env):
    """A bare ClientHello (no PROXY header first) is not a header: closed, no answer."""
    raw = socket.create_connection(("127.0.0.1", env.pp_port), timeout=TIMEOUT)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError)):
        with client_context(env).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert s.recv(100) == b""
            raise ssl.SSLError("closed without an answer")
    raw.close()


def test_big_response_to_a_client_that_reads_late(env):
    """12 MiB over TLS to a client that waits before reading: the socket takes only part of a
    write, so the rest of its sealed records is queued (and must be sent once, in order)."""
    raw = socket.create_connection(("127.0.0.1", env.pp_port), timeout=TIMEOUT)
    try:
        raw.sendall(proxy_v1("192.0.2.45"))
        with client_context(env).wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            time.sleep(1.0)   # edged fills the socket buffers meanwhile
            data = read_all(s)
    finally:
        raw.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    assert len(body) == len(BIG)
    assert hashlib.sha256(body).digest() == hashlib.sha256(BIG).digest()


def admin_tls_socket(env):
    return client_context(env).wrap_socket(
        socket.create_connection(("127.0.0.1", env.admin_port), timeout=TIMEOUT), server_hostname="localhost")


def admin_reload(env):
    """POST /reload over the admin's HTTPS: (status, JSON answer). The reload is synchronous."""
    conn = http.client.HTTPSConnection("127.0.0.1", env.admin_port, timeout=TIMEOUT, context=client_context(env))
    conn.sock = admin_tls_socket(env)
    try:
        conn.request("POST", "/reload")
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def test_reload_swaps_the_admin_certificate_and_a_bad_one_keeps_the_running_one(env):
    """Runs last in this module: it rewrites the module's config (restored at the end)."""
    second = env.pki.leaf("localhost", dns=["localhost"])
    with admin_tls_socket(env) as s:
        assert cert_fingerprint(s) == pem_fingerprint(env.cert.cert)
    try:
        # A key that does not match: the reload fails and the admin keeps its certificate.
        bad = dict(env.config, admin=dict(env.config["admin"], tls={"cert": second.cert,
                                                                    "key": env.pki.stray_key()}))
        env.write_config(bad)
        status, answer = admin_reload(env)
        assert status == 400 and answer["result"] == "failure", answer
        assert any("admin.tls.key" in e for e in answer["errors"]), answer
        with admin_tls_socket(env) as s:
            assert cert_fingerprint(s) == pem_fingerprint(env.cert.cert)
        # A good one: new admin handshakes get it at once (the reload is done when it answers).
        good = dict(env.config, admin=dict(env.config["admin"], tls={"cert": second.cert, "key": second.key}))
        env.write_config(good)
        status, answer = admin_reload(env)
        assert status == 200 and answer["result"] == "success", answer
        with admin_tls_socket(env) as s:
            assert cert_fingerprint(s) == pem_fingerprint(second.cert)
    finally:
        env.write_config(env.config)
        admin_reload(env)
