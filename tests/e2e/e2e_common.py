"""Shared pieces of the end-to-end suites: the real `renewer` and `certfetch`
binaries against Pebble (Let's Encrypt's test CA) and tests/fakeaws (Route53
with an authoritative DNS server, Secrets Manager, EC2/ASG/ECS).

    class MySuite(E2eCase):
        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            cls.stack = Stack.start_for(cls)            # fake + Pebble, cleaned up
        def test_x(self):
            r = self.stack.renewer("run", "-d", "a.example.test", "--out", d)
            self.assertEqual(r.rc, 0, r.explain())

Everything binds 127.0.0.1, every wait is bounded, everything started is
stopped by class/test cleanups, also when a test fails.
"""

import json
import os
import re
import shlex
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/, for `harness`

from harness import pebble as pebble_mod  # noqa: E402
from harness.bind import Bind  # noqa: E402
from harness.fakeaws import FakeAws  # noqa: E402
from harness.pebble import Pebble  # noqa: E402

SOURCE_DIR = os.environ.get("SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
RENEWER = os.path.join(BUILD_DIR, "bin", "renewer")
CERTFETCH = os.path.join(BUILD_DIR, "bin", "certfetch")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
PYTHON = "/usr/bin/python3"
ZONE = "example.test"

# Pebble log line written once per accepted newOrder (pebble/db/memorystore.go).
PEBBLE_ORDER_LINE = "Added order "


class BlocklistPebble(Pebble):
    """The harness's Pebble plus Pebble 2.4's `domainBlocklist` setting: names
    under a blocked domain are refused at newOrder with rejectedIdentifier
    ("issuance is forbidden by policy"). Same start-up as Pebble.start()."""

    def start(self, dns_port, eab=None, nonce_reject=0, blocklist=(), timeout=30, **kw):
        if not blocklist:
            return super().start(dns_port, eab=eab, nonce_reject=nonce_reject, timeout=timeout, **kw)
        # Pebble.start() writes its config then launches; wrap the launch so
        # the config gains the blocklist before Pebble reads it.
        real_popen = pebble_mod.subprocess.Popen

        def popen(cmd, *a, **k):
            if cmd and cmd[0] == pebble_mod.PEBBLE and "-config" in cmd:
                path = cmd[cmd.index("-config") + 1]
                with open(path) as f:
                    config = json.load(f)
                config["pebble"]["domainBlocklist"] = list(blocklist)
                with open(path, "w") as f:
                    json.dump(config, f)
            return real_popen(cmd, *a, **k)

        pebble_mod.subprocess.Popen = popen
        try:
            return super().start(dns_port, eab=eab, nonce_reject=nonce_reject, timeout=timeout, **kw)
        finally:
            pebble_mod.subprocess.Popen = real_popen


class Result:
    """One finished process: rc, stdout, stderr, wall seconds, and for
    `renewer run/plan` the JSON report lines."""

    def __init__(self, cmd, rc, stdout, stderr, seconds):
        self.cmd, self.rc, self.stdout, self.stderr, self.seconds = cmd, rc, stdout, stderr, seconds
        self.lines = []
        for line in stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    self.lines.append(json.loads(line))
                except ValueError:
                    pass

    @property
    def certs(self):
        """{certificate id: report line}."""
        return {l["certificate"]: l for l in self.lines if "certificate" in l}

    @property
    def summary(self):
        for l in self.lines:
            if l.get("summary"):
                return l
        return None

    @property
    def replacements(self):
        return [l for l in self.lines if "replace" in l]

    def stderr_lines(self):
        return [l for l in self.stderr.splitlines() if l.strip()]

    def log_records(self):
        """stderr as JSON log records (--log-format json); non-JSON lines skipped."""
        out = []
        for l in self.stderr_lines():
            try:
                out.append(json.loads(l))
            except ValueError:
                pass
        return out

    def explain(self):
        return ("\n$ %s\nexit %s after %.2f s\n--- stdout ---\n%s\n--- stderr (tail) ---\n%s" %
                (" ".join(self.cmd), self.rc, self.seconds, self.stdout[-6000:], self.stderr[-8000:]))


def run(cmd, env=None, timeout=120, cwd=None):
    """Runs cmd to completion. For the renewer/certfetch binaries also: runs
    them under WRAPPER when set (valgrind), keeps their output under LOG_DIR,
    and fails when the output holds key material (assert_no_key_material)."""
    ours = bool(cmd) and cmd[0] in (RENEWER, CERTFETCH)
    actual = list(cmd)
    if ours and WRAPPER:
        actual = WRAPPER + actual
        timeout *= WRAPPER_SLOWDOWN
    started = time.time()
    start = time.monotonic()
    try:
        p = subprocess.run(actual, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        if ours:
            keep_log(Result(cmd, "timeout", out, err, time.monotonic() - start))
        raise AssertionError("timed out after %ss: %s\n--- stdout ---\n%s\n--- stderr ---\n%s" %
                             (timeout, " ".join(actual), out[-4000:], err[-6000:])) from None
    result = Result(cmd, p.returncode, p.stdout, p.stderr, time.monotonic() - start)
    if ours:
        keep_log(result)
        assert_no_key_material(result, env if env is not None else os.environ, started)
    return result


# ---- wrapper, kept logs, key-material scan (CONTRIBUTING.md#security-checks) ----
# RENEWER_WRAPPER="valgrind --tool=memcheck ..." runs every renewer/certfetch
# started through run() under that command; timeouts grow by WRAPPER_SLOWDOWN.
WRAPPER = shlex.split(os.environ.get("RENEWER_WRAPPER", ""))
WRAPPER_SLOWDOWN = 8
# Every renewer/certfetch output, one file per process: $BUILD_DIR/test-logs/.
LOG_DIR = os.environ.get("RENEWER_TEST_LOGS") or os.path.join(BUILD_DIR, "test-logs")
# Callables returning texts that hold keys the binaries handled outside the
# files named on their command line (Stack adds its Secrets Manager values).
KEY_SOURCES = []
SECRET_ENV_NAME = re.compile(r"SECRET|HMAC|TSIG|TOKEN|PASSWORD|PRIVATE", re.I)
# ...naming where a secret is, not the secret: AWS_WEB_IDENTITY_TOKEN_FILE, tsig_secret_env.
NOT_SECRET_SUFFIX = re.compile(r"_(FILE|PATH|DIR|URI|URL|ENV|NAME)$", re.I)
SECRET_FLAGS = ("--eab-hmac-key", "--rfc2136-tsig-secret")
SECRET_FILE_FLAGS = ("--eab-hmac-key-file", "--rfc2136-tsig-secret-file")
_PEM_KEY = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(.*?)-----END", re.S)
_log_counter = [0]


def keep_log(result):
    try:
        os.makedirs(LOG_DIR, exist_ok=True)
        _log_counter[0] += 1
        name = "%s-%d-%03d.log" % (os.path.basename(result.cmd[0]), os.getpid(), _log_counter[0])
        with open(os.path.join(LOG_DIR, name), "w") as f:
            f.write("$ %s\nexit %s after %.2f s\n--- stdout ---\n%s\n--- stderr ---\n%s" %
                    (" ".join(shlex.quote(a) for a in result.cmd), result.rc, result.seconds,
                     result.stdout, result.stderr))
    except OSError:
        pass  # a read-only build tree only loses the copy


def private_key_lines(text):
    """The base64 lines (>= 32 characters) of every PEM private key in text,
    also inside JSON strings: any of them in a log means a key leaked."""
    text = text.replace("\\n", "\n")
    out = set()
    for m in _PEM_KEY.finditer(text):
        out.update(line for line in m.group(2).split() if len(line) >= 32)
    return out


def _candidate_paths(cmd):
    tmp = os.path.realpath(tempfile.gettempdir())
    roots = (tmp + os.sep, os.path.realpath(BUILD_DIR) + os.sep)
    for arg in cmd[1:]:
        for value in (arg, arg.split("=", 1)[-1], arg.split(":", 1)[-1]):
            real = os.path.realpath(value) if value.startswith("/") else ""
            if real and real.startswith(roots) and os.path.exists(real):
                yield real


def _files_under(path, limit=2000):
    if os.path.isfile(path):
        yield path
        return
    count = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            count += 1
            if count > limit:
                return
            yield os.path.join(root, name)


def _read_small(path, limit=1 << 20):
    try:
        if os.path.getsize(path) > limit:
            return ""
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def key_material(cmd, env):
    """{needle: where it comes from} for one process: secret environment values,
    secret flag values and files, and the private keys in every file or folder
    named on the command line (a --config file's paths included) or held by
    KEY_SOURCES. Also returns the key files written since `since` for the mode check."""
    needles = {}
    for name, value in (env or {}).items():
        if SECRET_ENV_NAME.search(name) and not NOT_SECRET_SUFFIX.search(name) and len(value) >= 8:
            needles[value] = "environment variable " + name
    for i, arg in enumerate(cmd[:-1]):
        if arg in SECRET_FLAGS and len(cmd[i + 1]) >= 8:
            needles[cmd[i + 1]] = "the value of " + arg
        if arg in SECRET_FILE_FLAGS:
            value = _read_small(cmd[i + 1]).strip()
            if len(value) >= 8:
                needles[value] = "the file of " + arg
    paths = set(_candidate_paths(cmd))
    for i, arg in enumerate(cmd[:-1]):
        if arg == "--config":
            try:
                with open(cmd[i + 1]) as f:
                    config = json.load(f)
            except (OSError, ValueError):
                continue
            stack = [config]
            strings = []
            while stack:
                item = stack.pop()
                if isinstance(item, dict):
                    stack.extend(item.values())
                elif isinstance(item, list):
                    stack.extend(item)
                elif isinstance(item, str):
                    strings.append(item)
            paths.update(_candidate_paths(["--config", *strings]))
    key_files = {}
    for path in paths:
        for f in _files_under(path):
            lines = private_key_lines(_read_small(f))
            if lines:
                key_files[f] = lines
                for line in lines:
                    needles[line] = "the private key in " + f
    for source in KEY_SOURCES:
        try:
            texts = source()
        except Exception:  # a stopped fake has nothing to add
            continue
        for text in texts:
            for line in private_key_lines(text):
                needles[line] = "a private key held by the test's Secrets Manager"
    return needles, key_files


def assert_no_key_material(result, env, since):
    """No line of the process's output holds a PEM private key or any needle
    from key_material(); key files it wrote are not readable by others (the
    renewer writes them 0600)."""
    text = result.stdout + "\n" + result.stderr
    problems = []
    if "PRIVATE KEY" in text:
        problems.append("a PEM private key header")
    needles, key_files = key_material(result.cmd, env)
    for needle, what in needles.items():
        if needle in text:
            problems.append(what)
    for path, _lines in key_files.items():
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_mtime < since:
            continue  # not written by this process
        mode = st.st_mode & 0o777
        if mode & 0o007 or (result.cmd[0] == RENEWER and mode != 0o600):
            problems.append("key file %s has mode %o" % (path, mode))
    if problems:
        raise AssertionError("key material exposed by %s: %s%s" %
                             (os.path.basename(result.cmd[0]), "; ".join(sorted(set(problems))), result.explain()))


def openssl(*args, input=None):
    p = subprocess.run([OPENSSL, *args], capture_output=True, text=True, input=input)
    if p.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), p.stderr))
    return p.stdout


