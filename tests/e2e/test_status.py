"""`renewer status` end to end (docs/operations.md#status): the real binary
against Pebble and tests/fakeaws' Secrets Manager after real runs.

Covered: one JSON line per configured certificate with the serial, notAfter
and days left of what is stored, the next renewal (the CA's ARI window when
Pebble offers one, else the lifetime rule), the last run's outcome as the run
recorded it (renewed / failed), the lease holder a lease record names; the
table on a terminal (a pty) with the failed certificate in red; and that it
only reads: with every AWS write action denied it still answers, the fake saw
only GetSecretValue, Pebble no order, and the spool folder and the outcome
record are byte for byte as before.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_status.py
"""

import json
import os
import pty
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import RENEWER, E2eCase, Stack, ZONE, norm_serial  # noqa: E402

BLOCKED = "forbidden.test"  # refused by Pebble's policy at newOrder (see test_run_route53.py)
# Every write the job can make (aws/actions.hpp); status must need none of them.
WRITES = ("PutSecretValue", "CreateSecret", "ChangeResourceRecordSets", "StartInstanceRefresh",
          "TerminateInstances", "UpdateService")


def snapshot(*paths):
    out = {}
    for top in paths:
        if os.path.isfile(top):
            with open(top, "rb") as f:
                out[top] = (f.read(), os.stat(top).st_mtime_ns)
            continue
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                p = os.path.join(root, name)
                st = os.lstat(p)
                out[p] = st.st_mtime_ns
    return out


