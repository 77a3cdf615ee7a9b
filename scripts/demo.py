#!/usr/bin/python3
"""The renewer story on one machine, with real peers on loopback:

  Pebble (Let's Encrypt's test CA)  +  tests/fakeaws (Route53 + DNS, Secrets
  Manager, Auto Scaling)  +  Debian's nginx

  1. renewer run: two certificates (example.test + *.example.test, and
     api.example.test) over ACME DNS-01 through Route53, stored in Secrets
     Manager, one Auto Scaling instance refresh;
  2. the secrets and the instance refresh as AWS sees them;
  3. certfetch on a "web host", nginx serving what it wrote, curl proving it
     against Pebble's root;
  4. renewer run again: nothing due.

Usage: /usr/bin/python3 scripts/demo.py BUILD_DIR      (scripts/demo.sh does it all)
Exit status 0 when every step worked. Everything started is stopped and every
temporary folder removed, also on failure or Ctrl-C.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from harness.fakeaws import FakeAws  # noqa: E402
from harness.pebble import Pebble  # noqa: E402
from nginx import Nginx  # noqa: E402

ZONE = "example.test"
APEX_ID = ZONE
API = "api." + ZONE
TTY = sys.stdout.isatty()


def style(text, code):
    return "\033[%sm%s\033[0m" % (code, text) if TTY else text


class StepFailed(Exception):
    pass


class Demo:
    def __init__(self, build_dir):
        self.build_dir = os.path.abspath(build_dir)
        self.renewer_bin = os.path.join(self.build_dir, "bin", "renewer")
        self.certfetch_bin = os.path.join(self.build_dir, "bin", "certfetch")
        self.timings = []
        self.fake = self.ca = self.web = None
        self.tmp = tempfile.mkdtemp(prefix="renewer-demo-")
        self.step_no = 0

    # ---- output -----------------------------------------------------------
    def step(self, title):
        self.step_no += 1
        print()
        print(style("== %d. %s" % (self.step_no, title), "1;36"))
        return time.monotonic()

    def done(self, title, started):
        took = time.monotonic() - started
        self.timings.append((title, took))
        print(style("   ok (%.2f s)" % took, "32"))

    @staticmethod
    def info(text=""):
        print("   " + text)

    @staticmethod
    def detail(text):
        for line in text.rstrip().splitlines():
            print(style("   | " + line, "2"))

    def check(self, condition, message):
        if not condition:
            raise StepFailed(message)

    # ---- processes --------------------------------------------------------------
    def run(self, cmd, env=None, timeout=180, show=True):
        shown = [os.path.relpath(c, ROOT) if c.startswith(self.build_dir) else c for c in cmd]
        if show:
            print(style("   $ " + " ".join(_short(a, self.tmp) for a in shown), "33"))
        start = time.monotonic()
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise StepFailed("%s did not finish within %s s" % (os.path.basename(cmd[0]), timeout)) from None
        p.seconds = time.monotonic() - start
        return p

    def renewer(self, *args):
        cmd = [self.renewer_bin, "run",
               "--cert", "%s,*.%s" % (ZONE, ZONE), "--cert", API,
               "--store", "aws-sm:demo/{name}", "--replace", "autoscaling:web",
               "--server", self.ca.directory, "--ca-bundle", self.ca.ca_bundle,
               "--trust-root", self.root_file, "--email", "ops@example.test", "--agree-tos",
               "--dns", "route53",
               "--dns-resolver", "127.0.0.1:%d" % self.fake.dns_port,
               "--dns-nameservers", "127.0.0.1:%d" % self.fake.dns_port,
               "--spool-dir", os.path.join(self.tmp, "spool"), "--log-format", "text", *args]
        p = self.run(cmd, env=self.fake.env())
        for line in p.stderr.splitlines():
            if line.strip():
                self.detail(line)
        report = []
        for line in p.stdout.splitlines():
            try:
                report.append(json.loads(line))
            except ValueError:
                if line.strip():
                    self.detail(line)
        for r in report:
            if "certificate" in r:
                serial = (" serial %s until %s" % (r["serial"], r["not_after"])) if r.get("serial") else ""
                self.info("%-9s %-18s %s%s" % (r["outcome"], r["certificate"], r["reason"], serial))
            elif "replace" in r:
                self.info("replace   %s" % r.get("summary", r.get("error", "")))
        self.info("renewer exit status %d after %.2f s" % (p.returncode, p.seconds))
        return p, report

    # ---- the story -------------------------------------------------------------------
    def start_peers(self):
        t = self.step("Start the peers: tests/fakeaws (Route53, DNS, Secrets Manager, Auto Scaling) and Pebble")
        self.fake = FakeAws(start=False)
        self.fake.start(change_delay=0)
        zone_id = self.fake.create_zone(ZONE)
        ns = [r for r in self.fake.records(zone_id) if r["Type"] == "NS"]
        self.info("fake AWS at %s, authoritative DNS on 127.0.0.1:%d" % (self.fake.endpoint, self.fake.dns_port))
        self.info("hosted zone %s (%s), NS %s" % (ZONE, zone_id, ", ".join(ns[0]["Values"]) if ns else "?"))
        self.fake.seed_asg("web", size=2, refresh_seconds=2.0)
        group = self._group()
        self.info("Auto Scaling group 'web' with instances %s" % ", ".join(group["instances"]))
        self.ca = Pebble()
        self.ca.start(dns_port=self.fake.dns_port)
        self.root_file = os.path.join(self.tmp, "pebble-root.pem")
        with open(self.root_file, "w") as f:
            f.write(self.ca.root_pem())
        self.info("Pebble ACME directory %s (validates DNS-01 against the fake's DNS)" % self.ca.directory)
        self.done("start Pebble + fake AWS", t)

    def first_run(self):
        t = self.step("renewer run: two certificates, Route53 DNS-01, Secrets Manager, instance refresh")
        self.fake.clear_calls()
        p, report = self.renewer()
        self.check(p.returncode == 0, "renewer run failed (exit %d)" % p.returncode)
        outcomes = {r["certificate"]: r["outcome"] for r in report if "certificate" in r}
        self.check(outcomes == {APEX_ID: "renewed", API: "renewed"}, "expected two renewals, got %s" % outcomes)
        self.first_serials = {r["certificate"]: r["serial"] for r in report if "certificate" in r}
        self.done("renewer run (2 certificates issued)", t)

    def show_secrets(self):
        t = self.step("The secrets in Secrets Manager (never the key)")
        secrets = sorted(self.fake.secrets(), key=lambda s: s["name"])
        found = 0
        for s in secrets:
            kinds = {"-lock": "run lease", "-account": "ACME account key + URL",
                     "-replace-owed": "replacement owed note (docs/replacement.md)"}
            kind = next((k for suffix, k in kinds.items() if s["name"].endswith(suffix)), None)
            if kind:
                self.info("%-26s (%s)" % (s["name"], kind))
                continue
            for vid, v in s["versions"].items():
                if "AWSCURRENT" not in v["stages"]:
                    continue
                b = json.loads(v["string"])
                found += 1
                self.info("%-26s version %s %s" % (s["name"], vid[:8], ",".join(v["stages"])))
                self.info("    domains %s, key %s" % (" ".join(b["domains"]), b["key_type"]))
                self.info("    serial %s, not after %s" % (b["serial"], b["not_after"]))
                self.info("    issuer %s; keys in the JSON: %s" % (b["issuer"], ", ".join(sorted(b))))
        self.check(found == 2, "expected two certificate secrets, found %d" % found)
        self.done("show secrets", t)

    def _group(self):
        return [g for g in self.fake.asgs() if g["name"] == "web"][0]

    def show_refresh(self):
        t = self.step("The instance refresh renewer started (once for the whole run)")
        calls = self.fake.calls("StartInstanceRefresh")
        self.check(len(calls) == 1, "expected one StartInstanceRefresh call, saw %d" % len(calls))
        c = calls[0]
        self.info("AutoScaling StartInstanceRefresh group=%s preferences=%s -> HTTP %s" %
                  (c["params"].get("AutoScalingGroupName"), json.dumps(c["params"].get("Preferences")),
                   c["status"]))
        self.check(c["status"] == 200 and c["params"].get("AutoScalingGroupName") == "web",
                   "the instance refresh call failed")
        before = list(self._group()["instances"])
        deadline = time.monotonic() + 20
        while True:
            group = self._group()
            status = group["refreshes"][-1]["Status"] if group["refreshes"] else "none"
            if status in ("Successful", "Failed", "Cancelled") or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # polling the fake's state, bounded by the deadline
        self.info("refresh %s: %s" % (group["refreshes"][-1]["InstanceRefreshId"], status))
        self.info("instances before %s, after %s" % (", ".join(before), ", ".join(group["instances"])))
        self.check(status == "Successful", "the instance refresh did not complete")
        self.done("instance refresh", t)

    def fetch_and_serve(self):
        t = self.step("On a web host: certfetch, then nginx serves what it wrote")
        self.host_dir = os.path.join(self.tmp, "host", "tls")
        p = self.run([self.certfetch_bin, "--secret-id", "demo/" + APEX_ID, "--out", self.host_dir,
                      "--expect-name", ZONE, "--mode", "0600"], env=self.fake.env())
        for line in (p.stderr + p.stdout).splitlines():
            if line.strip():
                self.detail(line)
        self.check(p.returncode == 0, "certfetch failed (exit %d)" % p.returncode)
        for name in sorted(os.listdir(self.host_dir)):
            st = os.stat(os.path.join(self.host_dir, name))
            self.info("%-14s %5d bytes  mode %o" % (name, st.st_size, st.st_mode & 0o777))
        self.web = Nginx(self.host_dir, server_names=[ZONE, "*." + ZONE])
        self.info("nginx (%s) listening on 127.0.0.1:%d with those files" % (_nginx_version(), self.web.port))
        self.done("certfetch + nginx", t)

    def prove_with_curl(self):
        t = self.step("curl trusts only Pebble's root: nginx serves the new certificate")
        url = "https://%s:%d/" % (ZONE, self.web.port)
        p = self.run(["curl", "-sS", "-v", "--max-time", "10", "--cacert", self.root_file,
                      "--resolve", "%s:%d:127.0.0.1" % (ZONE, self.web.port), url])
        for line in p.stderr.splitlines():
            if any(k in line for k in ("subject:", "issuer:", "expire date:", "verify ok", "SSL connection")):
                self.detail(line.lstrip("* "))
        self.check(p.returncode == 0, "curl failed: %s" % p.stderr.strip().splitlines()[-1:])
        self.info("response: %s" % p.stdout.strip())
        s = subprocess.run("openssl s_client -connect 127.0.0.1:%d -servername %s -CAfile %s </dev/null "
                           "2>/dev/null | openssl x509 -noout -subject -issuer -serial -enddate -ext subjectAltName"
                           % (self.web.port, ZONE, self.root_file), shell=True, capture_output=True, text=True,
                           timeout=30)
        self.detail(s.stdout)
        served = ""
        for line in s.stdout.splitlines():
            if line.startswith("serial="):
                served = line.split("=", 1)[1]
        stored = self.first_serials[APEX_ID]
        same = _norm(served) == _norm(stored)
        self.info("serial served by nginx %s %s serial renewer stored %s" % (served, "==" if same else "!=", stored))
        self.check(same, "nginx does not serve the certificate renewer stored")
        self.done("curl + openssl check", t)

    def second_run(self):
        t = self.step("renewer run again (the daily schedule): nothing due")
        self.fake.clear_calls()
        orders_before = self.ca.log().count("Added order ")
        p, report = self.renewer()
        self.check(p.returncode == 0, "second run failed (exit %d)" % p.returncode)
        outcomes = {r["certificate"]: r["outcome"] for r in report if "certificate" in r}
        self.check(set(outcomes.values()) == {"not due"}, "expected nothing due, got %s" % outcomes)
        self.check(self.ca.log().count("Added order ") == orders_before, "the second run placed an order")
        self.check(not self.fake.calls("StartInstanceRefresh"), "the second run replaced instances")
        self.info("nothing due: no order at the CA, no DNS change, no instance refresh")
        self.done("second run (nothing due)", t)

    def report(self, ok, error=None):
        print()
        print(style("== Report", "1;36"))
        for title, took in self.timings:
            print("   %-40s %6.2f s" % (title, took))
        total = sum(took for _, took in self.timings)
        print("   %-40s %6.2f s" % ("total", total))
        if ok:
            print(style("   demo OK: issued, stored, refreshed, fetched, served, and nothing due on the next run",
                        "1;32"))
        else:
            print(style("   demo FAILED: %s" % error, "1;31"))

    def cleanup(self):
        for thing in (self.web, self.ca, self.fake):
            if thing is not None:
                try:
                    thing.stop()
                except Exception as e:  # keep stopping the others
                    print("   (stopping %s: %s)" % (type(thing).__name__, e))
        shutil.rmtree(self.tmp, ignore_errors=True)
        print("   stopped nginx, Pebble and the fake AWS; removed %s" % self.tmp)


def _norm(serial):
    return serial.replace(":", "").lower().lstrip("0")


def _short(arg, tmp):
    return arg.replace(tmp, "$TMP")


def _nginx_version():
    p = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True)
    return (p.stderr or p.stdout).strip().split(":")[-1].strip()


def _interrupted(*_):
    raise KeyboardInterrupt()


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the cleanup still runs.
    signal.signal(signal.SIGTERM, _interrupted)
    demo = Demo(argv[1])
    for b in (demo.renewer_bin, demo.certfetch_bin):
        if not os.access(b, os.X_OK):
            print("demo: %s is not built" % b, file=sys.stderr)
            return 2
    ok, error = False, None
    try:
        demo.start_peers()
        demo.first_run()
        demo.show_secrets()
        demo.show_refresh()
        demo.fetch_and_serve()
        demo.prove_with_curl()
        demo.second_run()
        ok = True
    except StepFailed as e:
        error = str(e)
    except KeyboardInterrupt:
        error = "interrupted"
    except Exception as e:  # a peer failed to start, ...
        error = "%s: %s" % (type(e).__name__, e)
    finally:
        demo.report(ok, error)
        demo.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
