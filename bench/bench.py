#!/usr/bin/python3
"""Side-by-side benchmark: our `renewer` (RFC 2136 to bind9, and Route53 to
tests/fakeaws) against Debian's lego, certbot (+ dns-rfc2136) and uacme (with
an nsupdate hook), all on ONE Pebble and the same DNS, plus `certfetch`
against `aws secretsmanager get-secret-value | jq`, and binary sizes.

    BUILD_DIR=build-bench /usr/bin/python3 bench/bench.py [--runs 5] [--loop-certs 20]

Started once, stopped at the end (also on failure or Ctrl-C), loopback only:
  - bind9 (tests/harness/bind.py) with zone bench.test, TSIG hmac-sha256;
  - tests/fakeaws (tests/harness/fakeaws.py) with hosted zone r53.test;
  - a tiny DNS forwarder (this file) that sends r53.test questions to the
    fake's DNS server and everything else to bind9, so the one Pebble can
    validate both (Pebble takes a single -dnsserver);
  - Pebble (tests/harness/pebble.py), PEBBLE_VA_NOSLEEP=1,
    PEBBLE_WFE_NONCEREJECT=0, PEBBLE_AUTHZREUSE=0 (every order validates
    every name: no run profits from an earlier run's authorizations).

Every client x case gets a fresh work folder, an unmeasured warm-up run
(account registration, and for "nothing due" the certificate that then is
not due), then --runs measured runs. Each measured run is one child process
(a shell loop for the other clients' many-certificates case) started under
GNU time (/usr/bin/time, which reaps it with wait4): user+sys CPU and peak
RSS (ru_maxrss: the largest single process of the tree, hook children
included) come from the kernel; PSS at exit (the largest of the tree) from
bench/pss_at_exit.c, preloaded into every measured process; wall time is measured around it. ACME requests are counted
from Pebble's own log, which writes one "METHOD /path -> calling handler()"
line per request its WFE receives. AWS requests come from the fake's call log.

Writes bench/results.json, bench/RESULTS.md (via report.py) and
bench/results.png (gnuplot).
"""

import argparse
import calendar
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests"))

from harness.bind import Bind  # noqa: E402
from harness.fakeaws import FakeAws  # noqa: E402
from harness.pebble import Pebble  # noqa: E402
from harness.ports import free_port_tcp_udp  # noqa: E402

BUILD_DIR = os.path.abspath(os.environ.get("BUILD_DIR") or os.path.join(SOURCE_DIR, "build-bench"))
RENEWER = os.path.join(BUILD_DIR, "bin", "renewer")
# The renewer before the pipelined run (one DNS present and wait per group of
# orders in flight), for the side-by-side cases of `--clients pipeline`; unset
# = those cases measure the pipelined renewer only.
OLD_RENEWER = os.environ.get("OLD_RENEWER")
# --concurrency for every renewer run here unless --concurrency says
# otherwise: a cap for Debian's Pebble 2.4, not the default for real CAs (16):
# it deadlocks under many orders in flight (letsencrypt/pebble#554: Order()
# read-locks recursively).
PEBBLE_CONCURRENCY = 4
CERTFETCH = os.path.join(BUILD_DIR, "bin", "certfetch")
ZONE = "bench.test"        # bind9, RFC 2136
R53_ZONE = "r53.test"      # tests/fakeaws, Route53
TSIG_KEY = "renewer-256"
TIME = "/usr/bin/time"      # GNU time: wait4() rusage of the child tree
REQUEST_LINE = re.compile(rb"^Pebble \S+ \S+ (GET|POST|HEAD) (\S+) -> calling handler\(\)", re.M)


# ---------------------------------------------------------------- DNS forwarder
class DnsSplitter:
    """UDP+TCP DNS forwarder on 127.0.0.1: questions under one of `routes`'
    zones go to that zone's port, the rest to `default_port`."""

    def __init__(self, routes, default_port):
        from dnslib import DNSRecord
        from dnslib.server import BaseResolver, DNSLogger, DNSServer

        class Resolver(BaseResolver):
            def resolve(self, request, handler):
                qname = str(request.q.qname).lower().rstrip(".")
                port = default_port
                for zone, p in routes.items():
                    if qname == zone or qname.endswith("." + zone):
                        port = p
                data = request.send("127.0.0.1", port, tcp=handler.protocol == "tcp", timeout=5)
                return DNSRecord.parse(data)

        self.port = free_port_tcp_udp()
        quiet = DNSLogger("-recv,-send,-request,-reply,-truncated,-error,-data")
        self.servers = [DNSServer(Resolver(), port=self.port, address="127.0.0.1", tcp=tcp, logger=quiet)
                        for tcp in (False, True)]
        for s in self.servers:
            s.start_thread()

    def stop(self):
        for s in self.servers:
            s.stop()
            s.server.server_close()


# ---------------------------------------------------------------- measuring
class Measured:
    def __init__(self, rc, wall, user, sys_, maxrss_kb, acme, aws, output):
        self.rc, self.wall, self.user, self.sys, self.maxrss_kb = rc, wall, user, sys_, maxrss_kb
        self.acme, self.aws, self.output = acme, aws, output

    @property
    def cpu(self):
        return self.user + self.sys