class Status(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack.start_for(cls, blocklist=[BLOCKED])

    def setUp(self):
        self.stack.fake.clear_faults()
        self.stack.fake.clear_denies()
        self.addCleanup(self.stack.fake.clear_denies)

    def certs(self):
        return ["--cert", "status." + ZONE, "--cert", BLOCKED, "--cert", "held." + ZONE,
                "--store", "aws-sm:e2e/status-{name}"]

    def status_lines(self, result):
        return {l["certificate"]: l for l in result.lines}

    def test_status_after_runs_reads_only(self):
        s = self.stack
        good, held = "status." + ZONE, "held." + ZONE
        r = s.renewer("run", *self.certs(), account="status")
        self.assertEqual(r.rc, 1, r.explain())  # BLOCKED fails
        self.assertEqual(r.certs[good]["outcome"], "renewed", r.explain())
        self.assertEqual(r.certs[BLOCKED]["outcome"], "failed", r.explain())
        # Another host holds the lease of `held` now.
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        s.fake.seed_secret("e2e/status-held.example.test-lock", string=json.dumps(
            {"owner": "web-7:4242", "token": "0123abcd", "host": "web-7", "boot_id": "b", "pid_ns": "p",
             "pid": 4242, "start": 1, "expires_at": expires}))

        record = s.spool + "-last-run.json"
        self.assertTrue(os.path.isfile(record), "the run recorded no outcomes")
        before = snapshot(s.spool, record) if os.path.isdir(s.spool) else snapshot(record)
        orders = s.orders()
        for action in WRITES:
            s.fake.deny(action)
        s.fake.clear_calls()

        st = s.renewer("status", *self.certs(), account="status")
        self.assertEqual(st.rc, 0, st.explain())
        lines = self.status_lines(st)
        self.assertEqual(sorted(lines), sorted([good, BLOCKED, held]), st.explain())
        g = lines[good]
        self.assertEqual(norm_serial(g["serial"]), norm_serial(r.certs[good]["serial"]))
        self.assertEqual(g["not_after"], r.certs[good]["not_after"])
        self.assertGreater(g["days_left"], 1)
        self.assertFalse(g["due"], st.explain())
        self.assertRegex(g["next_renewal"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertRegex(g["renewal_rule"], r"^(ARI window to \S+|lifetime rule)$")
        self.assertEqual(g["last_run"]["outcome"], "renewed")
        self.assertIsNone(g["lease"])
        self.assertEqual(g["store"], "aws-sm:e2e/status-" + good)
        b = lines[BLOCKED]
        self.assertEqual((b["serial"], b["days_left"], b["due"]), ("", None, True), st.explain())
        self.assertEqual(b["last_run"]["outcome"], "failed")
        self.assertIn(BLOCKED, b["last_run"]["reason"])
        h = lines[held]
        self.assertEqual(h["lease"]["owner"], "web-7:4242", st.explain())
        self.assertEqual(h["lease"]["expires_at"], expires)

        # Read only: nothing but GetSecretValue reached AWS, no order, no file changed.
        actions = sorted({c["action"] for c in s.fake.calls()})
        self.assertEqual(actions, ["GetSecretValue"], actions)
        self.assertEqual(s.orders(), orders)
        after = snapshot(s.spool, record) if os.path.isdir(s.spool) else snapshot(record)
        self.assertEqual(after, before, "status changed the spool or the outcome record")
        print("\nstatus of 3 certificates: %.2f s, AWS calls: %d GetSecretValue" % (st.seconds, len(s.fake.calls())))

        # The table on a terminal: one row per certificate, the failed one red.
        table = self.on_terminal([RENEWER, "status", *s.acme_args("status"), *s.dns_args(), *self.certs()])
        rows = [l for l in table.splitlines() if l.strip()]
        self.assertTrue(rows[0].startswith("CERTIFICATE"), table)
        self.assertEqual(len(rows), 4, table)
        red = [l for l in rows if l.startswith("\x1b[31m")]
        self.assertEqual(len(red), 1, table)
        self.assertIn(BLOCKED, red[0])
        self.assertIn("web-7:4242 until " + expires, table)
        plain = self.on_terminal([RENEWER, "status", *s.acme_args("status"), *s.dns_args(), *self.certs()],
                                 NO_COLOR="1")
        self.assertNotIn("\x1b[", plain)
        self.assertEqual(re.sub(r"\x1b\[\d+m", "", table), plain)

    def on_terminal(self, cmd, **env):
        """stdout of cmd run on a pseudo-terminal (stderr apart)."""
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        p = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             env=self.stack.env(**env))
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err.decode(errors="replace"))
        return re.sub(r"\r\n", "\n", out.decode(errors="replace"))

    def test_folder_store_lease_and_nothing_created(self):
        s = self.stack
        name, other = "folder." + ZONE, "other." + ZONE
        parent = self.tmpdir("stores-")
        spec = "dir:%s/{name}" % parent
        r = s.renewer("run", "-d", name, "--store", spec, account="status")
        self.assertEqual(r.rc, 0, r.explain())
        store = os.path.join(parent, name)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
        with open(os.path.join(store, ".renewer.lock"), "w") as f:
            json.dump({"owner": "batch-2:77", "token": "feedf00d", "host": "batch-2", "boot_id": "b",
                       "pid_ns": "p", "pid": 77, "start": 1, "expires_at": expires}, f)
        before = snapshot(parent)
        st = s.renewer("status", "--cert", name, "--cert", other, "--store", spec, account="status")
        self.assertEqual(st.rc, 0, st.explain())
        lines = self.status_lines(st)
        self.assertEqual(lines[name]["lease"], {"owner": "batch-2:77", "expires_at": expires}, st.explain())
        self.assertEqual(norm_serial(lines[name]["serial"]), norm_serial(r.certs[name]["serial"]))
        self.assertEqual(lines[other]["reason"], "no certificate stored", st.explain())
        self.assertIsNone(lines[other]["lease"])
        self.assertEqual(snapshot(parent), before, "status changed or created something in the store folders")
        self.assertFalse(os.path.exists(os.path.join(parent, other)), "status created a store folder")

    def test_json_flag_and_a_store_that_cannot_be_read(self):
        s = self.stack
        name = "nostore." + ZONE
        s.fake.deny("GetSecretValue")
        st = s.renewer("status", "--json", "-d", name, "--store", "aws-sm:e2e/none", account="status")
        self.assertEqual(st.rc, 1, st.explain())
        line = self.status_lines(st)[name]
        self.assertIn("GetSecretValue", line["error"], st.explain())
        self.assertIn("AccessDenied", line["error"], st.explain())


if __name__ == "__main__":
    unittest.main()
