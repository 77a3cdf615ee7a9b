"""The ACME account and what a run does around an issued certificate, with
the real `renewer` against Pebble + tests/fakeaws, and against
tests/acme/ari_responder.py where Debian's Pebble lacks renewalInfo.

Covered:
- one account whatever is due: a run where only certificate A is due, then
  one where only B is (B first in the configuration) -> Pebble holds exactly
  one new account, both bundles record its URL, B's store adopted it;
- `replaces` (RFC 9773 §5) only for a certificate the account in use
  ordered: a bundle of another account, or of another client, gets none;
- --reuse-key with a changed key type: a new key of the new type, once;
- a certificate that fails verification after issuance (a wrong
  --trust-root) stays in the spool marked failed: the next run orders
  nothing and says why, and a run with the right root stores it, no order;
- a corrupted current bundle is due ("unreadable"), logged as an error, and
  replaced by a good one while the other certificate carries on;
- an EAB HMAC key in standard base64 (with '+', '/' and padding) registers.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/renewer/test_account_e2e.py
"""

import base64
import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from e2e_common import E2eCase, RENEWER, SOURCE_DIR, Stack, ZONE, read, run  # noqa: E402
from harness.pebble import make_tls_cert  # noqa: E402

PYTHON = os.environ.get("PYTHON") or sys.executable
SHARED_DIR = os.environ.get("SHARED_DIR") or os.path.join(os.path.dirname(SOURCE_DIR), "shared")


def bundle_of(store_dir):
    return json.loads(read(os.path.join(store_dir, "bundle.json")))


