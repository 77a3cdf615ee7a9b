"""Two runs at once for the same certificate (docs/stores.md#leases): a scheduled
run overlapping a manual one. The first takes the certificate's lease (a
"<name>-lock" secret for Secrets Manager, <dir>/.renewer.lock for a folder);
the second reports the certificate as skipped ("locked by HOST:PID until
TIME"), exits 0 and orders nothing. Exactly one order reaches Pebble.

A lease cannot block forever: a SIGKILLed holder on this host is detected by
its pid (the next run proceeds at once), and a holder on another host (a
record naming another host, as an ECS task would leave) blocks only until
the lease's expiry. A holder with our host name but another pid namespace (a
container with host networking) is never judged by our pids: it too blocks
until the expiry.

The lease primitives themselves (take, renew, release, compare-and-swap)
are unit-tested in tests/secrets; this suite drives the real binary.

Run: BUILD_DIR=build-x /usr/bin/python3 -m unittest -v tests/faults/test_concurrency.py
"""

import datetime
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faults_common import STORE, TOTALS, FaultCase, ZONE, figure, print_totals  # noqa: E402
from e2e_common import RENEWER, run  # noqa: E402
from harness.boulder_proxy import BoulderProxy  # noqa: E402

ORDER_CREATED = r'"msg":"acme: order created"'


