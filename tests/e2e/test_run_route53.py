"""`renewer run` end to end: the real binary orders certificates
from Pebble, writes DNS-01 TXT records through tests/fakeaws' Route53 API,
the fake's authoritative DNS server serves them and Pebble validates them for
real (PEBBLE_VA_ALWAYS_VALID is never set).

Covered: apex + wildcard (files, 0600 key, chain to Pebble's root, key match,
wall time printed); the same with half of all nonces rejected; names Pebble
refuses and records that never appear fail with one line naming the domain
and leave no TXT record behind; eight certificates with --concurrency 4;
twelve certificates with a Route53 change delay: one change, one INSYNC wait
for the whole run (the pipelined run, docs/architecture.md#data-flow-of-one-run);
External Account Binding required (with and without the flags); every
certificate key type and the three account key types.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_run_route53.py
"""

import json
import os
import time
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import (BlocklistPebble, E2eCase, RENEWER, Stack, ZONE, cert_serial, norm_serial,  # noqa: E402
                        read, run, write_script)

# Two labels: Pebble 2.4.0 panics (index out of range) in IsDomainBlocked when a
# blocklist entry has more labels than the name ordered, e.g. "example.test".
BLOCKED = "forbidden.test"

# A working exec DNS provider for the fake: writes the TXT set straight into
# the zone through the control endpoint (published at once). A lock file keeps
# concurrent present/cleanup calls from losing each other's values.
EXEC_HOOK = r'''#!/usr/bin/python3
import fcntl, json, os, sys, urllib.request
action, fqdn, value = sys.argv[1], sys.argv[2].rstrip(".") + ".", sys.argv[3]
ep, zone = os.environ["E2E_FAKE_ENDPOINT"], os.environ["E2E_ZONE_ID"]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def call(method, body=None):
    req = urllib.request.Request(ep + "/_fake/zones/" + zone + "/records", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with opener.open(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")
with open(os.environ["E2E_HOOK_LOCK"], "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    values = []
    for rr in call("GET")["records"]:
        if rr["Type"] == "TXT" and rr["Name"].rstrip(".") + "." == fqdn:
            values = list(rr["Values"])
    quoted = '"%s"' % value
    if action == "present" and quoted not in values:
        values.append(quoted)
    elif action == "cleanup" and quoted in values:
        values.remove(quoted)
    call("POST", {"records": [{"Name": fqdn, "Type": "TXT", "TTL": 60, "Values": values}]})
    with open(os.environ["E2E_HOOK_LOG"], "a") as log:
        log.write("%s %s %s\n" % (action, fqdn, value))
'''

NOOP_HOOK = "#!/bin/sh\n# accepts every record and publishes none of them\nexit 0\n"


