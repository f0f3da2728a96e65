#!/usr/bin/python3
"""tools/bench/ws_echo_origin.py — S8 origin: accepts a WebSocket handshake (answers 101 with the
right Sec-WebSocket-Accept), then echoes every byte it receives. It does not parse frames: the
client's framed messages come back byte for byte, which is all a tunnelling proxy can see.
Usage: ws_echo_origin.py PORT. Standard library only (asyncio protocols, no websockets module:
it is too slow to be the origin).
"""
import asyncio
import base64
import hashlib
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.head = b""
        self.tunnel = False

    def data_received(self, data):
        if self.tunnel:
            self.transport.write(data)
            return
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        head, _, rest = self.head.partition(b"\r\n\r\n")
        key, upgrade = b"", b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"sec-websocket-key":
                key = value.strip()
            elif name == b"upgrade":
                upgrade = value.strip().lower()
        if not key or upgrade != b"websocket":
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()
            return
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.tunnel = True
        if rest:
            self.transport.write(rest)


async def main():
    port = int(sys.argv[1])
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
