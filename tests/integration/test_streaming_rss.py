"""Bodies stream through edged with backpressure: a 1 GiB upload and a 1 GiB download arrive
complete (byte count + CRC-32) while edged's resident memory grows by less than 16 MiB."""

import os
import socket
import time
import zlib

import httpwire
from harness import RssSampler, make_config

GIB = 1 << 30
BLOCK = os.urandom(64 * 1024)
MAX_GROWTH_KIB = 16 * 1024
TRANSFER_DEADLINE = 120  # seconds; a healthy run takes a few seconds
PAUSE_AT = 100 << 20     # the receiver stops reading for PAUSE_SECONDS after this many bytes,
PAUSE_SECONDS = 1.5      # so edged must apply backpressure instead of buffering


def repeated_crc(block, total):
    crc = 0
    full, rest = divmod(total, len(block))
    for _ in range(full):
        crc = zlib.crc32(block, crc)
    return zlib.crc32(block[:rest], crc)


def download_handler(conn, req):
    n = int(req.target.rsplit("=", 1)[1])
    conn.send(("HTTP/1.1 200 OK\r\nX-Origin: %s\r\nContent-Type: application/octet-stream\r\n"
               "Content-Length: %d\r\n\r\n" % (conn.origin.name, n)).encode())
    full, rest = divmod(n, len(BLOCK))
    for _ in range(full):
        conn.sock.sendall(BLOCK)
    if rest:
        conn.sock.sendall(BLOCK[:rest])


def upload_handler(conn, req):
    conn.respond(200, b"%d %d" % (req.body_len, req.body_crc))


def pausing_reader(origin):
    """The origin stops reading the upload for PAUSE_SECONDS once PAUSE_AT bytes came in."""
    def on_progress(total):
        if not origin.paused and total >= PAUSE_AT:
            origin.paused = True
            time.sleep(PAUSE_SECONDS)
    origin.paused = False
    origin.on_body_progress = on_progress


def streaming_config(o):
    return make_config({"api": [o.address]},
                       limits={"max_body_bytes": 0},
                       timeouts={"read": "30s", "send": "30s", "client_body": "30s"})


def download(port, n, pause=False):
    """GET n bytes; returns (status, bytes received, crc32, seconds). With pause, the client
    stops reading for a while mid-transfer (edged must stop reading from the origin)."""
    t0 = time.monotonic()
    with httpwire.connect(port, timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.sendall(httpwire.build_request("GET", "/download?n=%d" % n))
        bs = httpwire.BufferedSocket(s)
        head = bs.read_until(b"\r\n\r\n")
        start, headers = httpwire.parse_head(head)
        status = int(start.split()[1])
        assert headers.get("content-length") == str(n) or \
            "chunked" in headers.tokens("transfer-encoding"), headers
        buf = bytearray(256 * 1024)
        view = memoryview(buf)
        if "chunked" in headers.tokens("transfer-encoding"):
            _, got, crc, _ = httpwire.read_chunked(bs, sink=lambda piece: None)
            return status, got, crc, time.monotonic() - t0
        got = len(bs.buf)
        crc = zlib.crc32(bs.buf)
        bs.buf.clear()
        while got < n:
            if time.monotonic() - t0 > TRANSFER_DEADLINE:
                raise AssertionError("download too slow: %d of %d bytes after %d s"
                                     % (got, n, TRANSFER_DEADLINE))
            k = s.recv_into(view, min(len(buf), n - got))
            if k == 0:
                break
            crc = zlib.crc32(view[:k], crc)
            if pause and got < PAUSE_AT <= got + k:
                time.sleep(PAUSE_SECONDS)
            got += k
    return status, got, crc, time.monotonic() - t0


def upload(port, n):
    """POST n bytes with Content-Length; returns (Response, seconds)."""
    t0 = time.monotonic()
    with httpwire.connect(port, timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.sendall(httpwire.build_request("POST", "/upload",
                                         headers=[("Content-Length", str(n)),
                                                  ("Content-Type", "application/octet-stream")]))
        full, rest = divmod(n, len(BLOCK))
        try:
            for i in range(full):
                s.sendall(BLOCK)
                if i % 1024 == 0 and time.monotonic() - t0 > TRANSFER_DEADLINE:
                    raise AssertionError("upload too slow: %d bytes after %d s"
                                         % (i * len(BLOCK), TRANSFER_DEADLINE))
            if rest:
                s.sendall(BLOCK[:rest])
        except (BrokenPipeError, ConnectionResetError) as e:
            raise AssertionError("edged stopped reading the upload: %r" % e)
        r = httpwire.read_response(httpwire.BufferedSocket(s))
    return r, time.monotonic() - t0


def test_download_1gib_streams_in_bounded_memory(edged, origin):
    o = origin("big", download_handler)
    e = edged(streaming_config(o))

    # warm up (pools, allocator caches, ASan quarantine) before taking the baseline
    status, got, crc, _ = download(e.port, 64 << 20)
    assert (status, got, crc) == (200, 64 << 20, repeated_crc(BLOCK, 64 << 20))
    time.sleep(0.3)
    before = e.rss_kib()

    with RssSampler(e) as rss:
        status, got, crc, secs = download(e.port, GIB, pause=True)
    assert status == 200
    assert got == GIB, "received %d of %d bytes" % (got, GIB)
    assert crc == repeated_crc(BLOCK, GIB)
    assert len(rss.samples) >= 3
    growth = rss.max() - before
    print("download: RSS %d KiB before, max %d KiB, %.1f s" % (before, rss.max(), secs))
    assert growth < MAX_GROWTH_KIB, \
        "edged RSS grew %d KiB during a 1 GiB download (%d -> %d KiB, %.1f s)" % (
            growth, before, rss.max(), secs)


def test_upload_1gib_streams_in_bounded_memory(edged, origin):
    o = origin("big", upload_handler, recv_size=256 * 1024)
    e = edged(streaming_config(o))

    r, _ = upload(e.port, 64 << 20)
    assert r.status == 200
    assert r.body == b"%d %d" % (64 << 20, repeated_crc(BLOCK, 64 << 20))
    time.sleep(0.3)
    before = e.rss_kib()

    pausing_reader(o)
    with RssSampler(e) as rss:
        r, secs = upload(e.port, GIB)
    assert r.status == 200, r
    assert r.body == b"%d %d" % (GIB, repeated_crc(BLOCK, GIB)), \
        "origin received (bytes crc) %r" % r.body
    assert len(rss.samples) >= 3
    growth = rss.max() - before
    print("upload: RSS %d KiB before, max %d KiB, %.1f s" % (before, rss.max(), secs))
    assert growth < MAX_GROWTH_KIB, \
        "edged RSS grew %d KiB during a 1 GiB upload (%d -> %d KiB, %.1f s)" % (
            growth, before, rss.max(), secs)
