"""`edged --check` and start-up load every TLS certificate, key and CA the config names (made
here with tlstools.py) and report a bad one as FILE:LINE:COL at its YAML entry."""

import re
import subprocess

from harness import edged_bin, edged_env
from tlstools import Pki

CONFIG = """\
workers: 1
listen:
  - address: 127.0.0.1:18443
    tls:
      certificates:
        - {{ cert: {c1}, key: {k1} }}
        - cert: {c2}
          key: {k2}
      client_ca: {ca}
  - address: 127.0.0.1:18080
    redirect_https: true
upstreams:
  api:
    tls: {{ verify: true, ca: {ca}, sni: api.internal }}
    servers:
      - address: 127.0.0.1:18001
routes:
  - match: {{ prefix: / }}
    upstream: api
"""


def run(args, timeout=20):
    p = subprocess.run([edged_bin()] + args, capture_output=True, timeout=timeout, env=edged_env(),
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr.decode(errors="replace")


def test_valid_tls_config_passes_check(tmp_path):
    pki = Pki(tmp_path / "pki")
    ec = pki.leaf("example.com", dns=["example.com"])
    rsa = pki.leaf("*.example.com", key="rsa")
    path = tmp_path / "good.yaml"
    path.write_text(CONFIG.format(c1=ec.cert, k1=ec.key, c2=rsa.cert, k2=rsa.key, ca=pki.ca.cert))
    rc, err = run(["--config", str(path), "--check"])
    assert rc == 0, err
    assert "test is successful" in err


def test_mismatched_key_and_expired_certificate_are_positioned_errors(tmp_path):
    pki = Pki(tmp_path / "pki")
    ec = pki.leaf("example.com")
    old = pki.leaf("old.example.com", expired=True)
    stray = pki.stray_key()
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.format(c1=ec.cert, k1=stray, c2=old.cert, k2=old.key, ca=pki.ca.cert))
    key_column = len("        - { cert: %s, key: " % ec.cert) + 1
    for args in (["--config", str(path), "--check"], ["--config", str(path)]):
        rc, err = run(args)
        assert rc == 1, err
        lines = [l for l in err.splitlines() if l.startswith(str(path) + ":")]
        assert len(lines) == 2, err
        assert lines[0] == "%s:6:%d: listen[0].tls.certificates[0].key: %s: private key does not match " \
                           "the certificate %s" % (path, key_column, stray, ec.cert), lines[0]
        assert re.match(re.escape("%s:7:17: listen[0].tls.certificates[1].cert: %s: certificate expired on "
                                  % (path, old.cert)), lines[1]), lines[1]
        assert "AddressSanitizer" not in err and "runtime error:" not in err


def test_unreadable_ca_is_reported_at_the_upstream(tmp_path):
    pki = Pki(tmp_path / "pki")
    ec = pki.leaf("example.com")
    path = tmp_path / "ca.yaml"
    text = CONFIG.format(c1=ec.cert, k1=ec.key, c2=ec.cert, k2=ec.key, ca=pki.ca.cert)
    text = text.replace("tls: { verify: true, ca: %s" % pki.ca.cert, "tls: { verify: true, ca: /nonexistent.pem")
    path.write_text(text)
    rc, err = run(["--config", str(path), "--check"])
    assert rc == 1, err
    assert "%s:14:30: upstreams.api.tls.ca: cannot read /nonexistent.pem: No such file or directory" % path in err, err
