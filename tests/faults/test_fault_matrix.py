"""Fault matrix (docs/architecture.md#crash-safety): the real `renewer` renews three
certificates into Secrets Manager (tests/fakeaws) from Pebble while faults
are injected; each case prints one FIGURE line.

  nonce-reject-50   Pebble rejects 50% of nonces (PEBBLE_WFE_NONCEREJECT=50)
  throttle-30       30% of the calls of every AWS action throttled (seeded)
  burst-500         bursts of three 500s on every action the run uses
  latency           250 ms added to every AWS call
  drop              two dropped connections (no answer) per action
  acme-outage       Pebble stops right after newOrder and comes back on the
                    same port (with its memory wiped, as Pebble keeps state
                    in memory): that run fails cleanly, or registers the
                    account again and renews; then a CA reset between runs:
                    the stored account URL is stale, the run registers again
  sm-after-issue    the store fails every write after the order exists
  lease-lost        the run's lease is taken over while it works (what a run
                    slower than its lease allows: a slow DNS step, a slow
                    PutSecretValue): it does not store, the certificate stays
                    in the spool, and the next run stores it

Expected for every case: each certificate is renewed (a complete valid
bundle as AWSCURRENT) within the run's deadline, or fails with one clear
line while the zone's TXT sets and the secret's versions are exactly as
before; a run without faults then renews what failed (for sm-after-issue:
from the spool, without a new order).

With FAULTS_STORE=dynamodb (faults_common.py) the cases run over the
DynamoDB store, every DynamoDB action throttled, failing or dropped in turn;
with FAULTS_STORE=lease-table over Secrets Manager with the leases as items.

Run: BUILD_DIR=build-x /usr/bin/python3 -m unittest -v tests/faults/test_fault_matrix.py
"""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faults_common import STORE, TOTALS, FaultCase, ZONE, figure, outcomes, print_totals  # noqa: E402

# Every AWS action a run with Route53 makes, and those of the store
# (FaultStack.store_actions: Secrets Manager, DynamoDB, or both with --lease-table).
ROUTE53_ACTIONS = ["ListHostedZonesByName", "ListResourceRecordSets", "ChangeResourceRecordSets", "GetChange"]
# What one renewal may take here (the run's own deadline is --timeout + 120 s).
DEADLINE_S = 120


def injected(stack):
    """Faults the fake applied so far (hits of every rule) plus throttled calls of rate limits."""
    rules = stack.fake.control("GET", "faults")["faults"]
    return sum(r.get("hits", 0) for r in rules if r.get("kind") != "delay"), \
        sum(r.get("hits", 0) for r in rules if r.get("kind") == "delay")


def tearDownModule():
    print_totals("fault matrix")


class MatrixBase(FaultCase):
    def names(self, case):
        return ["%s-%d.%s" % (case, i, ZONE) for i in range(3)]

    def cert_args(self, case):
        args = []
        for n in self.names(case):
            args += ["--cert", n]
        return args + [*self.stack.store_args("faults/%s/{name}" % case), "--timeout", str(DEADLINE_S - 30)]

    def secret_of(self, case, name):
        return "faults/%s/%s" % (case, name)

    def matrix(self, case, install, account="matrix", detail=lambda r: ""):
        """Runs with faults installed by install(); checks every certificate
        (renewed and valid, or failed cleanly with zone and store as before),
        then a clean run renews the rest. Returns the faulty run's Result."""
        s = self.stack
        names = self.names(case)
        zone_before = s.zone_state()
        stores_before = {n: s.secret_state(self.secret_of(case, n)) for n in names}
        install()
        r = self.run_renewer(*self.cert_args(case), account=account, timeout=DEADLINE_S + 60)
        errors, delays = injected(s)
        TOTALS["faults_injected"] += errors + delays
        s.fake.clear_faults()
        got = outcomes(r)
        renewed, failed = [], []
        for n in names:
            self.assertIn(n, got, r.explain())
            o = got[n]
            if o["outcome"] == "renewed":
                renewed.append(n)
                self.assert_good_current(self.secret_of(case, n), [n])
            else:
                failed.append(n)
                self.assertEqual(o["outcome"], "failed", r.explain())
                self.assertIn(n, o["reason"])
                self.assertNotIn("\n", o["reason"])
                self.assertEqual(s.secret_state(self.secret_of(case, n)), stores_before[n],
                                 "%s failed but its secret changed" % n)
        self.assertEqual(s.zone_state(), zone_before, "TXT sets changed by the faulty run")
        self.assertLess(r.seconds, DEADLINE_S, "the run outlasted its deadline")
        self.assertEqual(r.rc, 1 if failed else 0, r.explain())
        figure("%s: %d certs renewed, %d failed cleanly, %d faults + %d delays injected%s, %.2f s" %
               (case, len(renewed), len(failed), errors, delays, detail(r), r.seconds))
        if failed:
            r2 = self.run_renewer(*self.cert_args(case), account=account, timeout=DEADLINE_S + 60)
            self.assertEqual(r2.rc, 0, r2.explain())
            for n in names:
                self.assert_good_current(self.secret_of(case, n), [n])
            self.assert_no_txt()
            figure("%s: the next run without faults: every certificate valid, %.2f s" % (case, r2.seconds))
        return r


