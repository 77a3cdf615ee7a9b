"""Fault injection (throttle, PriorRequestNotComplete, 500, delay, drop,
probability), AccessDenied rules, the call log, the state file across a
restart, and a quick clean exit on SIGTERM."""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.fakeaws import PYTHON, SERVER, FakeAws  # noqa: E402


def code_of(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)
        cls.fake = FakeAws()
        cls.fake.start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()
        self.r53 = self.fake.client("route53")
        self.zid = self.r53.create_hosted_zone(Name="f.test", CallerReference="f")[
            "HostedZone"]["Id"].split("/")[-1]

    def upsert(self, value='"v"'):
        return self.r53.change_resource_record_sets(HostedZoneId=self.zid, ChangeBatch={
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": "t.f.test", "Type": "TXT", "TTL": 60,
                "ResourceRecords": [{"Value": value}]}}]})

    def test_throttle_next_n_calls(self):
        self.fake.fault("ChangeResourceRecordSets", "throttle", count=2)
        self.fake.clear_calls()
        self.assertEqual(code_of(self.upsert), ("Throttling", 400))
        self.assertEqual(code_of(self.upsert), ("Throttling", 400))
        self.assertEqual(code_of(self.upsert), (None, 200))
        # other actions unaffected
        self.assertEqual(code_of(self.r53.list_hosted_zones), (None, 200))
        log = self.fake.calls("ChangeResourceRecordSets")
        self.assertEqual([(c["status"], c["code"]) for c in log],
                         [(400, "Throttling"), (400, "Throttling"), (200, None)])
        # botocore's own retry logic recovers from it (standard mode)
        self.fake.fault("ChangeResourceRecordSets", "prior", count=1)
        retrying = self.fake.client("route53", retries=3)
        retrying.change_resource_record_sets(HostedZoneId=self.zid, ChangeBatch={
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": "t.f.test", "Type": "TXT", "TTL": 60,
                "ResourceRecords": [{"Value": '"r"'}]}}]})
        codes = [c["code"] for c in self.fake.calls("ChangeResourceRecordSets")]
        self.assertEqual(codes[-2:], ["PriorRequestNotComplete", None])

    def test_per_protocol_codes(self):
        sm = self.fake.client("secretsmanager")
        ec2 = self.fake.client("ec2")
        sts = self.fake.client("sts")
        self.fake.fault("*", "throttle", count=4)
        self.assertEqual(code_of(sm.list_secrets), ("ThrottlingException", 400))
        self.assertEqual(code_of(ec2.describe_instances), ("RequestLimitExceeded", 503))
        self.assertEqual(code_of(sts.get_caller_identity), ("Throttling", 400))
        self.assertEqual(code_of(self.r53.list_hosted_zones), ("Throttling", 400))
        self.fake.fault("*", "error500", count=4)
        self.assertEqual(code_of(sm.list_secrets), ("InternalServiceError", 500))
        self.assertEqual(code_of(ec2.describe_instances), ("InternalError", 500))
        self.assertEqual(code_of(sts.get_caller_identity), ("InternalFailure", 500))
        self.assertEqual(code_of(self.r53.list_hosted_zones), ("InternalFailure", 500))
        self.assertEqual(code_of(self.r53.list_hosted_zones), (None, 200))
        self.fake.fault("GetSecretValue", "custom", count=1, code="DecryptionFailure",
                        status=400, message="kms said no")
        sm.create_secret(Name="c", SecretString="x")
        self.assertEqual(code_of(sm.get_secret_value, SecretId="c"), ("DecryptionFailure", 400))

    def test_drop_after_carries_the_call_out(self):
        """A lost response: the secret exists although the caller got no answer."""
        sm = self.fake.client("secretsmanager")
        self.fake.fault("CreateSecret", "drop_after", count=1)
        with self.assertRaises((ConnectionClosedError, EndpointConnectionError)):
            sm.create_secret(Name="lost/answer", SecretString="x")
        self.assertEqual(self.fake.calls("CreateSecret")[-1]["code"], "ConnectionDropped")
        self.assertEqual(sm.get_secret_value(SecretId="lost/answer")["SecretString"], "x")

    def test_drop_and_delay(self):
        self.fake.fault("ListHostedZones", "drop", count=1)
        with self.assertRaises((ConnectionClosedError, EndpointConnectionError)):
            self.r53.list_hosted_zones()
        self.assertEqual(self.fake.calls("ListHostedZones")[-1]["code"], "ConnectionDropped")
        self.r53.list_hosted_zones()
        self.fake.fault("ListHostedZones", "delay", count=1, delay_ms=400)
        t0 = time.monotonic()
        self.r53.list_hosted_zones()
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        t0 = time.monotonic()
        self.r53.list_hosted_zones()
        self.assertLess(time.monotonic() - t0, 0.4)

    def test_probability_is_seeded(self):
        def run():
            self.fake.clear_faults()
            self.fake.fault("GetHostedZone", "throttle", probability=0.3, seed=7)
            return [code_of(self.r53.get_hosted_zone, Id=self.zid)[0] for _ in range(60)]
        first, second = run(), run()
        self.assertEqual(first, second)
        hits = first.count("Throttling")
        self.assertTrue(6 <= hits <= 30, hits)
        self.fake.clear_faults()

    def test_rate_limit(self):
        self.fake.rate_limit("route53", 0.5, burst=3)
        results = [code_of(self.r53.get_hosted_zone, Id=self.zid)[0] for _ in range(8)]
        self.assertEqual(results[:3], [None] * 3)
        self.assertIn("Throttling", results[3:])
        self.fake.rate_limit("route53", None)
        self.assertEqual(code_of(self.r53.get_hosted_zone, Id=self.zid), (None, 200))

    def test_deny(self):
        self.fake.deny("ChangeResourceRecordSets")
        with self.assertRaises(ClientError) as cm:
            self.upsert()
        err = cm.exception.response["Error"]
        self.assertEqual(err["Code"], "AccessDenied")
        self.assertEqual(err["Message"],
                         "User: arn:aws:iam::123456789012:user/test is not authorized to "
                         f"perform: route53:ChangeResourceRecordSets on resource: "
                         f"arn:aws:route53:::hostedzone/{self.zid}")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.r53.list_resource_record_sets(HostedZoneId=self.zid)   # others still allowed
        sm = self.fake.client("secretsmanager")
        self.fake.deny("PutSecretValue", service="secretsmanager")
        sm.create_secret(Name="d", SecretString="x")
        self.assertEqual(code_of(sm.put_secret_value, SecretId="d", SecretString="y"),
                         ("AccessDeniedException", 400))
        self.fake.clear_denies()
        self.upsert()
        # only an assumed role is denied
        self.fake.deny("ListHostedZones", principal="*:assumed-role/limited/*")
        c = self.fake.client("sts").assume_role(
            RoleArn="arn:aws:iam::123456789012:role/limited",
            RoleSessionName="lim")["Credentials"]
        limited = self.fake.client("route53", c["AccessKeyId"], c["SecretAccessKey"],
                                   c["SessionToken"])
        self.assertEqual(code_of(limited.list_hosted_zones), ("AccessDenied", 403))
        self.assertEqual(code_of(self.r53.list_hosted_zones), (None, 200))
        self.fake.clear_denies()

    def test_calls_log_fields(self):
        self.fake.clear_calls()
        self.upsert('"logged"')
        c = self.fake.calls()[-1]
        self.assertEqual((c["service"], c["action"], c["access_key"], c["status"]),
                         ("route53", "ChangeResourceRecordSets", "AKIDEXAMPLE", 200))
        self.assertEqual(c["params"]["zone_id"], self.zid)
        self.assertEqual(c["params"]["changes"][0]["values"], ['"logged"'])
        sm = self.fake.client("secretsmanager")
        sm.create_secret(Name="log", SecretString="top secret")
        c = self.fake.calls("CreateSecret")[-1]
        self.assertNotIn("top secret", json.dumps(c))
        self.assertEqual(c["params"]["SecretStringLength"], 10)
        self.fake.clear_calls()
        self.assertEqual(self.fake.calls(), [])


