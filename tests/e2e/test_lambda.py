"""Lambda mode (docs/deployment.md#lambda-container-image) and `renewer run --deadline`, end to end:
the real `renewer` binary as a Lambda runtime against a test-only Runtime API
(lambda_runtime_fake.py), Pebble and tests/fakeaws (Route53 + DNS + Secrets
Manager).

Covered: two invocations in one process (renewed and stored, then not due),
the configuration named by RENEWER_CONFIG, SIGTERM while idle ends the
process at once; an invocation whose deadline leaves no time to start fails
with "deadline: not started" before any order or TXT record; a bad
configuration goes to /runtime/init/error with exit 2; an invalid event is
refused, a dry-run event stores nothing; SIGTERM during an invocation still
cleans up and reports; --deadline outside Lambda (too short: nothing
started; enough: renewed).

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_lambda.py
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import E2eCase, RENEWER, Stack, ZONE, Result, wait_until  # noqa: E402
from lambda_runtime_fake import FakeLambdaRuntime  # noqa: E402

# The margin renewer keeps before a deadline (run.hpp k_deadline_margin) and
# the least time an order needs to start (k_order_start_budget).
MARGIN_S = 20
START_BUDGET_S = 30


def secret_current(stack, name):
    s = stack.secret(name)
    if s is None:
        return None
    for v in s["versions"].values():
        if "AWSCURRENT" in v["stages"]:
            return json.loads(v["string"])
    return None


class Lambda(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack.start_for(cls)

    def setUp(self):
        self.stack.fake.set_change_delay(0)
        self.stack.fake.clear_faults()

    # ---- helpers -----------------------------------------------------------
    def write_config(self, certificates, **top):
        path = os.path.join(self.tmpdir("lambda-config-"), "renewer.json")
        config = {"defaults": {"dns": self.stack.dns_config()}, "certificates": certificates}
        config.update(top)
        with open(path, "w") as f:
            json.dump(config, f)
        return path

    def start_renewer(self, runtime, config=None, env_config=None, account="lambda", extra=()):
        """renewer run as a Lambda runtime; stopped (bounded) by a cleanup."""
        s = self.stack
        cmd = [RENEWER, "run", *s.acme_args(account), *extra]
        if config:
            cmd += ["--config", config]
        env = s.env(AWS_LAMBDA_RUNTIME_API=runtime.host_port)
        if env_config:
            env["RENEWER_CONFIG"] = env_config
        logs = self.tmpdir("lambda-logs-")
        out = open(os.path.join(logs, "stdout"), "w+")
        err = open(os.path.join(logs, "stderr"), "w+")
        self.addCleanup(out.close)
        self.addCleanup(err.close)
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        proc.cmd, proc.out, proc.err, proc.started = cmd, out, err, time.monotonic()

        def stop():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        self.addCleanup(stop)
        return proc

    def finish(self, proc, timeout):
        """Waits (bounded) for the process; its output as an e2e Result."""
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            rc = "killed after %ss" % timeout
        proc.out.seek(0)
        proc.err.seek(0)
        return Result(proc.cmd, rc, proc.out.read(), proc.err.read(), time.monotonic() - proc.started)

    def explain(self, proc):
        proc.out.flush()
        proc.err.flush()
        with open(proc.out.name) as o, open(proc.err.name) as e:
            return "\n--- stdout ---\n%s\n--- stderr ---\n%s" % (o.read()[-4000:], e.read()[-6000:])

    def runtime(self):
        rt = FakeLambdaRuntime().start()
        self.addCleanup(rt.stop)
        return rt

    def sigterm_and_wait(self, proc, timeout=10):
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        r = self.finish(proc, timeout)
        return r, time.monotonic() - start

    # ---- Lambda ------------------------------------------------------------
    def test_two_invocations_then_sigterm(self):
        s = self.stack
        rt = self.runtime()
        name, secret = "lambda." + ZONE, "e2e/lambda-site"
        config = self.write_config([{"domains": [name, "*." + name], "store": "aws-sm:" + secret}])
        before = s.all_records()
        proc = self.start_renewer(rt, env_config=config)  # RENEWER_CONFIG, no --config

        rid = rt.invoke({}, deadline_in=600)
        first = rt.wait_result(rid, timeout=120)
        self.assertEqual(first["kind"], "response", first["body"] + self.explain(proc))
        body = first["json"]
        print("\nfirst invocation (renewal): %d ms" % body["duration_ms"])
        self.assertEqual(body["exit_code"], 0)
        self.assertEqual(len(body["certificates"]), 1, body)
        cert = body["certificates"][0]
        self.assertEqual(cert["id"], name)
        self.assertEqual(cert["outcome"], "renewed", body)
        self.assertEqual(sorted(cert["domains"]), sorted([name, "*." + name]))
        for key in ("reason", "serial", "not_after", "duration_ms"):
            self.assertIn(key, cert)
        self.assertGreater(cert["duration_ms"], 0)
        self.assertEqual(body["replacements"], [])
        stored = secret_current(s, secret)
        self.assertIsNotNone(stored, "no secret stored")
        self.assertEqual(stored["serial"].replace(":", "").lower().lstrip("0"),
                         cert["serial"].replace(":", "").lower().lstrip("0"))
        self.assertEqual(s.all_records(), before, "TXT records left behind")

        orders = s.orders()
        rid2 = rt.invoke({"force": False}, deadline_in=600)
        second = rt.wait_result(rid2, timeout=60)
        self.assertEqual(second["kind"], "response", second["body"])
        self.assertEqual(second["json"]["certificates"][0]["outcome"], "not due", second["body"])
        self.assertEqual(second["json"]["exit_code"], 0)
        self.assertEqual(s.orders(), orders, "the second invocation ordered")

        # Idle in /next: SIGTERM ends the process promptly, exit 0.
        rt.wait_idle(timeout=10)
        r, took = self.sigterm_and_wait(proc)
        print("SIGTERM while idle -> exit %s after %.2f s" % (r.rc, took))
        self.assertEqual(r.rc, 0, r.explain())
        self.assertLess(took, 5.0, r.explain())
        self.assertEqual(rt.next_calls, 3)
        # The report also went to stdout as JSON lines, once per invocation.
        summaries = [l for l in r.lines if l.get("summary")]
        self.assertEqual(len(summaries), 2, r.explain())
        self.assertEqual(r.certs[name]["outcome"], "not due")
        # The trace header became _X_AMZN_TRACE_ID and the request id is logged.
        self.assertIn(rid, r.stderr)
        self.assertNotIn(stored["private_key"].splitlines()[1], r.stdout + r.stderr)

    def test_deadline_too_short_to_start(self):
        s = self.stack
        rt = self.runtime()
        name, secret = "late." + ZONE, "e2e/late-site"
        config = self.write_config([{"domains": [name], "store": "aws-sm:" + secret}])
        proc = self.start_renewer(rt, config=config)
        orders = s.orders()
        before = s.all_records()
        s.fake.clear_calls()
        # Left after the margin: 5 s, less than an order needs to start.
        rid = rt.invoke({}, deadline_in=MARGIN_S + 5)
        result = rt.wait_result(rid, timeout=30)
        self.assertEqual(result["kind"], "error", result["body"] + self.explain(proc))
        self.assertEqual(result["headers"].get("lambda-runtime-function-error-type"), "Renewer.CertificateFailed")
        self.assertEqual(result["json"]["errorType"], "Renewer.CertificateFailed")
        message = result["json"]["errorMessage"]
        self.assertIn("1 of 1 certificate(s) failed", message)
        self.assertIn("%s: deadline: not started" % name, message)
        self.assertEqual(s.orders(), orders, "an order was placed at Pebble")
        self.assertEqual(s.fake.calls("ChangeResourceRecordSets"), [], "DNS was touched")
        self.assertEqual(s.all_records(), before)
        self.assertIsNone(s.secret(secret))
        # A second invocation in the same process with enough time renews.
        rid2 = rt.invoke({}, deadline_in=MARGIN_S + START_BUDGET_S + 120)
        result2 = rt.wait_result(rid2, timeout=120)
        self.assertEqual(result2["kind"], "response", result2["body"] + self.explain(proc))
        self.assertEqual(result2["json"]["certificates"][0]["outcome"], "renewed")
        self.assertIsNotNone(secret_current(s, secret))
        rt.wait_idle(timeout=10)
        r, _ = self.sigterm_and_wait(proc)
        self.assertEqual(r.rc, 0, r.explain())

    def test_bad_config_is_an_init_error(self):
        rt = self.runtime()
        config = self.write_config([{"domains": ["bad." + ZONE], "store": "aws-sm:e2e/bad", "colour": "blue"}])
        proc = self.start_renewer(rt, config=config)
        r = self.finish(proc, timeout=20)
        self.assertEqual(r.rc, 2, r.explain())
        error = rt.wait_init_error(timeout=5)
        self.assertEqual(error["json"]["errorType"], "Renewer.ConfigError")
        self.assertEqual(error["headers"].get("lambda-runtime-function-error-type"), "Renewer.ConfigError")
        self.assertIn("certificates[0].colour", error["json"]["errorMessage"])
        self.assertEqual(rt.next_calls, 0, "asked for an invocation with a bad configuration")
        # Same for a bad flag.
        rt2 = self.runtime()
        proc2 = self.start_renewer(rt2, config=config, extra=["--deadline", "0"])
        r2 = self.finish(proc2, timeout=20)
        self.assertEqual(r2.rc, 2, r2.explain())
        self.assertEqual(len(rt2.init_errors), 1)

    def test_invalid_event_then_dry_run_event(self):
        s = self.stack
        rt = self.runtime()
        name, secret = "dry." + ZONE, "e2e/dry-site"
        config = self.write_config([{"domains": [name], "store": "aws-sm:" + secret}])
        proc = self.start_renewer(rt, config=config)
        orders = s.orders()
        bad = rt.invoke({"force": "yes"})
        refused = rt.wait_result(bad, timeout=30)
        self.assertEqual(refused["kind"], "error", refused["body"])
        self.assertEqual(refused["json"]["errorType"], "Renewer.InvalidEvent")
        self.assertIn('"force" must be true or false', refused["json"]["errorMessage"])

        dry = rt.invoke({"dry_run": True, "source": "aws.scheduler"})
        result = rt.wait_result(dry, timeout=60)
        self.assertEqual(result["kind"], "response", result["body"] + self.explain(proc))
        self.assertEqual(result["json"]["exit_code"], 0)
        self.assertEqual(result["json"]["certificates"][0]["outcome"], "due", result["body"])
        self.assertIsNone(s.secret(secret), "a dry run stored something")
        self.assertEqual(s.orders(), orders, "a dry run ordered")
        rt.wait_idle(timeout=10)
        r, _ = self.sigterm_and_wait(proc)
        self.assertEqual(r.rc, 0, r.explain())
        self.assertIn('unknown key \\"source\\"', r.stderr, r.explain())

    def test_sigterm_during_invocation_cleans_up_and_reports(self):
        s = self.stack
        rt = self.runtime()
        name = "term." + ZONE
        config = self.write_config([{"domains": [name], "store": "aws-sm:e2e/term-site"}])
        before = s.all_records()
        # Route53 changes stay PENDING for a minute: the run waits for INSYNC.
        s.fake.set_change_delay(60)
        s.fake.clear_calls()
        proc = self.start_renewer(rt, config=config)
        rid = rt.invoke({}, deadline_in=600)
        wait_until(lambda: s.fake.calls("GetChange"), 60, "the run waiting for INSYNC")
        r, took = self.sigterm_and_wait(proc, timeout=40)
        print("\nSIGTERM during an invocation -> exit %s after %.2f s" % (r.rc, took))
        self.assertIn(rid, rt.results, "nothing posted for the invocation" + r.explain())
        result = rt.wait_result(rid, timeout=5)
        self.assertEqual(result["kind"], "error", result["body"] + r.explain())
        self.assertIn(name, result["json"]["errorMessage"])
        self.assertEqual(r.rc, 1, r.explain())
        self.assertLess(took, 30.0)
        s.fake.set_change_delay(0)
        self.assertEqual(s.all_records(), before, "TXT records left behind after SIGTERM")

    def test_deadline_bounds_a_wait_in_flight(self):
        """An order starts (enough time left to start), then Route53 stays
        PENDING: the INSYNC wait ends at the run's deadline, the TXT value is
        removed and the error is posted before the invocation's deadline."""
        s = self.stack
        rt = self.runtime()
        name = "inflight." + ZONE
        config = self.write_config([{"domains": [name], "store": "aws-sm:e2e/inflight-site"}])
        before = s.all_records()
        s.fake.set_change_delay(600)
        s.fake.clear_calls()
        proc = self.start_renewer(rt, config=config)
        budget = MARGIN_S + START_BUDGET_S + 3
        rid = rt.invoke({}, deadline_in=budget)
        invoked = time.monotonic()
        result = rt.wait_result(rid, timeout=budget + 10)
        took = time.monotonic() - invoked
        print("\ninvocation with %d s left, Route53 never INSYNC: error after %.1f s" % (budget, took))
        self.assertEqual(result["kind"], "error", result["body"] + self.explain(proc))
        self.assertIn(name, result["json"]["errorMessage"])
        self.assertNotIn("not started", result["json"]["errorMessage"])
        self.assertLess(took, budget, "the error came after the invocation's deadline")
        self.assertGreater(took, START_BUDGET_S - 5, "the wait ended long before the run's deadline")
        self.assertEqual(len(s.fake.calls("ChangeResourceRecordSets")), 2, "expected present + cleanup")
        s.fake.set_change_delay(0)
        wait_until(lambda: s.all_records() == before, 10, "the zone as before")
        rt.wait_idle(timeout=10)
        r, _ = self.sigterm_and_wait(proc)
        self.assertEqual(r.rc, 0, r.explain())

    # ---- --deadline outside Lambda ------------------------------------------
    def test_deadline_flag(self):
        s = self.stack
        orders = s.orders()
        tiny = "tiny." + ZONE
        r = s.renewer("run", "-d", tiny, "--out", self.tmpdir("out-"), "--deadline", "5")
        self.assertEqual(r.rc, 1, r.explain())
        self.assertEqual(r.certs[tiny]["outcome"], "failed", r.explain())
        self.assertEqual(r.certs[tiny]["reason"], "deadline: not started")
        self.assertEqual(s.orders(), orders, "ordered despite the deadline")
        self.assertLess(r.seconds, 5.0)

        enough = "enough." + ZONE
        out = self.tmpdir("out-")
        r2 = s.renewer("run", "-d", enough, "--out", out, "--deadline", str(MARGIN_S + START_BUDGET_S + 60))
        self.assertEqual(r2.rc, 0, r2.explain())
        self.assertEqual(r2.certs[enough]["outcome"], "renewed", r2.explain())
        self.assert_valid_files(out, [enough], s.root_pem())


if __name__ == "__main__":
    import unittest
    unittest.main()
