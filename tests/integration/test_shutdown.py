"""Graceful shutdown: on SIGTERM edged stops accepting, lets the in-flight request finish with
its full response, and exits 0."""

import signal
import socket
import threading
import time

import httpwire
from harness import make_config


def test_sigterm_lets_in_flight_request_finish(edged, origin):
    def slow(conn, req):
        time.sleep(1.0)
        conn.respond(200, b"slow but complete" * 1000)

    o = origin("slow", slow)
    e = edged(make_config({"api": [o.address]}))
    result = {}

    def client():
        try:
            result["r"] = httpwire.request(e.port, "GET", "/slow", timeout=10)
        except Exception as ex:
            result["r"] = ex

    t = threading.Thread(target=client)
    t.start()
    assert o.wait_requests(1, timeout=5), "the request never reached the origin"
    e.signal(signal.SIGTERM)
    sent_at = time.monotonic()

    # new connections are refused while the slow request is still in flight
    refused = False
    while time.monotonic() - sent_at < 0.6:
        try:
            socket.create_connection(("127.0.0.1", e.port), timeout=0.5).close()
        except ConnectionRefusedError:
            refused = True
            break
        except (ConnectionResetError, TimeoutError):
            pass  # a SYN that met the listener while it closed (reset or dropped): not accepted; retry
        time.sleep(0.05)
    assert refused, "edged still accepted connections 0.6 s after SIGTERM"
    assert e.proc.poll() is None, "edged exited before the in-flight request finished"

    t.join(timeout=10)
    assert not t.is_alive()
    r = result["r"]
    assert isinstance(r, httpwire.Response), r
    assert r.status == 200
    assert r.body == b"slow but complete" * 1000

    rc = e.wait(timeout=15)
    assert rc == 0


def test_sigterm_with_idle_keepalive_client_exits_promptly(edged, origin):
    o = origin("a")
    e = edged(make_config({"api": [o.address]}))
    with httpwire.connect(e.port, timeout=5) as s:
        s.sendall(httpwire.build_request("GET", "/x"))
        r = httpwire.read_response(httpwire.BufferedSocket(s))
        assert r.status == 200
        # the client connection is now idle in keep-alive; it must not hold shutdown up
        t0 = time.monotonic()
        e.signal(signal.SIGTERM)
        rc = e.wait(timeout=15)
        elapsed = time.monotonic() - t0
        closed, _ = httpwire.wait_closed(s, 1)
    assert rc == 0
    assert elapsed < 5, "edged took %.1f s to exit with only an idle connection" % elapsed
    assert closed
