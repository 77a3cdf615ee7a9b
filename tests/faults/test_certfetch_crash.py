"""Crash matrix for certfetch (docs/architecture.md#crash-safety): the real binary is
SIGKILLed at every file-system step it takes, by strace's fault injection
(`-e inject=SYSCALL:signal=SIGKILL:when=N`: the signal arrives as the
process enters its Nth call of SYSCALL, before the call runs). The steps are
found by tracing one uninterrupted run from the same starting state, so
every mkdir, symlink, rename, unlink, fchmod, fchown, fsync and the lock is
a kill point; nothing in certfetch knows it is being tested.

Starting states: the flat files of an older release (the migration), the
live layout (an update), and an empty folder (first boot). After every kill:
nginx -t accepts the folder (Debian's nginx, ssl_certificate and
ssl_certificate_key at the paths existing configs name) and the key matches
the certificate, which is the old one or the new one (first boot: no files
yet is also fine). Then a normal certfetch converges: the new certificate,
nginx reloaded if the kill came after the switch, no temp files or unused
version folders left.

The directory store (renewer's `dir:` store, which nginx may read directly)
goes through the same matrix: its put() is SIGKILLed at every call, from the
flat files of an older release and from the live layout.

Two certfetch at once: both succeed, one writes, one reload. A certfetch that
cannot get the folder's lock within --lock-wait says who holds it and exits 1
with the files untouched.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/faults/test_certfetch_crash.py
"""

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "renewer"))
sys.path.insert(0, HERE)
from keep_logs import KeepLogs  # noqa: E402
from nginx import Nginx  # noqa: E402
from test_certfetch_e2e import Pki  # noqa: E402

BUILD_DIR = os.environ.get("BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
CERTFETCH = os.path.join(BUILD_DIR, "bin", "certfetch")
# The directory store's put(), run alone by a test binary (DirStoreChild).
# tests/renewer builds one executable for the folder (tests/CMakeLists.txt);
# under the name of its former per-file executable this part was skipped.
DIR_STORE_CHILD = [os.path.join(BUILD_DIR, "bin", "faults_dir_store_put")]
STRACE = shutil.which("strace") or "/usr/bin/strace"
# Every call that changes the folder or its files, and the lock.
KILL_SYSCALLS = ["mkdir", "mkdirat", "symlink", "symlinkat", "rename", "renameat", "renameat2", "unlink",
                 "unlinkat", "rmdir", "fchmod", "fchmodat", "chmod", "fchown", "fchownat", "chown", "fsync",
                 "fdatasync", "flock", "ftruncate", "pwrite64", "openat"]
NAMES = ("example.com", "*.example.com")


def figure(text):
    print("FIGURE " + text, flush=True)


def openssl_out(*args, data):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, text=True, check=True).stdout


def pem_serial(pem):
    return openssl_out("x509", "-noout", "-serial", data=pem).strip().split("=", 1)[1]