class StateAndLifecycle(unittest.TestCase):
    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        self.tmp = tempfile.TemporaryDirectory(prefix="fakeaws-state-")
        self.addCleanup(self.tmp.cleanup)

    def test_state_survives_restart(self):
        state = os.path.join(self.tmp.name, "state.json")
        with FakeAws(state_file=state) as fake:
            r53 = fake.client("route53")
            zid = r53.create_hosted_zone(Name="keep.test", CallerReference="k")[
                "HostedZone"]["Id"].split("/")[-1]
            r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
                {"Action": "CREATE", "ResourceRecordSet": {
                    "Name": "kept.keep.test", "Type": "TXT", "TTL": 60,
                    "ResourceRecords": [{"Value": '"kept"'}]}}]})
            sm = fake.client("secretsmanager")
            sm.create_secret(Name="kept", SecretString="1")
            v2 = sm.put_secret_value(SecretId="kept", SecretString="2")["VersionId"]
            ids = fake.seed_instances(count=1, tags={"Role": "web"})
            before = fake.records(zid)
            self.assertTrue(os.path.exists(state))
            fake.restart(state_file=state)
            self.assertEqual(fake.records(zid), before)
            sm = fake.client("secretsmanager")
            got = sm.get_secret_value(SecretId="kept")
            self.assertEqual((got["SecretString"], got["VersionId"]), ("2", v2))
            self.assertEqual(sm.get_secret_value(SecretId="kept",
                                                 VersionStage="AWSPREVIOUS")["SecretString"], "1")
            self.assertEqual([i["InstanceId"] for i in fake.instances()], ids)
            out = subprocess.run(["/usr/bin/dig", "@127.0.0.1", "-p", str(fake.dns_port),
                                  "+short", "+time=3", "TXT", "kept.keep.test"],
                                 capture_output=True, text=True, timeout=30).stdout
            self.assertEqual(out.strip(), '"kept"')
        self.assertTrue(os.path.exists(state))  # the caller's file is left alone

    def test_sigterm_exits_quickly_and_ready_file_shape(self):
        ready = os.path.join(self.tmp.name, "ready.json")
        p = subprocess.Popen([PYTHON, SERVER, "--host", "127.0.0.1", "--http-port", "0",
                              "--dns-port", "0", "--ready-file", ready,
                              "--credentials", "AKIDONE:secret1",
                              "--credentials", "AKIDTWO:secret2"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(ready):
                self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            info = json.load(open(ready))
            self.assertEqual(set(info), {"http_port", "dns_port", "endpoint", "pid"})
            self.assertEqual(info["endpoint"], f"http://127.0.0.1:{info['http_port']}")
            self.assertEqual(info["pid"], p.pid)
            # keep-alive: two requests on one connection
            conn = http.client.HTTPConnection("127.0.0.1", info["http_port"], timeout=5)
            for _ in range(2):
                conn.request("GET", "/_fake/health")
                self.assertEqual(json.loads(conn.getresponse().read())["ok"], True)
            conn.close()
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(10), 0)
            self.assertLess(time.monotonic() - t0, 3)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stderr.close()

    def test_harness_reports_a_dying_server(self):
        fake = FakeAws(start=False)
        from harness.fakeaws import FakeAwsError
        with self.assertRaises(FakeAwsError) as cm:
            fake.start(credentials=[("bad", "")])
        self.assertIn("AKID:SECRET", str(cm.exception))
        fake.stop()


if __name__ == "__main__":
    unittest.main()
