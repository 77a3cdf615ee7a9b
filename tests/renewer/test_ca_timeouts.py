"""A CA that accepts connections and never answers (docs/configuration.md#time-limits).

Every CA call is bounded by the run's settings: one call, its retries
included, by --timeout, and all of them by --deadline (less the 20 s kept for
clean-up). A hung CA must end `renewer run` and `renewer plan` within that
limit plus a little, with a message naming the limit that was hit; a plan
with nothing stored never contacts the CA at all.

The CA is a TCP listener on 127.0.0.1 that accepts and then says nothing
(not even the TLS handshake), the way a stuck load balancer behaves.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v test_ca_timeouts
"""

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest

BUILD_DIR = os.environ.get("BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
RENEWER = os.path.join(BUILD_DIR, "bin", "renewer")
# Process start, configuration checks and the report on a loaded 2-core machine.
SLACK_S = 4.0
_SETTINGS_PREFIXES = ("ACME_", "AWS_", "RFC2136_", "EXEC_", "RENEWER_")


class SilentCa:
    """Accepts every connection on 127.0.0.1 and holds it open, silent."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "https://127.0.0.1:%d/dir" % self.sock.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.accepted.append(conn)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class CaTimeouts(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="renewer-ca-timeouts-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.ca = SilentCa()
        self.addCleanup(self.ca.close)
        self.out = os.path.join(self.tmp, "out")
        os.makedirs(self.out)

    def store_certificate(self):
        """A valid certificate in the --out folder (a renewer dir: store reads
        fullchain.pem + privkey.pem): a plan then asks the CA for renewal info."""
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "privkey.pem", "-out", "fullchain.pem", "-days", "90", "-subj", "/CN=a.example.test",
                "-addext", "subjectAltName=DNS:a.example.test", cwd=self.out)

    def renewer(self, command, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS_PREFIXES)}
        env["RENEWER_SPOOL_DIR"] = os.path.join(self.tmp, "spool")
        cmd = [RENEWER, command, "-d", "a.example.test", "--out", self.out, "--server", self.ca.url,
               "--dns", "rfc2136", "--rfc2136-server", "127.0.0.1:53", "--email", "ops@example.test",
               "--agree-tos", "--log-format", "json", *args]
        start = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        took = time.monotonic() - start
        explain = "$ %s\nexit %d after %.1f s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            " ".join(cmd), p.returncode, took, p.stdout, p.stderr[-6000:])
        print("FIGURE renewer %s %s against a silent CA: exit %d after %.1f s" %
              (command, " ".join(args), p.returncode, took), flush=True)
        return p, took, explain

    def test_run_ends_within_timeout_naming_it(self):
        p, took, explain = self.renewer("run", "--timeout", "5")
        self.assertLess(took, 5 + SLACK_S, explain)
        self.assertEqual(p.returncode, 1, explain)
        failed = [json.loads(line) for line in p.stdout.splitlines() if '"failed"' in line]
        self.assertTrue(failed, explain)
        reason = failed[0].get("reason", "")
        self.assertIn("cannot reach the ACME server", reason, explain)
        self.assertIn("within 5 s (--timeout 5 s)", reason, explain)
        self.assertGreaterEqual(len(self.ca.accepted), 1, "the run never tried the CA")

    def test_plan_ends_within_timeout_naming_it(self):
        self.store_certificate()
        p, took, explain = self.renewer("plan", "--timeout", "5")
        self.assertLess(took, 5 + SLACK_S, explain)
        self.assertEqual(p.returncode, 0, explain)
        self.assertIn("cannot reach the CA", p.stderr, explain)
        self.assertIn("within 5 s (--timeout 5 s)", p.stderr, explain)
        self.assertGreaterEqual(len(self.ca.accepted), 1, "the plan never asked the CA for renewal info")

    def test_plan_ends_by_deadline_naming_it(self):
        # --deadline 26: the work ends 20 s before, 6 s from the start.
        self.store_certificate()
        p, took, explain = self.renewer("plan", "--deadline", "26")
        self.assertLess(took, 6 + SLACK_S, explain)
        self.assertEqual(p.returncode, 0, explain)
        self.assertIn("(--deadline 26 s)", p.stderr, explain)

    def test_plan_with_nothing_stored_does_not_contact_the_ca(self):
        p, took, explain = self.renewer("plan", "--timeout", "5")
        self.assertEqual(p.returncode, 0, explain)
        self.assertIn("no certificate stored", p.stdout, explain)
        self.assertEqual(len(self.ca.accepted), 0, "a plan with nothing stored connected to the CA\n" + explain)
        self.assertLess(took, SLACK_S, explain)


if __name__ == "__main__":
    unittest.main()
