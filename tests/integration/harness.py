"""Harness for the edged integration tests: start the real binary with a temporary YAML, wait
for its port, and on teardown SIGTERM it, expect exit 0 and fail on any error/alert/sanitizer
line in its log (nginx-tests' Test::Nginx habit). Fixtures are re-exported by conftest.py."""

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from origin import Blackhole, Origin

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "test" / "proxy" / "edged"
BIN_WAIT_SECONDS = float(os.environ.get("EDGED_BIN_WAIT", "60"))

ASAN_OPTIONS = "detect_leaks=1:abort_on_error=0:quarantine_size_mb=16"
UBSAN_OPTIONS = "print_stacktrace=1"

# Lines that mean edged malfunctioned (expected per-request failures are logged at warn).
BAD_LOG = re.compile(r"\[(error|alert|crit|emerg)\]|AddressSanitizer|LeakSanitizer|"
                     r"runtime error:")

_bin_cache = {}


def edged_bin():
    """Path of the edged binary (EDGED_BIN or <repo>/build/test/proxy/edged). A path that never
    existed in this run fails at once (a wrong EDGED_BIN, or nothing built); one that is not
    executable yet, or that existed before (a rebuild's linker is replacing it), is waited for,
    a bounded time."""
    path = os.environ.get("EDGED_BIN") or str(DEFAULT_BIN)
    missing = ("edged binary %s does not exist (%s); build it or point EDGED_BIN at it"
               % (path, "EDGED_BIN" if os.environ.get("EDGED_BIN") else "the default path"))
    if _bin_cache.get(path) is False:
        pytest.fail(missing)
    if path in _bin_cache:
        if os.access(path, os.X_OK):
            return path
    deadline = time.monotonic() + BIN_WAIT_SECONDS
    while not os.access(path, os.X_OK):
        if not os.path.exists(path) and path not in _bin_cache:
            _bin_cache[path] = False
            pytest.fail(missing)
        if time.monotonic() > deadline:
            pytest.fail("edged binary %s is not executable after %.0f s" % (path, BIN_WAIT_SECONDS))
        time.sleep(0.5)
    _bin_cache[path] = True
    return path


def edged_env():
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ASAN_OPTIONS
    env["UBSAN_OPTIONS"] = UBSAN_OPTIONS
    return env


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- YAML -----------------------------------------------------------------------------------

def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if s == "" or re.search(r"[:#{}\[\],&*!|>'\"%@`]\s|^[\s\-?]|\s$|^[{\[]", s) or \
            s.lower() in ("true", "false", "null", "yes", "no", "~"):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts / lists / scalars (enough for edged's schema)."""
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, (dict, list)):
                lines.append("%s%s: %s" % (pad, k, "{}" if isinstance(v, dict) else "[]"))
            else:
                lines.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                sub = to_yaml(item, indent + 2).split("\n")
                lines.append("%s- %s" % (pad, sub[0][indent + 2:]))
                lines += sub[1:]
            else:
                lines.append("%s- %s" % (pad, _scalar(item)))
    else:
        lines.append(pad + _scalar(obj))
    return "\n".join(lines)


def make_config(upstreams, routes=None, port=None, **overrides):
    """A config dict. upstreams: {name: [address, ...]} or {name: {full upstream dict}};
    routes default to `/` -> the first upstream. Top-level keys in overrides replace (dicts are
    merged one level deep)."""
    ups = {}
    for name, spec in upstreams.items():
        if isinstance(spec, dict):
            ups[name] = spec
        else:
            addrs = [spec] if isinstance(spec, str) else spec
            ups[name] = {"servers": [{"address": a} for a in addrs]}
    if routes is None:
        routes = [{"match": {"prefix": "/"}, "upstream": next(iter(upstreams))}]
    cfg = {
        "workers": 1,
        "listen": [{"address": "127.0.0.1:%d" % (port or 0)}],
        "timeouts": {"connect": "2s", "read": "5s", "send": "5s", "client_header": "5s",
                     "client_body": "5s", "keepalive": "10s"},
        "limits": {"max_header_bytes": "16KiB", "max_body_bytes": "10MiB"},
        "access_log": {"path": "stdout"},
        "upstreams": ups,
        "routes": routes,
    }
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


# -- the daemon -----------------------------------------------------------------------------