class Services:
    def __init__(self, workdir):
        self.workdir = workdir
        self.stack = []
        self.pss_library = build_pss_library(workdir)
        self.bind = Bind(zones={ZONE: ""}, start=False)
        self.stack.append(self.bind.stop)
        self.bind.start()
        self.fake = FakeAws(start=False)
        self.stack.append(self.fake.stop)
        self.fake.start(change_delay=0)
        self.r53_zone_id = self.fake.create_zone(R53_ZONE)
        self.splitter = DnsSplitter({R53_ZONE: self.fake.dns_port}, self.bind.port)
        self.stack.append(self.splitter.stop)
        self.ca = Pebble()
        self.stack.append(self.ca.stop)
        self.ca.start(dns_port=self.splitter.port, nonce_reject=0,
                      extra_env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0"})
        self.root_file = os.path.join(workdir, "pebble-root.pem")
        with open(self.root_file, "w") as f:
            f.write(self.ca.root_pem())
        key = self.bind.keys[TSIG_KEY]
        self.tsig_secret = key["secret"]
        self.tsig_algorithm = key["algorithm"]
        self.keyfile = os.path.join(workdir, "tsig.key")   # nsupdate -k (not argv)
        with open(self.keyfile, "w") as f:
            f.write('key "%s" { algorithm %s; secret "%s"; };\n' % (TSIG_KEY, self.tsig_algorithm, self.tsig_secret))
        os.chmod(self.keyfile, 0o600)
        self._log_offset = 0

    def stop(self):
        while self.stack:
            try:
                self.stack.pop()()
            except Exception as e:  # keep stopping the rest
                print("bench: stop failed: %s" % e, file=sys.stderr)

    def acme_requests(self):
        """Requests Pebble's WFE logged since the previous call: {path: n}."""
        with open(self.ca.log_path, "rb") as f:
            f.seek(self._log_offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._log_offset += end
        counts = {}
        for m in REQUEST_LINE.finditer(data[:end]):
            path = re.sub(rb"/[A-Za-z0-9_-]{16,}", b"/ID", m.group(2)).decode()
            k = m.group(1).decode() + " " + path
            counts[k] = counts.get(k, 0) + 1
        return counts

    def run(self, cmd, env, log_path, timeout=900, cwd=None):
        """One measured child: wall, rusage of the whole reaped tree, ACME and AWS requests."""
        self.acme_requests()
        self.fake.clear_calls()
        pss_out = os.path.join(self.workdir, "pss")
        if self.pss_library:
            if os.path.exists(pss_out):
                os.unlink(pss_out)
            env = dict(env, LD_PRELOAD=self.pss_library, BENCH_PSS_OUT=pss_out)
        with open(log_path, "ab") as log:
            log.write(("\n$ %s\n" % " ".join(shlex.quote(c) for c in cmd)).encode())
            log.flush()
            start = time.monotonic()
            # GNU time forks the client itself, so the RSS of this Python
            # process (copied by fork before exec) never counts as the client's.
            rusage = os.path.join(self.workdir, "rusage")
            proc = subprocess.Popen([TIME, "-o", rusage, "-f", "%e %U %S %M", *cmd], env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    cwd=cwd, start_new_session=True)
            timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
            timer.start()
            try:
                _, status = os.waitpid(proc.pid, 0)
            finally:
                timer.cancel()
            wall = time.monotonic() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        with open(rusage) as f:
            fields = f.read().split()[-4:]  # after "Command exited with non-zero status N"
        user, sys_, maxrss_kb = float(fields[1]), float(fields[2]), int(fields[3])
        acme = self.acme_requests()
        aws = {}
        for c in self.fake.calls():
            k = c.get("action") or c.get("operation") or "?"
            aws[k] = aws.get(k, 0) + 1
        with open(log_path, "rb") as f:
            tail = f.read()[-3000:].decode(errors="replace")
        measured = Measured(proc.returncode, wall, user, sys_, maxrss_kb, acme, aws, tail)
        measured.pss_kb = largest_pss_kb(pss_out) if self.pss_library else None
        return measured


def build_pss_library(workdir):
    """bench/pss_at_exit.c as an LD_PRELOAD library (None without a C compiler:
    the PSS figure is then left out)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    so = os.path.join(workdir, "pss_at_exit.so")
    rc = subprocess.call([cc, "-O2", "-shared", "-fPIC", "-o", so, os.path.join(HERE, "pss_at_exit.c")])
    return so if rc == 0 else None


def largest_pss_kb(path):
    """The largest PSS at exit of one process of the tree (GNU time itself
    left out), as written by pss_at_exit.c; None when none wrote one."""
    best = None
    try:
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) == 4 and fields[0] != "time" and int(fields[2]) >= 0:
                    best = max(best or 0, int(fields[2]))
    except OSError:
        return None
    return best


# ---------------------------------------------------------------- clients
def base_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RFC2136_", "LEGO_", "REQUESTS_CA"))}
    env["LC_ALL"] = "C.UTF-8"
    return env


class Client:
    name = "?"
    label = "?"
    zone = ZONE
    loops = True  # many certificates as a shell loop of one-certificate runs

    def __init__(self, svc, workdir):
        self.svc = svc
        self.workdir = workdir

    def names(self, case, tag):
        sub = "%s.%s" % (self.name.replace("_", "-"), self.zone)
        if case == "apex_wildcard" or case == "nothing_due":
            base = "%s-%s.%s" % ("aw" if case == "apex_wildcard" else "nd", tag, sub)
            return [base, "*." + base]
        if case == "ten_names":
            return ["n%d.ten-%s.%s" % (i, tag, sub) for i in range(10)]
        raise ValueError(case)


def loop_script(times_file, names, body):
    """A POSIX shell loop as its users write it; each iteration's start/end
    (ns) goes to times_file."""
    return ("set -e\nfor d in %s; do\n  s=$(date +%%s%%N)\n  %s\n  e=$(date +%%s%%N)\n"
            "  echo \"$s $e\" >> %s\ndone\n") % (" ".join(names), body, shlex.quote(times_file))


class Ours(Client):
    loops = False

    def __init__(self, svc, workdir, concurrency=None, binary=None):
        super().__init__(svc, workdir)
        self.account = os.path.join(workdir, "account.json")
        self.concurrency = concurrency or PEBBLE_CONCURRENCY
        self.binary = binary or RENEWER

    def common(self):
        args = [self.binary, "run", "--server", self.svc.ca.directory, "--ca-bundle", self.svc.ca.ca_bundle,
                "--trust-root", self.svc.root_file, "--email", "ops@example.test", "--agree-tos",
                "--account-file", self.account, "--spool-dir", os.path.join(self.workdir, "spool"),
                "--log-format", "json"]
        if self.concurrency:
            args += ["--concurrency", str(self.concurrency)]
        return args + self.dns_args()

    def issue(self, names, out, extra=()):
        return self.common() + [a for n in names for a in ("-d", n)] + ["--out", out, *extra]

    def many(self, names, out):
        return self.common() + [a for n in names for a in ("--cert", n)] + ["--out", out]


class OursRfc2136(Ours):
    name = "renewer_rfc2136"
    label = "renewer (RFC 2136)"

    def dns_args(self):
        b = self.svc.bind.address
        return ["--dns", "rfc2136", "--rfc2136-server", b, "--rfc2136-tsig-key", TSIG_KEY,
                "--rfc2136-tsig-algorithm", self.svc.tsig_algorithm, "--dns-resolver", b, "--dns-nameservers", b]

    def env(self):
        env = base_env()
        env["RFC2136_TSIG_SECRET"] = self.svc.tsig_secret
        return env


class OursRoute53(Ours):
    name = "renewer_route53"
    label = "renewer (Route53)"
    zone = R53_ZONE

    def dns_args(self):
        d = "127.0.0.1:%d" % self.svc.fake.dns_port
        return ["--dns", "route53", "--dns-resolver", d, "--dns-nameservers", d]

    def env(self):
        return self.svc.fake.env(base=base_env())


class Lego(Client):
    name = "lego"
    label = "lego"

    def cmd(self, path, names, sub="run", extra=()):
        b = self.svc.bind.address
        return ["lego", "--server", self.svc.ca.directory, "--accept-tos", "--email", "ops@example.test",
                "--key-type", "ec256", "--path", path, "--dns", "rfc2136", "--dns.disable-cp",
                "--dns.resolvers", b] + [a for n in names for a in ("-d", n)] + [sub, *extra]

    def env(self):
        env = base_env()
        b = self.svc.bind
        env.update({"LEGO_CA_CERTIFICATES": self.svc.ca.ca_bundle, "RFC2136_NAMESERVER": b.address,
                    "RFC2136_TSIG_KEY": TSIG_KEY, "RFC2136_TSIG_SECRET": self.svc.tsig_secret,
                    "RFC2136_TSIG_ALGORITHM": self.svc.tsig_algorithm + ".",
                    "RFC2136_POLLING_INTERVAL": "0", "RFC2136_SEQUENCE_INTERVAL": "0"})
        return env


class Certbot(Client):
    name = "certbot"
    label = "certbot"

    def __init__(self, svc, workdir):
        super().__init__(svc, workdir)
        self.ini = os.path.join(workdir, "rfc2136.ini")
        with open(self.ini, "w") as f:
            f.write("dns_rfc2136_server = 127.0.0.1\ndns_rfc2136_port = %d\ndns_rfc2136_name = %s\n"
                    "dns_rfc2136_secret = %s\ndns_rfc2136_algorithm = %s\n" %
                    (svc.bind.port, TSIG_KEY, svc.tsig_secret, svc.tsig_algorithm.upper()))
        os.chmod(self.ini, 0o600)

    def dirs(self, d):
        return ["--config-dir", os.path.join(d, "config"), "--work-dir", os.path.join(d, "work"),
                "--logs-dir", os.path.join(d, "logs")]

    def cmd(self, d, names, cert_name):
        return ["certbot", "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
                "-m", "ops@example.test", "--server", self.svc.ca.directory, *self.dirs(d),
                "--dns-rfc2136", "--dns-rfc2136-credentials", self.ini,
                "--dns-rfc2136-propagation-seconds", "0", "--key-type", "ecdsa",
                "--cert-name", cert_name, "--force-renewal"] + [a for n in names for a in ("-d", n)]

    def renew(self, d):
        return ["certbot", "renew", "--non-interactive", *self.dirs(d)]

    def env(self):
        env = base_env()
        env["REQUESTS_CA_BUNDLE"] = self.svc.ca.ca_bundle
        return env


class Uacme(Client):
    name = "uacme"
    label = "uacme"

    def __init__(self, svc, workdir):
        super().__init__(svc, workdir)
        self.hook = os.path.join(workdir, "nsupdate-hook.sh")
        with open(self.hook, "w") as f:
            f.write("""#!/bin/sh
# uacme hook: METHOD TYPE IDENT TOKEN AUTH; dns-01 through nsupdate (TSIG key file).
method=$1 type=$2 ident=$3 auth=$5
[ "$type" = dns-01 ] || exit 1
name="_acme-challenge.${ident#\\*.}."
case "$method" in
  begin) rr="update add $name 60 TXT \\"$auth\\"" ;;
  done|failed) rr="update delete $name TXT \\"$auth\\"" ;;
  *) exit 1 ;;
