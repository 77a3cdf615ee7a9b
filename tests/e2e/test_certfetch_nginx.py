"""The demo's story as a test (scripts/demo.sh): renew into Secrets Manager with an
Auto Scaling instance refresh, certfetch onto a "web host" folder, Debian's
nginx serves it (checked with curl and Python ssl against Pebble's root
only), a forced renewal, certfetch --reload, nginx serves the NEW serial; a
certfetch with nothing new neither rewrites nor reloads.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_certfetch_nginx.py
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import (CERTFETCH, E2eCase, Stack, ZONE, cert_serial, norm_serial, run,  # noqa: E402
                        wait_until)
from nginx import Nginx  # noqa: E402

APEX = ZONE
API = "api." + ZONE


class CertfetchNginx(E2eCase):
    def setUp(self):
        self.stack = Stack.start(self.addCleanup)

    def curl(self, web, name):
        """curl against Pebble's root only; returns (body, serial seen by curl)."""
        p = subprocess.run(["curl", "-sS", "-v", "--max-time", "10", "--cacert", self.stack.root_file,
                            "--resolve", "%s:%d:127.0.0.1" % (name, web.port),
                            "https://%s:%d/" % (name, web.port)],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, "curl failed: %s" % p.stderr[-3000:])
        self.assertIn("SSL certificate verify ok", p.stderr)
        return p.stdout

    def served_serial(self, web, name):
        return cert_serial(web.served_certificate(name, self.stack.root_file))

    def certfetch(self, out, *extra):
        return run([CERTFETCH, "--secret-id", "demo/" + APEX, "--out", out, "--expect-name", APEX, *extra],
                   env=self.stack.env(), timeout=60)

    def test_renew_fetch_serve_force_reload(self):
        s = self.stack
        s.fake.seed_asg("web", size=2, refresh_seconds=0.5)
        s.fake.clear_calls()
        args = ["--cert", APEX + ",*." + APEX, "--cert", API, "--store", "aws-sm:demo/{name}",
                "--replace", "autoscaling:web"]
        r1 = s.renewer("run", *args, account=None)
        print("\nrenew two certificates into Secrets Manager: %.2f s" % r1.seconds)
        self.assertEqual(r1.rc, 0, r1.explain())
        for name in (APEX, API):
            self.assertEqual(r1.certs[name]["outcome"], "renewed", r1.explain())
        refresh = s.fake.calls("StartInstanceRefresh")
        self.assertEqual(len(refresh), 1, "one instance refresh for the whole run: %s" % refresh)
        self.assertEqual(refresh[0]["params"]["AutoScalingGroupName"], "web")
        self.assertEqual(refresh[0]["status"], 200)
        serial1 = norm_serial(r1.certs[APEX]["serial"])

        # The web host: certfetch, then nginx with what it wrote.
        host = self.tmpdir("host-")
        out = os.path.join(host, "tls")
        f1 = self.certfetch(out)
        self.assertEqual(f1.rc, 0, f1.explain())
        leaf = self.assert_valid_files(out, [APEX, "*." + APEX], s.root_pem())
        self.assertEqual(cert_serial(leaf), serial1)
        web = Nginx(out, server_names=[APEX, "*." + APEX])
        self.addCleanup(web.stop)
        self.assertIn("served by nginx", self.curl(web, "www." + APEX))
        self.assertEqual(self.served_serial(web, APEX), serial1)

        # Nothing new: certfetch leaves the files alone and does not reload.
        marker = os.path.join(host, "reloads")
        reload_cmd = "echo reload >> %s && %s" % (marker, web.reload_command())
        mtime = os.stat(os.path.join(out, "fullchain.pem")).st_mtime_ns
        f2 = self.certfetch(out, "--reload", reload_cmd)
        self.assertEqual(f2.rc, 0, f2.explain())
        self.assertFalse(os.path.exists(marker), "reloaded although nothing changed")
        self.assertEqual(os.stat(os.path.join(out, "fullchain.pem")).st_mtime_ns, mtime)

        # The first instance refresh finishes (0.5 s in the fake) before the
        # next run starts another one.
        s.fake.wait_for(lambda: [g for g in s.fake.asgs() if g["name"] == "web"][0]["refreshes"][-1]["Status"]
                        == "Successful", timeout=20, what="the instance refresh to finish")

        # A forced renewal.
        s.fake.clear_calls()
        r2 = s.renewer("run", *args, "--force", account=None)
        self.assertEqual(r2.rc, 0, r2.explain())
        serial2 = norm_serial(r2.certs[APEX]["serial"])
        self.assertNotEqual(serial2, serial1)
        self.assertEqual(len(s.fake.calls("StartInstanceRefresh")), 1)

        # certfetch --reload: new files, one reload, nginx serves the new serial.
        f3 = self.certfetch(out, "--reload", reload_cmd)
        self.assertEqual(f3.rc, 0, f3.explain())
        with open(marker) as f:
            self.assertEqual(f.read().split(), ["reload"])
        leaf = self.assert_valid_files(out, [APEX, "*." + APEX], s.root_pem())
        self.assertEqual(cert_serial(leaf), serial2)
        # nginx re-reads its files asynchronously after the signal: poll, bounded.
        wait_until(lambda: self.served_serial(web, APEX) == serial2, 15,
                   "nginx to serve serial %s (error log: %s)" % (serial2, web.error_log()))
        self.assertIn("served by nginx", self.curl(web, APEX))
        print("nginx served %s, then %s after certfetch --reload" % (serial1, serial2))

        # Nothing due now.
        r3 = s.renewer("run", *args, account=None)
        self.assertEqual(r3.rc, 0, r3.explain())
        self.assertEqual({l["outcome"] for l in r3.certs.values()}, {"not due"}, r3.explain())
        web.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