def lease_record(host, pid, seconds, **identity):
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return {"owner": "%s:%d" % (host, pid), "token": "0123456789abcdef0123456789abcdef", "host": host,
            "pid": pid, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"), **identity}


def dead_pid():
    """A pid that certainly names no process now: a child that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def tearDownModule():
    print_totals("concurrency")

# A planted foreign lease lasts this long: the first run must find it still
# valid. 3 s was within reach of one renewer start on a loaded machine (the
# rest of the suite running beside the faults label); each expiry test waits
# it out once.
FOREIGN_LEASE_S = 6


class TwoRunsAtOnce(FaultCase):
    def overlap(self, label, store_args, names, lock_where):
        """Run A holds the lease (slowed by a GetChange delay) while run B starts."""
        s = self.stack
        orders = s.orders()
        # Keep A busy so B surely overlaps it: A's first GetChange (after its
        # order, while it holds the lease) waits 1.5 s.
        s.fake.fault("GetChange", "delay", count=1, delay_ms=1500)
        a = self.spawn("-d", names[0], *store_args, "--force", account="conc")
        a.wait_for_log(ORDER_CREATED, timeout=90)  # A holds the lease now
        b = self.run_renewer("-d", names[0], *store_args, "--force", account="conc")
        ra = a.finish(timeout=120)
        self.assertEqual(ra.rc, 0, ra.explain())
        self.assertEqual(self.outcome(ra, names[0])["outcome"], "renewed", ra.explain())
        self.assertEqual(b.rc, 0, "the run that found the lease held must exit cleanly\n" + b.explain())
        ob = self.outcome(b, names[0])
        self.assertEqual(ob["outcome"], "skipped", b.explain())
        self.assertIn("locked by", ob["reason"])
        self.assertIn(lock_where, ob["reason"])
        self.assertEqual(s.orders(), orders + 1, "both runs ordered")
        self.assert_no_txt()
        figure("overlap-%s: A renewed in %.2f s with 1 order; B skipped in %.2f s (exit 0): %s" %
               (label, ra.seconds, b.seconds, ob["reason"]))

    def test_overlap_store(self):
        name = "conc-sm." + ZONE
        secret = "faults/conc-sm"
        self.overlap(STORE, self.stack.store_args(secret), [name], self.stack.store_spec(secret))
        self.assert_good_current(secret, [name])

    def test_two_runs_race_for_a_free_lease(self):
        """Two runs find the lease free and write it at the same moment (the
        fake holds each lease write 5 s, so both are inside it at once):
        the store's compare-and-swap (docs/stores.md#leases: a conditional
        PutItem, or CreateSecret) lets exactly one win. The other is refused
        (ConditionalCheckFailedException, ResourceExistsException), reads
        the winner's record, skips the certificate and exits 0. The fake
        decides the two writes in the order they came, as far apart as they
        came; the winner's Route53 change is held 5 s so that it surely
        still holds the lease when the loser's write is decided (without
        it, a winner that issued and released within that gap left the
        loser a free lease: no race)."""
        s = self.stack
        name = "conc-race." + ZONE
        secret = "faults/conc-race"
        args = ["-d", name, *s.store_args(secret)]
        action = s.lease_write_action(first=True)
        orders = s.orders()
        s.fake.clear_calls()
        s.fake.fault(action, "delay", count=2, delay_ms=5000)
        s.fake.fault("ChangeResourceRecordSets", "delay", count=1, delay_ms=5000)
        runs = [self.spawn(*args, account="conc") for _ in range(2)]
        s.fake.wait_for(lambda: s.fake.control("GET", "faults")["faults"][0]["hits"] >= 2, timeout=60,
                        what="both lease writes inside the fake")
        both_in = len(s.fake.calls(action)) == 0  # neither answered when the second arrived
        results = [r.finish(timeout=120) for r in runs]
        got = sorted(self.outcome(r, name)["outcome"] for r in results)
        self.assertTrue(both_in, "the second lease write came after the first was answered: no race")
        for r in results:
            self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(got, ["renewed", "skipped"], "\n".join(r.explain() for r in results))
        loser = [r for r in results if self.outcome(r, name)["outcome"] == "skipped"][0]
        reason = self.outcome(loser, name)["reason"]
        self.assertIn("locked by", reason)
        self.assertIn(s.store_spec(secret), reason)
        refused = s.call_count(action, code=s.lease_refusal_code())
        self.assertEqual(refused, 1, "the loser's lease write was not refused by the store's condition")
        self.assertEqual(s.orders(), orders + 1, "both runs ordered")
        self.assert_no_txt()
        self.assert_good_current(secret, [name])
        held = s.lease_item(secret)
        self.assertFalse(held and held["token"], "the winner did not release its lease: %s" % held)
        figure("lease-race-%s: two runs wrote the free lease at once (both in flight: %s); 1 renewed, 1 refused "
               "(%s) and skipped in %.2f s: %s" % (STORE, both_in, s.lease_refusal_code(), loser.seconds, reason))

    def test_overlap_directory(self):
        name = "conc-dir." + ZONE
        out = self.tmpdir("conc-dir-")
        self.overlap("dir", ["--out", out], [name], out)
        self.assert_valid_files(out, [name], self.stack.root_pem())

    def test_release_leaves_a_lease_taken_over(self):
        """The release is conditioned on the run's own token (docs/stores.md#leases:
        a DeleteItem with "token = ours"): a run whose lease was taken over
        after its last renewal (here while its certificate's write, held 3 s
        by the fake, was in flight, as after an expiry) leaves the new
        holder's lease in place."""
        s = self.stack
        if not s.leases_in_table():
            self.skipTest("a lease item's DeleteItem; the lock secret's release is a compare-and-swap of its own "
                          "(tests/secrets)")
        name = "conc-release." + ZONE
        secret = "faults/conc-release"
        args = ["-d", name, *s.store_args(secret)]
        r0 = self.run_renewer(*args, account="conc")
        self.assertEqual(r0.rc, 0, r0.explain())
        write_lease = s.lease_writer()
        child = self.spawn(*args, "--force", account="conc")
        child.wait_for_log(ORDER_CREATED, timeout=90)
        s.fake.fault(s.bundle_update_action(), "delay", count=1, delay_ms=3000)
        child.wait_for_log(r'"msg":"storing"', timeout=90)
        s.fake.wait_for(lambda: s.fake.control("GET", "faults")["faults"][0]["hits"] >= 1, timeout=30,
                        what="the certificate's write in flight")
        held = s.lease_item(secret)
        self.assertTrue(held and held["token"], "the run holds no lease")
        write_lease(secret, dict(held["record"], owner="next-run", token="e" * 32))
        r = child.finish(timeout=120)
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(self.outcome(r, name)["outcome"], "renewed", r.explain())
        after = s.lease_item(secret)
        self.assertEqual(after and after["token"], "e" * 32,
                         "the run's release removed a lease that was no longer its own")
        self.assert_good_current(secret, [name])
        figure("lease-release-%s: the lease taken over while the certificate's write was in flight; the run stored, "
               "and its release (conditioned on its token) left next-run's lease; %.2f s" % (STORE, r.seconds))

    def test_sigkilled_holder_does_not_block(self):
        s = self.stack
        name = "conc-kill." + ZONE
        secret = "faults/conc-kill"
        orders = s.orders()
        a = self.spawn("-d", name, *s.store_args(secret), account="conc")
        a.wait_for_log(ORDER_CREATED, timeout=90)
        a.kill()  # reaped: its pid no longer exists
        held = s.lease_item(secret)
        self.assertTrue(held and held["token"], "the killed run's lease should still be recorded")
        lock = held["record"]
        r = self.run_renewer("-d", name, *s.store_args(secret), account="conc")
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(self.outcome(r, name)["outcome"], "renewed", r.explain())
        self.assertEqual(s.orders(), orders + 2)
        self.assert_no_txt()
        self.assert_good_current(secret, [name])
        TOTALS["kills_survived"] += 1
        figure("lease-dead-holder: the lease of a SIGKILLed run (pid %d gone) was taken at once; renewed in %.2f s" %
               (lock["pid"], r.seconds))

    def expiry(self, label, store_args, name, plant_lease, record=None):
        """A lease held by another host (or `record`'s holder) blocks until its expiry, then not."""
        ttl = FOREIGN_LEASE_S
        record = record or lease_record("other-host.example", 4242, ttl)
        plant_lease(record)
        t0 = time.monotonic()
        r1 = self.run_renewer("-d", name, *store_args, account="conc")
        self.assertEqual(r1.rc, 0, r1.explain())
        o1 = self.outcome(r1, name)
        self.assertEqual(o1["outcome"], "skipped", r1.explain())
        self.assertIn(record["owner"], o1["reason"])
        # Bounded wait for the expiry (a second past it: the record keeps seconds).
        wait = ttl + 1.2 - (time.monotonic() - t0)
        if wait > 0:
            time.sleep(wait)
        r2 = self.run_renewer("-d", name, *store_args, account="conc")
        self.assertEqual(r2.rc, 0, r2.explain())
        self.assertEqual(self.outcome(r2, name)["outcome"], "renewed", r2.explain())
        figure("lease-expiry-%s: a foreign lease (%d s) blocked the first run (%s), the run after expiry renewed "
               "in %.2f s" % (label, ttl, o1["reason"], r2.seconds))

    def test_foreign_lease_expires_store(self):
        """The expired lease is taken over by a compare-and-swap (DynamoDB:
        the PutItem's "expires < now" condition), the live one was not."""
        s = self.stack
        name = "conc-exp." + ZONE
        secret = "faults/conc-exp"
        write = s.lease_writer()
        s.fake.clear_calls()
        self.expiry(STORE, s.store_args(secret), name, lambda rec: write(secret, rec))
        self.assert_good_current(secret, [name])
        if s.leases_in_table():
            # The live lease refused the first run's write; the expired one took the second's.
            self.assertEqual(s.call_count("PutItem", code="ConditionalCheckFailedException"), 1)

    def test_foreign_lease_expires_directory(self):
        name = "conc-exp-dir." + ZONE
        out = self.tmpdir("conc-exp-dir-")

        def plant(rec):
            path = os.path.join(out, ".renewer.lock")
            with open(path, "w") as f:
                json.dump(rec, f)
            os.chmod(path, 0o600)

        self.expiry("dir", ["--out", out], name, plant)
        self.assert_valid_files(out, [name], self.stack.root_pem())

    def test_other_pid_namespace_blocks_until_expiry(self):
        """Our host name and boot id, a pid that is gone here, another pid namespace."""
        s = self.stack
        name = "conc-ns." + ZONE
        secret = "faults/conc-ns"
        record = lease_record(socket.gethostname(), dead_pid(), FOREIGN_LEASE_S, boot_id=boot_id(), pid_ns="pid:[1]",
                              start=1)
        write = s.lease_writer()
        self.expiry("other-pid-ns", s.store_args(secret), name, lambda rec: write(secret, rec), record)
        self.assert_good_current(secret, [name])