esac
printf 'server 127.0.0.1 %s\\nzone %s\\n%s\\nsend\\n' "@PORT@" "@ZONE@" "$rr" | nsupdate -k @KEYFILE@
""".replace("@PORT@", str(svc.bind.port)).replace("@ZONE@", ZONE).replace("@KEYFILE@", shlex.quote(svc.keyfile)))
        os.chmod(self.hook, 0o755)

    def uacme(self, confdir, args):
        return "uacme -y -t EC -b 256 -a %s -c %s -h %s %s" % (
            shlex.quote(self.svc.ca.directory), shlex.quote(confdir), shlex.quote(self.hook), args)

    def wrap(self, script):
        """uacme has no CA-bundle option and libcurl-gnutls ignores SSL_CERT_FILE:
        a private mount namespace sees Pebble's TLS root as the system bundle."""
        return ["unshare", "-m", "sh", "-c",
                "mount --bind %s /etc/ssl/certs/ca-certificates.crt && %s" % (
                    shlex.quote(self.svc.ca.ca_bundle), script)]

    def env(self):
        return base_env()


# ---------------------------------------------------------------- the cases
def summarize(runs, certs_per_run, ok=(0,)):
    walls = [r.wall for r in runs]
    acme = [sum(r.acme.values()) / certs_per_run for r in runs]
    aws = [sum(r.aws.values()) / certs_per_run for r in runs]
    return {
        "runs": len(runs),
        "wall_median": statistics.median(walls), "wall_min": min(walls), "wall_max": max(walls),
        "cpu_median": statistics.median([r.cpu for r in runs]),
        "maxrss_mb": max(r.maxrss_kb for r in runs) / 1024.0,
        "pss_mb": (max(r.pss_kb for r in runs) / 1024.0
                   if all(getattr(r, "pss_kb", None) is not None for r in runs) else None),
        "acme_per_cert": statistics.median(acme), "acme_min": min(acme), "acme_max": max(acme),
        "aws_per_cert": statistics.median(aws),
        "acme_detail": runs[len(runs) // 2].acme,
        "aws_detail": runs[len(runs) // 2].aws,
        "certs_per_run": certs_per_run,
        "failures": sum(1 for r in runs if r.rc not in ok),
    }


def check(m, what, ok_codes=(0,)):
    if m.rc not in ok_codes:
        raise RuntimeError("%s exited %s:\n%s" % (what, m.rc, m.output))
    return m


class Bench:
    def __init__(self, args, svc, root):
        self.args, self.svc, self.root = args, svc, root
        self.results = {}
        self.commands = {}

    def dir(self, *parts):
        d = os.path.join(self.root, *parts)
        os.makedirs(d, exist_ok=True)
        return d

    def record(self, client, case, runs, certs, note=None, command=None, ok=(0,)):
        s = summarize(runs, certs, ok)
        if note:
            s["note"] = note
        self.results.setdefault(case, {})[client] = s
        if command:
            self.commands["%s/%s" % (client, case)] = command
        print("  %-18s %-14s median %.3f s  min %.3f  max %.3f  cpu %.3f s  rss %.1f MB  acme/cert %.1f%s" % (
            client, case, s["wall_median"], s["wall_min"], s["wall_max"], s["cpu_median"], s["maxrss_mb"],
            s["acme_per_cert"], ("  aws/cert %.1f" % s["aws_per_cert"]) if s["aws_per_cert"] else ""),
            flush=True)
        if s["failures"]:
            raise RuntimeError("%s %s: %d runs failed:\n%s" % (client, case, s["failures"], runs[-1].output))

    def redact(self, cmd):
        text = " ".join(shlex.quote(c) for c in cmd)
        return text.replace(self.root, "$W").replace(self.svc.ca.directory, "$ACME_DIR")

    # -- our renewer ----------------------------------------------------------
    def ours(self, cls):
        n = self.args.runs
        c = cls(self.svc, self.dir(cls.name), self.args.concurrency)
        log = os.path.join(c.workdir, "runs.log")
        env = c.env()
        run = lambda cmd: check(self.svc.run(cmd, env, log), c.name)
        # warm-up: account registration
        run(c.issue(c.names("apex_wildcard", "warm"), os.path.join(c.workdir, "warm")))
        for case in ("apex_wildcard", "ten_names"):
            names = c.names(case, "x")
            runs = [run(c.issue(names, os.path.join(c.workdir, case, "run%d" % i))) for i in range(n)]
            self.record(c.name, case, runs, 1, command=self.redact(c.issue(names, "$OUT")))
        # 100 one-name certificates in one run
        many = ["c%d.many.%s.%s" % (i, c.name.replace("_", "-"), c.zone) for i in range(self.args.many_certs)]
        runs = [run(c.many(many, os.path.join(c.workdir, "many", "run%d" % i))) for i in range(self.args.many_runs)]
        self.record(c.name, "many", runs, len(many), command=self.redact(c.many(many[:2], "$OUT")) + " ... (one --cert per name)")
        # nothing due: the apex+wildcard certificate issued above, run again
        nd = c.names("nothing_due", "x")
        out = os.path.join(c.workdir, "nd")
        run(c.issue(nd, out))
        runs = [run(c.issue(nd, out)) for _ in range(n)]
        self.record(c.name, "nothing_due", runs, 1, command=self.redact(c.issue(nd, "$OUT")))
        self.results["nothing_due"][c.name]["store_opens"] = self.store_opens(c.issue(nd, out), env, out, log)
        # nothing due with every certificate of the 100-certificate run
        runs = [run(c.many(many, os.path.join(c.workdir, "many", "run0"))) for _ in range(n)]
        self.record(c.name, "nothing_due_many", runs, len(many))
        return c

    def store_opens(self, cmd, env, out, log):
        """Files under the store folder a not-due run opens (strace, unmeasured run)."""
        trace = os.path.join(self.root, "strace.out")
        check(self.svc.run(["strace", "-f", "-qq", "-e", "trace=open,openat", "-o", trace, *cmd], env, log), "strace")
        opened = []
        with open(trace) as f:
            for line in f:
                m = re.search(r'open(?:at)?\(.*?"([^"]+)"', line)
                if m and m.group(1).startswith(out) and "= -1" not in line:
                    opened.append(os.path.relpath(m.group(1), out))
        return opened

    def ours_concurrency(self, cls, concurrency):
        """Our many-certificate case once more with --concurrency N: one run,
        last in the bench and not fatal (Debian's Pebble deadlocked once under
        16 orders in flight; then only this row is lost)."""
        c = cls(self.svc, self.dir(cls.name + "-c%d" % concurrency), concurrency)
        log = os.path.join(c.workdir, "runs.log")
        many = ["c%d.many%d.%s.%s" % (i, concurrency, c.name.replace("_", "-"), c.zone)
                for i in range(self.args.many_certs)]
        try:
            run = lambda cmd, t=900: check(self.svc.run(cmd, c.env(), log, timeout=t), c.name)
            run(c.issue(c.names("apex_wildcard", "warm%d" % concurrency), os.path.join(c.workdir, "warm")))
            runs = [run(c.many(many, os.path.join(c.workdir, "many")), 240)]
            self.record(c.name, "many_c%d" % concurrency, runs, len(many),
                        command=self.redact(c.many(many[:2], "$OUT")) + " ... (one --cert per name)")
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            print("bench: %s --concurrency %d failed: %s" % (c.name, concurrency, str(e)[:300]), flush=True)
            self.results.setdefault("many_c%d" % concurrency, {})[c.name] = {"error": str(e)[:500]}

    # -- the pipelined run at real DNS speed ----------------------------------
    def pipeline(self):
        """Route53 with the fake's change delay D (--change-delay) and then 0:
        apex+wildcard, 10 names and 100 one-name certificates for the
        pipelined renewer and (OLD_RENEWER) the shape before it, plus 1,000
        one-name certificates pipelined at D; certificates completed over time
        from the runs' own log. Each case is one run; a failed case is
        recorded, not fatal. The fake limits Route53 to 5 requests/s per
        account like Route53; the renewer keeps to 4."""
        shapes = [("pipelined", RENEWER)] + ([("one wait per group", OLD_RENEWER)] if OLD_RENEWER else [])
        self.svc.fake.rate_limit("route53", 5)
        rows = self.results.setdefault("pipeline", [])
        plan = []
        for delay in sorted({self.args.change_delay, 0}, reverse=True):
            for shape, binary in shapes:
                plan += [(delay, shape, binary, case) for case in ("apex_wildcard", "ten_names", "many")]
            plan.append((delay, "pipelined", RENEWER, "thousand"))
        # The slowest case (today's shape, 100 certificates at D: ~25 waits) last.
        plan.sort(key=lambda p: (p[1] != "pipelined" and p[3] == "many" and p[0] > 0, p[0] == 0))
        clients = {}
        for delay, shape, binary, case in plan:
            if case == "thousand" and delay == 0 and not self.args.thousand_at_zero:
                continue
            if case not in self.args.pipeline_cases.split(","):
                continue
            key = (delay, shape)
            if key not in clients:
                tag = "pipe-%s-d%d" % ("new" if shape == "pipelined" else "old", delay)
                clients[key] = OursRoute53(self.svc, self.dir(tag), binary=binary)
                clients[key].tag = tag
            c = clients[key]
            row = {"shape": shape, "change_delay": delay, "case": case}
            try:
                self.svc.fake.set_change_delay(delay)
                row.update(self.pipeline_case(c, case))
            except Exception as e:  # noqa: BLE001 - recorded, not fatal
                row["error"] = str(e)[-500:]
            rows.append(row)
            print("  pipeline D=%-3g %-20s %-14s %s" % (delay, shape, case, row.get("error") or
                  "%.1f s, %d certs, rss %.1f MB" % (row["wall"], row["certs"], row["maxrss_mb"])), flush=True)
        self.svc.fake.set_change_delay(0)

    def pipeline_case(self, c, case):
        log = os.path.join(c.workdir, "runs.log")
        env = c.env()
        run = lambda cmd, t=1800: check(self.svc.run(cmd, env, log, timeout=t), c.name)
        if not os.path.exists(c.account):
            run(c.issue(c.names("apex_wildcard", "warm"), os.path.join(c.workdir, "warm")))
        out = os.path.join(c.workdir, case)
        if case in ("apex_wildcard", "ten_names"):
            names = c.names(case, c.tag)
            cmd, certs = c.issue(names, out), 1
        else:
            n = self.args.pipeline_many if case == "many" else self.args.pipeline_thousand
            names = ["c%d.%s.%s.%s" % (i, case, c.tag, c.zone) for i in range(n)]
            cmd, certs = c.many(names, out), n
        offset = os.path.getsize(log) if os.path.exists(log) else 0
        started = time.time()
        # Bounded: Debian's Pebble may deadlock (letsencrypt/pebble#554), and then every later case would wait too.
        m = run(cmd, 1200 if case == "many" else 600)
        return {"wall": m.wall, "certs": certs, "cpu": m.cpu, "maxrss_mb": m.maxrss_kb / 1024.0,
                "acme_requests": sum(m.acme.values()), "aws": m.aws,
                "completed_s": issued_offsets(log, offset, started),
                "command": self.redact(cmd if certs == 1 else cmd[:cmd.index("--cert") + 4]) +
                (" ... (one --cert per name)" if certs > 1 else "")}

    # -- lego -----------------------------------------------------------------
    def lego(self):
        n = self.args.runs
        c = Lego(self.svc, self.dir("lego"))
        log = os.path.join(c.workdir, "runs.log")
        env = c.env()
        run = lambda cmd: check(self.svc.run(cmd, env, log), "lego")
        for case in ("apex_wildcard", "ten_names"):
            path = os.path.join(c.workdir, case)
            names = c.names(case, "x")
            run(c.cmd(path, names))  # warm-up: account
            runs = [run(c.cmd(path, names)) for _ in range(self.runs_for("lego", case))]
            self.record("lego", case, runs, 1, command=self.redact(c.cmd("$W/lego", names)))
        self.loop(c, lambda path, d: c.cmd(path, [d]), env, log)
        path = os.path.join(c.workdir, "nd")
        names = c.names("nothing_due", "x")
        run(c.cmd(path, names))
        cmd = c.cmd(path, names, "renew", ["--days", "30"])
        runs = [run(cmd) for _ in range(n)]
        self.record("lego", "nothing_due", runs, 1, command=self.redact(cmd))

    def runs_for(self, client, case):
        if client == "lego" and case == "ten_names":
            return self.args.lego_ten_runs
        return self.args.runs

    def loop(self, c, one, env, log):
        """The other clients' many-certificate case: a shell loop of one-certificate runs."""
        names = ["c%d.loop.%s.%s" % (i, c.name, ZONE) for i in range(self.args.loop_certs)]
        path = os.path.join(c.workdir, "loop")
        warm = one(path, "warm.loop.%s.%s" % (c.name, ZONE))
        check(self.svc.run(warm, env, log), c.name)
        runs, per_cert = [], []
        for i in range(self.args.loop_runs):
            times = os.path.join(c.workdir, "loop-times-%d" % i)
            body = " ".join(shlex.quote(a) for a in one(path, "__D__")).replace("__D__", '"$d"') + " >/dev/null 2>&1"
            cmd = ["sh", "-c", loop_script(times, names, body)]
            runs.append(check(self.svc.run(cmd, env, log), c.name + " loop"))
            with open(times) as f:
                per_cert += [(int(e) - int(s)) / 1e9 for s, e in (l.split() for l in f if l.strip())]
        s_cmd = self.redact(["sh", "-c", "for d in ...; do %s; done" % " ".join(one("$W/loop", "$d"))])
        self.record(c.name, "many", runs, len(names), command=s_cmd,
                    note="shell loop of %d one-certificate runs, %d run(s); per certificate: median %.3f s, "
                         "min %.3f, max %.3f (n=%d)" % (len(names), len(runs), statistics.median(per_cert),
                                                         min(per_cert), max(per_cert), len(per_cert)))
        r = self.results["many"][c.name]
        r["per_cert_median"] = statistics.median(per_cert)
        r["per_cert_min"], r["per_cert_max"] = min(per_cert), max(per_cert)
        r["loop_certs"] = len(names)

    # -- certbot --------------------------------------------------------------
    def certbot(self):
        n = self.args.runs
        c = Certbot(self.svc, self.dir("certbot"))
        log = os.path.join(c.workdir, "runs.log")
        env = c.env()
        run = lambda cmd: check(self.svc.run(cmd, env, log), "certbot")
        for case in ("apex_wildcard", "ten_names"):
            d = os.path.join(c.workdir, case)
            names = c.names(case, "x")
            run(c.cmd(d, names, case))
            runs = [run(c.cmd(d, names, case)) for _ in range(n)]
            self.record("certbot", case, runs, 1, command=self.redact(c.cmd("$W/certbot", names, case)))
        self.loop(c, lambda d, name: c.cmd(d, [name], name), env, log)
        d = os.path.join(c.workdir, "nd")
        run(c.cmd(d, c.names("nothing_due", "x"), "nd"))
        runs = [run(c.renew(d)) for _ in range(n)]
        self.record("certbot", "nothing_due", runs, 1, command=self.redact(c.renew("$W/certbot")))

    # -- uacme ----------------------------------------------------------------
    def uacme(self):
        n = self.args.runs
        c = Uacme(self.svc, self.dir("uacme"))
        log = os.path.join(c.workdir, "runs.log")
        env = c.env()
        run = lambda cmd, ok=(0,): check(self.svc.run(cmd, env, log), "uacme", ok)
        q = lambda names: " ".join(shlex.quote(x) for x in names)
        for case in ("apex_wildcard", "ten_names"):
            conf = os.path.join(c.workdir, case)
            names = c.names(case, "x")
            run(c.wrap(c.uacme(conf, "new ops@example.test")))
            cmd = c.wrap(c.uacme(conf, "-f issue " + q(names)))
            run(cmd)
            runs = []
            for _ in range(n):
                # uacme keeps the replaced certificate as cert-<notBefore seconds>.pem and
                # exits 2 when two issuances fall in the same second: clear those first.
                for root, _, files in os.walk(conf):
                    for f in files:
                        if re.fullmatch(r"cert-\d+\.pem", f):
                            os.unlink(os.path.join(root, f))
                runs.append(run(cmd))
            self.record("uacme", case, runs, 1, command=self.redact(cmd))
        # loop: one mount namespace around the whole loop
        names = ["c%d.loop.uacme.%s" % (i, ZONE) for i in range(self.args.loop_certs)]
        conf = os.path.join(c.workdir, "loop")
        run(c.wrap(c.uacme(conf, "new ops@example.test")))
        runs, per_cert = [], []
        for i in range(self.args.loop_runs):
            times = os.path.join(c.workdir, "loop-times-%d" % i)
            body = c.uacme(conf, '-f issue "$d"') + " >/dev/null 2>&1"
            runs.append(run(c.wrap(loop_script(times, names, body))))
            with open(times) as f:
                per_cert += [(int(e) - int(s)) / 1e9 for s, e in (l.split() for l in f if l.strip())]
        self.record("uacme", "many", runs, len(names),
                    command=self.redact(c.wrap("for d in ...; do %s; done" % c.uacme("$W/uacme", '-f issue "$d"'))),
                    note="shell loop of %d one-certificate runs, %d run(s); per certificate: median %.3f s, "
                         "min %.3f, max %.3f (n=%d)" % (len(names), len(runs), statistics.median(per_cert),
                                                         min(per_cert), max(per_cert), len(per_cert)))
        r = self.results["many"]["uacme"]
        r["per_cert_median"] = statistics.median(per_cert)
        r["per_cert_min"], r["per_cert_max"] = min(per_cert), max(per_cert)
        r["loop_certs"] = len(names)
        conf = os.path.join(c.workdir, "nd")
        names = c.names("nothing_due", "x")
        run(c.wrap(c.uacme(conf, "new ops@example.test")))
        run(c.wrap(c.uacme(conf, "issue " + q(names))))
        cmd = c.wrap(c.uacme(conf, "issue " + q(names)))
        runs = [run(cmd, ok=(1,)) for _ in range(n)]  # 1 = still current, not due
        self.record("uacme", "nothing_due", runs, 1, command=self.redact(cmd) + "  (exit 1 = not due)", ok=(1,))

    # -- certfetch ------------------------------------------------------------
    def certfetch(self):
        n = self.args.runs
        d = self.dir("certfetch")
        log = os.path.join(d, "runs.log")
        c = OursRoute53(self.svc, self.dir("certfetch", "renewer"))
        env = c.env()
        name = "web.%s" % R53_ZONE
        check(self.svc.run(c.common() + ["-d", name, "--store", "aws-sm:bench/{name}"], env, log), "renewer aws-sm")
        secret = "bench/" + name
        # nothing due with the certificate in Secrets Manager: AWS requests per certificate
        cmd = c.common() + ["-d", name, "--store", "aws-sm:bench/{name}"]
        runs = [check(self.svc.run(cmd, env, log), "renewer aws-sm not due") for _ in range(n)]
        self.record("renewer_route53", "nothing_due_sm", runs, 1, command=self.redact(cmd))
        cf = [CERTFETCH, "--secret-id", secret, "--expect-name", name, "--out"]
        runs = [check(self.svc.run(cf + [os.path.join(d, "cf%d" % i)], env, log), "certfetch") for i in range(n + 1)][1:]
        self.record("certfetch", "fetch", runs, 1, command=self.redact(cf + ["$OUT"]))
        script = ("set -e; umask 077; mkdir -p \"$1\"; aws secretsmanager get-secret-value --secret-id %s "
                  "--query SecretString --output text > \"$1/s.json\"; "
                  "jq -r .certificate \"$1/s.json\" > \"$1/fullchain.pem\"; "
                  "jq -r .private_key \"$1/s.json\" > \"$1/privkey.pem\"; "
                  "jq -r .chain \"$1/s.json\" > \"$1/chain.pem\"; rm \"$1/s.json\"") % shlex.quote(secret)
        cli_env = dict(env, AWS_DEFAULT_REGION=env["AWS_REGION"])  # Debian's awscli (v1) reads this one
        runs = [check(self.svc.run(["sh", "-c", script, "sh", os.path.join(d, "aws%d" % i)], cli_env, log), "aws+jq")
                for i in range(n + 1)][1:]
        self.record("aws_cli_jq", "fetch", runs, 1, command="sh -c '%s' sh $OUT" % script)


# ---------------------------------------------------------------- facts
def issued_offsets(log, offset, started):
    """Seconds after `started` at which the run's JSON log says each
    certificate was issued ("acme: certificate issued"), sorted."""
    out = []
    with open(log, "rb") as f:
        f.seek(offset)
        for line in f:
            if b'"acme: certificate issued"' not in line:
                continue
            try:
                stamp = json.loads(line)["time"]
            except (ValueError, KeyError):
                continue
            when = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
            frac = re.match(r"\.(\d+)", stamp[19:])
            when += float("0." + frac.group(1)) if frac else 0.0
            out.append(round(when - started, 3))
    return sorted(out)


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}


def versions():
    return {
        "renewer": sh("%s version" % RENEWER),
        "lego": sh("dpkg-query -W -f='${Version}' lego"),
        "certbot": sh("dpkg-query -W -f='${Version}' certbot") + " (python3-certbot-dns-rfc2136 " +
                   sh("dpkg-query -W -f='${Version}' python3-certbot-dns-rfc2136") + ")",
        "uacme": sh("dpkg-query -W -f='${Version}' uacme"),
        "pebble": sh("dpkg-query -W -f='${Version}' pebble"),
        "bind9": sh("dpkg-query -W -f='${Version}' bind9"),
        "awscli": sh("dpkg-query -W -f='${Version}' awscli"),
        "jq": sh("dpkg-query -W -f='${Version}' jq"),
        "compiler": sh("grep -m1 CMAKE_CXX_COMPILER_VERSION %s/CMakeFiles/*/CMakeCXXCompiler.cmake | cut -d'\"' -f2"
                       % BUILD_DIR) or sh("c++ --version | head -1"),
        "build_type": sh("grep -m1 CMAKE_BUILD_TYPE: %s/CMakeCache.txt | cut -d= -f2" % BUILD_DIR),
    }


def sizes(workdir):
    out = {}
    for b in filter(None, (RENEWER, CERTFETCH, shutil.which("lego"), shutil.which("uacme"))):
        stripped = os.path.join(workdir, os.path.basename(b) + ".stripped")
        subprocess.run(["strip", "-o", stripped, b], check=True)
        libs = []
        for line in sh("ldd %s" % b).splitlines():
            lib = line.strip().split(" ")[0]
            if lib and not lib.startswith(("linux-vdso", "/lib64/ld-linux")):
                libs.append(lib)
        out[os.path.basename(b)] = {"bytes": os.path.getsize(b), "stripped_bytes": os.path.getsize(stripped),
                                    "libs": libs}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="measured runs per client and case")
    ap.add_argument("--many-certs", type=int, default=100, help="certificates in our one-run case")
    ap.add_argument("--many-runs", type=int, default=3)
    ap.add_argument("--loop-certs", type=int, default=20, help="certificates in the other clients' shell loop")
    ap.add_argument("--loop-runs", type=int, default=1)
    ap.add_argument("--lego-ten-runs", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=None,
                    help="renewer --concurrency (default %d: a cap for Debian's Pebble, see PEBBLE_CONCURRENCY)"
                    % PEBBLE_CONCURRENCY)
    ap.add_argument("--clients", default="renewer_rfc2136,renewer_route53,uacme,lego,certbot,certfetch,"
                                          "renewer_route53_c16")
    ap.add_argument("--change-delay", type=float, default=20.0,
                    help="the fake's Route53 change delay D for --clients pipeline (seconds)")
    ap.add_argument("--pipeline-many", type=int, default=100, help="--clients pipeline: the 'many' case")
    ap.add_argument("--pipeline-thousand", type=int, default=1000, help="--clients pipeline: the large case")
    ap.add_argument("--pipeline-cases", default="apex_wildcard,ten_names,many,thousand",
                    help="--clients pipeline: which cases")
    ap.add_argument("--append", action="store_true",
                    help="keep the pipeline rows already in --out (a second invocation with other cases)")
    ap.add_argument("--thousand-at-zero", action="store_true",
                    help="--clients pipeline: 1,000 certificates at D = 0 too")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    for b in (RENEWER, CERTFETCH):
        if ("renewer" in args.clients or "certfetch" in args.clients or "pipeline" in args.clients) \
                and not os.access(b, os.X_OK):
            sys.exit("bench: %s is not built (BUILD_DIR=%s)" % (b, BUILD_DIR))
    root = tempfile.mkdtemp(prefix="renewer-bench-")
    started = time.monotonic()
    info = {"machine": machine(), "versions": versions(), "args": vars(args)}
    svc = Services(root)
    bench = Bench(args, svc, root)
    try:
        for client in args.clients.split(","):
            print("bench: %s" % client, flush=True)
            if client == "renewer_rfc2136":
                bench.ours(OursRfc2136)
            elif client == "renewer_route53":
                bench.ours(OursRoute53)
            elif client.startswith("renewer_route53_c") or client.startswith("renewer_rfc2136_c"):
                base, _, n = client.rpartition("_c")
                bench.ours_concurrency(OursRoute53 if base == "renewer_route53" else OursRfc2136, int(n))
            elif client == "pipeline":
                bench.pipeline()
            elif client in ("lego", "certbot", "uacme", "certfetch"):
                getattr(bench, client)()
            else:
                raise SystemExit("unknown client " + client)
        if os.access(RENEWER, os.X_OK):
            info["sizes"] = sizes(root)
    finally:
        svc.stop()
        info["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        info["seconds"] = time.monotonic() - started
        if args.append and os.path.exists(args.out):
            with open(args.out) as f:
                earlier = json.load(f)
            bench.results["pipeline"] = earlier["results"].get("pipeline", []) + bench.results.get("pipeline", [])
            info["earlier"] = {k: earlier.get(k) for k in ("machine", "args", "seconds")}
        info["results"] = bench.results
        info["commands"] = bench.commands
        with open(args.out, "w") as f:
            json.dump(info, f, indent=1, sort_keys=True)
        print("bench: %s written after %.0f s" % (args.out, info["seconds"]), flush=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("bench: work folder kept: " + root)


if __name__ == "__main__":
    main()
