"""Customer DNS readiness (docs/customer-domains.md): bind9 hosts a
customer's zone and the zone this job controls (RFC 2136); Pebble validates
against the same bind. Before the customer's `_acme-challenge` CNAME into our
zone exists, `renewer run` reports "waiting for customer DNS", exits 0 and
places no order; a CNAME pointing outside our zone waits too; once the
customer makes the record, the next run issues through the delegation.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_customer_dns.py
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import PEBBLE_ORDER_LINE, RENEWER, BlocklistPebble, E2eCase, run  # noqa: E402
from harness.bind import Bind  # noqa: E402

CUSTOMER = "customer.test"
OURS = "acme-dns.test"
SHOP = "shop." + CUSTOMER
ELSEWHERE = "blog." + CUSTOMER  # its CNAME leads outside our zone
OLD_PROVIDER = "blog.old-provider." + CUSTOMER + "."


class ChasingBind(Bind):
    """bind9 answering with recursion for loopback clients, so that the
    customer's CNAME is chased into our zone within one answer, as a public
    resolver would answer Pebble (the harness's authoritative-only bind stops
    at the zone boundary). Every name the test asks lives in its two zones:
    no query leaves the machine."""

    def _config(self):
        super()._config()
        path = os.path.join(self.tmpdir, "named.conf")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("  recursion no;", "  recursion yes;\n  allow-recursion { 127.0.0.1; };"))


class CustomerDns(E2eCase):
    def setUp(self):
        self.ns = ChasingBind(zones={CUSTOMER: "_acme-challenge.blog IN CNAME %s\n" % OLD_PROVIDER, OURS: ""},
                              start=False)
        self.addCleanup(self.ns.stop)
        self.ns.start()
        self.ca = BlocklistPebble()
        self.addCleanup(self.ca.stop)
        self.ca.start(dns_port=self.ns.port)
        self.dir = self.tmpdir("customer-dns-")
        self.root = os.path.join(self.dir, "root.pem")
        with open(self.root, "w") as f:
            f.write(self.ca.root_pem())

    def renew(self, *extra):
        ns = self.ns
        key = ns.keys["renewer-256"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["RFC2136_TSIG_SECRET"] = key["secret"]
        return run([RENEWER, "run", "--cert", SHOP, "--cert", ELSEWHERE, "--out", os.path.join(self.dir, "out"),
                    "--customer-dns-zone", OURS,
                    "--server", self.ca.directory, "--ca-bundle", self.ca.ca_bundle, "--trust-root", self.root,
                    "--email", "ops@example.test", "--agree-tos",
                    "--account-file", os.path.join(self.dir, "account.json"),
                    "--spool-dir", os.path.join(self.dir, "spool"), "--log-format", "json",
                    "--dns", "rfc2136", "--rfc2136-server", ns.address, "--rfc2136-tsig-key", "renewer-256",
                    "--dns-resolver", ns.address, "--dns-nameservers", ns.address, *extra], env=env, timeout=120)

    def orders(self):
        return self.ca.log().count(PEBBLE_ORDER_LINE)

    def customer_adds_cname(self):
        key = self.ns.keys["renewer-256"]
        script = ("server 127.0.0.1 %d\nzone %s\nupdate add _acme-challenge.%s. 60 CNAME %s.%s.\nsend\n"
                  % (self.ns.port, CUSTOMER, SHOP, SHOP, OURS))
        p = subprocess.run(["nsupdate", "-y", "hmac-sha256:renewer-256:" + key["secret"]], input=script,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_waits_for_the_cname_then_issues(self):
        first = self.renew()
        self.assertEqual(first.rc, 0, first.explain())
        for name in (SHOP, ELSEWHERE):
            self.assertEqual(first.certs[name]["outcome"], "waiting for customer DNS", first.explain())
        self.assertIn("_acme-challenge.%s. is no CNAME yet" % SHOP, first.certs[SHOP]["reason"])
        self.assertIn("_acme-challenge.%s. CNAME %s.%s." % (SHOP, SHOP, OURS), first.certs[SHOP]["reason"])
        self.assertIn("leads to %s, outside %s" % (OLD_PROVIDER, OURS), first.certs[ELSEWHERE]["reason"])
        self.assertEqual(self.orders(), 0, "an order was placed for a name whose customer DNS is not ready")

        self.customer_adds_cname()
        second = self.renew()
        self.assertEqual(second.rc, 0, second.explain())
        self.assertEqual(second.certs[SHOP]["outcome"], "renewed", second.explain())
        self.assertEqual(second.certs[ELSEWHERE]["outcome"], "waiting for customer DNS", second.explain())
        self.assertEqual(self.orders(), 1)
        self.assert_valid_files(os.path.join(self.dir, "out", SHOP), [SHOP], self.ca.root_pem())
        self.assertEqual(self.ns.txt("_acme-challenge.%s.%s" % (SHOP, OURS)), [], "TXT records left in bind")

    def test_plan_shows_the_state(self):
        plan = self.renew("--dry-run")
        self.assertEqual(plan.rc, 0, plan.explain())
        self.assertEqual(plan.certs[SHOP]["outcome"], "waiting for customer DNS", plan.explain())
        self.assertEqual(self.orders(), 0)

    def test_bad_zone_is_a_usage_error(self):
        bad = self.renew("--customer-dns-zone", "not a zone")
        self.assertEqual(bad.rc, 2, bad.explain())
        self.assertIn("--customer-dns-zone", bad.stderr, bad.explain())
        self.assertIn("not a zone", bad.stderr, bad.explain())
        self.assertEqual(self.orders(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