class Edged:
    def __init__(self, config, workdir, args=()):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if isinstance(config, dict):
            config = dict(config)
            if config["listen"][0]["address"].endswith(":0"):
                config["listen"] = [{"address": "127.0.0.1:%d" % free_port()}]
            self.port = int(config["listen"][0]["address"].rsplit(":", 1)[1])
            text = to_yaml(config) + "\n"
        else:
            m = re.search(r"address:\s*127\.0\.0\.1:(\d+)", config)
            self.port = int(m.group(1))
            text = config
        self.config_text = text
        self.config_path = self.workdir / "edged.yaml"
        self.config_path.write_text(text)
        self.stdout_path = self.workdir / "stdout.log"
        self.stderr_path = self.workdir / "stderr.log"
        self.args = list(args)
        self.proc = None
        self.returncode = None
        self.checked = False

    def start(self, wait=10.0):
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        # the binary may be being replaced by a rebuild: retry exec for a bounded time
        exec_deadline = time.monotonic() + BIN_WAIT_SECONDS
        while True:
            binary = edged_bin()
            try:
                self.proc = subprocess.Popen(
                    [binary, "--config", str(self.config_path)] + self.args,
                    stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                    env=edged_env(), cwd=str(self.workdir))
                break
            except OSError as ex:   # ENOENT / ETXTBSY while the linker writes it
                if time.monotonic() > exec_deadline:
                    raise AssertionError("cannot execute %s: %r" % (binary, ex))
                time.sleep(0.5)
        deadline = time.monotonic() + wait
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("edged exited with %s during startup; stderr:\n%s\nconfig:\n%s"
                                     % (self.proc.returncode, self.error_log()[-4000:],
                                        self.config_text))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("edged did not accept on port %d within %.0f s; stderr:\n%s"
                                     % (self.port, wait, self.error_log()[-4000:]))
            time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS for pid %d" % self.proc.pid)

    def error_log(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def access_log(self):
        try:
            return [l for l in self.stdout_path.read_text(errors="replace").splitlines() if l]
        except FileNotFoundError:
            return []

    def wait_access_lines(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.access_log()
            if len(lines) >= n:
                return lines
            time.sleep(0.05)
        return self.access_log()

    def write_config(self, config):
        """Replace the configuration file edged was started with (`--config`), for a reload:
        config is a dict (to YAML; a first listener on port 0 becomes this edged's own address,
        the other listeners are kept as given) or YAML text. Written to a temporary file and
        renamed over the old one, so a reload never reads a half-written file. Returns the text."""
        if isinstance(config, dict):
            config = dict(config)
            listen = list(config["listen"])
            if listen[0]["address"].endswith(":0"):
                listen[0] = dict(listen[0], address="127.0.0.1:%d" % self.port)
            config["listen"] = listen
            text = to_yaml(config) + "\n"
        else:
            text = config
        tmp = self.config_path.with_name(self.config_path.name + ".new")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)
        self.config_text = text
        return text

    def reload(self, config=None):
        """Rewrite the configuration file (when config is given, see write_config) and send
        SIGHUP. Returns at once: the reload is asynchronous, so poll for its effect."""
        if config is not None:
            self.write_config(config)
        self.signal(signal.SIGHUP)

    def signal(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=15.0):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError("edged (pid %d) did not exit within %.0f s of SIGTERM; stderr "
                                 "tail:\n%s" % (self.proc.pid, timeout, self.error_log()[-3000:]))
        return self.returncode

    def stop(self, timeout=15.0):
        """SIGTERM (if still running), wait, and check exit code and log. Idempotent."""
        if self.proc is None or self.checked:
            return
        self.checked = True
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            rc = self.wait(timeout)
        finally:
            self._out.close()
            self._err.close()
        problems = []
        if rc != 0:
            problems.append("edged exited with %s after SIGTERM (expected 0)" % rc)
        bad = [l for l in self.error_log().splitlines() if BAD_LOG.search(l)]
        if bad:
            problems.append("edged logged %d error/sanitizer line(s):\n  %s"
                            % (len(bad), "\n  ".join(bad[:20])))
        if problems:
            raise AssertionError("\n".join(problems) + "\n--- stderr tail ---\n"
                                 + self.error_log()[-6000:])


@pytest.fixture
def edged(tmp_path):
    """Factory: edged(config_dict_or_yaml, args=()) -> a started Edged; stopped and checked
    at teardown."""
    started = []

    def start(config, args=(), wait=10.0):
        e = Edged(config, tmp_path / ("edged%d" % len(started)), args)
        started.append(e)
        return e.start(wait)

    yield start
    errors = []
    for e in started:
        try:
            e.stop()
        except AssertionError as x:
            errors.append(str(x))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def origin():
    """Factory: origin(name, handler=None, **kw) -> a running Origin, stopped at teardown."""
    made = []

    def make(name="origin", handler=None, **kw):
        o = Origin(name, handler, **kw)
        made.append(o)
        return o

    yield make
    for o in made:
        o.stop()


@pytest.fixture
def blackhole():
    holes = []

    def make():
        h = Blackhole()
        holes.append(h)
        return h

    yield make
    for h in holes:
        h.close()


class RssSampler:
    """Samples edged's VmRSS every `interval` seconds on a thread."""

    def __init__(self, edged_proc, interval=0.1):
        self.edged = edged_proc
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(self.edged.rss_kib())
            except (OSError, AssertionError):
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(timeout=2)

    def max(self):
        return max(self.samples) if self.samples else 0
