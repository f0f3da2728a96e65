"""WebSocket passthrough: an upgrade answered 101 turns both sockets into a byte tunnel (echo of
text/binary up to 16 MiB, ping/pong, close handshakes both ways, 1,000 concurrent tunnels),
bounded memory when one side stops reading, tunnel_idle, origin crash / client reset closing the
other side, a non-101 answer relayed with the connection staying HTTP, and `websocket: false`
refusing upgrades with 403. Real peers: the Debian `websockets` 10.4 package as client and origin
(wsorigin.py, a subprocess), plus raw-socket peers where the test needs exact control."""

import asyncio
import json
import os
import resource
import socket
import threading
import time

import pytest
import websockets

import httpwire
from harness import RssSampler, make_config
from wsorigin import (WsOriginProcess, accept_key, client_handshake, frame, read_frame)

MIB = 1 << 20


@pytest.fixture
def wso():
    made = []

    def make(**kw):
        o = WsOriginProcess(**kw)
        made.append(o)
        return o

    yield make
    for o in made:
        o.kill()


def ws_config(address, **timeouts):
    t = {"read": "5s", "send": "5s"}
    t.update(timeouts)
    return make_config({"ws": [address]}, timeouts=t, limits={"max_body_bytes": 0})


def connect_kw(**kw):
    d = dict(max_size=None, max_queue=None, ping_interval=None, compression=None,
             open_timeout=10, close_timeout=5)
    d.update(kw)
    return d


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_lines(e, n=1, timeout=5):
    lines = e.wait_access_lines(n, timeout)
    return [l for l in lines if '"GET ' in l]


# -- echo, headers ---------------------------------------------------------------------------

def test_upgrade_headers_forwarded_and_echo(edged, wso):
    o = wso(deflate=True)
    e = edged(ws_config(o.address))

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/headers" % e.port,
                                      subprotocols=["chat.v1"],
                                      **connect_kw(compression="deflate")) as ws:
            headers = dict((k.lower(), v) for k, v in json.loads(await ws.recv()))
            echoes = []
            for msg in ["", "h", "é" * 100, "t" * 70000, b"", b"\x00\xff" * 40, os.urandom(65536),
                        os.urandom(MIB)]:
                await ws.send(msg)
                echoes.append((msg, await asyncio.wait_for(ws.recv(), 20)))
            return headers, echoes, ws.response_headers

    headers, echoes, resp_headers = run(go())
    assert headers.get("upgrade", "").lower() == "websocket"
    assert "upgrade" in [t.strip().lower() for t in headers.get("connection", "").split(",")]
    assert headers.get("sec-websocket-version") == "13"
    assert headers.get("sec-websocket-key")
    assert headers.get("sec-websocket-protocol") == "chat.v1", headers
    assert "permessage-deflate" in headers.get("sec-websocket-extensions", ""), headers
    assert "permessage-deflate" in resp_headers.get("Sec-WebSocket-Extensions", ""), resp_headers
    for sent, got in echoes:
        assert type(sent) is type(got) and sent == got, (type(sent), len(sent), len(got))
    lines = ws_lines(e)
    assert any(" 101 " in l for l in lines), lines


def test_echo_16_mib_text_and_binary(edged, wso):
    o = wso()
    e = edged(ws_config(o.address))
    big_bin = os.urandom(16 * MIB)
    big_text = "x" * (16 * MIB)

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/echo" % e.port, **connect_kw()) as ws:
            t0 = time.monotonic()
            await ws.send(big_bin)
            got_bin = await asyncio.wait_for(ws.recv(), 60)
            await ws.send(big_text)
            got_text = await asyncio.wait_for(ws.recv(), 60)
            return got_bin, got_text, time.monotonic() - t0

    got_bin, got_text, took = run(go(), timeout=90)
    assert isinstance(got_bin, bytes) and len(got_bin) == len(big_bin) and got_bin == big_bin
    assert isinstance(got_text, str) and got_text == big_text
    print("16 MiB binary + 16 MiB text echo took %.1f s" % took)


