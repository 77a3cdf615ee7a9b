"""Pebble (Let's Encrypt's test ACME CA, Debian package `pebble`) on loopback
for end-to-end tests.

    from harness.pebble import Pebble
    with Pebble() as ca:
        ca.start(dns_port=fake_dns_port, eab={"kid-1": "<base64url hmac>"})
        ca.directory        # https://127.0.0.1:PORT/dir
        ca.ca_bundle        # PEM file with the root of Pebble's own TLS cert
        ca.root_pem()       # Pebble's issuing root (management API)
        proxy = ca.behind_boulder_proxy()   # Boulder's behaviours in front (boulder_proxy.py)

Pebble gets a throwaway TLS certificate made with the openssl CLI, binds
127.0.0.1 on free ports, validates DNS-01 against `dns_port` for real
(PEBBLE_VA_ALWAYS_VALID is never set) and is stopped by stop(). Readiness is
polled on the directory, bounded; no fixed sleeps.

ChallTestSrv wraps `pebble-challtestsrv` as the DNS server when a test has no
DNS server of its own.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

PEBBLE = os.environ.get("PEBBLE_BIN", "/usr/bin/pebble")
CHALLTESTSRV = os.environ.get("CHALLTESTSRV_BIN", "/usr/bin/pebble-challtestsrv")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def free_port(kind=socket.SOCK_STREAM):
    """A port free on 127.0.0.1 for TCP (and, for DNS, UDP too) right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        try:
            with socket.socket(socket.AF_INET, other) as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port on 127.0.0.1")


def make_tls_cert(directory, names=("127.0.0.1", "localhost")):
    """Throwaway CA + server certificate for `names`; returns (ca, cert, key) paths."""
    ca_key = os.path.join(directory, "tls-ca.key")
    ca_cert = os.path.join(directory, "tls-ca.pem")
    key = os.path.join(directory, "tls.key")
    csr = os.path.join(directory, "tls.csr")
    cert = os.path.join(directory, "tls.pem")
    ext = os.path.join(directory, "tls.ext")
    sans = ",".join(("IP:" if n.replace(".", "").isdigit() else "DNS:") + n for n in names)
    run = lambda *args: subprocess.run([OPENSSL, *args], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca_cert, "-days", "2", "-subj", "/CN=renewer test TLS root",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=" + names[0])
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" % sans)
    run("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext)
    return ca_cert, cert, key


def _wait(predicate, timeout, what, proc=None):
    """Polls `predicate` with short growing intervals until true or `timeout`."""
    end = time.monotonic() + timeout
    delay = 0.01
    last = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            if predicate():
                return
        except Exception as e:  # not up yet
            last = e
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise RuntimeError("%s not ready after %ss: %s" % (what, timeout, last))


def _stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


class Pebble:
    def __init__(self, workdir=None):
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="pebble-")
        self.proc = None
        self.port = self.mgmt_port = None
        self.ca_bundle = None
        self.log_path = os.path.join(self.workdir, "pebble.log")
        self._proxies = []

    def start(self, dns_port, eab=None, nonce_reject=0, alternate_roots=0, chain_length=None,
              extra_env=None, timeout=30):
        """Starts Pebble validating DNS-01 against 127.0.0.1:dns_port.

        eab: {kid: base64url hmac key} -> externalAccountBindingRequired.
        nonce_reject: PEBBLE_WFE_NONCEREJECT percentage.
        alternate_roots: PEBBLE_ALTERNATE_ROOTS (alternate chains).
        """
        self.ca_bundle, cert, key = make_tls_cert(self.workdir)
        self.port, self.mgmt_port = free_port(), free_port()
        config = {"pebble": {
            "listenAddress": "127.0.0.1:%d" % self.port,
            "managementListenAddress": "127.0.0.1:%d" % self.mgmt_port,
            "certificate": cert,
            "privateKey": key,
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(eab),
        }}
        if eab:
            config["pebble"]["externalAccountMACKeys"] = dict(eab)
        config_path = os.path.join(self.workdir, "pebble-config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ)
        env.pop("PEBBLE_VA_ALWAYS_VALID", None)
        env.update({"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": str(nonce_reject)})
        if alternate_roots:
            env["PEBBLE_ALTERNATE_ROOTS"] = str(alternate_roots)
        if chain_length:
            env["PEBBLE_CHAIN_LENGTH"] = str(chain_length)
        env.update(extra_env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PEBBLE, "-config", config_path, "-dnsserver", "127.0.0.1:%d" % dns_port],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        self._ctx = ssl.create_default_context(cafile=self.ca_bundle)
        _wait(lambda: self._get(self.directory).status == 200, timeout, "pebble", self.proc)
        return self

    @property
    def directory(self):
        return "https://127.0.0.1:%d/dir" % self.port

    @property
    def management(self):
        return "https://127.0.0.1:%d" % self.mgmt_port

    def _get(self, url):
        return urllib.request.urlopen(url, context=self._ctx, timeout=10)

    def root_pem(self, index=0):
        """Pebble's issuing root number `index` (regenerated at every start)."""
        return self._get("%s/roots/%d" % (self.management, index)).read().decode()

    def intermediate_pem(self, index=0):
        return self._get("%s/intermediates/%d" % (self.management, index)).read().decode()

    def cert_status(self, serial_hex):
        """Pebble's view of a certificate: {"Status": "Valid"|"Revoked", "Reason": n, ...}."""
        return json.load(self._get("%s/cert-status-by-serial/%s" % (self.management, serial_hex)))

    def behind_boulder_proxy(self):
        """A started BoulderProxy in front of this Pebble: give the client
        proxy.directory and proxy.ca_bundle. Stopped by stop()."""
        from harness.boulder_proxy import BoulderProxy  # it imports this module

        proxy = BoulderProxy(self.directory, self.ca_bundle).start()
        self._proxies.append(proxy)
        return proxy

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        for proxy in self._proxies:
            proxy.stop()
        self._proxies = []
        _stop(self.proc)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class ChallTestSrv:
    """pebble-challtestsrv as a DNS server: DNS-01 TXT records set over its
    management API; HTTP-01, HTTPS-01 and TLS-ALPN-01 responders disabled."""

    def __init__(self):
        self.proc = None
        self.dns_port = self.mgmt_port = None

    def start(self, timeout=15):
        self.dns_port, self.mgmt_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [CHALLTESTSRV, "-dns01", "127.0.0.1:%d" % self.dns_port,
             "-management", "127.0.0.1:%d" % self.mgmt_port,
             "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", ""] if _has_doh() else
            [CHALLTESTSRV, "-dns01", "127.0.0.1:%d" % self.dns_port,
             "-management", "127.0.0.1:%d" % self.mgmt_port,
             "-http01", "", "-https01", "", "-tlsalpn01", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._ready, timeout, "pebble-challtestsrv", self.proc)
        return self

    def _ready(self):
        with socket.create_connection(("127.0.0.1", self.mgmt_port), timeout=1):
            return True

    def _post(self, path, body):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.mgmt_port, path),
                                     data=json.dumps(body).encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def set_txt(self, domain, value):
        self._post("/set-txt", {"host": "_acme-challenge.%s." % domain, "value": value})

    def clear_txt(self, domain):
        self._post("/clear-txt", {"host": "_acme-challenge.%s." % domain})

    def stop(self):
        _stop(self.proc)
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _has_doh():
    out = subprocess.run([CHALLTESTSRV, "-h"], capture_output=True, text=True)
    return "-doh" in (out.stdout + out.stderr)
