"""`renewer run --dns rfc2136` end to end: TSIG-signed dynamic updates to
Debian's bind9 (tests/harness/bind.py), Pebble's -dnsserver pointing at the
same bind, so Pebble validates the apex + wildcard records bind serves.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_run_rfc2136.py
"""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import E2eCase, RENEWER, ZONE, run  # noqa: E402


class RunRfc2136(E2eCase):
    def test_apex_and_wildcard_through_bind(self):
        ns, ca, d, root = self.bind_and_pebble("rfc2136-")
        out = os.path.join(d, "out")
        key = ns.keys["renewer-512"]
        env = dict(os.environ, RFC2136_TSIG_SECRET=key["secret"])
        for k in list(env):
            if k.startswith("AWS_"):
                del env[k]
        names = [ZONE, "*." + ZONE]
        self.assertEqual(ns.txt("_acme-challenge." + ZONE), [])
        r = run([RENEWER, "run", "-d", names[0], "-d", names[1], "--out", out,
                 "--server", ca.directory, "--ca-bundle", ca.ca_bundle, "--trust-root", root,
                 "--email", "ops@example.test", "--agree-tos", "--account-file", os.path.join(d, "account.json"),
                 "--spool-dir", os.path.join(d, "spool"), "--log-format", "json",
                 "--dns", "rfc2136", "--rfc2136-server", ns.address, "--rfc2136-tsig-key", "renewer-512",
                 "--rfc2136-tsig-algorithm", "hmac-sha512",
                 "--dns-resolver", ns.address, "--dns-nameservers", ns.address], env=env, timeout=120)
        print("\napex+wildcard run through RFC 2136 (bind9): %.2f s" % r.seconds)
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(r.certs[ZONE]["outcome"], "renewed", r.explain())
        self.assert_valid_files(out, names, ca.root_pem())
        self.assertEqual(ns.txt("_acme-challenge." + ZONE), [], "TXT records left in bind")
        self.assertNotIn(key["secret"], r.stdout + r.stderr, "the TSIG secret leaked into the output")
        self.assertIn("updating zone", ns.log(), "bind saw no dynamic update")

    def test_refused_update_leaves_nothing_for_the_next_run(self):
        """A present bind refused (TSIG BADSIG: nothing was written, RFC 2136
        section 3.7) leaves no journal entry, so the next good run neither
        warns about nor "removes" values that never existed."""
        ns, ca, d, root = self.bind_and_pebble("rfc2136-refused-")
        spool = os.path.join(d, "spool")
        journal = spool + "-dns-journal"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

        def renew(secret):
            return run([RENEWER, "run", "-d", ZONE, "-d", "*." + ZONE, "--out", os.path.join(d, "out"),
                        "--server", ca.directory, "--ca-bundle", ca.ca_bundle, "--trust-root", root,
                        "--email", "ops@example.test", "--agree-tos",
                        "--account-file", os.path.join(d, "account.json"),
                        "--spool-dir", spool, "--log-format", "json",
                        "--dns", "rfc2136", "--rfc2136-server", ns.address, "--rfc2136-tsig-key", "renewer-256",
                        "--dns-resolver", ns.address, "--dns-nameservers", ns.address, "--dns-timeout", "20"],
                       env=dict(env, RFC2136_TSIG_SECRET=secret), timeout=120)

        wrong = base64.b64encode(os.urandom(32)).decode()
        bad = renew(wrong)
        self.assertNotEqual(bad.rc, 0, bad.explain())
        self.assertIn("BADSIG", bad.stdout + bad.stderr, bad.explain())
        left = [f for f in (os.listdir(journal) if os.path.isdir(journal) else []) if f.endswith(".json")]
        self.assertEqual(left, [], "a refused update was journalled")

        good = renew(ns.keys["renewer-256"]["secret"])
        self.assertEqual(good.rc, 0, good.explain())
        messages = [rec.get("msg", "") for rec in good.log_records()]
        self.assertFalse([m for m in messages if "TXT values left by an interrupted run" in m],
                         "the good run acted on values that never existed:\n" + good.explain())
        self.assertEqual(ns.txt("_acme-challenge." + ZONE), [], "TXT records left in bind")


if __name__ == "__main__":
    unittest.main(verbosity=2)
