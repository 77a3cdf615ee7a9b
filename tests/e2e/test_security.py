"""Security checks (CONTRIBUTING.md#security-checks) with the real binaries on loopback.

Every renewer/certfetch run of every e2e suite is already scanned for key
material by e2e_common.run() (PEM private keys, the keys written to the
folders named on the command line, Secrets Manager values, secret
environment values and flags) and its key files checked for mode 0600. This
file adds what needs its own scenario:

- a CA whose TLS certificate is not trusted: a clear error, exit non-zero,
  nothing ordered; no flag in any --help turns verification off, and no
  source line does;
- names outside the allowlist and invalid names: exit 2 before any network
  call (listeners standing in for the CA, AWS and DNS count zero contacts);
- child processes (exec DNS hook, deploy hook, certfetch --reload) get paths
  and names, never keys: their argv and environment hold no private key,
  TSIG secret, EAB HMAC key or AWS secret key; key files are 0600 and ours.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_security.py
"""

import base64
import glob
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import (CERTFETCH, E2eCase, RENEWER, SOURCE_DIR, Stack, ZONE, private_key_lines, read,  # noqa: E402
                        run, write_script)
from test_run_route53 import EXEC_HOOK  # noqa: E402

EAB_KID = "kid-security"
EAB_HMAC = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
TSIG_SECRET = base64.b64encode(os.urandom(32)).decode()

# Appends what the process that runs it was given: its argv and environment,
# and those of its parent (the /bin/sh -c that runs a deploy/reload hook).
RECORDER = r'''#!/bin/sh
{
  printf 'ARGV '; tr '\0' ' ' < /proc/$$/cmdline; echo
  tr '\0' '\n' < /proc/$$/environ | sed 's/^/ENV /'
  case "$(cat /proc/$PPID/comm)" in
    renewer|certfetch) ;;  # spawned directly (exec DNS hook)
    *) printf 'PARENT_ARGV '; tr '\0' ' ' < /proc/$PPID/cmdline; echo
       tr '\0' '\n' < /proc/$PPID/environ | sed 's/^/PARENT_ENV /' ;;
  esac
  echo END
} >> "$SECURITY_RECORD"
case "$1" in present|cleanup) exec "$SECURITY_THEN" "$@" ;; esac
'''

# Option names that would weaken TLS verification, as other tools spell them.
INSECURE_FLAG = re.compile(r"insecure|no[-_]?verify|skip[-_]?verif|verify[-_]?(ssl|tls|peer)|"
                           r"no[-_]?check[-_]?cert|allow[-_]?untrusted|tls[-_]?skip|unsafe", re.I)


class Counter:
    """A TCP listener and a UDP socket on 127.0.0.1 that count every contact
    (connections accepted, datagrams received) and answer nothing."""

    def __init__(self, test):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.tcp.settimeout(0.1)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.1)
        self.tcp_port = self.tcp.getsockname()[1]
        self.udp_port = self.udp.getsockname()[1]
        self.contacts = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()
        test.addCleanup(self.stop)

    def loop(self):
        while not self.stopping.is_set():
            for sock, kind in ((self.tcp, "tcp"), (self.udp, "udp")):
                try:
                    if kind == "tcp":
                        conn, _ = sock.accept()
                        conn.close()
                    else:
                        sock.recvfrom(4096)
                    self.contacts.append(kind)
                except (socket.timeout, OSError):
                    pass

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.tcp.close()
        self.udp.close()


