"""Crash matrix (docs/architecture.md#crash-safety): `renewer run --force` is SIGKILLed at each
phase of a renewal, then run again (a scheduled run, no --force), against
Pebble and tests/fakeaws (Route53 + Secrets Manager).

A phase is reached when its log record appears on the child's stderr
(--log-level debug, JSON lines):

  order      "acme: order created"        after newOrder
  txt        "dns: TXT records live"      every authoritative server answers
  answered   "acme: challenges answered"  the CA was told to validate
  finalized  "acme: order finalized"      the CSR was accepted
  downloaded "acme: certificate issued"   the chain is in memory
  storing    "storing"                    spooled, the certificate's
                                          PutSecretValue (DynamoDB:
                                          UpdateItem) in flight (held
                                          1.5 s by a fakeaws delay)
  store-retrying "storing"                that write answered 500 and
                                          retried (killed after 2 failures):
                                          the next run stores from the spool

With FAULTS_STORE=dynamodb (faults_common.py) the same matrix runs over the
DynamoDB store: "AWSCURRENT" is the bundle item's `bundle`.

After every kill: the secret's AWSCURRENT is a complete, valid bundle. After
the next run: exit 0, no TXT value of ours in the zone (API and DNS views: the
run replays the DNS journal a killed run leaves beside the spool), AWSCURRENT
still valid, and a spooled certificate is stored without a new order
(Pebble's "Added order" log lines are counted).

SIGKILL during the replacement step (StartInstanceRefresh held 3 s by a fakeaws
delay): the store's "replacement owed" note names the new serial, and the
next run, with nothing due, calls the target again and clears the note
(docs/replacement.md#a-replacement-owed).

SIGTERM (ECS, systemd): the run removes its TXT values, releases its lease and
exits within a bounded time (measured; the figure is printed).

Run: BUILD_DIR=build-x /usr/bin/python3 -m unittest -v tests/faults/test_crash_matrix.py
"""

import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faults_common import TOTALS, FaultCase, ZONE, figure, norm_serial, print_totals  # noqa: E402

NAME = "crash." + ZONE
NAMES = [NAME, "*." + NAME]
SECRET = "faults/crash"

PHASES = [
    ("order", r'"msg":"acme: order created"'),
    ("txt", r'"msg":"dns: TXT records live"'),
    ("answered", r'"msg":"acme: challenges answered"'),
    ("finalized", r'"msg":"acme: order finalized"'),
    ("downloaded", r'"msg":"acme: certificate issued"'),
    ("storing", r'"msg":"storing"'),
    ("store-retrying", r'"msg":"storing"'),
]

# SIGTERM must end the run (clean-up included) well within ECS's 30 s.
SIGTERM_BOUND_S = 25.0


def in_flight(stack, action, done_before):
    """Calls of `action` that reached the fake's delay rule (set when
    `done_before` calls had been answered) and are not answered yet."""
    hits = sum(f["hits"] for f in stack.fake.control("GET", "faults")["faults"]
               if f["kind"] == "delay" and f["action"] == action)
    return hits - (len(stack.fake.calls(action)) - done_before)


def tearDownModule():
    print_totals("crash matrix")