def test_connection_header_token_list_case_insensitive(edged, wso):
    """`Connection: keep-alive, Upgrade` and `Upgrade: WebSocket`: still an upgrade; bytes the
    client sends right after the head reach the origin as tunnel bytes."""
    o = wso()
    e = edged(ws_config(o.address))
    req, key = client_handshake("/echo", connection="keep-alive, Upgrade", upgrade="WebSocket")
    with httpwire.connect(e.port, timeout=10) as s:
        s.sendall(req + frame(0x1, b"early", mask_key=b"abcd"))
        bs = httpwire.BufferedSocket(s)
        start, headers = httpwire.parse_head(bs.read_until(b"\r\n\r\n"))
        assert start.split()[1] == "101", start
        assert headers.get("sec-websocket-accept") == accept_key(key)
        assert headers.get("upgrade", "").lower() == "websocket"
        assert "upgrade" in headers.tokens("connection")
        assert read_frame(bs) == (True, 0x1, b"early")
        s.sendall(frame(0x2, b"\x01\x02\x03", mask_key=b"wxyz"))
        assert read_frame(bs) == (True, 0x2, b"\x01\x02\x03")
        s.sendall(frame(0x8, struct_close(1000), mask_key=b"1234"))
        fin, op, payload = read_frame(bs)
        assert op == 0x8 and payload[:2] == struct_close(1000)[:2]
        closed, _ = httpwire.wait_closed(s, 5)
        assert closed


def struct_close(code, reason=b""):
    return code.to_bytes(2, "big") + reason


# -- control frames --------------------------------------------------------------------------

def test_ping_pong_both_ways(edged, wso):
    o = wso()
    e = edged(ws_config(o.address))

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/ping-client" % e.port,
                                      **connect_kw()) as ws:
            # the origin pinged us; our library answered; the origin reports the pong
            assert await asyncio.wait_for(ws.recv(), 10) == "pong-received"
            t0 = time.monotonic()
            pong = await ws.ping(b"from-client")
            await asyncio.wait_for(pong, 5)
            return time.monotonic() - t0

    rtt = run(go())
    assert rtt < 2


def test_close_handshake_client_initiated(edged, wso):
    o = wso()
    e = edged(ws_config(o.address))

    async def go():
        ws = await websockets.connect("ws://127.0.0.1:%d/echo-close" % e.port, **connect_kw())
        await ws.send("hi")
        assert await ws.recv() == "hi"
        await ws.close(4000, "client bye")
        return ws.close_code, ws.close_reason

    code, reason = run(go())
    # the origin echoed our close frame back through edged
    assert (code, reason) == (4000, "client bye")
    ev = o.wait_event("CLOSED /echo-close", 10)
    assert ev == "CLOSED /echo-close 4000 client bye", (ev, o.events)


def test_close_handshake_origin_initiated(edged, wso):
    o = wso()
    e = edged(ws_config(o.address))

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/close-from-origin" % e.port,
                                      **connect_kw()) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                pass
            await asyncio.wait_for(ws.wait_closed(), 10)
            return ws.close_code, ws.close_reason

    assert run(go()) == (4001, "origin bye")
    ev = o.wait_event("CLOSED /close-from-origin", 10)
    assert ev is not None and ev.split()[2] == "4001", (ev, o.events)


# -- one side going away ---------------------------------------------------------------------

def test_origin_crash_closes_client(edged, wso):
    o = wso()
    e = edged(ws_config(o.address))

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/echo" % e.port, **connect_kw()) as ws:
            await ws.send("before crash")
            assert await ws.recv() == "before crash"
            o.kill()   # SIGKILL: the kernel closes the origin's sockets
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), 10)
                got = "message"
            except websockets.ConnectionClosed:
                got = "closed"
            return got, time.monotonic() - t0, ws.close_code

    got, took, code = run(go())
    assert got == "closed"
    assert took < 3, "client side closed %.1f s after the origin died" % took
    assert code == 1006   # abnormal: no close frame, the TCP connection ended


def test_origin_fin_after_data_delivers_data_first(edged):
    """A raw origin answers 101, sends 3 frames (~3 MiB) and closes at once (FIN): every byte
    reaches the client before edged closes the client side."""
    payload = os.urandom(MIB)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    errors = []

    def serve():
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            bs = httpwire.BufferedSocket(conn)
            _, h = httpwire.parse_head(bs.read_until(b"\r\n\r\n"))
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                          % accept_key(h.get("sec-websocket-key"))).encode()
                         + frame(0x2, payload, mask=False) * 3)
            conn.close()
        except Exception as ex:  # noqa: BLE001
            errors.append(ex)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    e = edged(ws_config(address))
    try:
        req, _ = client_handshake("/last-words")
        with httpwire.connect(e.port, timeout=10) as s:
            s.sendall(req)
            bs = httpwire.BufferedSocket(s)
            start, _ = httpwire.parse_head(bs.read_until(b"\r\n\r\n"))
            assert start.split()[1] == "101"
            time.sleep(0.5)  # the origin is gone by now
            for _ in range(3):
                assert read_frame(bs) == (True, 0x2, payload)
            closed, extra = httpwire.wait_closed(s, 5)
            assert closed and extra == b""
    finally:
        t.join(timeout=10)
        listener.close()
    assert not errors, errors