class RunRoute53(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack.start_for(cls, blocklist=[BLOCKED])

    def setUp(self):
        self.stack.fake.set_change_delay(0)
        self.stack.fake.clear_faults()

    def report_line(self, result, cert_id):
        certs = result.certs
        self.assertIn(cert_id, certs, result.explain())
        return certs[cert_id]

    def test_apex_and_wildcard(self):
        s = self.stack
        before = s.all_records()
        s.fake.clear_calls()
        out = self.tmpdir("out-")
        names = [ZONE, "*." + ZONE]
        r = s.renewer("run", "-d", names[0], "-d", names[1], "--out", out, account="apex")
        print("\napex+wildcard run: %.2f s" % r.seconds)
        self.assertEqual(r.rc, 0, r.explain())
        line = self.report_line(r, ZONE)
        self.assertEqual(line["outcome"], "renewed", r.explain())
        self.assertEqual(sorted(line["domains"]), sorted(names))
        leaf = self.assert_valid_files(out, names, s.root_pem(), key_type="ec256")
        self.assertEqual(norm_serial(line["serial"]), cert_serial(leaf))
        summary = r.summary
        self.assertTrue(summary and summary["changed"] and summary["exit_code"] == 0, r.explain())
        # Both values went out in one Route53 batch (apex and wildcard share
        # _acme-challenge.example.test) and were removed afterwards.
        self.assertEqual(s.all_records(), before, "TXT records left behind")
        changes = s.fake.calls("ChangeResourceRecordSets")
        self.assertEqual(len(changes), 2, "expected one create and one delete batch: %s" % changes)
        self.assertTrue(all(c["status"] == 200 for c in changes), changes)
        # The key never appears in any log line.
        with open(os.path.join(out, "privkey.pem")) as f:
            key_body = "".join(f.read().splitlines()[1:-1])[:40]
        self.assertNotIn(key_body, r.stdout + r.stderr)

    def test_nonce_reject_50(self):
        s = self.stack
        ca = BlocklistPebble()
        self.addCleanup(ca.stop)
        ca.start(dns_port=s.fake.dns_port, nonce_reject=50)
        root = os.path.join(self.tmpdir("root-"), "root.pem")
        with open(root, "w") as f:
            f.write(ca.root_pem())
        out = self.tmpdir("out-")
        account = os.path.join(self.tmpdir("acct-"), "account.json")
        names = ["nonce." + ZONE, "*.nonce." + ZONE]
        r = run([RENEWER, "run", "-d", names[0], "-d", names[1], "--out", out,
                 "--server", ca.directory, "--ca-bundle", ca.ca_bundle, "--trust-root", root,
                 "--email", "ops@example.test", "--agree-tos", "--account-file", account,
                 "--spool-dir", s.spool, "--log-format", "json", "--log-level", "debug", *s.dns_args()],
                env=s.env(), timeout=180)
        print("\napex+wildcard run with PEBBLE_WFE_NONCEREJECT=50: %.2f s" % r.seconds)
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(self.report_line(r, names[0])["outcome"], "renewed")
        self.assert_valid_files(out, names, read(root))
        retried = r.stderr.count("badNonce")
        self.assertGreaterEqual(retried, 1, "Pebble rejected no nonce? " + r.explain())
        print("badNonce answers retried: %d" % retried)

    def test_failures_name_the_domain_and_leave_no_txt(self):
        """One run, three certificates that each fail differently, one that
        succeeds: exit 1, one line per failure naming its domain, the good
        one still renewed, and the zone exactly as before."""
        s = self.stack
        tools = self.tmpdir("hooks-")
        noop = write_script(tools, "noop-hook", NOOP_HOOK)
        hook = write_script(tools, "fake-hook", EXEC_HOOK)
        hook_log = os.path.join(tools, "hook.log")
        out = self.tmpdir("out-")
        stuck = "stuck." + ZONE
        never = "never." + ZONE
        good = "good." + ZONE
        config = {
            "defaults": {"store": "dir:%s/{name}" % out},
            "certificates": [
                # refused by Pebble's policy at newOrder
                {"domains": [BLOCKED], "dns": s.dns_config()},
                # exec provider that publishes nothing: never visible
                {"domains": [never], "dns": s.dns_config(provider="exec", exec_path=noop,
                                                         propagation_timeout=3)},
                # Route53 change that stays PENDING: written, never served
                {"domains": [stuck, "*." + stuck], "dns": s.dns_config(propagation_timeout=3)},
                # a working exec provider: the others' failures must not stop it
                {"domains": [good], "dns": s.dns_config(provider="exec", exec_path=hook,
                                                        propagation_timeout=30)},
            ],
        }
        before = s.all_records()
        s.fake.set_change_delay(3600)
        self.addCleanup(s.fake.set_change_delay, 0)
        env = s.env(E2E_FAKE_ENDPOINT=s.fake.endpoint, E2E_ZONE_ID=s.zone_id,
                    E2E_HOOK_LOCK=os.path.join(tools, "lock"), E2E_HOOK_LOG=hook_log,
                    AWS_PROPAGATION_TIMEOUT="3")
        r = s.renewer_config("run", config, env=env, timeout=120, account="failures")
        print("\nrun with three failing certificates and one good one: %.2f s" % r.seconds)
        self.assertEqual(r.rc, 1, r.explain())
        reasons = [self.assert_one_clear_line(r, BLOCKED, r"rejectedIdentifier|forbidden"),
                   self.assert_one_clear_line(r, never, r"not visible after"),
                   self.assert_one_clear_line(r, stuck, r"PENDING")]
        print("\n".join("  " + x for x in reasons))
        self.assertEqual(self.report_line(r, good)["outcome"], "renewed", r.explain())
        self.assert_valid_files(os.path.join(out, good), [good], s.root_pem())
        # Nothing was left: the Route53 TXT set of the stuck certificate was
        # created (the fake saw it) and deleted again.
        created = [c for c in s.fake.calls("ChangeResourceRecordSets") if c["status"] == 200]
        self.assertGreaterEqual(len(created), 2, "expected a create and a delete change: %s" % created)
        after_api, after_dns = s.all_records()
        # The exec hook can only empty a set through the control endpoint;
        # every other record must be exactly as before.
        emptied = [rr for rr in after_api if rr["Type"] == "TXT" and not rr["Values"]]
        self.assertTrue(all(rr["Name"].startswith("_acme-challenge.good.") for rr in emptied), emptied)
        strip = lambda rrs: [rr for rr in rrs if rr not in emptied]
        self.assertEqual(strip(after_api), before[0], "TXT records left behind (API view)")
        self.assertEqual(strip(after_dns), before[1], "TXT records left behind (DNS view)")
        with open(hook_log) as f:
            log = f.read().split("\n")
        self.assertEqual(sum(1 for l in log if l.startswith("present")),
                         sum(1 for l in log if l.startswith("cleanup")), log)

    def test_eight_certificates_concurrency_4(self):
        s = self.stack
        out = self.tmpdir("out-")
        ids = ["c%d.%s" % (i, ZONE) for i in range(8)]
        args = []
        for i, name in enumerate(ids):
            args += ["--cert", name + ",*." + name if i % 2 == 0 else name]
        before = s.all_records()
        r = s.renewer("run", *args, "--out", out, "--account-key-type", "rsa2048",
                      account="eight")
        print("\neight certificates, --concurrency 4: %.2f s" % r.seconds)
        self.assertEqual(r.rc, 0, r.explain())
        for i, name in enumerate(ids):
            self.assertEqual(self.report_line(r, name)["outcome"], "renewed", r.explain())
            names = [name, "*." + name] if i % 2 == 0 else [name]
            self.assert_valid_files(os.path.join(out, name), names, s.root_pem())
        self.assertEqual(s.all_records(), before, "TXT records left behind")

    def test_twelve_certificates_share_one_route53_wait(self):
        """The pipelined run: with Route53 taking D seconds to reach INSYNC,
        twelve certificates cost ONE change and ONE wait, not one per group of
        orders in flight (12 / --concurrency 4 = three waits, about 3·D, the
        shape before the pipeline; Stack.acme_args() caps --concurrency at 4
        for Pebble)."""
        s = self.stack
        delay = 3.0
        s.fake.set_change_delay(delay)
        self.addCleanup(s.fake.set_change_delay, 0)
        out = self.tmpdir("out-")
        ids = ["p%d.%s" % (i, ZONE) for i in range(12)]
        args = []
        for i, name in enumerate(ids):
            args += ["--cert", name + ",*." + name if i % 3 == 0 else name]
        s.fake.control("DELETE", "calls")
        r = s.renewer("run", *args, "--out", out, "--account-key-type", "ec256",
                      account="pipeline")
        changes = s.fake.calls("ChangeResourceRecordSets")
        waited = {c["params"].get("change_id") or c["params"].get("Id") for c in s.fake.calls("GetChange")}
        print("\ntwelve certificates, Route53 change delay %.0f s: %.2f s, %d ChangeResourceRecordSets, "
              "GetChange on %d change(s)" % (delay, r.seconds, len(changes), len(waited)))
        self.assertEqual(r.rc, 0, r.explain())
        for i, name in enumerate(ids):
            self.assertEqual(self.report_line(r, name)["outcome"], "renewed", r.explain())
            names = [name, "*." + name] if i % 3 == 0 else [name]
            self.assert_valid_files(os.path.join(out, name), names, s.root_pem())
        # One present and one cleanup for the whole run; only the present is waited for.
        self.assertEqual(len(changes), 2, [c["params"]["changes"][0]["action"] for c in changes])
        self.assertEqual(len(waited), 1, waited)
        # One wait: the counts above say it; the wall time (D, plus GetChange's
        # backoff and the ACME work) is printed, not bounded (bench/ times it).
        # Nothing of ours left in either view (other tests' sets may come and go
        # meanwhile). The run does not wait for its clean-up change: like
        # Route53, the fake's name servers drop the values only once that
        # change is INSYNC, up to D after the run ended.
        ours = lambda view: [rr for rr in view if any(rr["Name"] == "_acme-challenge.%s." % n for n in ids)]
        give_up = time.monotonic() + delay + 5
        while any(ours(view) for view in s.all_records()) and time.monotonic() < give_up:
            time.sleep(0.2)
        for label, view in zip(("API", "DNS"), s.all_records()):
            self.assertEqual(ours(view), [], "TXT records left behind (%s view)" % label)

    def test_certificates_in_three_zones_share_one_route53_wait(self):
        """Customer domains often have a hosted zone each: the pipelined run
        changes every zone before it waits, so three zones cost one INSYNC
        wait, not three in a row (docs/deployment.md#sizing)."""
        s = self.stack
        delay = 3.0
        zones = ["zone%d-pipeline.test" % i for i in range(3)]
        for z in zones:
            s.fake.create_zone(z)
        s.fake.set_change_delay(delay)
        self.addCleanup(s.fake.set_change_delay, 0)
        s.fake.control("DELETE", "calls")
        out = self.tmpdir("out-")
        args = []
        for z in zones:
            args += ["--cert", "www.%s,%s" % (z, z)]
        r = s.renewer("run", *args, "--out", out, account="zones")
        print("\nthree certificates in three hosted zones, Route53 change delay %.0f s: %.2f s" % (delay, r.seconds))
        self.assertEqual(r.rc, 0, r.explain())
        for z in zones:
            self.assertEqual(self.report_line(r, "www." + z)["outcome"], "renewed", r.explain())
        # The first three changes are the presents (clean-up comes after the
        # wait). Waiting zone by zone would space them D apart; the pipelined
        # run sends all three before the first can be INSYNC. A check on the
        # order of calls, not on wall time, so a loaded machine cannot fail it.
        presents = sorted(c["time"] for c in s.fake.calls("ChangeResourceRecordSets"))[:3]
        self.assertEqual(len(presents), 3, r.explain())
        self.assertLess(presents[-1] - presents[0], delay,
                        "the zones waited one after another\n" + r.explain())

    def test_every_key_type(self):
        s = self.stack
        out = self.tmpdir("out-")
        types = ["ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"]
        config = {
            "defaults": {"store": "dir:%s/{name}" % out, "dns": s.dns_config()},
            "certificates": [{"domains": ["%s.keys.%s" % (t, ZONE)], "key_type": t} for t in types],
        }
        r = s.renewer_config("run", config, "--account-key-type", "ec384", account="keys", timeout=240)
        print("\nfive key types in one run (account ES384): %.2f s" % r.seconds)
        self.assertEqual(r.rc, 0, r.explain())
        for t in types:
            name = "%s.keys.%s" % (t, ZONE)
            self.assertEqual(self.report_line(r, name)["outcome"], "renewed", r.explain())
            self.assert_valid_files(os.path.join(out, name), [name], s.root_pem(), key_type=t)
            with open(os.path.join(out, name, "bundle.json")) as f:
                self.assertEqual(json.load(f)["key_type"], t)
        with open(os.path.join(s.accounts, "keys.json")) as f:
            account = f.read()
        self.assertIn("BEGIN", account)

    def test_preferred_chain(self):
        """Pebble with an alternate root: by default the chain leads to root 0;
        --preferred-chain with root 1's common name selects the alternate
        chain (Link: rel="alternate"), which verifies against root 1 only."""
        s = self.stack
        ca = BlocklistPebble()
        self.addCleanup(ca.stop)
        ca.start(dns_port=s.fake.dns_port, alternate_roots=1)
        d = self.tmpdir("chains-")
        roots = []
        for i in (0, 1):
            roots.append(os.path.join(d, "root%d.pem" % i))
            with open(roots[i], "w") as f:
                f.write(ca.root_pem(i))
        alt_cn = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "multiline"],
                                input=read(roots[1]), capture_output=True, text=True, check=True).stdout
        alt_cn = [l.split("=", 1)[1].strip() for l in alt_cn.splitlines() if "commonName" in l][0]
        account = os.path.join(d, "account.json")

        def renew(name, root, *extra):
            out = self.tmpdir("out-")
            r = run([RENEWER, "run", "-d", name, "--out", out, "--server", ca.directory,
                     "--ca-bundle", ca.ca_bundle, "--trust-root", root, "--email", "ops@example.test",
                     "--agree-tos", "--account-file", account, "--spool-dir", s.spool,
                     "--log-format", "json", *s.dns_args(), *extra], env=s.env(), timeout=120)
            self.assertEqual(r.rc, 0, r.explain())
            return out

        out = renew("chain0." + ZONE, roots[0])
        leaf = self.assert_valid_files(out, ["chain0." + ZONE], read(roots[0]))
        with self.assertRaises(AssertionError):
            self.assert_chain_verifies(leaf, read(os.path.join(out, "chain.pem")), read(roots[1]))
        out = renew("chain1." + ZONE, roots[1], "--preferred-chain", alt_cn)
        leaf = self.assert_valid_files(out, ["chain1." + ZONE], read(roots[1]))
        with self.assertRaises(AssertionError):
            self.assert_chain_verifies(leaf, read(os.path.join(out, "chain.pem")), read(roots[0]))
        print("\n--preferred-chain %r selected the alternate chain" % alt_cn)

    def test_external_account_binding(self):
        s = self.stack
        kid = "kid-e2e"
        hmac_key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
        ca = BlocklistPebble()
        self.addCleanup(ca.stop)
        ca.start(dns_port=s.fake.dns_port, eab={kid: hmac_key})
        root = os.path.join(self.tmpdir("root-"), "root.pem")
        with open(root, "w") as f:
            f.write(ca.root_pem())

        def renew(name, *extra, env=None):
            out = self.tmpdir("out-")
            account = os.path.join(self.tmpdir("acct-"), "account.json")
            r = run([RENEWER, "run", "-d", name, "--out", out, "--server", ca.directory,
                     "--ca-bundle", ca.ca_bundle, "--trust-root", root, "--email", "ops@example.test",
                     "--agree-tos", "--account-file", account, "--spool-dir", s.spool,
                     "--log-format", "json", *s.dns_args(), *extra], env=env or s.env(), timeout=120)
            return r, out

        # Without the binding: refused, one clear line about EAB, nothing written.
        r, out = renew("eab." + ZONE)
        self.assertEqual(r.rc, 1, r.explain())
        reason = self.report_line(r, "eab." + ZONE)["reason"]
        self.assertRegex(reason.lower(), r"external account|eab", r.explain())
        self.assertFalse(os.path.exists(os.path.join(out, "fullchain.pem")))
        # With the flags: works.
        r, out = renew("eab." + ZONE, "--eab-kid", kid, "--eab-hmac-key", hmac_key)
        self.assertEqual(r.rc, 0, r.explain())
        self.assert_valid_files(out, ["eab." + ZONE], read(root))
        self.assertNotIn(hmac_key, r.stdout + r.stderr, "the EAB HMAC key leaked into the output")
        # The HMAC key from the environment instead of argv works too.
        r, out = renew("eab2." + ZONE, "--eab-kid", kid, env=s.env(ACME_EAB_HMAC_KEY=hmac_key))
        self.assertEqual(r.rc, 0, r.explain())
        # A wrong key is refused by the CA.
        r, out = renew("eab3." + ZONE, "--eab-kid", kid,
                       "--eab-hmac-key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        self.assertEqual(r.rc, 1, r.explain())


if __name__ == "__main__":
    unittest.main(verbosity=2)