def by_outcome(result):
    """{outcome: [certificate ids]} of a run's report."""
    out = {}
    for cid, entry in (result.certs or {}).items():
        out.setdefault(entry["outcome"], []).append(cid)
    return out


class CaBudget(FaultCase):
    """The CA's budget (docs/configuration.md, "Many certificates"): Boulder's
    new-orders-per-account limit, taught to tests/harness/boulder_proxy.py
    with a small number and a short window, in front of Pebble. A backlog
    larger than the limit converges over several runs without one rateLimited
    answer; a rateLimited answer with a long Retry-After stops new orders for
    the rest of the run."""

    def proxy(self, **rules):
        proxy = BoulderProxy(self.stack.ca.directory, self.stack.ca.ca_bundle).start()
        self.addCleanup(proxy.stop)
        proxy.set_rules(**rules)
        return proxy

    def run_via(self, proxy, names, secret_prefix, *extra):
        s = self.stack
        cmd = [RENEWER, "run", "--server", proxy.directory, "--ca-bundle", proxy.ca_bundle, "--trust-root",
               s.root_file, "--email", "ops@example.test", "--agree-tos", "--spool-dir", s.spool, "--log-format",
               "json", "--log-level", "info", "--account-file", os.path.join(s.accounts, "budget.json"),
               *s.dns_args(), "--store", "aws-sm:%s/{name}" % secret_prefix, *extra]
        for name in names:
            cmd += ["--cert", name]
        return run(cmd, env=s.env(), timeout=180)

    def test_backlog_converges_within_the_limit(self):
        window = 6
        proxy = self.proxy(new_orders_per_account={"limit": 5, "window": window})
        names = ["budget-%02d.%s" % (i, ZONE) for i in range(12)]
        renewed_per_run = []
        for attempt in range(3):
            r = self.run_via(proxy, names, "faults/budget", "--max-new-orders", "5")
            self.assertEqual(r.rc, 0, "deferrals by --max-new-orders are the configured pacing\n" + r.explain())
            got = by_outcome(r)
            renewed_per_run.append(len(got.get("renewed", [])))
            left = 12 - sum(renewed_per_run)
            self.assertEqual(len(got.get("deferred", [])), left, r.explain())
            self.assertEqual(r.summary["deferred"], left, r.explain())
            # Most urgent first: with nothing stored, in the configuration's order.
            self.assertEqual(sorted(got.get("renewed", [])),
                             names[sum(renewed_per_run[:-1]):sum(renewed_per_run)], r.explain())
            for cid in got.get("deferred", []):
                self.assertIn("--max-new-orders (5)", r.certs[cid]["reason"])
            time.sleep(window)  # the runs are further apart than the CA's window (a day vs 3 hours)
        self.assertEqual(renewed_per_run, [5, 5, 2])
        self.assertEqual(proxy.counts().get("newOrderLimited", 0), 0, "the CA had to refuse an order")
        for name in names:
            self.assert_good_current("faults/budget/" + name, [name])
        figure("budget: 12 certificates, CA limit 5 per window, --max-new-orders 5: runs renewed %s, "
               "0 rateLimited answers" % renewed_per_run)

    def test_rate_limited_stops_new_orders(self):
        proxy = self.proxy(new_orders_per_account={"limit": 3, "window": 3600, "retry_after": 3600})
        names = ["ratelim-%02d.%s" % (i, ZONE) for i in range(6)]
        orders = self.stack.orders()
        r = self.run_via(proxy, names, "faults/ratelim", "--max-new-orders", "10", "--concurrency", "1")
        self.assertEqual(r.rc, 3, "a rateLimited answer must show in the exit status\n" + r.explain())
        got = by_outcome(r)
        self.assertEqual(sorted(got.get("renewed", [])), names[:3], r.explain())
        self.assertEqual(sorted(got.get("deferred", [])), names[3:], r.explain())
        self.assertNotIn("failed", got, r.explain())
        self.assertIn("rateLimited", r.certs[names[3]]["reason"])
        self.assertIn("Retry-After 3600 s", r.certs[names[3]]["reason"])
        counts = proxy.counts()
        self.assertEqual(counts.get("newOrderLimited", 0), 1, "orders went on after the CA refused one")
        self.assertEqual(counts.get("newOrder", 0), 4, counts)
        self.assertEqual(self.stack.orders(), orders + 3)
        self.assert_no_txt()
        figure("rate-limited: CA limit 3 with Retry-After 3600 s, 6 due: 3 renewed, 1 refused, 2 not asked; "
               "exit 3: %s" % r.certs[names[3]]["reason"])