class CrashMatrix(FaultCase):
    def args(self):
        return ["-d", NAMES[0], "-d", NAMES[1], *self.stack.store_args(SECRET)]

    def first_certificate(self):
        s = self.stack
        if s.secret_state(SECRET) is None or s.secret_state(SECRET)["current"] is None:
            r = self.run_renewer(*self.args(), account="crash")
            self.assertEqual(r.rc, 0, r.explain())
        return self.assert_good_current(SECRET, NAMES)

    def spool_file(self, with_temp=False):
        """Spooled certificates; with_temp also a killed write's temp file
        (".NAME.tmp.PID.XXXXXX", not a spooled certificate: the next run
        removes it)."""
        d = self.stack.spool
        return [f for f in os.listdir(d) if with_temp or not f.startswith(".")] if os.path.isdir(d) else []

    def test_sigkill_at_every_phase_then_converge(self):
        s = self.stack
        self.first_certificate()
        survived = 0
        replayed = 0  # kills that left TXT values for the next run to remove
        for phase, pattern in PHASES:
            with self.subTest(phase=phase):
                s.fake.clear_faults()
                s.fake.clear_calls()
                before = s.secret_state(SECRET)
                orders_before = s.orders()
                child = self.spawn(*self.args(), "--force", account="crash")
                write = s.bundle_update_action()
                if phase in ("storing", "store-retrying"):
                    # The lease was taken before the order. In Secrets
                    # Manager its renewal right before storing (docs/stores.md,
                    # "Leases") is a PutSecretValue too, so the faults hit
                    # every one; in DynamoDB it is a PutItem and the faults
                    # hit the bundle's UpdateItem alone.
                    child.wait_for_log(PHASES[0][1], timeout=90)
                    if phase == "storing":
                        s.fake.fault(write, "delay", count=1000, delay_ms=1500)
                        done_before = len(s.fake.calls(write))
                    else:
                        s.fake.fault(write, "error500", count=1000)
                line = child.wait_for_log(pattern, timeout=90)
                if phase == "storing":
                    # Kill while the certificate's write is inside the fake,
                    # held by the delay: a PutSecretValue that arrived and has
                    # not been answered. The renewal was answered before the
                    # "storing" line, so this one is the certificate's. (A
                    # kill as soon as any delay had a hit raced the write:
                    # the hit was the renewal's, and a loaded machine could
                    # kill before the certificate's write was sent.)
                    s.fake.wait_for(lambda: in_flight(s, write, done_before) >= 1,
                                    timeout=10, what="the certificate's %s in flight" % write)
                if phase == "store-retrying":
                    # Kill while the client retries the certificate's failing
                    # write (backoff): two of its answers were 500 (the
                    # renewal's failures do not count).
                    s.fake.wait_for(lambda: len([c for c in s.fake.calls(write)
                                                 if s.writes_bundle(c, SECRET) and c["status"] >= 500]) >= 2,
                                    timeout=30, what="the certificate's %s failing twice" % write)
                TOTALS["faults_injected"] += sum(f["hits"] for f in s.fake.control("GET", "faults")["faults"])
                killed = child.kill()
                self.assertEqual(killed.rc, -signal.SIGKILL, "the run ended before the kill:\n" + killed.stderr[-3000:])
                serial = json.loads(line).get("serial") if phase in ("downloaded", "storing", "store-retrying") else None
                if phase == "store-retrying":
                    self.assertEqual(s.secret_state(SECRET)["versions"], before["versions"])
                if phase == "storing":
                    # The write the kill interrupted may still land: wait until
                    # the fake answered it (the delay ends), bounded.
                    s.fake.wait_for(lambda: any(s.writes_bundle(c, SECRET) for c in s.fake.calls(write)),
                                    timeout=10, what="the interrupted " + write)
                left_txt = s.zone_state()["api"]
                spooled = self.spool_file()
                orders_after_kill = s.orders()
                self.assertEqual(orders_after_kill, orders_before + 1, "the killed run placed %d orders" %
                                 (orders_after_kill - orders_before))
                # A kill never leaves a bad certificate in the store.
                current = self.assert_good_current(SECRET, NAMES)
                after_kill = s.secret_state(SECRET)
                if phase in ("finalized", "downloaded") and after_kill["versions"] != before["versions"]:
                    # The kill raced the store write (milliseconds on loopback;
                    # on a loaded machine the signal can come that late after
                    # "finalized" too) and lost: what landed must be the
                    # certificate the killed run downloaded.
                    issued = [json.loads(x) for x in killed.stderr.splitlines()
                              if '"msg":"acme: certificate issued"' in x]
                    self.assertTrue(issued, "the store changed but the killed run downloaded nothing")
                    self.assertEqual(norm_serial(current["serial"]), norm_serial(issued[-1].get("serial")),
                                     "the store changed to a certificate the killed run did not download")
                elif phase != "storing":
                    self.assertEqual(after_kill["versions"], before["versions"],
                                     "the store changed although the kill came before storing")
                if left_txt:
                    replayed += 1
                if phase in ("storing", "store-retrying"):
                    self.assertTrue(spooled, "the certificate should be spooled before the store write")

                # The next (scheduled) run converges.
                s.fake.clear_faults()
                s.fake.clear_calls()
                r = self.run_renewer(*self.args(), account="crash")
                self.assertEqual(r.rc, 0, r.explain())
                outcome = self.outcome(r, NAME)
                self.assert_no_txt("after the run that followed a kill at %s" % phase)
                current = self.assert_good_current(SECRET, NAMES)
                self.assertEqual(s.orders(), orders_after_kill, "the next run ordered again after a kill at %s" % phase)
                if phase == "store-retrying":
                    self.assertEqual(outcome["outcome"], "stored", r.explain())
                if spooled:
                    # Stored from the spool (or already stored by the interrupted write).
                    self.assertIn(outcome["outcome"], ("stored", "not due"), r.explain())
                    if serial:
                        self.assertEqual(norm_serial(current["serial"]), norm_serial(serial),
                                         "AWSCURRENT is not the certificate the killed run spooled")
                    self.assertEqual(s.call_count("ChangeResourceRecordSets") -
                                     (1 if left_txt else 0), 0, "DNS-01 ran again for a spooled certificate")
                else:
                    self.assertEqual(outcome["outcome"], "not due", r.explain())
                self.assertEqual(self.spool_file(with_temp=True), [], "the spool still holds a certificate")
                journal = s.spool + "-dns-journal"
                self.assertEqual(os.listdir(journal) if os.path.isdir(journal) else [], [],
                                 "the DNS journal still lists values")
                survived += 1
                TOTALS["kills_survived"] += 1
                figure("crash-%s: SIGKILL after %.2f s; TXT sets left %d, spooled %s; next run %s in %.2f s, "
                       "orders +%d, AWSCURRENT serial %s valid" %
                       (phase, killed.seconds, len(left_txt), bool(spooled), outcome["outcome"], r.seconds,
                        s.orders() - orders_before, current["serial"]))
        # Kills at "txt" and "answered" land while the values are live (the
        # window is the CA's validation); at least one must have exercised the
        # journal replay, or this test proves nothing about it.
        self.assertGreaterEqual(replayed, 1, "no kill left TXT values: the journal replay was not exercised")
        figure("crash matrix: %d/%d SIGKILLs survived, %d left TXT values that the next run removed, "
               "0 bad certificates" % (survived, len(PHASES), replayed))

    def test_sigkill_during_replacement_then_next_run_replaces(self):
        s = self.stack
        name, secret, group = "crash-replace." + ZONE, "faults/crash-replace", "crash-web"
        s.fake.seed_asg(group, size=2, refresh_seconds=0.2)
        args = ["-d", name, *s.store_args(secret), "--replace", "autoscaling:" + group]
        s.fake.clear_calls()
        s.fake.fault("StartInstanceRefresh", "delay", count=1, delay_ms=3000)
        child = self.spawn(*args, account="crash")
        child.wait_for_log(r'"msg":"storing"', timeout=90)
        s.fake.wait_for(lambda: any(f["kind"] == "delay" and f["hits"] >= 1
                                    for f in s.fake.control("GET", "faults")["faults"]),
                        timeout=30, what="StartInstanceRefresh in flight")
        killed = child.kill()
        self.assertEqual(killed.rc, -signal.SIGKILL, "the run ended before the kill:\n" + killed.stderr[-3000:])
        TOTALS["faults_injected"] += 1
        current = self.assert_good_current(secret, [name])
        note = s.secret_state(secret + "-replace-owed")
        self.assertIsNotNone(note, "no replacement-owed note after a kill during the replacement")
        self.assertEqual(norm_serial(note["current"]["serial"]), norm_serial(current["serial"]))
        # The interrupted call may still land in the fake: wait for its answer.
        s.fake.wait_for(lambda: s.fake.calls("StartInstanceRefresh"), timeout=10, what="the interrupted call")

        s.fake.clear_faults()
        s.fake.clear_calls()
        r = self.run_renewer(*args, account="crash")
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual(self.outcome(r, name)["outcome"], "not due", r.explain())
        refresh = s.fake.calls("StartInstanceRefresh")
        self.assertEqual(len(refresh), 1, "the next run did not replace again:\n" + r.explain())
        self.assertEqual(s.secret_state(secret + "-replace-owed")["current"]["serial"], "")
        TOTALS["kills_survived"] += 1
        figure("crash-replacing: SIGKILL after %.2f s during StartInstanceRefresh; next run (nothing due) "
               "called it again (HTTP %s) in %.2f s and cleared the note" % (killed.seconds, refresh[0]["status"],
                                                                              r.seconds))

    def test_sigterm_cleans_up_and_exits_in_bounded_time(self):
        s = self.stack
        first = self.first_certificate()
        before = s.secret_state(SECRET)
        child = self.spawn(*self.args(), "--force", account="crash")
        child.wait_for_log(r'"msg":"dns: TXT records live"', timeout=90)
        present = s.zone_state()["api"]
        t0 = time.monotonic()
        child.signal(signal.SIGTERM)
        r = child.finish(timeout=SIGTERM_BOUND_S + 10)
        took = time.monotonic() - t0
        self.assertLess(took, SIGTERM_BOUND_S, r.explain())
        self.assertNotEqual(r.rc, 0, "a cancelled run must not report success\n" + r.explain())
        self.assertNotIn(r.rc, (-signal.SIGTERM,), "the process died of SIGTERM instead of handling it")
        # Cleaned up by the run itself, no next run needed.
        self.assert_no_txt("right after the SIGTERMed run exited")
        current = self.assert_good_current(SECRET, NAMES)
        self.assertEqual(s.secret_state(SECRET)["versions"], before["versions"])
        self.assertEqual(current["serial"], first["serial"])
        held = s.lease_item(SECRET)  # released: no item, or a record without a token
        self.assertFalse(held and held["token"], "the lease was not released: %s" % held)
        TOTALS["kills_survived"] += 1
        figure("sigterm: exit %d %.2f s after SIGTERM (bound %.0f s); TXT sets present at the signal %d, "
               "left after exit 0; lease released" % (r.rc, took, SIGTERM_BOUND_S, len(present)))


if __name__ == "__main__":
    unittest.main()
