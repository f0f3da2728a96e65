"""The command line: `--check` validates a config and reports every error as
`FILE:LINE:COL: key.path: message`; a bad config refuses to start without crashing;
`--version` and `--help` work."""

import re
import subprocess

from harness import BAD_LOG, edged_bin, edged_env, free_port, make_config, to_yaml

VALID_BAD_LINES = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:")

# line 4 col 3: unknown key; line 13: a route to an upstream that does not exist
BAD_CONFIG = """\
workers: 1
timeouts:
  connect: 1s
  bogus_key: 5s
listen:
  - address: 127.0.0.1:{port}
upstreams:
  api:
    servers:
      - address: 127.0.0.1:{port1}
routes:
  - match: {{ prefix: / }}
    upstream: nope
"""

# line 12: the second server's weight is out of range (design: must be 1..1000)
BAD_WEIGHT = """\
workers: 1
listen:
  - address: 127.0.0.1:{port}
limits:
  max_header_bytes: 16KiB
  max_body_bytes: 10MiB
upstreams:
  api:
    servers:
      - address: 127.0.0.1:{port1}
      - address: 127.0.0.1:{port2}
        weight: 0
routes:
  - match: {{ prefix: / }}
    upstream: api
"""


def run(args, timeout=10):
    p = subprocess.run([edged_bin()] + args, capture_output=True, timeout=timeout,
                       env=edged_env(), stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def no_crash(rc, out, err):
    assert rc >= 0, "killed by signal %d\n%s" % (-rc, err)
    assert not VALID_BAD_LINES.search(err), err


def error_lines(path, err):
    return [l for l in err.splitlines() if l.startswith(str(path) + ":")]


def test_check_valid_config_exits_0(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(to_yaml(make_config({"api": ["127.0.0.1:%d" % free_port()]},
                                        port=free_port())) + "\n")
    rc, out, err = run(["--config", str(path), "--check"])
    no_crash(rc, out, err)
    assert rc == 0, err
    assert error_lines(path, err) == [], err
    assert not BAD_LOG.search(err), err


def test_check_reports_every_error_with_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_CONFIG.format(port=free_port(), port1=free_port()))
    rc, out, err = run(["--config", str(path), "--check"])
    no_crash(rc, out, err)
    assert rc == 1, (rc, err)
    lines = error_lines(path, err)
    assert len(lines) == 2, "expected exactly the 2 errors, in file order:\n" + err
    assert re.match(re.escape(str(path)) + r":4:3: timeouts\.bogus_key: \S", lines[0]), lines[0]
    # the key (col 5) or its value (col 15) may carry the mark
    assert re.match(re.escape(str(path)) + r":13:(5|15): routes\[0\]\.upstream: \S",
                    lines[1]), lines[1]


def test_check_reports_value_out_of_range(tmp_path):
    path = tmp_path / "weight.yaml"
    path.write_text(BAD_WEIGHT.format(port=free_port(), port1=free_port(), port2=free_port()))
    rc, out, err = run(["--config", str(path), "--check"])
    no_crash(rc, out, err)
    assert rc == 1, (rc, err)
    lines = error_lines(path, err)
    assert len(lines) == 1, err
    assert re.match(re.escape(str(path)) + r":12:(9|17): upstreams\.api\.servers\[1\]\.weight: \S",
                    lines[0]), lines[0]


def test_check_yaml_syntax_error_and_missing_file(tmp_path):
    path = tmp_path / "syntax.yaml"
    path.write_text("workers: 1\nlisten:\n  - address: 127.0.0.1:1\n    extra: [1, 2\n")
    rc, out, err = run(["--config", str(path), "--check"])
    no_crash(rc, out, err)
    assert rc == 1, (rc, err)
    assert re.search(r"^" + re.escape(str(path)) + r":\d+:\d+: ", err, re.M), err

    missing = tmp_path / "does-not-exist.yaml"
    rc, out, err = run(["--config", str(missing), "--check"])
    no_crash(rc, out, err)
    assert rc == 1, (rc, err)
    assert str(missing) in err


def test_bad_config_on_start_exits_nonzero_without_crash(tmp_path):
    path = tmp_path / "bad.yaml"
    port = free_port()
    path.write_text(BAD_CONFIG.format(port=port, port1=free_port()))
    rc, out, err = run(["--config", str(path)], timeout=10)
    no_crash(rc, out, err)
    assert rc != 0, "edged started with an invalid config"
    assert len(error_lines(path, err)) == 2, err


def test_version_and_help(tmp_path):
    rc, out, err = run(["--version"])
    no_crash(rc, out, err)
    assert rc == 0, err
    assert re.search(r"\d+\.\d+", out + err), (out, err)
    assert "edged" in (out + err).lower()

    rc, out, err = run(["--help"])
    no_crash(rc, out, err)
    assert rc == 0, err
    assert "--config" in out + err
    assert "--check" in out + err