class AwsFaults(MatrixBase):
    def test_throttle_30_percent_of_every_action(self):
        self.matrix("throttle-30", lambda: self.stack.fake.fault("*", "throttle", probability=0.3, seed=8),
                    detail=lambda r: " (throttled calls seen: %d)" % sum(
                        1 for c in self.stack.fake.calls() if c.get("code") in ("Throttling", "ThrottlingException")))

    def test_bursts_of_500s(self):
        def install():
            for a in ROUTE53_ACTIONS + self.stack.store_actions():
                self.stack.fake.fault(a, "error500", count=3)
        self.matrix("burst-500", install)

    def test_added_latency(self):
        self.matrix("latency", lambda: self.stack.fake.fault("*", "delay", delay_ms=250))

    def test_dropped_connections(self):
        def install():
            for a in ROUTE53_ACTIONS + self.stack.store_actions():
                self.stack.fake.fault(a, "drop", count=2)
        self.matrix("drop", install)

    def test_store_fails_after_issuance(self):
        """The store's writes fail once the order exists (the leases are
        taken by then; their renewal fails too): failed, spooled, store as
        before; the next run stores from the spool without a new order and
        without DNS-01."""
        s = self.stack
        case = "sm-after-issue"
        names = self.names(case)[:1]
        secret = self.secret_of(case, names[0])
        args = ["-d", names[0], *s.store_args(secret)]
        # A first certificate, so "as before" has a version to keep.
        r0 = self.run_renewer(*args, account="matrix")
        self.assertEqual(r0.rc, 0, r0.explain())
        before_store, before_zone = s.secret_state(secret), s.zone_state()
        orders = s.orders()
        child = self.spawn(*args, "--force", account="matrix")
        child.wait_for_log(r'"msg":"acme: order created"', timeout=90)
        for a in s.bundle_write_actions():
            s.fake.fault(a, "error500", count=1000)
        r1 = child.finish(timeout=DEADLINE_S)
        errors, _ = injected(s)
        TOTALS["faults_injected"] += errors
        s.fake.clear_faults()
        self.assertEqual(r1.rc, 1, r1.explain())
        reason = self.outcome(r1, names[0])["reason"]
        self.assertIn("spool", reason)
        self.assertNotIn("\n", reason)
        self.assertEqual(s.secret_state(secret), before_store, "the store changed")
        self.assertEqual(s.zone_state(), before_zone)
        self.assertEqual(s.orders(), orders + 1)
        s.fake.clear_calls()
        r2 = self.run_renewer(*args, account="matrix")
        self.assertEqual(r2.rc, 0, r2.explain())
        self.assertEqual(self.outcome(r2, names[0])["outcome"], "stored", r2.explain())
        self.assertEqual(s.orders(), orders + 1, "the spooled certificate was ordered again")
        self.assertEqual(s.fake.calls("ChangeResourceRecordSets"), [], "DNS-01 ran again")
        current = self.assert_good_current(secret, names)
        self.assertIn(current["serial"].lower().lstrip("0"), reason.lower().replace(":", ""))
        # Pebble's expiries have one-second resolution: when the spooled
        # certificate expires in the same second as the stored one, only its
        # serial tells them apart (a bug once dropped it as "no longer useful").
        same_second = current["not_after"] == before_store["current"]["not_after"]
        figure("sm-after-issue (%s): %d failed writes injected; run failed cleanly in %.2f s (store and zone as before); "
               "next run stored the spooled certificate in %.2f s (same-second expiry as the old one: %s), "
               "orders +1 in total, no DNS-01" % (STORE, errors, r1.seconds, r2.seconds, same_second))


    def test_lease_taken_over_while_the_run_works(self):
        """The lease TTL is the --timeout plus 300 s, too long to wait out here,
        so the takeover that a slow run allows is written as another run would:
        the lease (lock secret or item) gets another owner's token while the
        run presents its TXT values (slowed down by 3 s). The run renews its
        lease before storing, finds it lost, and does not store; its release,
        conditioned on its own token, leaves the new holder's lease alone; the
        next run stores the spooled certificate (the first holder is dead by
        then) without a new order."""
        s = self.stack
        case = "lease-lost"
        name = self.names(case)[0]
        secret = self.secret_of(case, name)
        args = ["-d", name, *s.store_args(secret)]
        r0 = self.run_renewer(*args, account="matrix")
        self.assertEqual(r0.rc, 0, r0.explain())
        before_store, before_zone, orders = s.secret_state(secret), s.zone_state(), s.orders()
        # The client is made before the run starts: building a botocore
        # client takes about a second of CPU, which on a loaded machine ate
        # into the 3 s the takeover has to land before the run renews.
        write_lease = s.lease_writer()
        s.fake.fault("ChangeResourceRecordSets", "delay", count=1, delay_ms=3000)
        child = self.spawn(*args, "--force", account="matrix")
        child.wait_for_log(r'"msg":"acme: order created"', timeout=90)
        held = s.lease_item(secret)
        self.assertTrue(held and held["token"], "the run holds no lease")
        write_lease(secret, dict(held["record"], owner="another-run", token="f" * 32))
        r1 = child.finish(timeout=DEADLINE_S)
        s.fake.clear_faults()
        self.assertEqual(r1.rc, 1, r1.explain())
        reason = self.outcome(r1, name)["reason"]
        self.assertIn("lease lost", reason)
        self.assertIn("another-run holds it now", reason)
        self.assertIn("kept in the spool for the next run", reason)
        self.assertEqual(s.secret_state(secret), before_store, "stored without the lease")
        self.assertEqual(s.zone_state(), before_zone)
        self.assertEqual(s.orders(), orders + 1)
        after = s.lease_item(secret)
        self.assertEqual(after and after["token"], "f" * 32, "the run released a lease that was no longer its own")
        r2 = self.run_renewer(*args, account="matrix")
        self.assertEqual(r2.rc, 0, r2.explain())
        self.assertEqual(self.outcome(r2, name)["outcome"], "stored", r2.explain())
        self.assertEqual(s.orders(), orders + 1, "the spooled certificate was ordered again")
        self.assert_good_current(secret, [name])
        figure("lease-lost (%s): lease taken over mid-run; run did not store (%.2f s, reason: %s) and left the "
               "new holder's lease; next run stored from the spool in %.2f s, orders +1 in total" %
               (STORE, r1.seconds, reason, r2.seconds))


