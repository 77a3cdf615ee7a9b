"""valgrind memcheck on the two binaries' main paths (CONTRIBUTING.md#sanitizers-and-memcheck):
`renewer run` against Pebble and tests/fakeaws (Route53 DNS-01, apex and
wildcard, Secrets Manager store) and then `certfetch` of that secret. Both
must succeed with zero memcheck errors and no definite, indirect or possible
leak.

The binaries run through e2e_common.run() with WRAPPER set to valgrind, so
everything else (key-material scan, kept logs) applies as usual. valgrind
writes its report to a file per process, never into the stderr the tests read.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_memcheck.py
"""

import glob
import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_common  # noqa: E402
from e2e_common import CERTFETCH, E2eCase, Stack, ZONE, run  # noqa: E402

VALGRIND = shutil.which("valgrind") or "/usr/bin/valgrind"
SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "memcheck.supp")


class Memcheck(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(VALGRIND, os.X_OK):
            raise AssertionError("valgrind is not installed (scripts/deps.sh installs it)")
        cls.stack = Stack.start_for(cls)

    def memcheck(self, logs):
        """Runs renewer/certfetch under memcheck for the rest of this test."""
        wrapper = [VALGRIND, "--tool=memcheck", "--error-exitcode=99", "--leak-check=full",
                   "--show-leak-kinds=definite,indirect,possible", "--errors-for-leak-kinds=definite,indirect,possible",
                   "--num-callers=30", "--log-file=" + os.path.join(logs, "vg-%p.log")]
        if os.path.exists(SUPPRESSIONS):
            wrapper.append("--suppressions=" + SUPPRESSIONS)
        saved = e2e_common.WRAPPER
        e2e_common.WRAPPER = wrapper
        self.addCleanup(setattr, e2e_common, "WRAPPER", saved)

    def reports(self, logs):
        """{log file: (error count, text)} of every valgrind log."""
        out = {}
        for path in sorted(glob.glob(os.path.join(logs, "vg-*.log"))):
            with open(path, errors="replace") as f:
                text = f.read()
            m = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
            self.assertTrue(m, "valgrind log without a summary: %s\n%s" % (path, text[-3000:]))
            out[path] = (int(m[-1]), text)
        return out

    def test_renewer_run_then_certfetch(self):
        s = self.stack
        logs = self.tmpdir("memcheck-")
        self.memcheck(logs)
        names = ["mc." + ZONE, "*.mc." + ZONE]
        r = s.renewer("run", "-d", names[0], "-d", names[1], "--store", "aws-sm:certs/memcheck",
                      account="memcheck", timeout=300)
        self.assertEqual(r.rc, 0, r.explain() + self.summary(logs))
        self.assertEqual(r.certs[names[0]]["outcome"], "renewed", r.explain())
        out = self.tmpdir("fetch-")
        f = run([CERTFETCH, "--secret-id", "certs/memcheck", "--out", out, "--expect-name", names[0]],
                env=s.env(), timeout=120)
        self.assertEqual(f.rc, 0, f.explain() + self.summary(logs))
        self.assertTrue(os.path.isfile(os.path.join(out, "privkey.pem")))

        reports = self.reports(logs)
        self.assertEqual(len(reports), 2, "expected one valgrind log per process: %s" % list(reports))
        bad = {p: t for p, (n, t) in reports.items() if n != 0}
        self.assertEqual(bad, {}, "memcheck found errors:\n" + "\n".join(t[-6000:] for t in bad.values()))
        for path, (_, text) in reports.items():
            for kind in ("definitely", "indirectly", "possibly"):
                m = re.search(kind + r" lost: ([\d,]+) bytes", text)
                self.assertTrue(m is None or m.group(1) == "0", "%s: %s lost\n%s" % (path, kind, text[-6000:]))
        print("\n  renewer run %.1f s, certfetch %.1f s under memcheck: 0 errors, 0 leaks" % (r.seconds, f.seconds),
              end="")

    def summary(self, logs):
        parts = []
        for path in sorted(glob.glob(os.path.join(logs, "vg-*.log"))):
            with open(path, errors="replace") as f:
                parts.append("--- %s ---\n%s" % (path, f.read()[-4000:]))
        return "\n" + "\n".join(parts)


if __name__ == "__main__":
    unittest.main(verbosity=2)