def test_client_reset_closes_origin_side(edged, wso):
    o = wso()
    e = edged(ws_config(o.address))
    req, _ = client_handshake("/echo-reset")
    s = httpwire.connect(e.port, timeout=10)
    s.sendall(req)
    bs = httpwire.BufferedSocket(s)
    assert httpwire.parse_head(bs.read_until(b"\r\n\r\n"))[0].split()[1] == "101"
    s.sendall(frame(0x1, b"x", mask_key=b"kkkk"))
    assert read_frame(bs) == (True, 0x1, b"x")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    t0 = time.monotonic()
    s.close()   # RST
    ev = o.wait_event("CLOSED /echo-reset", 10)
    took = time.monotonic() - t0
    assert ev is not None, o.events
    assert took < 3, "origin side closed %.1f s after the client reset" % took


# -- 1,000 concurrent tunnels ----------------------------------------------------------------

def test_1000_concurrent_tunnels(edged, wso):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    # this process holds 1,000 client sockets; edged (which inherits the limit) ~2,000
    assert soft >= 4096, "RLIMIT_NOFILE soft limit %d is too low for 1,000 tunnels" % soft
    n = 1000
    o = wso()
    e = edged(ws_config(o.address))

    async def one_open(i):
        return await websockets.connect("ws://127.0.0.1:%d/echo/%d" % (e.port, i),
                                        **connect_kw(open_timeout=30))

    async def exchange(i, ws):
        for k in range(3):
            msg = ("%d:%d:" % (i, k)) + "p" * (i % 97)
            await ws.send(msg)
            if await ws.recv() != msg:
                return False
        data = os.urandom(1000 + i)
        await ws.send(data)
        return await ws.recv() == data

    async def go():
        conns = []
        for b in range(0, n, 100):   # open in batches; all stay open together
            conns += await asyncio.gather(*[one_open(i) for i in range(b, min(n, b + 100))])
        assert len(conns) == n
        assert all(ws.open for ws in conns)
        ok = await asyncio.gather(*[exchange(i, ws) for i, ws in enumerate(conns)])
        open_after = sum(1 for ws in conns if ws.open)
        await asyncio.gather(*[ws.close() for ws in conns])
        return ok, open_after

    t0 = time.monotonic()
    ok, open_after = run(go(), timeout=100)
    assert all(ok), "%d of %d tunnels echoed wrongly" % (ok.count(False), n)
    assert open_after == n
    assert o.count("OPEN /echo/") == n
    print("1,000 tunnels: %.1f s (RLIMIT_NOFILE soft=%d)" % (time.monotonic() - t0, soft))


# -- backpressure ----------------------------------------------------------------------------

class BlastOrigin:
    """A raw origin: answers the upgrade by hand, then either writes `total` bytes of frames as
    fast as the socket takes them ("send"), or reads nothing for `pause` seconds and then counts
    everything that arrives ("sink")."""

    def __init__(self, mode, total, pause=0.0):
        self.mode, self.total, self.pause = mode, total, pause
        self.sent = 0
        self.received = 0
        self.error = None
        self.done = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            self.listener.settimeout(20)
            conn, _ = self.listener.accept()
            conn.settimeout(60)
            bs = httpwire.BufferedSocket(conn)
            _, h = httpwire.parse_head(bs.read_until(b"\r\n\r\n"))
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                          % accept_key(h.get("sec-websocket-key"))).encode())
            if self.mode == "send":
                block = frame(0x2, os.urandom(MIB - 10), mask=False)
                while self.sent < self.total:
                    conn.sendall(block)
                    self.sent += len(block)
            else:
                time.sleep(self.pause)
                self.received = len(bs.buf)
                while self.received < self.total:
                    d = conn.recv(1 << 20)
                    if not d:
                        break
                    self.received += len(d)
            conn.close()
        except Exception as ex:  # noqa: BLE001
            self.error = ex
        finally:
            self.done.set()

    def close(self):
        self.listener.close()


