"""A second opinion on the DynamoDB store: secrets_dynamodb_tests (the same
suite that runs against tests/fakeaws) against moto's DynamoDB, where
`moto_server` is on PATH (the machine image's default python3 has moto; the
Debian one does not). Skipped with a message where it is not. The tests that
need the fake's faults or call log skip themselves there.
"""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness.moto import MotoServer  # noqa: E402

BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build")
BINARY = os.path.join(BUILD_DIR, "bin", "secrets_dynamodb_tests")


class MotoSecondOpinion(unittest.TestCase):
    def test_store_suite_against_moto(self):
        moto = MotoServer.find()
        if not moto:
            self.skipTest("moto_server is not on PATH: the DynamoDB store ran against tests/fakeaws only")
        self.assertTrue(os.access(BINARY, os.X_OK), f"{BINARY} is not built")
        with tempfile.TemporaryDirectory(prefix="moto-") as tmp:
            try:
                env = dict(os.environ, DYNAMODB_TEST_ENDPOINT=moto.start(tmp))
                r = subprocess.run([BINARY, "--gtest_brief=1"], env=env, capture_output=True, text=True,
                                   timeout=240)
                self.assertEqual(r.returncode, 0, r.stdout[-6000:] + r.stderr[-3000:])
                ran = [line for line in r.stdout.splitlines() if "tests ran" in line or "PASSED" in line]
                print("FIGURE dynamodb-moto: " + " / ".join(ran), flush=True)
            finally:
                moto.stop()


if __name__ == "__main__":
    unittest.main()
