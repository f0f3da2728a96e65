"""Certificates for the TLS integration tests, made with the `openssl` command line into a
temporary directory (no network): a root CA, optional intermediates, RSA or ECDSA P-256 leaves
with DNS names (wildcards too), expired leaves, keys that match nothing, client certificates.

    pki = Pki(tmp_path)
    leaf = pki.leaf("example.com", dns=["example.com", "*.example.com"])   # ECDSA P-256
    rsa = pki.leaf("rsa.example.com", key="rsa")
    old = pki.leaf("old.example.com", expired=True)
    inter = pki.intermediate("edged test intermediate")
    chained = pki.leaf("chain.example.com", issuer=inter)   # leaf.cert holds leaf + intermediate
    client = pki.leaf("client one", dns=[], client=True)
    pki.ca.cert  # the root, for `client_ca` / `ca` / curl --cacert

Every call returns a Cert with .cert (PEM chain path), .key (PEM key path) and .name.

Client helpers the TLS tests share: client_context(pki) (verifies against pki's root),
read_all(tls_sock), cert_fingerprint(tls_sock) / pem_fingerprint(path) (which certificate a
server presented), s_client(port, *args) and subject_cn(its output)."""

import datetime
import hashlib
import os
import re
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = "openssl"
TIMEOUT = 30


@dataclass
class Cert:
    name: str
    cert: str
    key: str


def _run(args, cwd):
    p = subprocess.run([OPENSSL] + args, cwd=cwd, capture_output=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout


def _slug(name):
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in name.replace("*", "star"))


def _stamp(when):
    return when.strftime("%Y%m%d%H%M%SZ")


class Pki:
    def __init__(self, directory, ca_name="edged test root"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._serial = 1
        self.ca = self._self_signed(ca_name)

    # -- keys -------------------------------------------------------------------------------
    def new_key(self, path, kind="ec"):
        if kind == "ec":
            _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)],
                 self.dir)
        elif kind == "rsa":
            _run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path)],
                 self.dir)
        else:
            raise ValueError("key kind must be 'ec' or 'rsa'")
        return str(path)

    def stray_key(self, kind="ec"):
        """A private key that belongs to no certificate (for key mismatch errors)."""
        return self.new_key(self.dir / ("stray-%d.key" % self._next_serial()), kind)

    # -- certificates -----------------------------------------------------------------------
    def intermediate(self, name, issuer=None):
        return self._sign(name, dns=[], kind="ec", issuer=issuer or self.ca, ca=True)

    def leaf(self, name, dns=None, key="ec", issuer=None, expired=False, days=30, client=False):
        """A leaf certificate for `name` (CN); `dns` defaults to [name]. With an intermediate as
        issuer the .cert file holds the leaf then the intermediate chain."""
        if dns is None:
            dns = [] if client else [name]
        return self._sign(name, dns=dns, kind=key, issuer=issuer or self.ca, ca=False, expired=expired,
                          days=days, client=client)

    # -- internals --------------------------------------------------------------------------
    def _next_serial(self):
        self._serial += 1
        return self._serial

    def _self_signed(self, name):
        slug = _slug(name)
        key = self.new_key(self.dir / (slug + ".key"))
        cert = self.dir / (slug + ".pem")
        _run(["req", "-x509", "-new", "-key", key, "-out", str(cert), "-days", "30", "-subj", "/CN=" + name,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], self.dir)
        return Cert(name, str(cert), key)

    def _sign(self, name, dns, kind, issuer, ca, expired=False, days=30, client=False):
        serial = self._next_serial()
        slug = "%s-%d" % (_slug(name), serial)
        key = self.new_key(self.dir / (slug + ".key"), kind)
        csr = self.dir / (slug + ".csr")
        _run(["req", "-new", "-key", key, "-out", str(csr), "-subj", "/CN=" + name], self.dir)
        ext = self.dir / (slug + ".ext")
        lines = ["basicConstraints=critical,CA:%s" % ("TRUE" if ca else "FALSE"),
                 "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]
        if ca:
            lines.append("keyUsage=critical,keyCertSign,cRLSign")
        else:
            lines.append("extendedKeyUsage=%s" % ("clientAuth" if client else "serverAuth"))
        if dns:
            lines.append("subjectAltName=" + ",".join("DNS:" + d for d in dns))
        ext.write_text("\n".join(lines) + "\n")
        now = datetime.datetime.now(datetime.timezone.utc)
        if expired:
            start, end = now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)
        else:
            start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)
        # `openssl ca` is the CLI way to set both validity ends (x509 -req cannot backdate).
        work = self.dir / ("ca-%d" % serial)
        work.mkdir()
        (work / "index.txt").write_text("")
        (work / "serial").write_text("%04X\n" % serial)
        conf = work / "ca.cnf"
        conf.write_text(
            "[ca]\ndefault_ca=edged\n[edged]\n"
            "database=%s\nnew_certs_dir=%s\nserial=%s\ndefault_md=sha256\npolicy=anything\n"
            "unique_subject=no\nemail_in_dn=no\n[anything]\ncommonName=supplied\n"
            % (work / "index.txt", work, work / "serial"))
        single = self.dir / (slug + ".leaf.pem")
        _run(["ca", "-batch", "-notext", "-config", str(conf), "-cert", issuer.cert, "-keyfile", issuer.key,
              "-in", str(csr), "-out", str(single), "-startdate", _stamp(start), "-enddate", _stamp(end),
              "-extfile", str(ext)], self.dir)
        chain = self.dir / (slug + ".pem")
        text = single.read_text()
        # An issuer that is not the root contributes its own chain (leaf first, then up).
        if issuer is not self.ca:
            text += Path(issuer.cert).read_text()
        chain.write_text(text)
        return Cert(name, str(chain), key)


