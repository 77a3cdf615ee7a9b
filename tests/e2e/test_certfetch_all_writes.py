"""What `certfetch --all` writes to disk for many names
(docs/customer-domains.md), seen by strace: the reload-owed marker once per
run (not once per name), the `.certfetch-version` hint without fsync, and a
bounded number of fsyncs per name on a first fill; files found unchanged owe
no reload. Bundles of a throw-away CA in tests/fakeaws Secrets Manager, as
tests/e2e/bench_certfetch_all.py makes them.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_certfetch_all_writes.py
"""

import os
import re
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from bench_certfetch_all import make_bundles  # noqa: E402
from e2e_common import CERTFETCH, E2eCase, run  # noqa: E402
from harness.fakeaws import FakeAws  # noqa: E402

WRITES_NAMES = 12
STRACE = shutil.which("strace")


class CertfetchAllWrites(E2eCase):
    def setUp(self):
        if not STRACE:
            self.skipTest("strace is not on PATH")
        self.fake = FakeAws(start=False)
        self.addCleanup(self.fake.stop)
        self.fake.start()
        for name, text in make_bundles(WRITES_NAMES):
            self.fake.seed_secret("customers/" + name, string=text)
        self.work = tempfile.mkdtemp(prefix="e2e-certfetch-writes-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.out = os.path.join(self.work, "certs")
        self.reloads = os.path.join(self.work, "reloads")

    def traced_env(self):
        """LeakSanitizer cannot run under ptrace (it aborts the process): in
        the sanitized build the traced certfetch keeps ASan and UBSan but not
        the leak check (the untraced e2e suites still make it)."""
        env = self.fake.env()
        asan = env.get("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", ""))
        env["ASAN_OPTIONS"] = (asan + ":detect_leaks=0").lstrip(":")
        return env

    def traced_fetch(self):
        trace = os.path.join(self.work, "strace.txt")
        r = run([STRACE, "-f", "-qq", "-y", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-o", trace,
                 CERTFETCH, "--all", "--secret-id", "customers/", "--out", self.out,
                 "--reload", "echo reloaded >> " + self.reloads], env=self.traced_env(), timeout=120)
        self.assertEqual(r.rc, 0, r.explain())
        with open(trace) as f:
            return f.read().splitlines()

    def reload_count(self):
        if not os.path.exists(self.reloads):
            return 0
        with open(self.reloads) as f:
            return len(f.read().splitlines())

    def test_first_fill_writes_the_marker_once_and_syncs_each_name_boundedly(self):
        lines = self.traced_fetch()
        self.assertEqual(self.reload_count(), 1)
        marker = [l for l in lines if re.search(r'rename\w*\(.*"[^"]*/\.certfetch-reload-pending"', l)]
        self.assertEqual(len(marker), 1, "the reload marker is written once per run:\n" + "\n".join(marker))
        syncs = [l for l in lines if re.search(r"\bf(data)?sync\(", l)]
        self.assertEqual([l for l in syncs if ".certfetch-version" in l], [],
                         "the version hint is written without fsync")
        per_name = {}
        for line in syncs:
            m = re.search(r"/certs/(c\d+\.fleet\.test)[/>]", line)
            if m:
                per_name[m.group(1)] = per_name.get(m.group(1), 0) + 1
        self.assertEqual(len(per_name), WRITES_NAMES, per_name)
        # The stable links' folder, 3 files, their version folder, the switch.
        self.assertLessEqual(max(per_name.values()), 6, per_name)
        self.assertFalse(os.path.exists(os.path.join(self.out, ".certfetch-reload-pending")))

        # The hints removed, the files unchanged: every bundle is read and
        # compared again, nothing switches, so no reload is owed.
        for name in os.listdir(self.out):
            stamp = os.path.join(self.out, name, ".certfetch-version")
            if os.path.exists(stamp):
                os.unlink(stamp)
        self.traced_fetch()
        self.assertEqual(self.reload_count(), 1, "files found unchanged triggered a reload")
        self.assertFalse(os.path.exists(os.path.join(self.out, ".certfetch-reload-pending")))


if __name__ == "__main__":
    unittest.main()