class NonceRejection(MatrixBase):
    pebble_args = {"nonce_reject": 50}

    def test_nonce_reject_50(self):
        r = self.matrix("nonce-reject-50", lambda: None,
                        detail=lambda r: ", %d badNonce retries" % r.stderr.count("badNonce"))
        self.assertGreaterEqual(r.stderr.count("badNonce"), 1, "Pebble rejected no nonce?")
        TOTALS["faults_injected"] += r.stderr.count("badNonce")


class AcmeOutage(MatrixBase):
    def test_acme_server_stops_mid_order_and_comes_back(self):
        s = self.stack
        case = "acme-outage"
        name = self.names(case)[0]
        secret = self.secret_of(case, name)
        args = ["-d", name, *s.store_args(secret)]
        r0 = self.run_renewer(*args, account="outage")
        self.assertEqual(r0.rc, 0, r0.explain())
        before_store, before_zone = s.secret_state(secret), s.zone_state()
        child = self.spawn(*args, "--force", account="outage")
        child.wait_for_log(r'"msg":"acme: order created"', timeout=90)
        s.ca.stop_process()
        s.ca.restart()  # same port, same TLS certificate, empty memory
        TOTALS["faults_injected"] += 1
        r1 = child.finish(timeout=DEADLINE_S)
        s.refresh_root()
        o1 = self.outcome(r1, name)
        if o1["outcome"] == "renewed":
            # Pebble came back without the account: registered again, ordered again.
            self.assertEqual(r1.rc, 0, r1.explain())
            self.assert_good_current(secret, [name])
            self.assert_no_txt()
        else:
            self.assertEqual(r1.rc, 1, r1.explain())
            self.assertIn(name, o1["reason"])
            self.assertNotIn("\n", o1["reason"])
            self.assertEqual(s.secret_state(secret), before_store, "the store changed")
            self.assertEqual(s.zone_state(), before_zone, "TXT sets changed")
        reason = o1["reason"]
        r2 = self.run_renewer(*args, "--force", account="outage")
        self.assertEqual(r2.rc, 0, r2.explain())
        # "stored": that run's certificate came from the restarted Pebble's new
        # root, failed verification against the old one and was held in the
        # spool; against the refreshed root it passes and is stored without a
        # new order (docs/stores.md, "Verification").
        self.assertIn(self.outcome(r2, name)["outcome"], ("renewed", "stored"), r2.explain())
        self.assert_good_current(secret, [name])
        self.assert_no_txt()
        # A CA that forgot the account between runs (before: every later run
        # failed with accountDoesNotExist): registered again, renewed at once.
        s.ca.restart()
        s.refresh_root()
        TOTALS["faults_injected"] += 1
        r3 = self.run_renewer(*args, "--force", account="outage")
        self.assertEqual(r3.rc, 0, r3.explain())
        self.assertEqual(self.outcome(r3, name)["outcome"], "renewed", r3.explain())
        self.assertIn("registering it again", r3.stderr)
        self.assert_good_current(secret, [name])
        figure("acme-forgot-account: after a CA reset the stored account was registered again and the "
               "certificate renewed in the same run, %.2f s" % r3.seconds)
        figure("acme-outage: Pebble stopped after newOrder and restarted on port %d (memory wiped); that run: %s in "
               "%.2f s (%s); the next run renewed in %.2f s" %
               (s.ca.port, o1["outcome"], r1.seconds, re.sub(r"\s+", " ", reason)[:160], r2.seconds))