def verify(pki, cert, name=None):
    """`openssl verify` of a chain against the root; True when it verifies (and matches name)."""
    pems = Path(cert.cert).read_text().split("-----END CERTIFICATE-----")
    leaf_path = Path(cert.cert + ".only")
    leaf_path.write_text(pems[0] + "-----END CERTIFICATE-----\n")
    args = ["verify", "-CAfile", pki.ca.cert]
    rest = "-----END CERTIFICATE-----".join(pems[1:]).strip()
    if rest:
        untrusted = Path(cert.cert + ".untrusted")
        untrusted.write_text(rest + "\n")
        args += ["-untrusted", str(untrusted)]
    if name:
        args += ["-verify_hostname", name]
    p = subprocess.run([OPENSSL] + args + [str(leaf_path)], capture_output=True, timeout=TIMEOUT)
    return p.returncode == 0


# -- clients ---------------------------------------------------------------------------------

def client_context(pki):
    """A Python ssl client context that trusts pki's root and checks host names."""
    return ssl.create_default_context(cafile=pki.ca.cert)


def read_all(tls_sock):
    """Everything until the server ends the stream (close_notify, FIN or a TLS error)."""
    data = b""
    while True:
        try:
            chunk = tls_sock.recv(65536)
        except ssl.SSLError:
            break
        if not chunk:
            break
        data += chunk
    return data


def cert_fingerprint(tls_sock):
    """SHA-256 of the certificate the server presented on this connection."""
    return hashlib.sha256(tls_sock.getpeercert(binary_form=True)).hexdigest()


def pem_fingerprint(path):
    """SHA-256 of the first certificate in a PEM file (comparable with cert_fingerprint)."""
    with open(path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def s_client(port, *args, stdin=b""):
    """`openssl s_client -connect 127.0.0.1:PORT ARGS`: (exit status, stdout and stderr)."""
    p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, *args],
                       input=stdin, capture_output=True, timeout=TIMEOUT)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def subject_cn(out):
    """The CN of the server certificate's subject in s_client output, or None."""
    m = re.search(r"subject=.*?CN\s*=\s*([^,\n/]+)", out)
    return m.group(1).strip() if m else None


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        pki = Pki(d)
        ec = pki.leaf("example.com", dns=["example.com", "*.example.com"])
        rsa = pki.leaf("rsa.example.com", key="rsa")
        old = pki.leaf("old.example.com", expired=True)
        inter = pki.intermediate("edged test intermediate")
        chained = pki.leaf("chain.example.com", issuer=inter)
        client = pki.leaf("client one", client=True)
        assert verify(pki, ec, "a.example.com")
        assert not verify(pki, ec, "a.b.example.com")
        assert verify(pki, rsa, "rsa.example.com")
        assert not verify(pki, old)
        assert verify(pki, chained, "chain.example.com")
        assert verify(pki, client)
        print("tlstools: ok")