class ParallelRuns(FaultCase):
    """Several runs over the same certificates at once (docs/deployment.md,
    "Parallel runs"): each takes the leases of at most --max-new-orders
    certificates, skips one leased by another run at once and takes the next,
    so the runs split the work. 100 certificates (a pipelined run pays one DNS
    wait whatever their number, so fewer would measure that wait rather than
    the split). With Route53 changes taking 2 s to INSYNC, and
    the runs started STAGGER seconds apart, as tasks of one schedule start
    (a run that leased every due certificate would leave the others nothing)."""

    COUNT = 100
    RUNS = 4
    STAGGER = 1.5

    def spawn_all(self, names, prefix, runs, max_new_orders):
        args = [*self.stack.store_args("%s/{name}" % prefix), "--max-new-orders", str(max_new_orders)]
        for name in names:
            args += ["--cert", name]
        children = []
        for i in range(runs):
            if i:
                time.sleep(self.STAGGER)
            children.append(self.spawn(*args, account="par", log_level="info"))
        return [c.finish(timeout=240) for c in children]

    def test_four_runs_split_the_work(self):
        s = self.stack
        s.fake.set_change_delay(2)
        # One run doing all: the yardstick (and it registers the shared account).
        alone = ["alone-%02d.%s" % (i, ZONE) for i in range(self.COUNT)]
        (one,) = self.spawn_all(alone, "faults/alone", 1, self.COUNT)
        self.assertEqual(one.rc, 0, one.explain())
        self.assertEqual(len(by_outcome(one).get("renewed", [])), self.COUNT, one.explain())

        names = ["par-%02d.%s" % (i, ZONE) for i in range(self.COUNT)]
        orders = s.orders()
        results = self.spawn_all(names, "faults/par", self.RUNS, self.COUNT // self.RUNS)
        renewed, skipped = [], 0
        for r in results:
            self.assertEqual(r.rc, 0, r.explain())
            got = by_outcome(r)
            self.assertNotIn("failed", got, r.explain())
            self.assertGreater(len(got.get("renewed", [])), 0, "a run did nothing\n" + r.explain())
            renewed += got.get("renewed", [])
            skipped += len(got.get("skipped", []))
            for cid in got.get("skipped", []):
                self.assertIn("locked by", r.certs[cid]["reason"])
        self.assertEqual(sorted(renewed), names, "each certificate renewed by exactly one run")
        self.assertEqual(s.orders() - orders, self.COUNT, "each certificate ordered exactly once")
        for name in names:
            state = self.assert_good_current("faults/par/" + name, [name])
            self.assertIsNotNone(state)
            self.assertEqual(len(s.secret_state("faults/par/" + name)["versions"]), 1, name)
        self.assert_no_txt()
        # Each run's time counts from its own start; the last began (RUNS-1)*STAGGER s late.
        # The runs share one CA and one Route53 request budget, and each pays
        # its own DNS wait, so 4 runs are not 4 times faster: the point is that
        # none does all the work (measured: slowest 5.5 s against 8.1 s).
        slowest = max(r.seconds for r in results)
        self.assertLess(slowest, 0.8 * one.seconds,
                        "the slowest of %d runs took %.1f s, one run doing all %.1f s" %
                        (self.RUNS, slowest, one.seconds))
        figure("parallel: %d certificates, Route53 change delay 2 s: one run %.1f s; %d runs at once, slowest "
               "%.1f s (%s), %d lease skips, %d orders" %
               (self.COUNT, one.seconds, self.RUNS, slowest, ", ".join("%.1f" % r.seconds for r in results),
                skipped, s.orders() - orders))


if __name__ == "__main__":
    unittest.main()