class LeaseThroughLongDnsWait(MatrixBase):
    def test_lease_kept_through_a_dns_wait_longer_than_its_ttl(self):
        """lease-long-wait: the lease lasts 30 s (--lease-ttl 30) and Route53
        takes 45 s to reach INSYNC (the fake's change delay). The run renews
        its leases between the pipeline's phases and every lease_ttl/8 while
        it waits (docs/stores.md#leases), so a second run started 36 s in, past
        the first expiry, finds the certificate leased and skips it, and the
        first run stores. Renewed only right before storing, the lease had
        expired: the second run took the certificate over and ordered it again."""
        import time
        s = self.stack
        case = "lease-long-wait"
        name = self.names(case)[0]
        secret = self.secret_of(case, name)
        args = ["-d", name, *s.store_args(secret), "--lease-ttl", "30", "--timeout", "150"]
        orders = s.orders()
        s.fake.set_change_delay(45)
        started = time.monotonic()
        a = self.spawn(*args, account="matrix")
        a.wait_for_log(r'"msg":"acme: presenting DNS-01 records"', timeout=90)
        time.sleep(max(0.0, 36 - (time.monotonic() - started)))
        b = self.run_renewer(*args, account="matrix", timeout=120)
        ra = a.finish(timeout=150)
        s.fake.set_change_delay(0)
        ob = self.outcome(b, name)
        self.assertEqual(ob["outcome"], "skipped", "the second run took the lease of a live run\n" + b.explain())
        self.assertIn("locked by", ob["reason"])
        self.assertEqual(b.rc, 0, b.explain())
        self.assertEqual(ra.rc, 0, ra.explain())
        self.assertEqual(self.outcome(ra, name)["outcome"], "renewed", ra.explain())
        self.assertGreater(ra.seconds, 45, "the DNS wait was not longer than the lease")
        self.assertEqual(s.orders(), orders + 1, "ordered twice")
        self.assert_good_current(secret, [name])
        self.assert_no_txt()
        figure("lease-long-wait: a 45 s Route53 wait under a 30 s lease; the run kept its lease and stored "
               "(%.2f s); a second run %.0f s in skipped it (%s)" % (ra.seconds, 36, ob["reason"]))


class StoreBoundedByTheDeadline(MatrixBase):
    def test_a_hanging_store_ends_with_the_run(self):
        """store-hangs: once the order exists, every PutSecretValue and
        CreateSecret hangs for 120 s. With --deadline 55 the store calls end
        half the clean-up margin past the run's deadline (about 45 s in:
        renewer/run.hpp store_end_of), the certificate stays in the spool, the
        error names the deadline, and the DNS values are removed. Unbounded,
        one attempt waited the AWS client's 60 s HTTP timeout, then retried."""
        s = self.stack
        case = "store-hangs"
        name = self.names(case)[0]
        secret = self.secret_of(case, name)
        args = ["-d", name, *s.store_args(secret), "--deadline", "55"]
        child = self.spawn(*args, account="matrix")
        child.wait_for_log(r'"msg":"acme: order created"', timeout=40)
        for a in s.bundle_write_actions():
            s.fake.fault(a, "delay", count=1000, delay_ms=120000)
        r = child.finish(timeout=DEADLINE_S)
        s.fake.clear_faults()
        self.assertEqual(r.rc, 1, r.explain())
        self.assertLess(r.seconds, 55, "the store outlasted the run's hard end\n" + r.explain())
        reason = self.outcome(r, name)["reason"]
        self.assertIn("spool", reason, r.explain())
        self.assertIn("--deadline 55", reason, r.explain())
        self.assert_no_txt()
        figure("store-hangs: PutSecretValue hanging 120 s under --deadline 55: the run ended in %.2f s, "
               "certificate spooled (%s)" % (r.seconds, reason))


if __name__ == "__main__":
    unittest.main()
