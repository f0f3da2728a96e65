"""A WebSocket origin for the integration tests, built on the Debian `websockets` package (10.4).
Run as a subprocess (`python3 wsorigin.py`): it prints `PORT <n>` once listening, then one line
per event (`OPEN <path>`, `CLOSED <path> <code> <reason>`), so a test can kill it like a crashing
origin and still see what it saw. Paths:
  /echo...            echo every message back, same type
  /headers            first send the upgrade request's headers as JSON, then echo
  /close-from-origin  close at once with code 4001, reason "origin bye"
  /ping-client        ping the client, wait for the pong, then send "pong-received"
Also raw-socket WebSocket helpers (frame encoding / decoding, the handshake by hand)."""

import asyncio
import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(opcode, payload, mask=True, fin=True, mask_key=None):
    """One WebSocket frame. With mask=True and no mask_key a zero key is used (XOR identity:
    valid framing at no cost, for bulk tests)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else b"\0\0\0\0"
    if key != b"\0\0\0\0":
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + payload


def read_frame(bs):
    """(fin, opcode, payload) from an httpwire.BufferedSocket; unmasks if needed."""
    b0, b1 = bs.read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", bs.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", bs.read_exact(8))[0]
    key = bs.read_exact(4) if b1 & 0x80 else None
    payload = bs.read_exact(n)
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bool(b0 & 0x80), b0 & 0x0F, payload


def client_handshake(target="/echo", host="localhost", extra=None, connection="Upgrade",
                     upgrade="websocket"):
    """Bytes of an upgrade request written by hand, and its key."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % target, "Host: %s" % host, "Upgrade: %s" % upgrade,
             "Connection: %s" % connection, "Sec-WebSocket-Key: %s" % key,
             "Sec-WebSocket-Version: 13"]
    for k, v in (extra or []):
        lines.append("%s: %s" % (k, v))
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


# -- the websockets origin (subprocess) -------------------------------------------------------

async def _handler(ws, path):
    print("OPEN %s" % path, flush=True)
    try:
        if path == "/headers":
            await ws.send(json.dumps([[k, v] for k, v in ws.request_headers.raw_items()]))
        if path == "/close-from-origin":
            await ws.close(4001, "origin bye")
        elif path == "/ping-client":
            pong = await ws.ping(b"from-origin")
            await asyncio.wait_for(pong, 10)
            await ws.send("pong-received")
        async for msg in ws:
            await ws.send(msg)
    except Exception as ex:  # noqa: BLE001 - report, never crash the server
        print("ERROR %s %r" % (path, ex), flush=True)
    finally:
        try:
            await asyncio.wait_for(ws.wait_closed(), 15)
        except asyncio.TimeoutError:
            pass
        print("CLOSED %s %s %s" % (path, ws.close_code, ws.close_reason or "-"), flush=True)


async def _serve():
    import websockets
    server = await websockets.serve(_handler, "127.0.0.1", 0, max_size=None, max_queue=None,
                                    ping_interval=None, compression="deflate" if
                                    os.environ.get("WSO_DEFLATE") else None, backlog=2048)
    port = server.sockets[0].getsockname()[1]
    print("PORT %d" % port, flush=True)
    await asyncio.Future()


class WsOriginProcess:
    """The websockets origin as a child process (so it can crash, and so it runs on its own
    core). .events: the lines it printed after PORT."""

    def __init__(self, deflate=False):
        env = dict(os.environ)
        if deflate:
            env["WSO_DEFLATE"] = "1"
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise AssertionError("websocket origin did not start: %r %r"
                                 % (line, self.proc.stderr.read()[-2000:]))
        self.port = int(line.split()[1])
        self.address = "127.0.0.1:%d" % self.port
        self.events = []
        self.lock = threading.Lock()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(line.decode().rstrip("\n"))

    def wait_event(self, prefix, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for e in self.events:
                    if e.startswith(prefix):
                        return e
            time.sleep(0.02)
        return None

    def count(self, prefix):
        with self.lock:
            return sum(1 for e in self.events if e.startswith(prefix))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def errors(self):
        with self.lock:
            return [e for e in self.events if e.startswith("ERROR")]


if __name__ == "__main__":
    try:
        asyncio.run(_serve())
    except KeyboardInterrupt:
        pass