class Accounts(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack.start_for(cls)

    def config(self, certificates):
        return {"certificates": [{"name": name, "domains": [name], "store": "dir:" + store,
                                  "dns": self.stack.dns_config()} for name, store in certificates]}

    def test_one_account_whatever_is_due(self):
        s = self.stack
        a, b = "acct-a." + ZONE, "acct-b." + ZONE
        store_a, store_b = self.tmpdir("store-a-"), self.tmpdir("store-b-")
        before = s.accounts_registered()
        r1 = s.renewer_config("run", self.config([(a, store_a)]), account=None)
        self.assertEqual(r1.rc, 0, r1.explain())
        self.assertEqual(r1.certs[a]["outcome"], "renewed", r1.explain())
        # Only B is due now, and it comes first: older versions kept the
        # account beside the first due certificate and registered a second one.
        r2 = s.renewer_config("run", self.config([(b, store_b), (a, store_a)]), account=None)
        self.assertEqual(r2.rc, 0, r2.explain())
        self.assertEqual(r2.certs[a]["outcome"], "not due", r2.explain())
        self.assertEqual(r2.certs[b]["outcome"], "renewed", r2.explain())
        self.assertEqual(s.accounts_registered() - before, 1, "Pebble registered more than one account")
        url = bundle_of(store_a).get("account")
        self.assertTrue(url, "the bundle does not record its account")
        self.assertEqual(bundle_of(store_b).get("account"), url)
        adopted = json.loads(read(os.path.join(store_b, "account.json")))
        self.assertEqual(adopted["url"], url)

    def test_reuse_key_with_a_changed_key_type(self):
        s = self.stack
        name, store = "reuse." + ZONE, self.tmpdir("store-reuse-")
        r1 = s.renewer("run", "-d", name, "--store", "dir:" + store, "--key-type", "ec256")
        self.assertEqual(r1.rc, 0, r1.explain())
        r2 = s.renewer("run", "-d", name, "--store", "dir:" + store, "--key-type", "rsa2048", "--reuse-key")
        self.assertEqual(r2.rc, 0, r2.explain())
        self.assertEqual(r2.certs[name]["outcome"], "renewed", r2.explain())
        self.assertEqual(bundle_of(store)["key_type"], "rsa2048")
        orders = s.orders()
        r3 = s.renewer("run", "-d", name, "--store", "dir:" + store, "--key-type", "rsa2048", "--reuse-key")
        self.assertEqual(r3.rc, 0, r3.explain())
        self.assertEqual(r3.certs[name]["outcome"], "not due", r3.explain())
        self.assertEqual(s.orders(), orders)

    def acme_args_with_root(self, root_file):
        args = self.stack.acme_args()
        i = args.index("--trust-root")
        return args[:i + 1] + [root_file] + args[i + 2:]

    def test_verification_failure_is_held_in_the_spool(self):
        s = self.stack
        name, store = "held." + ZONE, self.tmpdir("store-held-")
        wrong = s.ca.ca_bundle  # the CA of Pebble's TLS certificate, not its issuing root
        base = [RENEWER, "run", "-d", name, "--store", "dir:" + store, *s.dns_args()]
        orders = s.orders()
        r1 = run(base + self.acme_args_with_root(wrong), env=s.env())
        self.assertEqual(r1.rc, 1, r1.explain())
        self.assertEqual(s.orders(), orders + 1)
        self.assertIn("kept in the spool marked failed", r1.certs[name]["reason"], r1.explain())
        self.assertFalse(os.path.exists(os.path.join(store, "bundle.json")))
        for command in ("plan", "run"):
            again = run([RENEWER, command, *base[2:]] + self.acme_args_with_root(wrong), env=s.env())
            self.assertEqual(again.certs[name]["outcome"], "failed", again.explain())
            self.assertIn("held in the spool", again.certs[name]["reason"], again.explain())
            self.assertIn("--force", again.certs[name]["reason"], again.explain())
        self.assertEqual(s.orders(), orders + 1, "ordered again although the certificate is held")
        # With the right root the held certificate is stored, without an order.
        r3 = run(base + s.acme_args(), env=s.env())
        self.assertEqual(r3.rc, 0, r3.explain())
        self.assertEqual(r3.certs[name]["outcome"], "stored", r3.explain())
        self.assertEqual(s.orders(), orders + 1)
        self.assertTrue(os.path.exists(os.path.join(store, "bundle.json")))

    def test_unreadable_stored_value_is_due_and_replaced(self):
        s = self.stack
        bad, good = "corrupt." + ZONE, "intact." + ZONE
        secret, good_store = "corrupt-bundle", self.tmpdir("store-good-")
        config = {"certificates": [
            {"name": bad, "domains": [bad], "store": "aws-sm:" + secret, "dns": s.dns_config()},
            {"name": good, "domains": [good], "store": "dir:" + good_store, "dns": s.dns_config()}]}
        r1 = s.renewer_config("run", config)
        self.assertEqual(r1.rc, 0, r1.explain())
        sm = s.fake.client("secretsmanager")
        # A truncated write by some other tool becomes the current version.
        sm.put_secret_value(SecretId=secret, SecretString='{"certificate": "-----BEGIN CERT')
        plan = s.renewer_config("plan", config)
        self.assertEqual(plan.rc, 0, plan.explain())
        self.assertEqual(plan.certs[bad]["outcome"], "due", plan.explain())
        self.assertIn("unreadable", plan.certs[bad]["reason"])
        self.assertEqual(plan.certs[good]["outcome"], "not due", plan.explain())
        r2 = s.renewer_config("run", config)
        self.assertEqual(r2.rc, 0, r2.explain())
        self.assertEqual(r2.certs[bad]["outcome"], "renewed", r2.explain())
        self.assertEqual(r2.certs[good]["outcome"], "not due", r2.explain())
        errors = [l for l in r2.log_records() if l.get("level") == "error" and "unreadable" in l.get("msg", "")]
        self.assertTrue(errors, r2.explain())
        current = json.loads(sm.get_secret_value(SecretId=secret)["SecretString"])
        self.assertEqual(current["domains"], [bad])


class StandardBase64Eab(E2eCase):
    KID = "kid-std"
    KEY = bytes(range(250, 256)) + os.urandom(26)  # starts with bytes that encode to '+' and '/'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        key = base64.urlsafe_b64encode(cls.KEY).decode().rstrip("=")
        cls.stack = Stack.start_for(cls, eab={cls.KID: key})

    def test_standard_base64_hmac_key_registers(self):
        s = self.stack
        std = base64.b64encode(self.KEY).decode()
        self.assertTrue(("+" in std or "/" in std) and std.endswith("="), std)
        out = self.tmpdir("out-")
        r = s.renewer("run", "-d", "eab-std." + ZONE, "--out", out, "--eab-kid", self.KID,
                      env=s.env(ACME_EAB_HMAC_KEY=std))
        self.assertEqual(r.rc, 0, r.explain())
        bad = s.renewer("run", "-d", "eab-bad." + ZONE, "--out", self.tmpdir("out-"), "--eab-kid", self.KID,
                        env=s.env(ACME_EAB_HMAC_KEY="not*base64"), account="bad")
        self.assertEqual(bad.rc, 1, bad.explain())
        self.assertIn("EAB HMAC key", bad.stdout + bad.stderr, bad.explain())


class Replaces(E2eCase):
    """`replaces` against ari_responder.py, whose renewalInfo answers for the
    RFC 9773 Appendix A certificate and which logs every newOrder payload."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = cls.class_tmpdir()
        ca, cert, key = make_tls_cert(cls.work)
        cls.ca = ca
        port_file = os.path.join(cls.work, "port")
        cls.proc = subprocess.Popen([PYTHON, os.path.join(SOURCE_DIR, "tests/acme/ari_responder.py"), "--cert",
                                     cert, "--key", key, "--port-file", port_file],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.addClassCleanup(cls.proc.wait, 10)
        cls.addClassCleanup(cls.proc.terminate)
        for _ in range(500):
            if os.path.exists(port_file):
                break
            time.sleep(0.02)
        cls.base = "https://127.0.0.1:" + read(port_file)

    @classmethod
    def class_tmpdir(cls):
        import shutil
        import tempfile
        d = tempfile.mkdtemp(prefix="e2e-replaces-")
        cls.addClassCleanup(shutil.rmtree, d, True)
        return d

    def orders(self):
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=self.ca)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
        with opener.open(self.base + "/log", timeout=10) as r:
            return json.loads(r.read())

    def order_with_bundle_account(self, account):
        from e2e_common import openssl
        leaf = read(os.path.join(SHARED_DIR, "testdata", "rfc9773-appendix-a-cert.pem"))
        names = ["replaces.example.test"]  # the bundle's own list (the RFC's certificate has none)
        store = self.tmpdir("store-")
        key = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
        bundle = {"certificate": leaf, "private_key": key, "domains": names}
        if account is not None:
            bundle["account"] = account
        with open(os.path.join(store, "bundle.json"), "w") as f:
            json.dump(bundle, f)
        before = len(self.orders())
        cmd = [RENEWER, "run", "--server", self.base + "/dir", "--ca-bundle", self.ca, "--agree-tos",
               "--store", "dir:" + store, "--spool-dir", os.path.join(store, "spool"), "--dns", "exec",
               "--exec-path", "/bin/true", "--timeout", "20", "--log-format", "json"]
        for name in names:
            cmd += ["-d", name]
        r = run(cmd, timeout=60)
        placed = self.orders()[before:]
        self.assertTrue(placed, r.explain())
        return placed[0], r

    def test_replaces_only_from_the_account_that_ordered_it(self):
        first, r = self.order_with_bundle_account(self.base + "/acct/1")
        self.assertIn("replaces", first, r.explain())
        for other in ("https://ca.example/acct/99", None):
            with self.subTest(account=other):
                first, r = self.order_with_bundle_account(other)
                self.assertNotIn("replaces", first, r.explain())


if __name__ == "__main__":
    unittest.main()
