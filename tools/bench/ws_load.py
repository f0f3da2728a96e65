#!/usr/bin/python3
"""tools/bench/ws_load.py — S8 load generator: opens TUNNELS WebSocket connections through the
proxy at HOST:PORT/ws, then on each keeps WINDOW masked 1 KiB binary messages in flight (a new one
is sent whenever a whole echoed message has come back) for SECONDS.
Prints one line: "messages=<echoed> seconds=<elapsed> failed=<tunnels whose handshake failed>".
Usage: ws_load.py HOST PORT TUNNELS SECONDS [WINDOW]. Standard library only.
"""
import asyncio
import base64
import os
import struct
import sys
import time

PAYLOAD = 1024
MASK = os.urandom(4)
_payload = bytes(i % 251 for i in range(PAYLOAD))
_masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(_payload))
# FIN + binary opcode, MASK bit + 126 (16-bit length follows), mask key, masked payload.
FRAME = bytes([0x82, 0x80 | 126]) + struct.pack("!H", PAYLOAD) + MASK + _masked


class Tunnel(asyncio.Protocol):
    def __init__(self, host, port, window, ready, counter):
        self.host, self.port, self.window = host, port, window
        self.ready, self.counter = ready, counter
        self.head = b""
        self.open = False
        self.pending = 0  # echoed bytes not yet a whole message
        self.running = True

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET /ws HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())

    def data_received(self, data):
        if not self.open:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, _, data = self.head.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.set_result(False) if not self.ready.done() else None
                self.transport.close()
                return
            self.open = True
            if not self.ready.done():
                self.ready.set_result(True)
        self.pending += len(data)
        done, self.pending = divmod(self.pending, len(FRAME))
        if done:
            self.counter[0] += done
            if self.running:
                self.transport.write(FRAME * done)

    def start(self):
        self.transport.write(FRAME * self.window)

    def connection_lost(self, exc):
        if not self.ready.done():
            self.ready.set_result(False)


async def main():
    host, port, tunnels, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    window = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    loop = asyncio.get_running_loop()
    counter = [0]
    protocols, failed = [], 0
    for _ in range(tunnels):
        ready = loop.create_future()
        try:
            _, proto = await loop.create_connection(
                lambda: Tunnel(host, port, window, ready, counter), host, port)
            if await asyncio.wait_for(ready, 10):
                protocols.append(proto)
            else:
                failed += 1
        except (OSError, asyncio.TimeoutError):
            failed += 1
    if not protocols:
        print(f"messages=0 seconds=0 failed={failed}", flush=True)
        return
    start = time.monotonic()
    counter[0] = 0
    for p in protocols:
        p.start()
    await asyncio.sleep(seconds)
    messages, elapsed = counter[0], time.monotonic() - start
    for p in protocols:
        p.running = False
        p.transport.close()
    print(f"messages={messages} seconds={elapsed:.3f} failed={failed}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