def split_pem(text):
    blocks, cur = [], []
    for line in text.splitlines():
        if line.startswith("-----BEGIN"):
            cur = [line]
        elif line.startswith("-----END"):
            cur.append(line)
            blocks.append("\n".join(cur) + "\n")
            cur = []
        elif cur:
            cur.append(line)
    return blocks


def cert_serial(pem):
    """Serial as lower-case hex without leading zeros."""
    out = openssl("x509", "-noout", "-serial", input=pem).strip()
    return out.split("=", 1)[1].lower().lstrip("0") or "0"


def norm_serial(text):
    return text.replace(":", "").lower().lstrip("0") or "0"


def cert_sans(pem):
    out = openssl("x509", "-noout", "-ext", "subjectAltName", input=pem)
    names = []
    for part in out.replace("\n", ",").split(","):
        part = part.strip()
        if part.startswith("DNS:"):
            names.append(part[4:])
    return sorted(names)


def pubkey_of_cert(pem):
    return openssl("x509", "-noout", "-pubkey", input=pem)


def pubkey_of_key(pem):
    return openssl("pkey", "-pubout", input=pem)


def key_description(key_pem):
    """'ec256' / 'ec384' / 'rsa2048' ... from the private key."""
    text = openssl("pkey", "-noout", "-text", input=key_pem)
    first = text.splitlines()[0]
    if "Private-Key" in first:
        bits = int(first.split("(")[1].split()[0])
        if "ASN1 OID: prime256v1" in text or "NIST CURVE: P-256" in text:
            return "ec256"
        if "ASN1 OID: secp384r1" in text or "NIST CURVE: P-384" in text:
            return "ec384"
        if "modulus:" in text or "Modulus:" in text:
            return "rsa%d" % bits
    return first


