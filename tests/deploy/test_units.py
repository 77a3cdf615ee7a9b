"""Host deployment files (docs/deployment.md): deploy/systemd/*, the cron line
and the nginx server block.

- `systemd-analyze verify` on every unit, with /usr/local/bin/{renewer,certfetch}
  pointed at the freshly built binaries (copies of the units in a temporary
  folder); any output is a failure (verify exits 0 on unknown keys and only
  warns), and a broken copy must produce output (the check can fail).
- the properties the units promise: oneshot, ordering before nginx, no
  RemainAfterExit (the timer must be able to start the service again), the
  hardening options, timers with a randomized delay;
- every flag a unit or the cron line passes exists in the binary's --help;
- `nginx -t` accepts the server block with certificates where certfetch
  writes them (paths rewritten into a temporary prefix).
"""

import configparser
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
DEPLOY = os.path.join(SOURCE_DIR, "deploy")
UNITS = os.path.join(DEPLOY, "systemd")
BIN = {"renewer": os.path.join(BUILD_DIR, "bin", "renewer"), "certfetch": os.path.join(BUILD_DIR, "bin", "certfetch")}
HARDENING = {"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectHome": "yes"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def unit(name):
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",), comment_prefixes=("#", ";"))
    parser.optionxform = str
    parser.read_string(read(os.path.join(UNITS, name)))
    return parser


def help_flags(binary, *args):
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{binary} {' '.join(args)} --help: exit {r.returncode}: {r.stderr}")
    return set(re.findall(r"--[a-z0-9][a-z0-9-]*", r.stdout))


def check_command(test, argv, where):
    """argv = [/usr/local/bin/X, subcommand?, flags...]: the flags exist."""
    name = os.path.basename(argv[0])
    test.assertEqual(argv[0], f"/usr/local/bin/{name}", f"{where}: binaries live in /usr/local/bin")
    test.assertIn(name, BIN, where)
    args = [argv[1]] if name == "renewer" else []
    flags = help_flags(BIN[name], *args)
    used = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    test.assertEqual(used - flags, set(), f"{where}: flags `{name} {' '.join(args)} --help` lacks")


class SystemdUnits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.verify = shutil.which("systemd-analyze")
        for path in BIN.values():
            if not os.access(path, os.X_OK):
                raise unittest.SkipTest(f"{path} is not built")

    def copies(self, tmp, mutate=None):
        """The units in `tmp` with the binaries' paths rewritten; `mutate`
        edits one file's text (name, fn)."""
        paths = []
        for name in sorted(os.listdir(UNITS)):
            text = read(os.path.join(UNITS, name))
            for binary, path in BIN.items():
                text = text.replace(f"/usr/local/bin/{binary}", path)
            if mutate and mutate[0] == name:
                text = mutate[1](text)
            path = os.path.join(tmp, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            paths.append(path)
        return paths

    def run_verify(self, paths):
        r = subprocess.run([self.verify, "verify", "--man=no", *paths], capture_output=True, text=True,
                           timeout=60, cwd=os.path.dirname(paths[0]))
        return r.returncode, (r.stdout + r.stderr).strip()

    def test_the_unit_set(self):
        self.assertEqual(sorted(os.listdir(UNITS)),
                         ["certfetch.service", "certfetch.timer", "renewer.service", "renewer.timer"])

    def test_verify_every_unit(self):
        if not self.verify:
            self.skipTest("systemd-analyze is not installed (scripts/deps.sh installs systemd)")
        with tempfile.TemporaryDirectory() as tmp:
            rc, out = self.run_verify(self.copies(tmp))
            self.assertEqual((rc, out), (0, ""), "systemd-analyze verify")
        print(f"FIGURE units-verified: {len(os.listdir(UNITS))} units, no findings")

    def test_verify_catches_broken_units(self):
        if not self.verify:
            self.skipTest("systemd-analyze is not installed")
        broken = {
            "unknown key": ("certfetch.service", lambda t: t.replace("Type=oneshot", "Typ=oneshot")),
            "bad value": ("renewer.service", lambda t: t.replace("Type=oneshot", "Type=oneshoot")),
            "bad calendar": ("renewer.timer", lambda t: t.replace("OnCalendar=daily", "OnCalendar=dayly")),
            "missing binary": ("certfetch.service", lambda t: t.replace(BIN["certfetch"], "/nonexistent/certfetch")),
        }
        for what, mutate in broken.items():
            with self.subTest(what), tempfile.TemporaryDirectory() as tmp:
                rc, out = self.run_verify(self.copies(tmp, mutate))
                self.assertNotEqual(out, "", f"{what}: systemd-analyze verify found nothing")

    def test_exposure(self):
        # systemd's own score of the sandbox (0 = locked down, 10 = none).
        if not self.verify:
            self.skipTest("systemd-analyze is not installed")
        scores = {}
        with tempfile.TemporaryDirectory() as tmp:
            for path in self.copies(tmp):
                if not path.endswith(".service"):
                    continue
                r = subprocess.run([self.verify, "security", "--offline=yes", "--no-pager", path],
                                   capture_output=True, text=True, timeout=60, cwd=tmp)
                m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
                self.assertIsNotNone(m, r.stdout[-2000:] + r.stderr)
                scores[os.path.basename(path)] = float(m.group(1))
        for name, score in scores.items():
            self.assertLessEqual(score, 3.5, f"{name}: exposure {score}")
        print("FIGURE units-exposure: " + ", ".join(f"{n} {s}" for n, s in sorted(scores.items())))

    def test_certfetch_service(self):
        u = unit("certfetch.service")
        self.assertEqual(u["Service"]["Type"], "oneshot")
        self.assertIn("nginx.service", u["Unit"]["Before"].split())
        self.assertIn("nginx.service", u["Install"]["WantedBy"].split())
        # RemainAfterExit=yes would keep the unit active, and the timer could
        # never start it again.
        self.assertNotEqual(u["Service"].get("RemainAfterExit", "no"), "yes")
        # A transient failure at boot is retried, a bounded number of times;
        # a configuration error (exit 2) is not.
        self.assertEqual(u["Service"].get("Restart"), "on-failure")
        self.assertIn("2", u["Service"].get("RestartPreventExitStatus", "").split())
        self.assertGreater(int(u["Unit"].get("StartLimitBurst", "0")), 0)
        self.assertGreater(int(u["Unit"].get("StartLimitIntervalSec", "0")), 0)
        for key, value in HARDENING.items():
            self.assertEqual(u["Service"].get(key), value, key)
        self.assertIn("/etc/nginx/tls", u["Service"]["ReadWritePaths"])
        argv = shlex.split(u["Service"]["ExecStart"])
        check_command(self, argv, "certfetch.service")
        reload_command = argv[argv.index("--reload") + 1]
        self.assertRegex(reload_command, r"^systemctl .*reload.* nginx")
        self.assertEqual(argv[argv.index("--out") + 1], "/etc/nginx/tls")
        # The start timeout leaves room for the boot retries and the reload.
        retry_for = int(argv[argv.index("--retry-for") + 1]) if "--retry-for" in argv else 120
        self.assertGreater(int(u["Service"]["TimeoutStartSec"]), retry_for + 60)

    def test_renewer_service(self):
        u = unit("renewer.service")
        self.assertEqual(u["Service"]["Type"], "oneshot")
        for key, value in HARDENING.items():
            self.assertEqual(u["Service"].get(key), value, key)
        # The spool goes to $STATE_DIRECTORY/spool (secrets/spool.cpp).
        self.assertEqual(u["Service"]["StateDirectory"], "renewer")
        check_command(self, shlex.split(u["Service"]["ExecStart"]), "renewer.service")

    def test_timers(self):
        for name in ("certfetch.timer", "renewer.timer"):
            with self.subTest(name):
                u = unit(name)
                self.assertEqual(u["Timer"]["OnCalendar"], "daily")
                self.assertIn("RandomizedDelaySec", u["Timer"])
                self.assertEqual(u["Timer"].get("Persistent"), "true")
                self.assertIn("timers.target", u["Install"]["WantedBy"])


class CronLine(unittest.TestCase):
    def test_cron_line(self):
        lines = [line for line in read(os.path.join(DEPLOY, "cron", "renewer.cron")).splitlines()
                 if line.strip() and not line.lstrip().startswith("#") and not re.match(r"^[A-Z_]+=", line)]
        self.assertEqual(len(lines), 1, lines)
        fields = lines[0].split(None, 6)
        self.assertEqual(len(fields), 7, "minute hour day month weekday user command (/etc/cron.d format)")
        minute, hour, day, month, weekday, user, command = fields
        self.assertTrue(minute.isdigit() and 0 <= int(minute) < 60, minute)
        self.assertTrue(hour.isdigit() and 0 <= int(hour) < 24, hour)
        self.assertEqual((day, month, weekday), ("*", "*", "*"), "daily")
        self.assertEqual(user, "root")
        argv = shlex.split(command)
        redirect = next(i for i, a in enumerate(argv) if a.startswith(">"))
        check_command(self, argv[:redirect], "renewer.cron")


class NginxSnippet(unittest.TestCase):
    def test_nginx_accepts_the_server_block(self):
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        if not nginx:
            self.skipTest("nginx is not installed (scripts/deps.sh installs it)")
        snippet = read(os.path.join(DEPLOY, "nginx", "certfetch-snippet.conf"))
        for name in ("fullchain.pem", "privkey.pem", "chain.pem"):
            self.assertIn(f"/etc/nginx/tls/{name}", snippet)
        self.assertRegex(snippet, r"ssl_protocols\s+TLSv1\.2 TLSv1\.3;")
        with tempfile.TemporaryDirectory() as tmp:
            tls = os.path.join(tmp, "tls")
            os.mkdir(tls)
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-subj", "/CN=example.com", "-days", "1",
                            "-keyout", os.path.join(tls, "privkey.pem"), "-out", os.path.join(tls, "fullchain.pem")],
                           check=True, capture_output=True, timeout=30)
            shutil.copy(os.path.join(tls, "fullchain.pem"), os.path.join(tls, "chain.pem"))
            conf = os.path.join(tmp, "nginx.conf")

            def write(text):
                with open(conf, "w", encoding="utf-8") as f:
                    f.write(f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
                            f"http {{\naccess_log off;\n{text}\n}}\n")

            def check():
                return subprocess.run([nginx, "-t", "-q", "-p", tmp, "-c", conf], capture_output=True, text=True,
                                      timeout=30)

            write(snippet.replace("/etc/nginx/tls/", tls + "/"))
            r = check()
            self.assertEqual(r.returncode, 0, r.stderr)
            # The check can fail: a missing key file is refused.
            write(snippet.replace("/etc/nginx/tls/privkey.pem", tls + "/missing.pem").replace("/etc/nginx/tls/",
                                                                                               tls + "/"))
            self.assertNotEqual(check().returncode, 0)


if __name__ == "__main__":
    unittest.main()
