"""certfetch (the binary) against tests/fakeaws' Secrets Manager.

Writes the files with their modes; unchanged -> files (and mtimes) untouched
and no reload; changed -> the reload runs once; a corrupt AWSCURRENT falls
back to AWSPREVIOUS and says so; both bad -> exit 1 and the old files byte
for byte; bad flags -> exit 2 before any AWS call.

Certificates come from the openssl CLI (Debian's `openssl`, in deps.sh).
Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v test_certfetch_e2e
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness.fakeaws import FakeAws  # noqa: E402

BUILD_DIR = os.environ.get("BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
CERTFETCH = os.path.join(BUILD_DIR, "bin", "certfetch")
SECRET = "web/example.com"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Pki:
    """A CA and leaves signed by it, in a temp folder."""

    def __init__(self, folder):
        self.dir = folder
        self.serial = 1000
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=certfetch test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
        with open(os.path.join(folder, "ca.pem")) as f:
            self.ca_pem = f.read()

    def bundle(self, names=("example.com", "*.example.com")):
        """A bundle dict in the format of docs/stores.md (metadata left to the reader)."""
        self.serial += 1
        stem = f"leaf{self.serial}"
        with open(os.path.join(self.dir, stem + ".ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "subjectAltName=" + ",".join("DNS:" + n for n in names) + "\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", stem + ".key", "-out", stem + ".csr", "-subj", "/CN=" + names[0], cwd=self.dir)
        openssl("x509", "-req", "-in", stem + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-set_serial", str(self.serial), "-days", "90", "-extfile", stem + ".ext",
                "-out", stem + ".pem", cwd=self.dir)
        with open(os.path.join(self.dir, stem + ".pem")) as f:
            leaf = f.read()
        with open(os.path.join(self.dir, stem + ".key")) as f:
            key = f.read()
        return {"certificate": leaf + self.ca_pem, "private_key": key, "chain": self.ca_pem,
                "domains": list(names), "key_type": "ec256"}


class CertfetchE2e(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CERTFETCH, os.X_OK):
            raise unittest.SkipTest(f"{CERTFETCH} not built")
        cls.tmp = tempfile.mkdtemp(prefix="certfetch-e2e-")
        cls.pki = Pki(cls.tmp)
        cls.aws = FakeAws()
        cls.aws.start()

    @classmethod
    def tearDownClass(cls):
        cls.aws.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.aws.reset()
        self.work = tempfile.mkdtemp(dir=self.tmp)
        self.out = os.path.join(self.work, "out")
        self.reloads = os.path.join(self.work, "reloads")

    def run_certfetch(self, *extra, secret=SECRET, reload=True):
        args = [CERTFETCH, "--secret-id", secret, "--out", self.out, *extra]
        if reload:
            args += ["--reload", f"echo reloaded >> '{self.reloads}'"]
        return subprocess.run(args, env=self.aws.env(), capture_output=True, text=True, timeout=60)

    def reload_count(self):
        if not os.path.exists(self.reloads):
            return 0
        with open(self.reloads) as f:
            return len(f.read().splitlines())

    def read(self, name):
        with open(os.path.join(self.out, name)) as f:
            return f.read()

    def snapshot(self):
        """{name: (bytes, mtime_ns, mode)} of the files nginx reads (through
        their links), plus the version `live` names: a rewrite is visible."""
        out = {"live": os.readlink(os.path.join(self.out, "live"))}
        for name in ("fullchain.pem", "privkey.pem", "chain.pem"):
            path = os.path.join(self.out, name)
            st = os.stat(path)
            with open(path, "rb") as f:
                out[name] = (f.read(), st.st_mtime_ns, stat.S_IMODE(st.st_mode))
        return out

    def age_outputs(self):
        for name in os.listdir(self.out):
            path = os.path.join(self.out, name)
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns - 3600 * 10**9, st.st_mtime_ns - 3600 * 10**9))

    def test_writes_files_then_leaves_them_alone(self):
        bundle = self.pki.bundle()
        self.aws.seed_secret(SECRET, string=json.dumps(bundle))
        r = self.run_certfetch("--expect-name", "www.example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("fullchain.pem"), bundle["certificate"])
        self.assertEqual(self.read("privkey.pem"), bundle["private_key"])
        self.assertEqual(self.read("chain.pem"), bundle["chain"])
        modes = {n: v[2] for n, v in self.snapshot().items() if n != "live"}
        self.assertEqual(modes, {"fullchain.pem": 0o644, "chain.pem": 0o644, "privkey.pem": 0o600})
        self.assertEqual(self.reload_count(), 1)
        self.assertNotIn("PRIVATE KEY", r.stderr + r.stdout)
        calls = self.aws.calls("GetSecretValue")
        self.assertEqual([c["params"].get("stage") for c in calls], ["AWSCURRENT"])

        self.age_outputs()
        before = self.snapshot()
        r = self.run_certfetch()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.snapshot(), before)  # bytes, mtimes and modes
        self.assertEqual(self.reload_count(), 1)

    def test_changed_secret_reloads_once(self):
        self.aws.seed_secret(SECRET, string=json.dumps(self.pki.bundle()))
        self.assertEqual(self.run_certfetch().returncode, 0)
        newer = self.pki.bundle()
        self.aws.seed_secret(SECRET, string=json.dumps(newer))
        r = self.run_certfetch()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("fullchain.pem"), newer["certificate"])
        self.assertEqual(self.reload_count(), 2)

    def test_corrupt_current_falls_back_to_previous(self):
        previous = self.pki.bundle()
        self.aws.seed_secret(SECRET, string=json.dumps(previous))
        self.aws.seed_secret(SECRET, string='{"certificate": "truncated')
        r = self.run_certfetch("--mode", "0640")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("fullchain.pem"), previous["certificate"])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.out, "privkey.pem")).st_mode), 0o640)
        self.assertIn("AWSCURRENT", r.stderr)
        self.assertIn("falling back to AWSPREVIOUS", r.stderr)
        self.assertIn("not valid JSON", r.stderr)
        stages = [c["params"].get("stage") for c in self.aws.calls("GetSecretValue")]
        self.assertEqual(stages, ["AWSCURRENT", "AWSPREVIOUS"])

    def test_key_mismatch_in_current_falls_back(self):
        previous = self.pki.bundle()
        broken = self.pki.bundle()
        broken["private_key"] = self.pki.bundle()["private_key"]
        self.aws.seed_secret(SECRET, string=json.dumps(previous))
        self.aws.seed_secret(SECRET, string=json.dumps(broken))
        r = self.run_certfetch()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("fullchain.pem"), previous["certificate"])
        self.assertIn("private_key does not match", r.stderr)

    def test_both_bad_exits_1_and_keeps_old_files(self):
        self.aws.seed_secret(SECRET, string=json.dumps(self.pki.bundle()))
        self.assertEqual(self.run_certfetch().returncode, 0)
        self.age_outputs()
        before = self.snapshot()
        wrong_name = self.pki.bundle(names=("other.example",))
        self.aws.seed_secret(SECRET, string=json.dumps(wrong_name))
        self.aws.seed_secret(SECRET, string="not json at all")
        r = self.run_certfetch("--expect-name", "example.com")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.reload_count(), 1)
        self.assertIn("no usable certificate", r.stderr)
        self.assertIn("does not cover example.com", r.stderr)
        self.assertNotIn("PRIVATE KEY", r.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "chown needs root")
    def test_owner_and_group(self):
        import grp
        import pwd
        user = pwd.getpwnam("nobody")
        group = grp.getgrgid(user.pw_gid)
        self.aws.seed_secret(SECRET, string=json.dumps(self.pki.bundle()))
        r = self.run_certfetch("--owner", "nobody", "--group", group.gr_name, "--mode", "0640")
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("fullchain.pem", "privkey.pem", "chain.pem"):
            st = os.stat(os.path.join(self.out, name))
            self.assertEqual((st.st_uid, st.st_gid), (user.pw_uid, user.pw_gid), name)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.out, "privkey.pem")).st_mode), 0o640)

    def test_boot_retries_until_instance_credentials_answer(self):
        """A new instance: no files yet and IMDS not answering for the first
        seconds. certfetch retries (--retry-for) instead of leaving nginx
        without a certificate until the next timer run."""
        bundle = self.pki.bundle()
        self.aws.seed_secret(SECRET, string=json.dumps(bundle))
        self.aws.configure_metadata(imds_disabled=True)
        self.addCleanup(self.aws.configure_metadata, imds_disabled=False)
        env = self.aws.env()
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"):
            env.pop(k, None)
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = self.aws.endpoint
        timer = threading.Timer(2.0, self.aws.configure_metadata, kwargs={"imds_disabled": False})
        timer.start()
        self.addCleanup(timer.cancel)
        t0 = time.monotonic()
        r = subprocess.run([CERTFETCH, "--secret-id", SECRET, "--out", self.out, "--retry-for", "30"],
                           env=env, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(took, 1.9)
        self.assertIn("yet, retrying (--retry-for 30 s)", r.stderr)
        self.assertEqual(self.read("fullchain.pem"), bundle["certificate"])
        print("FIGURE certfetch boot: IMDS answered after 2 s; files written after %.2f s" % took)

        # Bounded: an instance that never gets credentials gives up after --retry-for.
        shutil.rmtree(self.out)
        self.aws.configure_metadata(imds_disabled=True)
        t0 = time.monotonic()
        r = subprocess.run([CERTFETCH, "--secret-id", SECRET, "--out", self.out, "--retry-for", "2"],
                           env=env, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 15)

    def test_missing_secret_exits_1(self):
        r = self.run_certfetch(secret="web/nothing-here")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "privkey.pem")))

    def test_bad_flags_exit_2_without_calls(self):
        self.aws.clear_calls()
        for extra in (["--mode", "0644"], ["--mode", "banana"], ["--owner", "no-such-user-xyz"],
                      ["--store", "dir:/tmp/x"], ["--reload-timeout", "0"], ["--reload-timeout", "3601"],
                      ["--reload-timeout", "soon"]):
            r = self.run_certfetch(*extra)
            self.assertEqual(r.returncode, 2, f"{extra}: {r.stderr}")
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = subprocess.run([CERTFETCH, "--out", self.out], env=self.aws.env(), capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(self.aws.calls(), [])

    def test_help_and_version(self):
        for flag in ("--help", "--version"):
            r = subprocess.run([CERTFETCH, flag], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0)
            self.assertIn("certfetch", r.stdout)
        r = subprocess.run([CERTFETCH, "--help"], capture_output=True, text=True, timeout=30)
        self.assertIn("--reload-timeout", r.stdout)


if __name__ == "__main__":
    unittest.main()
