"""The whole job end to end: plan, stores, spool, replacement and
configuration errors, with the real `renewer` against Pebble and tests/fakeaws.

Covered:
- a second run renews nothing ("not due", no order, no DNS change, no hook);
  --force renews; a changed name list renews; `renewer plan` prints decisions
  and changes nothing (no order, no write, same files);
- --store aws-sm:NAME writes the bundle JSON of docs/stores.md as AWSCURRENT, the
  previous one becomes AWSPREVIOUS, the ACME account is a second secret;
- Secrets Manager failing after issuance: exit 1 saying the certificate was
  kept in the spool; the next run stores it and places no new order. Orders
  are counted in Pebble's log ("Added order ... to the db", one line per
  accepted newOrder). The fault is installed by the exec DNS hook while it
  publishes the TXT record, i.e. after the lease was taken and before the
  certificate exists, so it hits exactly the store step;
- each replacement target's calls as the fake saw them (StartInstanceRefresh,
  DescribeInstances + TerminateInstances, UpdateService forceNewDeployment,
  deploy hook with RENEWED_*), and none when nothing changed;
- bad configuration: one line on stderr, exit 2, no call to the fake and no
  request to Pebble.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_run_store.py
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import (E2eCase, RENEWER, Stack, ZONE, cert_serial, norm_serial, run,  # noqa: E402
                        split_pem, write_script)

# Records every deploy-hook call: its RENEWED_* environment, one JSON line.
DEPLOY_HOOK = r'''#!/usr/bin/python3
import json, os, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({k: v for k, v in os.environ.items() if k.startswith("RENEWED_")}) + "\n")
'''

# exec DNS provider that publishes through the fake's control endpoint and, on
# its first `present`, makes Secrets Manager fail every write from now on.
FAULTING_HOOK = r'''#!/usr/bin/python3
import json, os, sys, urllib.request
action, fqdn, value = sys.argv[1], sys.argv[2].rstrip(".") + ".", sys.argv[3]
ep, zone = os.environ["E2E_FAKE_ENDPOINT"], os.environ["E2E_ZONE_ID"]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def call(method, path, body=None):
    req = urllib.request.Request(ep + "/_fake/" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with opener.open(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")
values = ['"%s"' % value] if action == "present" else []
call("POST", "zones/%s/records" % zone, {"records": [{"Name": fqdn, "Type": "TXT", "TTL": 60, "Values": values}]})
if action == "present":
    for act in ("PutSecretValue", "CreateSecret"):
        call("POST", "faults", {"action": act, "kind": "error500", "count": 1000})
'''


def secret_versions(stack, name):
    """{stage: parsed JSON value} of a secret in the fake."""
    s = stack.secret(name)
    if s is None:
        return {}
    out = {}
    for v in s["versions"].values():
        for stage in v["stages"]:
            out[stage] = json.loads(v["string"])
    return out


class RunStore(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack.start_for(cls)

    def setUp(self):
        self.stack.fake.clear_faults()
        self.stack.fake.set_change_delay(0)

    def one(self, result, cert_id):
        self.assertIn(cert_id, result.certs, result.explain())
        return result.certs[cert_id]

    # ---- due / not due / force / names changed / plan -----------------------
    def test_not_due_force_names_changed_and_plan(self):
        s = self.stack
        store_dir = self.tmpdir("store-")
        hooks = self.tmpdir("hook-")
        hook_log = os.path.join(hooks, "calls.jsonl")
        hook = write_script(hooks, "deploy-hook", DEPLOY_HOOK)
        name = "cycle." + ZONE
        store = "dir:" + store_dir
        deploy = ["--deploy-hook", "%s %s" % (hook, hook_log)]

        r1 = s.renewer("run", "-d", name, "--store", store, *deploy, account="cycle")
        self.assertEqual(r1.rc, 0, r1.explain())
        self.assertEqual(self.one(r1, name)["outcome"], "renewed")
        first_serial = self.one(r1, name)["serial"]
        leaf1 = self.assert_valid_files(store_dir, [name], s.root_pem())
        self.assertEqual(norm_serial(first_serial), cert_serial(leaf1))

        # Second run: nothing due, nothing ordered, no DNS change, no hook.
        orders = s.orders()
        s.fake.clear_calls()
        files = self.snapshot(store_dir)
        r2 = s.renewer("run", "-d", name, "--store", store, *deploy, account="cycle")
        print("\nsecond run (nothing due): %.2f s" % r2.seconds)
        self.assertEqual(r2.rc, 0, r2.explain())
        line = self.one(r2, name)
        self.assertEqual(line["outcome"], "not due", r2.explain())
        self.assertEqual(line["serial"], first_serial)
        self.assertFalse(r2.summary["changed"])
        self.assertEqual(s.orders(), orders, "a run with nothing due placed an order")
        self.assertEqual(s.fake.calls("ChangeResourceRecordSets"), [])
        self.assertEqual(self.snapshot(store_dir), files)
        self.assertEqual(self.hook_calls(hook_log), 1, "deploy hook ran although nothing changed")

        # plan: decisions printed, nothing changed.
        p = s.renewer("plan", "-d", name, "--store", store, account="cycle")
        self.assertEqual(p.rc, 0, p.explain())
        self.assertEqual(self.one(p, name)["outcome"], "not due", p.explain())
        p = s.renewer("plan", "-d", name, "-d", "www." + name, "--store", store, account="cycle")
        self.assertEqual(p.rc, 0, p.explain())
        planned = self.one(p, name)
        self.assertEqual(planned["outcome"], "due", p.explain())
        self.assertIn("name", planned["reason"].lower())
        p = s.renewer("plan", "-d", name, "--store", store, "--force", account="cycle")
        self.assertEqual(self.one(p, name)["outcome"], "due", p.explain())
        self.assertEqual(s.orders(), orders, "plan placed an order")
        self.assertEqual(s.fake.calls("ChangeResourceRecordSets"), [])
        self.assertEqual(self.snapshot(store_dir), files, "plan changed the store")

        # --force renews (and runs the deploy hook with RENEWED_*).
        r3 = s.renewer("run", "-d", name, "--store", store, "--force", *deploy, account="cycle")
        self.assertEqual(r3.rc, 0, r3.explain())
        line = self.one(r3, name)
        self.assertEqual(line["outcome"], "renewed", r3.explain())
        self.assertNotEqual(line["serial"], first_serial)
        self.assertEqual(s.orders(), orders + 1)
        leaf3 = self.assert_valid_files(store_dir, [name], s.root_pem())
        self.assertEqual(norm_serial(line["serial"]), cert_serial(leaf3))
        calls = self.hook_env(hook_log)
        self.assertEqual(len(calls), 2, calls)
        env = calls[-1]
        self.assertIn(name, env.get("RENEWED_DOMAINS", "").split(), env)
        self.assertIn(name, env.get("RENEWED_CERTIFICATES", ""), env)
        self.assertEqual([norm_serial(x) for x in env.get("RENEWED_SERIALS", "").split()],
                         [norm_serial(line["serial"])], env)
        self.assertEqual(env.get("RENEWED_LINEAGE"), store_dir, env)
        self.assertEqual(env.get("RENEWED_LOCATIONS"), store, env)

        # A changed name list renews.
        r4 = s.renewer("run", "-d", name, "-d", "www." + name, "--store", store, account="cycle")
        self.assertEqual(r4.rc, 0, r4.explain())
        line = self.one(r4, name)
        self.assertEqual(line["outcome"], "renewed", r4.explain())
        self.assert_valid_files(store_dir, [name, "www." + name], s.root_pem())
        self.assertEqual(s.orders(), orders + 2)

    def snapshot(self, directory):
        out = {}
        for n in sorted(os.listdir(directory)):
            p = os.path.join(directory, n)
            if os.path.isfile(p) and n.endswith(".pem"):
                with open(p, "rb") as f:
                    out[n] = (f.read(), os.stat(p).st_mtime_ns)
        return out

    def hook_env(self, path):
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]

    def hook_calls(self, path):
        return len(self.hook_env(path))

    # ---- Secrets Manager store ------------------------------------------------------
    def test_secrets_manager_bundle_current_and_previous(self):
        s = self.stack
        name = "sm." + ZONE
        secret = "e2e/sm-site"
        # No --account-file: the ACME account lives in the store too.
        r1 = s.renewer("run", "-d", name, "-d", "*." + name, "--store", "aws-sm:" + secret, account=None)
        self.assertEqual(r1.rc, 0, r1.explain())
        self.assertEqual(self.one(r1, name)["outcome"], "renewed", r1.explain())
        v = secret_versions(s, secret)
        self.assertEqual(set(v), {"AWSCURRENT"}, v.keys())
        bundle = v["AWSCURRENT"]
        for key in ("certificate", "private_key", "chain", "domains", "not_before", "not_after",
                    "serial", "issuer", "key_type", "renewed_at"):
            self.assertIn(key, bundle)
        self.assertEqual(sorted(bundle["domains"]), sorted([name, "*." + name]))
        self.assertIn("BEGIN PRIVATE KEY", bundle["private_key"], "private_key should be PKCS#8 PEM")
        self.assertEqual(bundle["key_type"], "ec256")
        blocks = split_pem(bundle["certificate"])
        self.assertGreaterEqual(len(blocks), 2)
        self.assertEqual("".join(split_pem(bundle["chain"])), "".join(blocks[1:]))
        self.assert_chain_verifies(blocks[0], bundle["chain"], s.root_pem())
        self.assertEqual(norm_serial(bundle["serial"]), cert_serial(blocks[0]))
        self.assertEqual(norm_serial(self.one(r1, name)["serial"]), cert_serial(blocks[0]))
        self.assertIsNotNone(s.secret(secret + "-account"), "the ACME account was not kept in the store")
        key_line = bundle["private_key"].splitlines()[1]
        self.assertNotIn(key_line, r1.stdout + r1.stderr, "key bytes in the output")

        orders, accounts = s.orders(), s.accounts_registered()
        r2 = s.renewer("run", "-d", name, "-d", "*." + name, "--store", "aws-sm:" + secret, "--force",
                       account=None)
        self.assertEqual(r2.rc, 0, r2.explain())
        self.assertEqual(s.orders(), orders + 1)
        self.assertEqual(s.accounts_registered(), accounts, "the account kept in Secrets Manager was not reused")
        v = secret_versions(s, secret)
        self.assertEqual(set(v), {"AWSCURRENT", "AWSPREVIOUS"})
        self.assertEqual(v["AWSPREVIOUS"]["serial"], bundle["serial"])
        self.assertNotEqual(v["AWSCURRENT"]["serial"], bundle["serial"])
        self.assertEqual(norm_serial(v["AWSCURRENT"]["serial"]), norm_serial(self.one(r2, name)["serial"]))

    def test_created_secrets_use_the_given_kms_key(self):
        # --kms-key-id: the secrets renewer creates are encrypted with the
        # customer managed key (docs/stores.md#encryption), not aws/secretsmanager;
        # the lease, which holds no key material, keeps the default.
        s = self.stack
        name = "kms." + ZONE
        secret = "e2e/kms-site"
        key = "alias/renewer-certificates"
        r = s.renewer("run", "-d", name, "--store", "aws-sm:" + secret, "--kms-key-id", key, account=None)
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(s.secret(secret).get("kms_key_id"), key, s.secret(secret))
        self.assertEqual(s.secret(secret + "-account").get("kms_key_id"), key)
        self.assertIsNone(s.secret(secret + "-lock").get("kms_key_id"))
        creates = [c for c in s.fake.calls(action="CreateSecret")
                   if (c.get("params") or {}).get("Name", "").startswith(secret)]
        self.assertEqual(len(creates), 3, creates)

    # ---- spool ----------------------------------------------------------------------
    def test_spooled_certificate_is_stored_next_run_without_new_order(self):
        s = self.stack
        name = "spool." + ZONE
        secret = "e2e/spooled"
        hooks = self.tmpdir("hook-")
        hook = write_script(hooks, "faulting-hook", FAULTING_HOOK)
        spool = self.tmpdir("spool-")
        common = ["-d", name, "--store", "aws-sm:" + secret, "--spool-dir", spool]
        env = s.env(E2E_FAKE_ENDPOINT=s.fake.endpoint, E2E_ZONE_ID=s.zone_id)
        orders = s.orders()
        self.addCleanup(s.fake.clear_faults)
        r1 = s.renewer("run", *common, "--dns", "exec", "--exec-path", hook, "--dns-timeout", "30",
                       env=env, account="spool", timeout=240)
        print("\nrun with Secrets Manager failing after issuance: %.2f s" % r1.seconds)
        self.assertEqual(r1.rc, 1, r1.explain())
        self.assertEqual(s.orders(), orders + 1, r1.explain())
        line = self.one(r1, name)
        self.assertEqual(line["outcome"], "failed")
        reason = line["reason"]
        self.assertIn("spool", reason.lower(), reason)
        self.assertIn(name, reason)
        self.assertNotIn("\n", reason)
        print("  " + reason)
        failed_puts = [c for c in s.fake.calls("PutSecretValue") + s.fake.calls("CreateSecret")
                       if c["status"] >= 500]
        self.assertGreaterEqual(len(failed_puts), 2, "the client should have retried the 500s")
        self.assertIsNone(secret_versions(s, secret).get("AWSCURRENT"), "nothing should be stored yet")
        spooled = [f for f in os.listdir(spool)]
        self.assertTrue(spooled, "nothing in the spool")
        for f in spooled:
            mode = os.stat(os.path.join(spool, f)).st_mode & 0o777
            self.assertEqual(mode & 0o077, 0, "spool file %s is mode %o" % (f, mode))
        s.fake.clear_faults()

        # Next run (plain Route53): stores the spooled certificate, no new order.
        s.fake.clear_calls()
        r2 = s.renewer("run", *common, account="spool")
        self.assertEqual(r2.rc, 0, r2.explain())
        line2 = self.one(r2, name)
        self.assertEqual(line2["outcome"], "stored", r2.explain())
        self.assertEqual(s.orders(), orders + 1, "the spooled certificate was ordered again")
        self.assertEqual(s.fake.calls("ChangeResourceRecordSets"), [], "DNS-01 ran again")
        self.assertIn(line2["serial"].lower(), reason.lower(), "stored serial differs from the issued one")
        bundle = secret_versions(s, secret)["AWSCURRENT"]
        self.assertEqual(norm_serial(bundle["serial"]), norm_serial(line2["serial"]))
        self.assertEqual(os.listdir(spool), [], "the spool was not emptied")
        print("  next run: %s, %s; Pebble orders %d -> %d" % (line2["outcome"], line2["reason"], orders, s.orders()))

        # And the run after that has nothing to do.
        r3 = s.renewer("run", *common, account="spool")
        self.assertEqual(r3.rc, 0, r3.explain())
        self.assertEqual(self.one(r3, name)["outcome"], "not due", r3.explain())
        self.assertEqual(s.orders(), orders + 1)

    # ---- replacement targets --------------------------------------------------------
    def test_replacement_targets(self):
        s = self.stack
        fake = s.fake
        fake.seed_asg("web-e2e", size=2, refresh_seconds=0.5)
        tagged = fake.seed_instances(count=3, tags={"role": "nginx-e2e"})
        fake.seed_ecs_service("e2e-cluster", "e2e-web", rollout_seconds=0.5)
        hooks = self.tmpdir("hook-")
        hook_log = os.path.join(hooks, "calls.jsonl")
        hook = write_script(hooks, "deploy-hook", DEPLOY_HOOK)
        out = self.tmpdir("out-")
        dns = s.dns_config()
        names = {t: "%s.replace.%s" % (t, ZONE) for t in ("asg", "tag", "ecs", "hook")}
        config = {
            "defaults": {"store": "dir:%s/{name}" % out, "dns": dns},
            "certificates": [
                {"domains": [names["asg"]],
                 "replace": {"type": "autoscaling", "group": "web-e2e", "min_healthy_percentage": 75}},
                {"domains": [names["tag"]],
                 "replace": {"type": "ec2-tag", "tag_key": "role", "tag_value": "nginx-e2e",
                             "max_terminate": 1}},
                {"domains": [names["ecs"]],
                 "replace": {"type": "ecs", "cluster": "e2e-cluster", "service": "e2e-web"}},
                {"domains": [names["hook"]],
                 "replace": {"type": "hook", "command": "%s %s" % (hook, hook_log)}},
            ],
        }
        fake.clear_calls()
        r = s.renewer_config("run", config, account="replace", timeout=240)
        self.assertEqual(r.rc, 0, r.explain())
        for n in names.values():
            self.assertEqual(self.one(r, n)["outcome"], "renewed", r.explain())

        refresh = fake.calls("StartInstanceRefresh")
        self.assertEqual(len(refresh), 1, refresh)
        self.assertEqual(refresh[0]["status"], 200, refresh)
        self.assertEqual(refresh[0]["params"]["AutoScalingGroupName"], "web-e2e")
        self.assertEqual(str(refresh[0]["params"]["Preferences"].get("MinHealthyPercentage")), "75", refresh)
        group = [g for g in fake.asgs() if g["name"] == "web-e2e"][0]
        self.assertEqual(len(group["refreshes"]), 1, group)

        describe = fake.calls("DescribeInstances")
        self.assertTrue(describe and describe[0]["status"] == 200, describe)
        self.assertIn("nginx-e2e", json.dumps(describe[0]["params"]), describe)
        terminate = fake.calls("TerminateInstances")
        self.assertEqual(len(terminate), 1, terminate)
        self.assertEqual(terminate[0]["status"], 200, terminate)
        ids = [v for k, v in terminate[0]["params"].items() if k.startswith("InstanceId")]
        self.assertEqual(len(ids), 1, "max_terminate 1: %s" % terminate[0]["params"])
        self.assertIn(ids[0], tagged)

        update = fake.calls("UpdateService")
        self.assertEqual(len(update), 1, update)
        self.assertEqual(update[0]["status"], 200, update)
        self.assertEqual(update[0]["params"]["cluster"], "e2e-cluster")
        self.assertEqual(update[0]["params"]["service"], "e2e-web")
        self.assertIs(update[0]["params"]["forceNewDeployment"], True)

        calls = self.hook_env(hook_log)
        self.assertEqual(len(calls), 1, calls)
        self.assertEqual(calls[0].get("RENEWED_DOMAINS", "").split(), [names["hook"]], calls)
        self.assertIn(norm_serial(self.one(r, names["hook"])["serial"]),
                      [norm_serial(x) for x in calls[0].get("RENEWED_SERIALS", "").split()])
        kinds = sorted(l["replace"] for l in r.replacements)
        self.assertEqual(len(kinds), 4, r.explain())

        # Nothing changed: no replacement call at all, no hook.
        fake.clear_calls()
        r2 = s.renewer_config("run", config, account="replace")
        self.assertEqual(r2.rc, 0, r2.explain())
        for n in names.values():
            self.assertEqual(self.one(r2, n)["outcome"], "not due", r2.explain())
        for action in ("StartInstanceRefresh", "DescribeInstances", "TerminateInstances", "UpdateService"):
            self.assertEqual(fake.calls(action), [], action)
        self.assertEqual(len(self.hook_env(hook_log)), 1, "hook ran although nothing changed")
        self.assertEqual(r2.replacements, [])

        # The same targets from the command line.
        fake.clear_calls()
        tag_dir = os.path.join(out, names["tag"])
        r3 = s.renewer("run", "-d", names["tag"], "--store", "dir:" + tag_dir, "--force",
                       "--replace", "ec2-tag:role=nginx-e2e", "--max-terminate", "2", account="replace")
        self.assertEqual(r3.rc, 0, r3.explain())
        terminate = fake.calls("TerminateInstances")
        self.assertEqual(len(terminate), 1, terminate)
        ids = [v for k, v in terminate[0]["params"].items() if k.startswith("InstanceId")]
        self.assertEqual(len(ids), 2, terminate[0]["params"])
        self.assertTrue(set(ids) <= set(tagged), ids)
        fake.clear_calls()
        ecs_dir = os.path.join(out, names["ecs"])
        r4 = s.renewer("run", "-d", names["ecs"], "--store", "dir:" + ecs_dir, "--force",
                       "--replace", "ecs:e2e-cluster/e2e-web", account="replace")
        self.assertEqual(r4.rc, 0, r4.explain())
        update = fake.calls("UpdateService")
        self.assertEqual([(u["params"]["cluster"], u["params"]["service"], u["params"]["forceNewDeployment"])
                          for u in update], [("e2e-cluster", "e2e-web", True)])

    # ---- bad configuration ----------------------------------------------------------
    def test_bad_configuration_exits_2_without_network(self):
        s = self.stack
        d = self.tmpdir("bad-")
        unknown_key = os.path.join(d, "unknown-key.json")
        with open(unknown_key, "w") as f:
            json.dump({"certificates": [{"domains": ["a." + ZONE], "store": "dir:" + d,
                                         "dns": {"provider": "route53", "zone_idd": "Z1"}}]}, f)
        out = ["--out", d]
        cases = [
            ("unknown DNS provider", ["-d", "a." + ZONE, *out, "--dns", "cloudflare"], "cloudflare"),
            ("invalid name", ["-d", "a..b." + ZONE, *out], "a..b"),
            ("misplaced wildcard", ["-d", "a.*." + ZONE, *out], "a.*." + ZONE),
            ("unknown config key", ["--config", unknown_key], "zone_idd"),
            ("no --out or --store", ["-d", "a." + ZONE], "--out"),
            ("unknown key type", ["-d", "a." + ZONE, *out, "--key-type", "rsa1024"], "rsa1024"),
            ("bad replacement", ["-d", "a." + ZONE, *out, "--replace", "autoscaling"], "--replace"),
            ("plain http server", ["-d", "a." + ZONE, *out, "--server", "http://127.0.0.1:1/dir"], "https"),
        ]
        s.fake.clear_calls()
        pebble_log = s.ca.log()
        for what, args, needle in cases:
            with self.subTest(what):
                cmd = [RENEWER, "run", *args, "--ca-bundle", s.ca.ca_bundle, "--spool-dir", s.spool,
                       "--log-format", "json", "--dns-resolver", s.dns, "--dns-nameservers", s.dns]
                if "--server" not in args:
                    cmd += ["--server", s.ca.directory]
                r = run(cmd, env=s.env(), timeout=30)
                self.assertEqual(r.rc, 2, r.explain())
                lines = r.stderr_lines()
                self.assertEqual(len(lines), 1, "expected one line on stderr: " + r.explain())
                self.assertIn(needle, lines[0], r.explain())
                self.assertEqual(r.stdout.strip(), "", r.explain())
                print("\n  %-22s exit 2: %s" % (what, lines[0]), end="")
        self.assertEqual(s.fake.calls(), [], "a bad configuration made AWS calls")
        self.assertEqual(s.ca.log(), pebble_log, "a bad configuration reached Pebble")


if __name__ == "__main__":
    unittest.main(verbosity=2)
