"""`renewer revoke` and `renewer account show|rollover|deactivate`
(docs/commands.md) with the real binary against Pebble + tests/fakeaws.

- revoke with the account key (RFC 8555 §7.6, kid): Pebble's management API
  reports the serial revoked with the reason's RFC 5280 code; the bundle
  records revoked_at and the reason name; `plan` says it is due because it
  was revoked and the next `run` replaces it (a new serial, no revocation
  recorded);
- the same from a Secrets Manager store whose account is kept beside it
  (NAME-account): AWSCURRENT records the revocation and plan sees it;
- revoke with the certificate's own key (--with-cert-key, jwk), chosen by
  --cert NAME out of a configuration file of two certificates: only that one
  is revoked;
- a reason RFC 8555 §7.6 does not let a subscriber give, or an unknown
  --cert, is a usage error (exit 2) naming the flag, before any request;
- account show -> rollover -> show: the same URL, a new key in the account
  file, the old key refused by the CA, the new one orders; deactivate needs
  --yes, then Pebble refuses the account, the record is gone and the next run
  registers a new account;
- a key change the CA refuses (an account URL it does not know) leaves the
  account file byte for byte as it was.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/renewer/test_revoke_e2e.py
"""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from e2e_common import E2eCase, RENEWER, Stack, ZONE, read, run  # noqa: E402


def bundle_of(store_dir):
    return json.loads(read(os.path.join(store_dir, "bundle.json")))


def last_json(result):
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no JSON line on stdout" + result.explain())