class Security(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack.start_for(cls, eab={EAB_KID: EAB_HMAC})

    def acme_args_without_ca_bundle(self):
        args = self.stack.acme_args("untrusted")
        i = args.index("--ca-bundle")
        del args[i:i + 2]
        return args

    # ---- TLS verification ----------------------------------------------------
    def test_untrusted_ca_certificate_is_a_clear_error(self):
        s = self.stack
        orders = s.orders()
        wrong_bundle = os.path.join(self.tmpdir("wrong-"), "other-ca.pem")
        with open(wrong_bundle, "w") as f:
            f.write(s.root_pem())  # Pebble's issuing root, not the CA that signed its TLS certificate
        env = s.env()
        for var in ("ACME_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
            env.pop(var, None)
        cases = [("system roots only", []), ("--ca-bundle of another CA", ["--ca-bundle", wrong_bundle])]
        for what, extra in cases:
            with self.subTest(what):
                out = self.tmpdir("out-")
                cmd = [RENEWER, "run", *self.acme_args_without_ca_bundle(), *s.dns_args(), *extra,
                       "--eab-kid", EAB_KID, "-d", "tls." + ZONE, "--out", out]
                r = run(cmd, env=dict(env, ACME_EAB_HMAC_KEY=EAB_HMAC), timeout=60)
                self.assertNotEqual(r.rc, 0, r.explain())
                text = r.stdout + r.stderr
                self.assertRegex(text, r"(?i)certificate|tls|ssl", r.explain())
                self.assertRegex(text, r"(?i)verif|trust|self.signed|issuer", r.explain())
                written = [n for n in os.listdir(out) if not n.startswith(".")]  # the lock file may be there
                self.assertEqual(written, [], "files written although the CA was not trusted")
                reason = [l.get("reason", "") for l in r.lines if l.get("outcome") == "failed"]
                self.assertEqual(len(reason), 1, r.explain())
                self.assertRegex(reason[0], r"(?i)certificate|tls|ssl", r.explain())
                print("\n  %-26s exit %d: %s" % (what, r.rc, reason[0][:200]), end="")
        self.assertEqual(s.orders(), orders, "an order reached a CA that was not trusted")
        self.assertEqual([r for r in s.txt_records() if "tls." + ZONE in r["Name"] and r["Values"]], [])

    def test_no_option_turns_verification_off(self):
        helps = {}
        for cmd in ([RENEWER, "--help"], [RENEWER, "run", "--help"], [RENEWER, "plan", "--help"],
                    [RENEWER, "dns-test", "--help"], [CERTFETCH, "--help"]):
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, "%s: %s" % (cmd, p.stderr))
            helps[" ".join([os.path.basename(cmd[0]), *cmd[1:]])] = p.stdout + p.stderr
        for name, text in helps.items():
            flags = re.findall(r"--[A-Za-z0-9-]+", text)
            self.assertGreater(len(flags), 0, name)
            bad = [f for f in flags if INSECURE_FLAG.search(f)]
            self.assertEqual(bad, [], "%s --help offers a flag that weakens TLS: %s" % (name, bad))
        # Nor does any source line: libcurl verification stays on everywhere.
        offenders = []
        for path in glob.glob(os.path.join(SOURCE_DIR, "*", "*.cpp")) + glob.glob(os.path.join(SOURCE_DIR, "*", "*.hpp")):
            with open(path, errors="replace") as f:
                for n, line in enumerate(f, 1):
                    if re.search(r"CURLOPT_SSL_VERIFY(PEER|HOST|STATUS)\s*,\s*0|SSL_VERIFY_NONE|"
                                 r"getenv\(\"[A-Z_]*(INSECURE|NO_VERIFY|SKIP_VERIFY)", line):
                        offenders.append("%s:%d: %s" % (os.path.relpath(path, SOURCE_DIR), n, line.strip()))
        self.assertEqual(offenders, [], "TLS verification can be turned off")
        print("\n  %d help texts, %d flags, none weakens TLS" %
              (len(helps), sum(len(re.findall(r"--[A-Za-z0-9-]+", t)) for t in helps.values())), end="")

    # ---- names refused before any network call --------------------------------
    def test_names_refused_before_any_network_call(self):
        c = Counter(self)
        d = self.tmpdir("names-")
        env = self.stack.env(AWS_ENDPOINT_URL="http://127.0.0.1:%d" % c.tcp_port)
        common = ["--server", "https://127.0.0.1:%d/dir" % c.tcp_port, "--email", "ops@example.test",
                  "--agree-tos", "--spool-dir", os.path.join(d, "spool"), "--log-format", "json",
                  "--dns-resolver", "127.0.0.1:%d" % c.udp_port,
                  "--dns-nameservers", "127.0.0.1:%d" % c.udp_port]
        config = os.path.join(d, "outside.json")
        with open(config, "w") as f:
            json.dump({"allow": [".example.test"],
                       "certificates": [{"domains": ["www.example.org"], "store": "aws-sm:certs/x"}]}, f)
        cases = [
            ("outside --allow", ["run", "--allow", ".example.test", "-d", "www.example.org",
                                 "--store", "aws-sm:certs/x"], "www.example.org"),
            ("apex not in .suffix allow", ["run", "--allow", ".example.test", "-d", "example.test",
                                           "--out", d], "example.test"),
            ("outside config allow", ["run", "--config", config], "www.example.org"),
            ("plan outside --allow", ["plan", "--allow", "a.example.test", "-d", "b.example.test",
                                      "--out", d], "b.example.test"),
            ("empty label", ["run", "-d", "a..example.test", "--out", d], "a..example.test"),
            ("leading hyphen", ["run", "-d", "-a.example.test", "--out", d], "-a.example.test"),
            ("space", ["run", "-d", "a b.example.test", "--out", d], "a b.example.test"),
            ("wildcard inside", ["run", "-d", "a.*.example.test", "--out", d], "a.*.example.test"),
            ("IP address", ["run", "-d", "127.0.0.1", "--out", d], "127.0.0.1"),
            ("label over 63", ["run", "-d", "a" * 64 + ".example.test", "--out", d], "a" * 64),
            ("bad punycode", ["run", "-d", "xn--zz.example.test", "--out", d], "xn--zz"),
            ("dns-test invalid", ["dns-test", "-d", "a..example.test"], "a..example.test"),
        ]
        for what, args, needle in cases:
            with self.subTest(what):
                if args[0] == "dns-test":
                    cmd = [RENEWER, *args, *common[-4:]]  # DNS settings only
                else:
                    cmd = [RENEWER, args[0], *common, *args[1:]]
                r = run(cmd, env=env, timeout=30)
                self.assertEqual(r.rc, 2, r.explain())
                self.assertIn(needle.lower(), (r.stdout + r.stderr).lower(), r.explain())
                print("\n  %-26s exit 2: %s" % (what, (r.stderr_lines() or [""])[-1][:150]), end="")
        self.assertEqual(c.contacts, [], "a refused name still reached the network")

    # ---- child processes get paths, not keys -----------------------------------
    def test_hooks_get_paths_not_keys(self):
        s = self.stack
        d = self.tmpdir("hooks-")
        record = os.path.join(d, "record.txt")
        real_hook = write_script(d, "exec-hook.py", EXEC_HOOK)
        recorder = write_script(d, "record.sh", RECORDER)
        out = os.path.join(d, "out")
        account = os.path.join(d, "account.json")
        secret_id = "certs/security"
        env = s.env(E2E_FAKE_ENDPOINT=s.fake.endpoint, E2E_ZONE_ID=s.zone_id,
                    E2E_HOOK_LOCK=os.path.join(d, "lock"), E2E_HOOK_LOG=os.path.join(d, "hook.log"),
                    SECURITY_RECORD=record, SECURITY_THEN=real_hook,
                    ACME_EAB_HMAC_KEY=EAB_HMAC, RFC2136_TSIG_SECRET=TSIG_SECRET)
        names = ["hooks." + ZONE, "*.hooks." + ZONE]
        cmd = [RENEWER, "run", *s.acme_args(account=None), *s.dns_args(), "--eab-kid", EAB_KID,
               "--account-file", account, "-d", names[0], "-d", names[1],
               "--dns", "exec", "--exec-path", recorder,
               "--store", "aws-sm:" + secret_id, "--deploy-hook", recorder + " deploy"]
        r = run(cmd, env=env, timeout=120)
        self.assertEqual(r.rc, 0, r.explain())
        # certfetch on a web host: writes the files, runs --reload with our recorder.
        fetch_env = dict(env)
        fetch_env.pop("SECURITY_THEN")
        f = run([CERTFETCH, "--secret-id", secret_id, "--out", out, "--reload", recorder + " reload"],
                env=fetch_env, timeout=60)
        self.assertEqual(f.rc, 0, f.explain())

        calls = read(record).split("END\n")
        calls = [c for c in calls if c.strip()]
        kinds = {"dns": 0, "deploy": 0, "reload": 0}
        for c in calls:
            argv = c.split("\n", 1)[0]
            kinds["deploy" if " deploy" in argv else "reload" if " reload" in argv else "dns"] += 1
        self.assertGreaterEqual(kinds["dns"], 4, "expected present+cleanup for two names:\n" + read(record))
        self.assertEqual(kinds["deploy"], 1, read(record))
        self.assertEqual(kinds["reload"], 1, read(record))

        secrets = {"TSIG secret": TSIG_SECRET, "EAB HMAC key": EAB_HMAC,
                   "AWS secret access key": s.fake.secret_key}
        key_texts = [read(os.path.join(out, "privkey.pem")), read(account)]
        key_texts += [json.dumps(x) for x in s.fake.secrets()]
        key_lines = set()
        for text in key_texts:
            key_lines |= private_key_lines(text)
        self.assertGreaterEqual(len(key_lines), 4, "the scan needs the certificate and account keys")
        recorded = read(record)
        self.assertNotIn("PRIVATE KEY", recorded)
        for what, value in secrets.items():
            self.assertNotIn(value, recorded, "the %s reached a child process's argv or environment" % what)
        for line in key_lines:
            self.assertNotIn(line, recorded, "private key material reached a child process")
        # What the hooks do get: paths and names.
        self.assertIn("RENEWED_DOMAINS=", recorded)
        self.assertIn(os.path.join(out, "privkey.pem"), recorded)

        # Key files: 0600 and owned by the user that ran us.
        for path in (os.path.join(out, "privkey.pem"), account):
            st = os.stat(path)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, path)
            self.assertEqual((st.st_uid, st.st_gid), (os.getuid(), os.getgid()), path)
        print("\n  %d hook calls (dns %d, deploy %d, reload %d) recorded; no secret or key line among them"
              % (len(calls), kinds["dns"], kinds["deploy"], kinds["reload"]), end="")


if __name__ == "__main__":
    unittest.main(verbosity=2)