def _rss_growth_check(e, baseline, sampler):
    growth = sampler.max() - baseline
    assert growth < 16 * 1024, "edged RSS grew by %d KiB (limit 16 MiB)" % growth
    return growth


def test_backpressure_client_not_reading(edged):
    total = 100 * MIB
    o = BlastOrigin("send", total)
    e = edged(ws_config(o.address, tunnel_idle="60s"))
    try:
        req, _ = client_handshake("/blast")
        with httpwire.connect(e.port, timeout=30) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            baseline = e.rss_kib()
            with RssSampler(e, 0.05) as rs:
                s.sendall(req)
                bs = httpwire.BufferedSocket(s, recv_size=1024)
                bs.read_until(b"\r\n\r\n")     # the 101; now stop reading
                time.sleep(3)
                stalled_at = o.sent
                time.sleep(1)
                assert o.sent == stalled_at, "origin still writing: edged buffers without bound"
                assert o.sent < 60 * MIB, "origin wrote %d MiB to a client that reads nothing" \
                    % (o.sent >> 20)
                # now read everything
                got = len(bs.buf)
                s.settimeout(30)
                expect = total
                while got < expect:
                    d = s.recv(1 << 20)
                    assert d, "tunnel closed after %d of %d bytes" % (got, expect)
                    got += len(d)
            assert o.done.wait(30)
            assert o.error is None, o.error
            assert got == expect
            growth = _rss_growth_check(e, baseline, rs)
        print("origin stalled at %d MiB; RSS growth %d KiB" % (stalled_at >> 20, growth))
    finally:
        o.close()


def test_backpressure_origin_not_reading(edged):
    total = 100 * MIB
    o = BlastOrigin("sink", total, pause=4)
    e = edged(ws_config(o.address, tunnel_idle="60s"))
    try:
        req, _ = client_handshake("/sink")
        with httpwire.connect(e.port, timeout=30) as s:
            s.sendall(req)
            bs = httpwire.BufferedSocket(s)
            assert httpwire.parse_head(bs.read_until(b"\r\n\r\n"))[0].split()[1] == "101"
            baseline = e.rss_kib()
            block = frame(0x2, b"m" * (MIB - 14))   # masked with a zero key
            sent = [0]

            def blast():
                try:
                    while sent[0] < total:
                        n = min(len(block), total - sent[0])
                        s.sendall(block[:n])
                        sent[0] += n
                except OSError:
                    pass

            with RssSampler(e, 0.05) as rs:
                t = threading.Thread(target=blast, daemon=True)
                t.start()
                time.sleep(3)
                stalled_at = sent[0]
                assert stalled_at < 60 * MIB, "client wrote %d MiB while the origin read nothing" \
                    % (stalled_at >> 20)
                assert o.done.wait(40), "origin received %d of %d" % (o.received, total)
                t.join(timeout=10)
            assert o.error is None, o.error
            assert sent[0] == total and o.received == total, (sent[0], o.received)
            growth = _rss_growth_check(e, baseline, rs)
        print("client stalled at %d MiB; RSS growth %d KiB" % (stalled_at >> 20, growth))
    finally:
        o.close()


# -- tunnel_idle -----------------------------------------------------------------------------

def test_tunnel_idle_timeout(edged, wso):
    o = wso()
    e = edged(ws_config(o.address, tunnel_idle="1s"))

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/echo-idle" % e.port,
                                      **connect_kw()) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), 6)
            except websockets.ConnectionClosed:
                pass
            except asyncio.TimeoutError:
                return None
            return time.monotonic() - t0

    took = run(go())
    assert took is not None, "tunnel still open 6 s after the last byte (tunnel_idle 1s)"
    assert 0.8 <= took <= 2.5, "idle tunnel closed after %.2f s (tunnel_idle 1s)" % took
    assert o.wait_event("CLOSED /echo-idle", 5)
    lines = ws_lines(e, 1, 3)
    line = next((l for l in lines if "/echo-idle" in l), None)
    assert line is not None, lines
    assert " 101 " in line and "termination=" in line and "timeout" in line.split(
        "termination=")[1], line