class CertfetchCrash(KeepLogs, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CERTFETCH, os.X_OK):
            raise unittest.SkipTest(f"{CERTFETCH} not built")
        if not os.access(STRACE, os.X_OK):
            raise AssertionError("strace is needed for the kill points (scripts/deps.sh installs it)")
        cls.tmp = tempfile.mkdtemp(prefix="certfetch-crash-")
        cls.pki = Pki(cls.tmp)
        cls.old = cls.pki.bundle(NAMES)
        cls.new = cls.pki.bundle(NAMES)
        cls.serials = {pem_serial(cls.old["certificate"]): "old", pem_serial(cls.new["certificate"]): "new"}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        # Kept with nginx's folder (its error log) when the test fails (keep_logs.py).
        self.work = self.defer_removal(tempfile.mkdtemp(dir=self.tmp))
        self.store = os.path.join(self.work, "store")
        self.out = os.path.join(self.work, "out")
        self.reloads = os.path.join(self.work, "reloads")
        self.put_store(self.new)
        self.command = self.args
        self.env = None
        self.web = Nginx(self.out, server_names=list(NAMES), start=False)
        self.addCleanup(self.web.stop)
        # Runs before stop() removes nginx's folder: its config and error log
        # join the work folder, which a failed test keeps (keep_logs.py).
        self.addCleanup(lambda: os.path.isdir(self.web.prefix) and
                        shutil.copytree(self.web.prefix, os.path.join(self.work, "nginx"), dirs_exist_ok=True,
                                        ignore=shutil.ignore_patterns("*.sock", "tmp")))

    # ---- helpers ---------------------------------------------------------------------
    def put_store(self, bundle):
        """A dir: store holding `bundle` as certbot-style files (no bundle.json)."""
        os.makedirs(self.store, exist_ok=True)
        for name, text in (("fullchain.pem", bundle["certificate"]), ("privkey.pem", bundle["private_key"])):
            with open(os.path.join(self.store, name), "w") as f:
                f.write(text)

    def args(self, *extra):
        return [CERTFETCH, "--store", "dir:" + self.store, "--out", self.out, "--expect-name", NAMES[0],
                "--retry-for", "0", "--reload", "echo reloaded >> '%s'" % self.reloads, *extra]

    def certfetch(self, *extra, timeout=60):
        return subprocess.run(self.args(*extra), capture_output=True, text=True, timeout=timeout)

    def reload_count(self):
        if not os.path.exists(self.reloads):
            return 0
        with open(self.reloads) as f:
            return len(f.read().splitlines())

    def read(self, name):
        with open(os.path.join(self.out, name)) as f:
            return f.read()

    def write_flat(self, bundle):
        """The layout of older releases: three regular files."""
        os.makedirs(self.out, exist_ok=True)
        for name, text, mode in (("privkey.pem", bundle["private_key"], 0o600),
                                 ("chain.pem", bundle["chain"], 0o644),
                                 ("fullchain.pem", bundle["certificate"], 0o644)):
            path = os.path.join(self.out, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, mode)

    def served(self):
        """'old'/'new' for a whole, matching pair nginx accepts; None when
        there are no files at all; AssertionError for anything else."""
        full = os.path.join(self.out, "fullchain.pem")
        key = os.path.join(self.out, "privkey.pem")
        if not os.path.exists(full) and not os.path.exists(key):
            return None
        with open(full) as f:
            cert = f.read()
        with open(key) as f:
            key_pem = f.read()
        self.assertEqual(openssl_out("x509", "-noout", "-pubkey", data=cert),
                         openssl_out("pkey", "-pubout", data=key_pem), "key and certificate do not match")
        t = subprocess.run(self.web.base_command() + ["-t"], capture_output=True, text=True)
        self.assertEqual(t.returncode, 0, "nginx -t refused the folder:\n" + t.stderr)
        serial = pem_serial(cert)
        self.assertIn(serial, self.serials, "a certificate that is neither the old nor the new one")
        return self.serials[serial]

    def leftovers(self):
        """Entries that should not outlive a converged run."""
        names = os.listdir(self.out)
        versions = [n for n in names if re.fullmatch(r"\.v-\d+", n)]
        junk = [n for n in names if ".tmp." in n or ".pem.certfetch-" in n or n == ".certfetch-reload-pending"]
        return junk + (versions if len(versions) > 2 else [])

    def kill_points(self, template):
        """[(syscall, n)] for every call of KILL_SYSCALLS one run makes from `template`."""
        self.restore(template)
        trace = os.path.join(self.work, "trace")
        # Not -f: the injection counts calls per process, and only certfetch's
        # own calls change the folder (the reload shell's do not).
        r = subprocess.run([STRACE, "-qq", "-o", trace, "-e", "trace=" + ",".join(KILL_SYSCALLS),
                            *self.command()], capture_output=True, text=True, timeout=60, env=self.env)
        self.assertEqual(r.returncode, 0, "the traced run failed:\n" + r.stderr[-3000:])
        counts, points = {}, []
        with open(trace) as f:
            for line in f:
                m = re.match(r"(\w+)\(", line)
                if not m or m.group(1) not in KILL_SYSCALLS:
                    continue
                name = m.group(1)
                counts[name] = counts.get(name, 0) + 1
                # openat: only the files certfetch creates (its reads change nothing).
                if name != "openat" or "O_CREAT" in line:
                    points.append((name, counts[name]))
        return points

    def restore(self, template):
        shutil.rmtree(self.out, ignore_errors=True)
        if os.path.exists(self.reloads):
            os.unlink(self.reloads)
        if template is not None:
            shutil.copytree(template, self.out, symlinks=True)

    def template(self, kind):
        """A saved starting folder: 'flat' (older release), 'live' (this one), 'empty'."""
        path = os.path.join(self.work, "template-" + kind)
        dir_store = self.command != self.args
        if kind == "flat":
            saved_out, self.out = self.out, path
            self.write_flat(self.old)
            self.out = saved_out
            if dir_store:
                # An older release's directory store: flat PEM files beside bundle.json.
                with open(os.path.join(path, "bundle.json"), "w") as f:
                    json.dump(self.old, f)
        elif kind == "live" and dir_store:
            old_file = os.path.join(self.work, "old.json")
            with open(old_file, "w") as f:
                json.dump(self.old, f)
            self.restore(None)
            r = subprocess.run(self.command(), capture_output=True, text=True, timeout=60,
                               env=dict(self.env, CERTFETCH_TEST_BUNDLE=old_file))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            shutil.copytree(self.out, path, symlinks=True)
        elif kind == "live":
            self.put_store(self.old)
            self.restore(None)
            r = self.certfetch()
            self.assertEqual(r.returncode, 0, r.stderr)
            shutil.copytree(self.out, path, symlinks=True)
            self.put_store(self.new)
        else:
            return None
        return path

    # ---- the matrix -------------------------------------------------------------------
    def run_matrix(self, kind):
        template = self.template(kind)
        points = self.kill_points(template)
        self.assertGreater(len(points), 5, points)
        seen = {"old": 0, "new": 0, None: 0}
        for syscall, n in points:
            with self.subTest(start=kind, syscall=syscall, n=n):
                self.restore(template)
                killed = subprocess.run([STRACE, "-qq", "-o", "/dev/null", "-e", "trace=" + syscall,
                                         "-e", "inject=%s:signal=SIGKILL:when=%d" % (syscall, n), *self.command()],
                                        capture_output=True, text=True, timeout=60, env=self.env)
                self.assertIn(killed.returncode, (-signal.SIGKILL, 128 + signal.SIGKILL),
                              "certfetch was not killed at %s #%d:\n%s" % (syscall, n, killed.stderr[-2000:]))
                state = self.served()
                if kind != "empty":
                    self.assertIsNotNone(state, "the files are gone after a kill at %s #%d" % (syscall, n))
                seen[state] += 1
                switched = state == "new"
                after = subprocess.run(self.command(), capture_output=True, text=True, timeout=60, env=self.env)
                self.assertEqual(after.returncode, 0, after.stderr + after.stdout)
                self.assertEqual(self.served(), "new")
                self.assertEqual(self.leftovers(), [], "left behind after a kill at %s #%d" % (syscall, n))
                if switched and self.command == self.args:
                    # The kill came after the switch: the next run still owes nginx its reload.
                    self.assertGreaterEqual(self.reload_count(), 1, "no reload after a kill past the switch")
        who = "certfetch" if self.command == self.args else "dir store put"
        figure("%s crash (%s): %d SIGKILLs, every one left a pair nginx -t accepts "
               "(old %d, new %d, none yet %d); the next run converged each time" %
               (who, kind, len(points), seen["old"], seen["new"], seen[None]))
        if kind != "empty":
            self.assertGreater(seen["old"], 0)
            self.assertGreater(seen["new"], 0)

    def test_kill_at_every_step_migrating_flat_files(self):
        self.run_matrix("flat")

    def test_kill_at_every_step_updating_the_live_version(self):
        self.run_matrix("live")

    def test_kill_at_every_step_on_first_boot(self):
        self.run_matrix("empty")

    def use_dir_store_child(self):
        """The matrix against the directory store's put() of the new bundle
        into self.out (the folder nginx reads)."""
        # Not a skip: a missing helper once hid this matrix for months.
        self.assertTrue(os.access(DIR_STORE_CHILD[0], os.X_OK),
                        DIR_STORE_CHILD[0] + " is not built (cmake --build BUILD --target faults_dir_store_put)")
        bundle_file = os.path.join(self.work, "new.json")
        with open(bundle_file, "w") as f:
            json.dump(self.new, f)
        self.env = dict(os.environ, CERTFETCH_TEST_STORE=self.out, CERTFETCH_TEST_BUNDLE=bundle_file)
        self.command = lambda: list(DIR_STORE_CHILD)

    def test_dir_store_kill_at_every_step_from_flat_files(self):
        self.use_dir_store_child()
        self.run_matrix("flat")

    def test_dir_store_kill_at_every_step_updating_the_live_version(self):
        self.use_dir_store_child()
        self.run_matrix("live")

    # ---- two at once ------------------------------------------------------------------
    def test_two_at_once_one_writes_one_reload(self):
        for round_ in range(5):
            self.restore(None)
            self.write_flat(self.old)
            procs = [subprocess.Popen(self.args(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(3)]
            results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
            for p in procs:
                p.stdout.close()
                p.stderr.close()
            for rc, err in results:
                self.assertEqual(rc, 0, err)
            written = sum(err.count("certificate written") for _, err in results)
            self.assertEqual(written, 1, "expected exactly one run to write:\n" + "\n".join(e for _, e in results))
            self.assertEqual(self.reload_count(), 1)
            self.assertEqual(self.served(), "new")
            self.assertEqual(self.leftovers(), [])

    def test_lock_held_too_long_is_a_clear_failure(self):
        self.write_flat(self.old)
        before = {n: self.read(n) for n in ("privkey.pem", "fullchain.pem")}
        lock_path = os.path.join(self.out, ".certfetch.lock")
        with open(lock_path, "w") as holder:
            fcntl.flock(holder, fcntl.LOCK_EX)
            holder.write("%d\n" % os.getpid())
            holder.flush()
            t0 = time.monotonic()
            r = self.certfetch("--lock-wait", "1")
            took = time.monotonic() - t0
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("another certfetch (pid %d) is still writing %s after 1 s (--lock-wait)" % (os.getpid(), self.out),
                      r.stderr)
        self.assertLess(took, 10)
        for name, text in before.items():
            self.assertEqual(self.read(name), text)
        self.assertEqual(self.reload_count(), 0)
        figure("certfetch lock: a second certfetch gave up after %.2f s (--lock-wait 1) naming the holder" % took)


if __name__ == "__main__":
    unittest.main(verbosity=2)