class E2eCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        for binary in (RENEWER, CERTFETCH):
            if not os.access(binary, os.X_OK):
                raise AssertionError("%s not built (BUILD_DIR=%s)" % (binary, BUILD_DIR))

    def tmpdir(self, prefix="e2e-"):
        """A new folder, removed after the test with whatever the binaries put
        beside it (the DNS journal lives beside the spool: <spool>-dns-journal),
        so each one sits in a parent folder of its own."""
        parent = tempfile.mkdtemp(prefix="e2e-")
        self.addCleanup(shutil.rmtree, parent, True)
        return tempfile.mkdtemp(prefix=prefix, dir=parent)

    def bind_and_pebble(self, prefix):
        """bind9 serving ZONE (RFC 2136 updates with its TSIG keys) and a
        Pebble validating against it, both stopped after the test; a work
        folder with Pebble's root in root.pem. Returns (ns, ca, folder, root)."""
        ns = Bind(zones={ZONE: ""}, start=False)
        self.addCleanup(ns.stop)
        ns.start()
        ca = BlocklistPebble()
        self.addCleanup(ca.stop)
        ca.start(dns_port=ns.port)
        d = self.tmpdir(prefix)
        root = os.path.join(d, "root.pem")
        with open(root, "w") as f:
            f.write(ca.root_pem())
        return ns, ca, d, root

    # ---- assertions on what a run wrote --------------------------------
    def assert_valid_files(self, out_dir, names, root_pem, key_type=None):
        """fullchain.pem, privkey.pem (0600), chain.pem in out_dir: the chain
        verifies against root_pem, the key matches, the names are covered.
        Returns the leaf PEM."""
        full = os.path.join(out_dir, "fullchain.pem")
        key = os.path.join(out_dir, "privkey.pem")
        chain = os.path.join(out_dir, "chain.pem")
        for p in (full, key, chain):
            self.assertTrue(os.path.isfile(p), "missing %s (folder has %s)" % (p, sorted(os.listdir(out_dir))))
        mode = stat.S_IMODE(os.stat(key).st_mode)
        self.assertEqual(mode, 0o600, "privkey.pem mode %o" % mode)
        with open(full) as f:
            full_pem = f.read()
        with open(key) as f:
            key_pem = f.read()
        with open(chain) as f:
            chain_pem = f.read()
        blocks = split_pem(full_pem)
        self.assertGreaterEqual(len(blocks), 2, "fullchain.pem should hold leaf + intermediate(s)")
        leaf = blocks[0]
        self.assertEqual("".join(split_pem(chain_pem)), "".join(blocks[1:]),
                         "chain.pem should be fullchain.pem without the leaf")
        self.assert_chain_verifies(leaf, chain_pem, root_pem)
        self.assertEqual(pubkey_of_cert(leaf), pubkey_of_key(key_pem), "private key does not match the certificate")
        self.assertEqual(cert_sans(leaf), sorted(names))
        if key_type:
            self.assertEqual(key_description(key_pem), key_type)
        return leaf

    def assert_chain_verifies(self, leaf_pem, chain_pem, root_pem):
        d = self.tmpdir("verify-")
        paths = {}
        for name, text in (("leaf", leaf_pem), ("chain", chain_pem), ("root", root_pem)):
            paths[name] = os.path.join(d, name + ".pem")
            with open(paths[name], "w") as f:
                f.write(text)
        p = subprocess.run([OPENSSL, "verify", "-CAfile", paths["root"], "-untrusted", paths["chain"],
                            "-purpose", "sslserver", paths["leaf"]], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, "chain does not verify against Pebble's root: %s %s" % (p.stdout, p.stderr))

    def assert_one_clear_line(self, result, domain, pattern=None):
        """A failed certificate is explained by exactly one report line that
        names the domain (and matches `pattern`, a regex, case-insensitive)."""
        failed = [l for l in result.lines if l.get("outcome") == "failed" and domain in l.get("domains", [])]
        self.assertEqual(len(failed), 1, result.explain())
        reason = failed[0]["reason"]
        self.assertIn(domain, reason, "the failure reason does not name %s: %r" % (domain, reason))
        self.assertNotIn("\n", reason)
        if pattern:
            self.assertRegex(reason, "(?i)" + pattern)
        return reason


