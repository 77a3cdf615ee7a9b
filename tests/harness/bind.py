"""Start Debian's bind9 (`named`) as an RFC 2136 primary for a test.

    from harness.bind import Bind
    with Bind(zones={"example.test": ""}) as ns:          # starts at once
        ns.address                  # "127.0.0.1:PORT" (UDP + TCP)
        ns.port
        ns.keys["renewer-256"]      # {"algorithm": "hmac-sha256", "secret": base64}
        env = ns.rfc2136_env()      # RFC2136_NAMESERVER / _TSIG_KEY / _TSIG_SECRET / _TSIG_ALGORITHM
        ns.txt("_acme-challenge.example.test")   # TXT values served now (dig)

Each zone gets SOA, NS ns1.<zone> and ns1 A 127.0.0.1, plus the zone-file
lines given (relative names). Two TSIG keys, renewer-256 (hmac-sha256) and
renewer-512 (hmac-sha512), may update anything in every zone. named runs in
the foreground from a private temporary directory, is polled (bounded) until
it answers SOA, and is stopped (SIGTERM, then SIGKILL) by stop().
"""

import base64
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness.ports import free_port_tcp_udp

NAMED = "/usr/sbin/named"
DIG = "/usr/bin/dig"


class BindError(RuntimeError):
    pass


class Bind:
    def __init__(self, zones=None, start=True, timeout=30):
        self.zones = dict(zones or {"example.test": ""})
        self.keys = {
            "renewer-256": {"algorithm": "hmac-sha256",
                            "secret": base64.b64encode(os.urandom(32)).decode()},
            "renewer-512": {"algorithm": "hmac-sha512",
                            "secret": base64.b64encode(os.urandom(64)).decode()},
        }
        self.proc = None
        self.tmpdir = None
        self.port = None
        self.address = None
        if start:
            self.start(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _config(self):
        d = self.tmpdir
        lines = [
            "options {",
            f'  directory "{d}";',
            f'  pid-file "{d}/named.pid";',
            f'  session-keyfile "{d}/session.key";',
            f'  managed-keys-directory "{d}";',
            f"  listen-on port {self.port} {{ 127.0.0.1; }};",
            "  listen-on-v6 { none; };",
            "  recursion no;",
            "  dnssec-validation no;",
            "  notify no;",
            "  allow-query { any; };",
            "};",
            "controls { };",
        ]
        grants = ""
        for name, key in self.keys.items():
            lines.append(f'key "{name}" {{ algorithm {key["algorithm"]}; secret "{key["secret"]}"; }};')
            grants += f" grant {name} zonesub ANY;"
        for zone, records in self.zones.items():
            path = os.path.join(d, zone + ".db")
            with open(path, "w") as f:
                f.write(f"$TTL 300\n@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n"
                        f"@ IN NS ns1.{zone}.\nns1 IN A 127.0.0.1\n{records}\n")
            lines.append(f'zone "{zone}" {{ type primary; file "{path}"; update-policy {{{grants} }}; }};')
        with open(os.path.join(d, "named.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=30):
        self.tmpdir = tempfile.mkdtemp(prefix="renewer-bind-")
        self.port = free_port_tcp_udp()
        self.address = f"127.0.0.1:{self.port}"
        self._config()
        log = open(os.path.join(self.tmpdir, "named.log"), "wb")
        self.proc = subprocess.Popen(
            [NAMED, "-g", "-4", "-n", "1", "-c", os.path.join(self.tmpdir, "named.conf")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        first = next(iter(self.zones))
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if self.proc.poll() is not None:
                text = self.log()
                self.stop()
                raise BindError("named exited during start-up:\n" + text)
            out = subprocess.run([DIG, "+short", "+time=1", "+tries=1", "-p", str(self.port),
                                  "@127.0.0.1", first, "SOA"],
                                 capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                return self
            if time.monotonic() > deadline:
                text = self.log()
                self.stop()
                raise BindError(f"named did not answer within {timeout} s:\n" + text)
            time.sleep(delay)  # polling the readiness condition, bounded by the deadline
            delay = min(delay * 2, 0.25)

    def log(self):
        try:
            with open(os.path.join(self.tmpdir, "named.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def rfc2136_env(self, key="renewer-256"):
        return {
            "RFC2136_NAMESERVER": self.address,
            "RFC2136_TSIG_KEY": key,
            "RFC2136_TSIG_SECRET": self.keys[key]["secret"],
            "RFC2136_TSIG_ALGORITHM": self.keys[key]["algorithm"],
        }

    def txt(self, name):
        out = subprocess.run([DIG, "+short", "+norecurse", "+time=1", "+tries=2", "-p", str(self.port),
                              "@127.0.0.1", name, "TXT"], capture_output=True, text=True, check=True)
        return sorted(line for line in out.stdout.splitlines() if line)

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