def test_tunnel_activity_keeps_it_open(edged, wso):
    o = wso()
    e = edged(ws_config(o.address, tunnel_idle="1s"))

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/echo-busy" % e.port,
                                      **connect_kw()) as ws:
            t0 = time.monotonic()
            i = 0
            while time.monotonic() - t0 < 3:   # a byte every 0.4 s, alternating directions
                await ws.send(str(i))
                assert await ws.recv() == str(i)
                await asyncio.sleep(0.4)
                i += 1
            return ws.open

    assert run(go()) is True


# -- refusals and non-101 answers ------------------------------------------------------------

def test_websocket_false_route_refuses_with_403(edged, origin, wso):
    plain = origin("plain")
    o = wso()
    cfg = make_config({"plain": [plain.address], "ws": [o.address]},
                      routes=[{"match": {"prefix": "/nows/"}, "upstream": "plain",
                               "websocket": False},
                              {"match": {"prefix": "/"}, "upstream": "ws"}])
    e = edged(cfg)
    req, _ = client_handshake("/nows/chat")
    with httpwire.connect(e.port, timeout=10) as s:
        s.sendall(req)
        r = httpwire.read_response(httpwire.BufferedSocket(s))
    assert r.status == 403, r
    assert plain.request_count() == 0
    # a plain GET on that route is fine, and upgrades elsewhere are allowed by default
    assert httpwire.request(e.port, "GET", "/nows/page").status == 200

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/echo" % e.port, **connect_kw()) as ws:
            await ws.send("ok")
            return await ws.recv()

    assert run(go()) == "ok"


@pytest.mark.parametrize("status", [200, 426])
def test_non_101_answer_is_relayed_and_connection_stays_http(edged, origin, status):
    def handler(conn, req):
        if req.headers.get("upgrade"):
            conn.respond(status, b"no upgrade for you\n",
                         headers=[("Upgrade", "websocket")] if status == 426 else None)
        else:
            conn.respond(200, ("plain %s\n" % req.target).encode())

    o = origin("nows", handler)
    e = edged(ws_config(o.address))
    req, _ = client_handshake("/try-upgrade")
    with httpwire.connect(e.port, timeout=10) as s:
        bs = httpwire.BufferedSocket(s)
        s.sendall(req)
        r = httpwire.read_response(bs)
        assert r.status == status and r.body == b"no upgrade for you\n", r
        assert "close" not in r.headers.tokens("connection"), r.headers
        # the same connection carries an ordinary request afterwards
        s.sendall(httpwire.build_request("GET", "/after"))
        r2 = httpwire.read_response(bs)
        assert r2.status == 200 and r2.body == b"plain /after\n", r2
    assert [q.target for q in o.snapshot()] == ["/try-upgrade", "/after"]


def client_last_words(edged, data, pause, half_close=False):
    """A tunnel to a sink origin that reads nothing for `pause` s; the client sends `data` and
    ends at once (a FIN by shutdown, or close). Returns how many bytes the origin got in all."""
    o = BlastOrigin("sink", len(data) + 1, pause=pause)   # +1: it reads until EOF
    e = edged(ws_config(o.address))
    try:
        req, _ = client_handshake("/client-last-words")
        with httpwire.connect(e.port, timeout=10) as s:
            s.sendall(req)
            bs = httpwire.BufferedSocket(s)
            assert httpwire.parse_head(bs.read_until(b"\r\n\r\n"))[0].split()[1] == "101"
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        assert o.done.wait(15)
        assert o.error is None, o.error
        return o.received
    finally:
        o.close()


def test_client_fin_after_one_full_read_of_data_delivers_it(edged):
    """Exactly one read buffer (64 KiB) then FIN, while the origin does not read yet: edged's
    flush of that full read waits for the end of the read batch, and the FIN in the same batch
    ends the tunnel. The origin still gets every byte (it got none before the fix, 7 runs of 8)."""
    for size in (64 << 10, 64 << 10, 64 << 10, 3 * (64 << 10)):   # each loses it in most runs without the fix
        assert client_last_words(edged, b"L" * size, 0.3, half_close=True) == size


def test_client_fin_after_data_delivers_data_first(edged):
    """The client sends ~3 MiB of frames and closes at once: the origin (not reading for 1 s)
    still gets every byte before its side is closed."""
    total = 3 * MIB
    assert client_last_words(edged, frame(0x2, b"L" * (total - 14)), 1.0) == total
