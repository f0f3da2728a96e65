#!/usr/bin/python3
"""tools/bench/idle_conns.py — S6 client: opens N keep-alive connections to HOST:PORT, sends one
GET on each and reads its whole response (so each is an established, idle keep-alive connection
on the proxy), then holds them all until stdin closes or a line arrives.

Prints "READY <ok> <failed>" once every connection is set up. Standard library only.
"""
import socket
import sys


def read_response(sock):
    """Reads one response with Content-Length framing; returns the status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk
    return status


def main():
    host, port, count, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    held, failed = [], 0
    for _ in range(count):
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(request)
            if read_response(s) // 100 != 2:
                raise ConnectionError("non-2xx")
            held.append(s)
        except OSError:
            failed += 1
    print(f"READY {len(held)} {failed}", flush=True)
    sys.stdin.readline()
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