class Stack:
    """tests/fakeaws (zone example.test) + Pebble validating DNS-01 against the
    fake's DNS server, for one test class or test. Stopped by cleanups."""

    def __init__(self, fake, ca, workdir):
        self.fake = fake
        self.ca = ca
        self.workdir = workdir
        self.zone_id = fake.create_zone(ZONE)
        self.root_file = os.path.join(workdir, "pebble-root.pem")
        with open(self.root_file, "w") as f:
            f.write(ca.root_pem())
        self.spool = os.path.join(workdir, "spool")
        self.accounts = os.path.join(workdir, "accounts")
        os.makedirs(self.accounts, exist_ok=True)
        KEY_SOURCES.append(self.secret_texts)

    def secret_texts(self):
        """Every Secrets Manager value the fake holds, as text (key scan)."""
        if self.fake.proc is None or self.fake.proc.poll() is not None:
            return []
        return [json.dumps(s) for s in self.fake.secrets()]

    # The CA class a stack starts (subclasses pick a restartable one).
    pebble_class = BlocklistPebble

    @classmethod
    def start(cls, add_cleanup, **pebble_args):
        workdir = tempfile.mkdtemp(prefix="e2e-stack-")
        add_cleanup(shutil.rmtree, workdir, True)
        fake = FakeAws(start=False)
        add_cleanup(fake.stop)
        fake.start(change_delay=0)
        ca = cls.pebble_class()
        add_cleanup(ca.stop)
        ca.start(dns_port=fake.dns_port, **pebble_args)
        return cls(fake, ca, workdir)

    @classmethod
    def start_for(cls, test_class, **pebble_args):
        return cls.start(test_class.addClassCleanup, **pebble_args)

    def root_pem(self):
        with open(self.root_file) as f:
            return f.read()

    @property
    def dns(self):
        return "127.0.0.1:%d" % self.fake.dns_port

    def acme_args(self, account=None):
        args = ["--server", self.ca.directory, "--ca-bundle", self.ca.ca_bundle,
                "--trust-root", self.root_file, "--email", "ops@example.test", "--agree-tos",
                "--spool-dir", self.spool, "--log-format", "json",
                # A cap for Debian's Pebble 2.4, not the default for real CAs (16): it
                # deadlocks under many orders in flight (letsencrypt/pebble#554:
                # Order() read-locks recursively).
                "--concurrency", "4"]
        if account:
            args += ["--account-file", os.path.join(self.accounts, account + ".json")]
        return args

    def dns_args(self):
        return ["--dns-resolver", self.dns, "--dns-nameservers", self.dns]

    def env(self, **extra):
        return self.fake.env(**extra)

    def renewer(self, command, *args, env=None, timeout=180, account="default", dns=True):
        cmd = [RENEWER, command, *self.acme_args(account)]
        if dns:
            cmd += self.dns_args()
        cmd += list(args)
        return run(cmd, env=env or self.env(), timeout=timeout)

    def renewer_config(self, command, config, *args, env=None, timeout=180, account="default"):
        """renewer with --config FILE (DNS settings come from the file)."""
        path = os.path.join(tempfile.mkdtemp(dir=self.workdir, prefix="config-"), "renewer.json")
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        cmd = [RENEWER, command, "--config", path, *self.acme_args(account), *args]
        return run(cmd, env=env or self.env(), timeout=timeout)

    def dns_config(self, **kw):
        d = {"provider": "route53", "resolver": self.dns, "nameservers": self.dns}
        d.update(kw)
        return d

    def orders(self, ca=None):
        """newOrder requests Pebble accepted so far (one log line each)."""
        return (ca or self.ca).log().count(PEBBLE_ORDER_LINE)

    def accounts_registered(self, ca=None):
        """Accounts Pebble holds ("There are now N accounts in memory")."""
        import re
        counts = re.findall(r"There are now (\d+) accounts in memory", (ca or self.ca).log())
        return int(counts[-1]) if counts else 0

    def txt_records(self):
        return [r for r in self.fake.records(self.zone_id) if r["Type"] == "TXT"]

    def all_records(self):
        return (self.fake.records(self.zone_id), self.fake.records(self.zone_id, published=True))

    def secret(self, name):
        for s in self.fake.secrets():
            if s.get("name", s.get("Name")) == name:
                return s
        return None


def read(path):
    with open(path) as f:
        return f.read()


def write_script(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch_served_cert(port, server_name, root_file, timeout=5.0):
    """The leaf certificate (PEM) a TLS server on 127.0.0.1:port presents for
    server_name, verified against root_file (Python ssl, no system roots)."""
    ctx = ssl.create_default_context(cafile=root_file)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with ctx.wrap_socket(sock, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    return ssl.DER_cert_to_PEM_cert(der)


def wait_until(predicate, timeout, what, interval=0.02):
    """Polls predicate() with growing intervals until truthy; bounded."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # not there yet
            last = e
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s (last error: %s)" % (timeout, what, last))
        time.sleep(interval)
        interval = min(interval * 2, 0.25)
