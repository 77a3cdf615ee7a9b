"""A second opinion on the DynamoDB store: secrets_dynamodb_tests (the same
suite that runs against tests/fakeaws) against moto's DynamoDB, where
`moto_server` is on PATH (the machine image's default python3 has moto; the
Debian one does not). Skipped with a message where it is not. The tests that
need the fake's faults or call log skip themselves there.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build")
BINARY = os.path.join(BUILD_DIR, "bin", "secrets_dynamodb_tests")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoSecondOpinion(unittest.TestCase):
    def test_store_suite_against_moto(self):
        moto = shutil.which("moto_server")
        if not moto:
            self.skipTest("moto_server is not on PATH: the DynamoDB store ran against tests/fakeaws only")
        self.assertTrue(os.access(BINARY, os.X_OK), f"{BINARY} is not built")
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="moto-") as tmp:
            log = open(os.path.join(tmp, "moto.log"), "wb")
            proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                    stderr=subprocess.STDOUT, cwd=tmp)
            try:
                endpoint = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 60
                while True:
                    try:
                        urllib.request.urlopen(endpoint + "/moto-api/", timeout=2)
                        break
                    except OSError:
                        if proc.poll() is not None or time.monotonic() > deadline:
                            log.flush()
                            self.fail("moto_server did not come up:\n" +
                                      open(os.path.join(tmp, "moto.log")).read()[-3000:])
                        time.sleep(0.2)
                env = dict(os.environ, DYNAMODB_TEST_ENDPOINT=endpoint)
                r = subprocess.run([BINARY, "--gtest_brief=1"], env=env, capture_output=True, text=True,
                                   timeout=240)
                self.assertEqual(r.returncode, 0, r.stdout[-6000:] + r.stderr[-3000:])
                ran = [line for line in r.stdout.splitlines() if "tests ran" in line or "PASSED" in line]
                print("FIGURE dynamodb-moto: " + " / ".join(ran), flush=True)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
                log.close()


if __name__ == "__main__":
    unittest.main()