class RevokeAndAccount(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack.start_for(cls)

    def command(self, *words, account="default", args=()):
        s = self.stack
        return run([RENEWER, *words, *s.acme_args(account), *s.dns_args(), *args], env=s.env())

    def issue(self, name, store):
        r = self.stack.renewer("run", "-d", name, "--store", "dir:" + store)
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(r.certs[name]["outcome"], "renewed", r.explain())
        return bundle_of(store)["serial"]

    def assert_revoked(self, serial, code):
        status = self.stack.ca.cert_status(serial)
        self.assertEqual(status.get("Status"), "Revoked", status)
        self.assertEqual(status.get("Reason"), code, status)

    def test_revoke_with_the_account_key_then_the_run_replaces_it(self):
        name, store = "revoke." + ZONE, self.tmpdir("store-revoke-")
        serial = self.issue(name, store)
        self.assertEqual(self.stack.ca.cert_status(serial).get("Status"), "Valid")
        r = self.command("revoke", args=["-d", name, "--store", "dir:" + store, "--reason", "keyCompromise"])
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(last_json(r)["signed_with"], "account key", r.explain())
        self.assert_revoked(serial, 1)
        bundle = bundle_of(store)
        self.assertEqual(bundle["serial"], serial)
        self.assertEqual(bundle["revocation_reason"], "keyCompromise")
        self.assertRegex(bundle["revoked_at"], r"^\d{4}-\d\d-\d\dT")
        plan = self.stack.renewer("plan", "-d", name, "--store", "dir:" + store)
        self.assertTrue(plan.certs[name]["reason"].startswith("revoked on "), plan.explain())
        status = self.command("status", "--json", args=["-d", name, "--store", "dir:" + store])
        self.assertEqual(status.rc, 0, status.explain())
        row = last_json(status)
        self.assertEqual(row["revoked"], bundle["revoked_at"] + " (keyCompromise)", status.explain())
        self.assertTrue(row["due"], status.explain())
        again = self.stack.renewer("run", "-d", name, "--store", "dir:" + store)
        self.assertEqual(again.rc, 0, again.explain())
        self.assertEqual(again.certs[name]["outcome"], "renewed", again.explain())
        fresh = bundle_of(store)
        self.assertNotEqual(fresh["serial"], serial)
        self.assertNotIn("revoked_at", fresh)

    def test_revoke_from_secrets_manager_with_the_account_kept_there(self):
        s = self.stack
        name, secret = "sm-revoke." + ZONE, "e2e/sm-revoke"
        r = s.renewer("run", "-d", name, "--store", "aws-sm:" + secret, account=None)
        self.assertEqual(r.rc, 0, r.explain())
        serial = self.secret_stage(secret, "AWSCURRENT")["serial"]
        revoked = self.command("revoke", account=None,
                               args=["-d", name, "--store", "aws-sm:" + secret, "--reason", "cessationOfOperation"])
        self.assertEqual(revoked.rc, 0, revoked.explain())
        self.assert_revoked(serial, 5)
        current = self.secret_stage(secret, "AWSCURRENT")
        self.assertEqual((current["serial"], current["revocation_reason"]), (serial, "cessationOfOperation"))
        plan = s.renewer("plan", "-d", name, "--store", "aws-sm:" + secret, account=None)
        self.assertTrue(plan.certs[name]["reason"].startswith("revoked on "), plan.explain())

    def secret_stage(self, name, stage):
        for version in self.stack.secret(name)["versions"].values():
            if stage in version["stages"]:
                return json.loads(version["string"])
        raise AssertionError(f"{name} has no {stage}")

    def test_revoke_one_of_a_configuration_with_the_certificate_key(self):
        s = self.stack
        a, b = "cfg-a." + ZONE, "cfg-b." + ZONE
        store_a, store_b = self.tmpdir("store-cfg-a-"), self.tmpdir("store-cfg-b-")
        serial_a, serial_b = self.issue(a, store_a), self.issue(b, store_b)
        config = {"certificates": [{"name": n, "domains": [n], "store": "dir:" + st, "dns": s.dns_config()}
                                   for n, st in ((a, store_a), (b, store_b))]}
        path = os.path.join(self.tmpdir("config-"), "renewer.json")
        with open(path, "w") as f:
            json.dump(config, f)
        # No account: the certificate's key alone proves the right to revoke.
        r = run([RENEWER, "revoke", "--config", path, *s.acme_args(), "--cert", b, "--reason", "superseded",
                 "--with-cert-key", "--account-file", os.path.join(self.tmpdir("no-account-"), "none.json")],
                env=s.env())
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(last_json(r)["signed_with"], "certificate key", r.explain())
        self.assert_revoked(serial_b, 4)
        self.assertEqual(s.ca.cert_status(serial_a).get("Status"), "Valid")
        self.assertNotIn("revoked_at", bundle_of(store_a))
        self.assertEqual(bundle_of(store_b)["revocation_reason"], "superseded")

    def test_usage_errors_before_any_request(self):
        name, store = "usage." + ZONE, self.tmpdir("store-usage-")
        r = self.command("revoke", args=["-d", name, "--store", "dir:" + store, "--reason", "cACompromise"])
        self.assertEqual(r.rc, 2, r.explain())
        self.assertIn("--reason cACompromise", r.stderr)
        self.assertIn("keyCompromise", r.stderr)
        r = self.command("account", "deactivate", args=["-d", name, "--store", "dir:" + store])
        self.assertEqual(r.rc, 2, r.explain())
        self.assertIn("--yes", r.stderr)
        r = self.command("account", "frobnicate", args=["-d", name])
        self.assertEqual(r.rc, 2, r.explain())
        self.assertIn("show, rollover or deactivate", r.stderr)

    def test_a_refused_rollover_keeps_the_stored_key(self):
        s = self.stack
        name, store = "acct-refused." + ZONE, self.tmpdir("store-acct-refused-")
        account_file = os.path.join(s.accounts, "refused.json")
        r = s.renewer("run", "-d", name, "--store", "dir:" + store, account="refused")
        self.assertEqual(r.rc, 0, r.explain())
        record = json.loads(read(account_file))
        # An account URL the CA does not know: it refuses the key change
        # (RFC 8555 §7.3.5), and the record must stay exactly as it was.
        record["url"] = record["url"].rstrip("/") + "0000"
        with open(account_file, "w") as f:
            json.dump(record, f)
        before = read(account_file)
        refused = self.command("account", "rollover", account="refused", args=["-d", name, "--store", "dir:" + store])
        self.assertEqual(refused.rc, 1, refused.explain())
        self.assertIn("the stored key is unchanged", refused.stderr)
        self.assertEqual(read(account_file), before)

    def test_account_show_rollover_deactivate(self):
        s = self.stack
        name, store = "acct-cmd." + ZONE, self.tmpdir("store-acct-cmd-")
        self.issue(name, store)
        where = ["-d", name, "--store", "dir:" + store]
        account_file = os.path.join(s.accounts, "default.json")
        shown = self.command("account", "show", args=where)
        self.assertEqual(shown.rc, 0, shown.explain())
        before = last_json(shown)
        self.assertEqual(before["status"], "valid", shown.explain())
        self.assertEqual(before["contact"], ["mailto:ops@example.test"])
        old_key = json.loads(read(account_file))["key_pem"]

        rolled = self.command("account", "rollover", args=where)
        self.assertEqual(rolled.rc, 0, rolled.explain())
        out = last_json(rolled)
        self.assertEqual(out["url"], before["url"])
        self.assertEqual(out["old_thumbprint"], before["thumbprint"])
        self.assertNotEqual(out["new_thumbprint"], before["thumbprint"])
        stored = json.loads(read(account_file))
        self.assertNotEqual(stored["key_pem"], old_key)
        self.assertEqual(stored["url"], before["url"])
        after = last_json(self.command("account", "show", args=where))
        self.assertEqual((after["url"], after["status"], after["thumbprint"]),
                         (before["url"], "valid", out["new_thumbprint"]))
        # The old key is no longer the account's: the CA refuses it.
        with open(account_file, "w") as f:
            json.dump(dict(stored, key_pem=old_key), f)
        refused = self.command("account", "show", args=where)
        self.assertEqual(refused.rc, 1, refused.explain())
        with open(account_file, "w") as f:
            json.dump(stored, f)
        ordered = s.renewer("run", *where, "--force")
        self.assertEqual(ordered.certs[name]["outcome"], "renewed", ordered.explain())

        registered = s.accounts_registered()
        gone = self.command("account", "deactivate", args=[*where, "--yes"])
        self.assertEqual(gone.rc, 0, gone.explain())
        self.assertEqual(last_json(gone)["status"], "deactivated")
        missing = self.command("account", "show", args=where)
        self.assertEqual(missing.rc, 1, missing.explain())
        self.assertIn("no ACME account", missing.stderr)
        fresh = s.renewer("run", *where, "--force")
        self.assertEqual(fresh.certs[name]["outcome"], "renewed", fresh.explain())
        self.assertEqual(s.accounts_registered(), registered + 1)
        self.assertNotEqual(json.loads(read(account_file))["url"], before["url"])


if __name__ == "__main__":
    unittest.main()
