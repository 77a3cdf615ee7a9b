"""A replacement owed (docs/replacement.md#a-replacement-owed): the real `renewer`
against Pebble and tests/fakeaws. The replacement call (StartInstanceRefresh,
UpdateService) fails once after a renewal stored its certificate; the store
then holds a "replacement owed for serial X" note, `renewer plan` and the run
report show it, and the next run, with nothing due, calls the target again and
clears the note. A run after that calls nothing.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/replace/test_replace_owed.py
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "faults"))
from faults_common import FaultCase, ZONE, outcomes  # noqa: E402


def refused(fake, action):
    """The next `action` call is refused with a client error (not retried)."""
    fake.fault(action, "custom", count=1, status=400, code="ValidationError",
               message="injected by test_replace_owed")


class ReplaceOwedTest(FaultCase):
    def report(self, result, cert_id):
        entry = outcomes(result).get(cert_id)
        self.assertIsNotNone(entry, result.explain())
        return entry

    def calls(self, action):
        return [c for c in self.stack.fake.calls(action) if c.get("status") == 200]

    def check_owed_cycle(self, args, cert_id, action, note):
        """Runs: renewal with `action` refused; plan; a run with nothing due; one more run."""
        s = self.stack
        refused(s.fake, action)
        r1 = self.run_renewer(*args)
        self.assertEqual(r1.rc, 1, r1.explain())
        first = self.report(r1, cert_id)
        self.assertEqual(first["outcome"], "renewed", r1.explain())
        owed = first.get("replacement_owed")
        self.assertIsInstance(owed, dict, r1.explain())
        self.assertEqual(owed["serial"], first["serial"])
        self.assertIn("injected by test_replace_owed", owed["error"])
        self.assertEqual(note()["serial"], first["serial"], "the store's note after the failed replacement")

        plan = s.renewer("plan", *args)
        self.assertEqual(plan.rc, 0, plan.explain())
        planned = self.report(plan, cert_id)
        self.assertEqual(planned["outcome"], "not due", plan.explain())
        self.assertEqual((planned.get("replacement_owed") or {}).get("serial"), first["serial"], plan.explain())

        s.fake.clear_calls()
        r2 = self.run_renewer(*args)
        self.assertEqual(r2.rc, 0, r2.explain())
        second = self.report(r2, cert_id)
        self.assertEqual(second["outcome"], "not due", r2.explain())
        self.assertIsNone(second.get("replacement_owed"), r2.explain())
        self.assertEqual(len(self.calls(action)), 1, "the owed replacement is retried once:\n" + r2.explain())
        self.assertEqual(note()["serial"], "", "the note is cleared after the retry succeeded")

        s.fake.clear_calls()
        r3 = self.run_renewer(*args)
        self.assertEqual(r3.rc, 0, r3.explain())
        self.assertEqual(self.stack.fake.calls(action), [], "nothing owed, nothing called:\n" + r3.explain())

    def test_autoscaling_secrets_manager(self):
        s = self.stack
        s.fake.seed_asg("owed-web", size=2, refresh_seconds=0.2)
        name = "owed-asg." + ZONE
        args = ["-d", name, "--store", "aws-sm:owed/asg", "--replace", "autoscaling:owed-web"]

        def note():
            state = s.secret_state("owed/asg-replace-owed")
            self.assertIsNotNone(state, "no note secret owed/asg-replace-owed")
            return state["current"]

        self.check_owed_cycle(args, name, "StartInstanceRefresh", note)

    def test_ecs_directory_store(self):
        s = self.stack
        s.fake.seed_ecs_service("owed-cluster", "owed-web", rollout_seconds=0.2)
        name = "owed-ecs." + ZONE
        folder = self.tmpdir("owed-")
        args = ["-d", name, "--store", "dir:" + folder, "--replace", "ecs:owed-cluster/owed-web"]

        def note():
            with open(os.path.join(folder, "replace-owed.json")) as f:
                return json.load(f)

        self.check_owed_cycle(args, name, "UpdateService", note)


if __name__ == "__main__":
    unittest.main()
