"""Credential endpoints: IMDSv2 and the ECS container credentials endpoint.
Raw HTTP for the protocol rules; botocore's and the AWS CLI's own
credential providers for fidelity; the credentials they hand out pass the
SigV4 check."""

import json
import os
import subprocess
import sys
import unittest
import urllib.error
import urllib.request
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.fakeaws import FakeAws  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {},
                                 data=b"" if method == "PUT" else None)
    try:
        with OPENER.open(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Metadata(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)
        cls.fake = FakeAws()
        cls.fake.start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def caller(self, creds):
        sts = self.fake.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                               creds.get("Token"))
        return sts.get_caller_identity()["Arn"]

    def test_imdsv2_protocol(self):
        e = self.fake.endpoint
        base = f"{e}/latest/meta-data/iam/security-credentials/"
        self.assertEqual(http("GET", base)[0], 401)                      # no token
        self.assertEqual(http("PUT", f"{e}/latest/api/token")[0], 400)   # no TTL header
        status, token = http("PUT", f"{e}/latest/api/token",
                             {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        self.assertEqual(status, 200)
        self.assertEqual(http("GET", base, {"X-aws-ec2-metadata-token": "forged"})[0], 401)
        h = {"X-aws-ec2-metadata-token": token}
        status, role = http("GET", base, h)
        self.assertEqual((status, role), (200, "renewer-instance-role"))
        status, body = http("GET", base + role, h)
        creds = json.loads(body)
        self.assertEqual(creds["Code"], "Success")
        self.assertEqual(creds["Type"], "AWS-HMAC")
        self.assertRegex(creds["Expiration"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIn("assumed-role/renewer-instance-role/", self.caller(creds))
        self.assertEqual(http("GET", f"{e}/latest/meta-data/placement/region", h),
                         (200, "us-east-1"))
        self.fake.configure_metadata(imds_role="other-role")
        self.assertEqual(http("GET", base, h)[1], "other-role")
        self.fake.configure_metadata(imds_role="renewer-instance-role")

    def test_ecs_protocol(self):
        e = self.fake.endpoint
        self.fake.configure_metadata(ecs_id="task-1", ecs_token="Bearer sekrit")
        status, body = http("GET", f"{e}/v2/credentials/task-1")
        creds = json.loads(body)
        self.assertEqual(status, 200)
        self.assertEqual(set(creds), {"AccessKeyId", "SecretAccessKey", "Token",
                                      "Expiration", "RoleArn"})
        self.assertIn("assumed-role/ecs-task-role/", self.caller(creds))
        self.assertEqual(http("GET", f"{e}/ecs/credentials/task-1")[0], 401)
        self.assertEqual(http("GET", f"{e}/ecs/credentials/task-1",
                              {"Authorization": "wrong"})[0], 401)
        status, body = http("GET", f"{e}/ecs/credentials/task-1",
                            {"Authorization": "Bearer sekrit"})
        self.assertEqual(status, 200)
        self.assertEqual(http("GET", f"{e}/v2/credentials/nope")[0], 404)

    def test_botocore_providers(self):
        import botocore.session
        for env in (self.fake.imds_env(), self.fake.ecs_credentials_env(
                "task-2", token="tok-2", full=True)):
            saved = dict(os.environ)
            try:
                os.environ.clear()
                os.environ.update(env)
                s = botocore.session.Session()
                c = s.get_credentials().get_frozen_credentials()
                self.assertTrue(c.access_key.startswith("ASIA"))
                sts = s.create_client("sts", endpoint_url=self.fake.endpoint,
                                      region_name="us-east-1")
                self.assertIn("assumed-role", sts.get_caller_identity()["Arn"])
            finally:
                os.environ.clear()
                os.environ.update(saved)

    def test_aws_cli_with_instance_and_container_credentials(self):
        for env in (self.fake.imds_env(),
                    self.fake.ecs_credentials_env("task-3", token="tok-3", full=True)):
            env["AWS_PAGER"] = ""
            r = subprocess.run(["/usr/bin/aws", "--endpoint-url", self.fake.endpoint,
                                "--region", "us-east-1", "--output", "json",
                                "sts", "get-caller-identity"], env=env,
                               capture_output=True, text=True, timeout=90)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("assumed-role", json.loads(r.stdout)["Arn"])
        actions = [c["action"] for c in self.fake.calls() if c["service"] in
                   ("imds", "ecs-credentials")]
        self.assertIn("GetRoleCredentials", actions)
        self.assertIn("GetCredentials", actions)


if __name__ == "__main__":
    unittest.main()
