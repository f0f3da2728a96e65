"""Harness for the reference backend's integration tests: the real PostgreSQL primary + streaming
replica and Redis, started once per test file through tools/stack on free loopback ports, and the
real edged_backend binary (EDGED_BACKEND_BIN) started against them."""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness import free_port

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "tools" / "stack"
DEFAULT_BIN = REPO / "build" / "test" / "tools" / "backend" / "edged_backend"
BAD_LOG = re.compile(r"\[(error|alert|crit)\]|AddressSanitizer|LeakSanitizer|runtime error:")
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:quarantine_size_mb=1",
           UBSAN_OPTIONS="print_stacktrace=1")


def backend_bin():
    path = os.environ.get("EDGED_BACKEND_BIN") or str(DEFAULT_BIN)
    deadline = time.monotonic() + 60
    while not os.access(path, os.X_OK):
        if time.monotonic() > deadline:
            pytest.fail("edged_backend binary %s not found" % path)
        time.sleep(0.5)
    return path


class Stack:
    """tools/stack in a temporary directory on free ports."""

    def __init__(self, replica_delay_ms=0):
        self.dir = tempfile.mkdtemp(prefix="edged-stack-")
        self.pg_port, self.replica_port, self.redis_port = free_port(), free_port(), free_port()
        self.delay = replica_delay_ms

    def run(self, command, *components, timeout=120):
        args = [str(STACK), command, "--dir", self.dir, "--pg-port", str(self.pg_port),
                "--replica-port", str(self.replica_port), "--redis-port", str(self.redis_port),
                "--replica-delay-ms", str(self.delay), *components]
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, "tools/stack %s failed:\n%s%s" % (command, done.stdout, done.stderr)
        return done.stdout

    def dsn(self, port=None, db="edged"):
        return "host=127.0.0.1 port=%d dbname=%s user=edged" % (port or self.pg_port, db)

    def psql(self, sql, port=None, db="edged", user="edged"):
        done = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port or self.pg_port), "-U", user,
                               "-d", db, "-c", sql], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def stop_all(self):
        try:
            self.run("stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def start_stack(replica_delay_ms=0):
    stack = Stack(replica_delay_ms)
    try:
        stack.run("start")
    except BaseException:
        stack.stop_all()
        raise
    return stack


class Backend:
    """One edged_backend (supervisor + workers) on a port bound as 0 and read back."""

    def __init__(self, stack, *extra, processes=1, replica=True, redis=True, db="edged", prefix=None):
        self.dir = tempfile.mkdtemp(prefix="edged-backend-")
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "backend.log")
        args = [backend_bin(), "--listen", "127.0.0.1:0", "--port-file", self.port_file,
                "--processes", str(processes), "--primary", stack.dsn(db=db)]
        if replica:
            args += ["--replica", stack.dsn(stack.replica_port, db=db)]
        if redis:
            args += ["--redis", "127.0.0.1:%d" % stack.redis_port,
                     "--redis-prefix", prefix or "t%d:" % int(time.monotonic() * 1000000)]
        else:
            args += ["--no-redis"]
        args += list(extra)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=ENV)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                pytest.fail("edged_backend exited with %s:\n%s" % (self.proc.returncode, self.log_text()))
            if time.monotonic() > deadline:
                pytest.fail("edged_backend did not start:\n" + self.log_text())
            time.sleep(0.05)
        self.port = int(open(self.port_file).read())
        # Ready: every worker answers (each has its own socket; a few tries reach them all).
        while True:
            try:
                status, _, _ = self.request("GET", "/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("edged_backend not ready:\n" + self.log_text())
            time.sleep(0.05)

    def log_text(self):
        self.log.flush()
        return open(self.log_path, errors="replace").read()

    def connect(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        """(status, headers, body) on a new connection, or on `conn` (kept alive)."""
        own = conn is None
        c = conn or self.connect()
        try:
            data = body if body is None or isinstance(body, (bytes, str)) else json.dumps(body)
            c.request(method, path, body=data, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            if own:
                c.close()

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self, expect_clean=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("edged_backend did not stop within 30 s after SIGTERM:\n" + self.log_text())
        text = self.log_text()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if expect_clean:
            assert self.proc.returncode == 0, "exit status %s:\n%s" % (self.proc.returncode, text)
            bad = [line for line in text.splitlines() if BAD_LOG.search(line)]
            assert not bad, "bad lines in the backend log:\n" + "\n".join(bad[:40])
        return text


def rss_kib(pid, field="VmRSS"):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0
