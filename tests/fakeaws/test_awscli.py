"""Fidelity: the official AWS CLI v2 (/usr/bin/aws) drives every action of
tests/fakeaws through --endpoint-url and gets the answers it expects.

The CLI parses every response with the service's own model, so a wrong
element name, shape or error body shows up here as a CLI failure.
CLI runs cost ~1.3 s each: independent ones run in a small thread pool.
"""

import base64
import json
import os
import subprocess
import sys
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.fakeaws import FakeAws  # noqa: E402

AWS = "/usr/bin/aws"


class Cli:
    def __init__(self, fake, **env):
        self.fake = fake
        self.env = fake.env(AWS_PAGER="", **env)

    def run(self, *args, env=None, check=True):
        e = dict(self.env)
        e.update(env or {})
        cmd = [AWS, "--endpoint-url", self.fake.endpoint, "--region", "us-east-1",
               "--output", "json", "--cli-read-timeout", "20",
               "--cli-connect-timeout", "5", *args]
        r = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=90,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stderr}\n--- fakeaws stderr:\n{self.fake.stderr_text()}")
        r.json = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None
        return r

    def many(self, *calls):
        """Run independent CLI calls concurrently; each call is a tuple of
        args, or (args, kwargs)."""
        with ThreadPoolExecutor(max_workers=6) as pool:
            futs = []
            for c in calls:
                if isinstance(c, tuple) and len(c) == 2 and isinstance(c[1], dict):
                    futs.append(pool.submit(self.run, *c[0], **c[1]))
                else:
                    futs.append(pool.submit(self.run, *c))
            return [f.result() for f in futs]


def batch(*changes):
    out = []
    for action, name, rtype, ttl, values in changes:
        out.append({"Action": action, "ResourceRecordSet": {
            "Name": name, "Type": rtype, "TTL": ttl,
            "ResourceRecords": [{"Value": v} for v in values]}})
    return json.dumps({"Comment": "fidelity", "Changes": out})


class AwsCliFidelity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeAws(start=False)
        cls.fake.start()
        cls.cli = Cli(cls.fake)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    # ---- Route53 ---------------------------------------------------------
    def test_route53(self):
        cli, fake = self.cli, self.fake
        pub, priv = cli.many(
            ("route53", "create-hosted-zone", "--name", "fidelity.test",
             "--caller-reference", "pub-1", "--hosted-zone-config", "Comment=public"),
            ("route53", "create-hosted-zone", "--name", "fidelity.test",
             "--caller-reference", "priv-1", "--vpc", "VPCRegion=us-east-1,VPCId=vpc-0abc",
             "--hosted-zone-config", "PrivateZone=true"))
        zid = pub.json["HostedZone"]["Id"].split("/")[-1]
        self.assertRegex(zid, r"^Z[0-9A-Z]{13}$")
        self.assertEqual(pub.json["HostedZone"]["Name"], "fidelity.test.")
        self.assertFalse(pub.json["HostedZone"]["Config"]["PrivateZone"])
        self.assertEqual(pub.json["ChangeInfo"]["Status"], "PENDING")
        self.assertEqual(pub.json["DelegationSet"]["NameServers"],
                         ["ns1.fidelity.test", "ns2.fidelity.test"])
        self.assertTrue(priv.json["HostedZone"]["Config"]["PrivateZone"])
        self.assertEqual(priv.json["VPC"]["VPCId"], "vpc-0abc")

        name = "_acme-challenge.fidelity.test."
        fake.set_change_delay(600)   # PENDING until the delay is lowered below
        by_name, listed, got, created, exists = cli.many(
            ("route53", "list-hosted-zones-by-name", "--dns-name", "fidelity.test"),
            ("route53", "list-hosted-zones"),
            ("route53", "get-hosted-zone", "--id", zid),
            ("route53", "change-resource-record-sets", "--hosted-zone-id", zid,
             "--change-batch", batch(("CREATE", name, "TXT", 60, ['"one"', '"two"']),
                                     ("CREATE", "www.fidelity.test", "A", 300,
                                      ["192.0.2.1"]))),
            (("route53", "change-resource-record-sets", "--hosted-zone-id", zid,
              "--change-batch", batch(("CREATE", "fidelity.test", "NS", 60, ["ns.x."]),
                                      ("DELETE", "fidelity.test", "TXT", 60, ['"x"']))),
             {"check": False}))
        self.assertEqual(sorted(z["Config"]["PrivateZone"] for z in by_name.json["HostedZones"]),
                         [False, True])
        self.assertEqual(by_name.json["DNSName"], "fidelity.test")
        self.assertEqual(len(listed.json["HostedZones"]), 2)
        # SOA + NS, plus 2 when the concurrent CREATE below came first
        self.assertIn(got.json["HostedZone"]["ResourceRecordSetCount"], (2, 4))
        self.assertEqual(got.json["DelegationSet"]["NameServers"][0], "ns1.fidelity.test")
        change_id = created.json["ChangeInfo"]["Id"]
        self.assertRegex(change_id, r"^/change/C[0-9A-Z]+$")
        self.assertEqual(created.json["ChangeInfo"]["Status"], "PENDING")
        self.assertEqual(exists.returncode, 254, exists.stderr)
        self.assertIn("An error occurred (InvalidChangeBatch) when calling the "
                      "ChangeResourceRecordSets operation: [Tried to create resource record "
                      "set [name='fidelity.test.', type='NS'] but it already exists, Tried to "
                      "delete resource record set [name='fidelity.test.', type='TXT'] but it "
                      "was not found]", exists.stderr)

        r = cli.run("route53", "get-change", "--id", change_id)
        self.assertEqual(r.json["ChangeInfo"]["Status"], "PENDING")
        fake.set_change_delay(0)
        r = cli.run("route53", "get-change", "--id", change_id.split("/")[-1])
        self.assertEqual(r.json["ChangeInfo"]["Status"], "INSYNC")

        # UPSERT (TTL + values replaced), DELETE (exact match), wildcard name escaping
        cli.run("route53", "change-resource-record-sets", "--hosted-zone-id", zid,
                "--change-batch", batch(("UPSERT", name, "TXT", 120, ['"two"', '"three"']),
                                        ("DELETE", "www.fidelity.test", "A", 300, ["192.0.2.1"]),
                                        ("CREATE", "*.fidelity.test", "A", 60, ["192.0.2.7"])))
        r = cli.run("route53", "list-resource-record-sets", "--hosted-zone-id", zid)
        sets = {(s["Name"], s["Type"]): s for s in r.json["ResourceRecordSets"]}
        self.assertEqual(list(sets), [("fidelity.test.", "NS"), ("fidelity.test.", "SOA"),
                                      ("\\052.fidelity.test.", "A"), (name, "TXT")])
        self.assertEqual(sets[(name, "TXT")]["TTL"], 120)
        self.assertEqual([v["Value"] for v in sets[(name, "TXT")]["ResourceRecords"]],
                         ['"two"', '"three"'])

        calls = [c for c in fake.calls("ChangeResourceRecordSets") if c["status"] == 200]
        self.assertEqual(len(calls), 2)
        self.assertEqual(calls[0]["params"]["changes"][0],
                         {"action": "CREATE", "name": name, "type": "TXT", "ttl": 60,
                          "values": ['"one"', '"two"']})

    # ---- Secrets Manager -------------------------------------------------------------
    def test_secretsmanager(self):
        cli = self.cli
        r = cli.run("secretsmanager", "create-secret", "--name", "certs/fid",
                    "--secret-string", '{"v": 1}', "--description", "cert",
                    "--kms-key-id", "alias/certs", "--tags", "Key=app,Value=renewer")
        arn, v1 = r.json["ARN"], r.json["VersionId"]
        self.assertRegex(arn, r"^arn:aws:secretsmanager:us-east-1:123456789012:secret:"
                              r"certs/fid-[A-Za-z0-9]{6}$")
        r2 = cli.run("secretsmanager", "put-secret-value", "--secret-id", "certs/fid",
                     "--secret-string", '{"v": 2}', "--client-request-token",
                     "tok-2-000000000000000000000000000000000")
        v2 = r2.json["VersionId"]
        self.assertEqual(v2, "tok-2-000000000000000000000000000000000")
        self.assertEqual(r2.json["VersionStages"], ["AWSCURRENT"])
        r3 = cli.run("secretsmanager", "put-secret-value", "--secret-id", arn,
                     "--secret-binary", base64.b64encode(b"\x00v3").decode())
        v3 = r3.json["VersionId"]

        cur, prev, by_id, desc, versions, missing = cli.many(
            ("secretsmanager", "get-secret-value", "--secret-id", "certs/fid"),
            ("secretsmanager", "get-secret-value", "--secret-id", arn,
             "--version-stage", "AWSPREVIOUS"),
            ("secretsmanager", "get-secret-value", "--secret-id", "certs/fid",
             "--version-id", v1),
            ("secretsmanager", "describe-secret", "--secret-id", "certs/fid"),
            ("secretsmanager", "list-secret-version-ids", "--secret-id", "certs/fid"),
            (("secretsmanager", "get-secret-value", "--secret-id", "nope"), {"check": False}))
        self.assertEqual(base64.b64decode(cur.json["SecretBinary"]), b"\x00v3")
        self.assertEqual(cur.json["VersionId"], v3)
        self.assertEqual(cur.json["VersionStages"], ["AWSCURRENT"])
        self.assertEqual(prev.json["SecretString"], '{"v": 2}')
        self.assertEqual(prev.json["VersionId"], v2)
        self.assertEqual(by_id.json["SecretString"], '{"v": 1}')
        self.assertEqual(by_id.json["VersionStages"], [])  # v1 lost AWSPREVIOUS
        self.assertEqual(desc.json["VersionIdsToStages"],
                         {v3: ["AWSCURRENT"], v2: ["AWSPREVIOUS"]})
        self.assertEqual(desc.json["Description"], "cert")
        self.assertEqual(desc.json["KmsKeyId"], "alias/certs")
        self.assertEqual(desc.json["Tags"], [{"Key": "app", "Value": "renewer"}])
        self.assertEqual({v["VersionId"]: v["VersionStages"] for v in versions.json["Versions"]},
                         {v3: ["AWSCURRENT"], v2: ["AWSPREVIOUS"]})
        self.assertEqual(missing.returncode, 254)
        self.assertIn("An error occurred (ResourceNotFoundException) when calling the "
                      "GetSecretValue operation: Secrets Manager can't find the specified "
                      "secret.", missing.stderr)

    # ---- EC2, AutoScaling, ECS ----------------------------------------------------
    # ---- DynamoDB --------------------------------------------------------
    def test_dynamodb(self):
        cli = self.cli
        created = cli.run("dynamodb", "create-table", "--table-name", "cli-certs",
                          "--billing-mode", "PAY_PER_REQUEST",
                          "--attribute-definitions", "AttributeName=pk,AttributeType=S",
                          "AttributeName=sk,AttributeType=S",
                          "--key-schema", "AttributeName=pk,KeyType=HASH",
                          "AttributeName=sk,KeyType=RANGE",
                          "--sse-specification", "Enabled=true,SSEType=KMS")
        self.assertEqual(created.json["TableDescription"]["TableName"], "cli-certs")
        cli.run("dynamodb", "wait", "table-exists", "--table-name", "cli-certs")
        item = {"pk": {"S": "a.example"}, "sk": {"S": "lease"}, "tok": {"S": "t1"},
                "exp": {"N": "10"}}
        cond = ["--condition-expression", "attribute_not_exists(#t) OR #e < :now",
                "--expression-attribute-names", json.dumps({"#t": "tok", "#e": "exp"}),
                "--expression-attribute-values", json.dumps({":now": {"N": "5"}})]
        cli.run("dynamodb", "put-item", "--table-name", "cli-certs", "--item",
                json.dumps(item), *cond)
        again = cli.run("dynamodb", "put-item", "--table-name", "cli-certs", "--item",
                        json.dumps(item), *cond, check=False)
        self.assertEqual(again.returncode, 254, again.stderr)
        self.assertIn("An error occurred (ConditionalCheckFailedException) when calling the "
                      "PutItem operation: The conditional request failed", again.stderr)
        for i in range(5):
            cli.run("dynamodb", "put-item", "--table-name", "cli-certs", "--item",
                    json.dumps({"pk": {"S": f"n{i}.example"}, "sk": {"S": "bundle"}}))
        # the CLI follows LastEvaluatedKey itself: 6 items in pages of 2
        scanned = cli.run("dynamodb", "scan", "--table-name", "cli-certs", "--page-size", "2")
        self.assertEqual(scanned.json["Count"], 6)
        got = cli.run("dynamodb", "get-item", "--table-name", "cli-certs", "--consistent-read",
                      "--key", json.dumps({"pk": {"S": "a.example"}, "sk": {"S": "lease"}}))
        self.assertEqual(got.json["Item"]["tok"], {"S": "t1"})
        keys = [{"pk": {"S": f"n{i}.example"}, "sk": {"S": "bundle"}} for i in range(5)]
        batch_out = cli.run("dynamodb", "batch-get-item", "--request-items",
                            json.dumps({"cli-certs": {"Keys": keys}}))
        self.assertEqual(len(batch_out.json["Responses"]["cli-certs"]), 5)
        updated = cli.run("dynamodb", "update-item", "--table-name", "cli-certs", "--key",
                          json.dumps({"pk": {"S": "a.example"}, "sk": {"S": "lease"}}),
                          "--update-expression", "SET #e = #e + :one REMOVE #t",
                          "--expression-attribute-names", json.dumps({"#t": "tok", "#e": "exp"}),
                          "--expression-attribute-values", json.dumps({":one": {"N": "1"}}),
                          "--return-values", "ALL_NEW")
        self.assertEqual(updated.json["Attributes"]["exp"], {"N": "11"})
        self.assertNotIn("tok", updated.json["Attributes"])
        queried = cli.run("dynamodb", "query", "--table-name", "cli-certs",
                          "--key-condition-expression", "pk = :p",
                          "--expression-attribute-values", json.dumps({":p": {"S": "n1.example"}}))
        self.assertEqual(queried.json["Count"], 1)
        cli.run("dynamodb", "delete-item", "--table-name", "cli-certs", "--key",
                json.dumps({"pk": {"S": "a.example"}, "sk": {"S": "lease"}}))
        described = cli.run("dynamodb", "describe-table", "--table-name", "cli-certs")
        self.assertEqual(described.json["Table"]["ItemCount"], 5)
        self.assertEqual(described.json["Table"]["SSEDescription"]["Status"], "ENABLED")

    def test_ec2_autoscaling_ecs(self):
        cli, fake = self.cli, self.fake
        web = fake.seed_instances(count=2, tags={"Role": "web", "Env": "prod"})
        fake.seed_instances(count=1, tags={"Role": "db"})
        fake.seed_instances(count=1, tags={"Role": "web"}, state="stopped")
        fake.seed_asg("web-asg", size=2, tags={"Role": "asg-web"}, refresh_seconds=120)
        fake.seed_ecs_service("prod", "web", desired=2)

        by_tag, refresh, ecs_up = cli.many(
            ("ec2", "describe-instances", "--filters", "Name=tag:Role,Values=web",
             "Name=instance-state-name,Values=running"),
            ("autoscaling", "start-instance-refresh", "--auto-scaling-group-name", "web-asg",
             "--preferences", "MinHealthyPercentage=90,InstanceWarmup=60"),
            ("ecs", "update-service", "--cluster", "prod", "--service", "web",
             "--force-new-deployment"))
        ids = sorted(i["InstanceId"] for res in by_tag.json["Reservations"]
                     for i in res["Instances"])
        self.assertEqual(ids, sorted(web))
        inst = by_tag.json["Reservations"][0]["Instances"][0]
        self.assertEqual(inst["State"], {"Code": 16, "Name": "running"})
        self.assertIn({"Key": "Role", "Value": "web"}, inst["Tags"])
        refresh_id = refresh.json["InstanceRefreshId"]
        dep = ecs_up.json["service"]["deployments"]
        self.assertEqual([d["status"] for d in dep], ["PRIMARY", "ACTIVE"])
        self.assertEqual(dep[0]["rolloutState"], "IN_PROGRESS")

        term, described, again = cli.many(
            ("ec2", "terminate-instances", "--instance-ids", web[0]),
            ("autoscaling", "describe-instance-refreshes", "--auto-scaling-group-name",
             "web-asg"),
            (("autoscaling", "start-instance-refresh", "--auto-scaling-group-name",
              "web-asg"), {"check": False}))
        t = term.json["TerminatingInstances"][0]
        self.assertEqual(t["InstanceId"], web[0])
        self.assertEqual(t["PreviousState"]["Name"], "running")
        self.assertEqual(t["CurrentState"]["Name"], "shutting-down")
        r = described.json["InstanceRefreshes"][0]
        self.assertEqual(r["InstanceRefreshId"], refresh_id)
        self.assertIn(r["Status"], ("Pending", "InProgress"))
        self.assertEqual(r["Preferences"]["MinHealthyPercentage"], 90)
        self.assertEqual(again.returncode, 254)
        self.assertIn("(InstanceRefreshInProgress)", again.stderr)

        up = [c for c in fake.calls("UpdateService") if c["status"] == 200][0]
        self.assertEqual((up["params"]["cluster"], up["params"]["service"],
                          up["params"]["forceNewDeployment"]), ("prod", "web", True))
        sr = [c for c in fake.calls("StartInstanceRefresh") if c["status"] == 200][0]
        self.assertEqual(sr["params"]["Preferences"]["MinHealthyPercentage"], "90")

    # ---- STS and signatures ------------------------------------------------------------
    def test_sts(self):
        cli, fake = self.cli, self.fake
        role = "arn:aws:iam::123456789012:role/dns-owner"
        fake.set_role(role, external_id="ext-42")
        jwt = ".".join(base64.urlsafe_b64encode(json.dumps(x).encode()).decode().rstrip("=")
                       for x in ({"alg": "RS256"}, {"sub": "system:serviceaccount:ns:renewer",
                                                    "aud": "sts.amazonaws.com"})) + ".c2ln"
        me, assumed, web, wrong_secret = cli.many(
            ("sts", "get-caller-identity"),
            ("sts", "assume-role", "--role-arn", role, "--role-session-name", "renewer",
             "--external-id", "ext-42"),
            ("sts", "assume-role-with-web-identity", "--role-arn",
             "arn:aws:iam::123456789012:role/irsa", "--role-session-name", "pod",
             "--web-identity-token", jwt),
            (("route53", "list-hosted-zones"),
             {"check": False, "env": {"AWS_SECRET_ACCESS_KEY": "wrong-secret"}}))
        self.assertEqual(me.json["Account"], "123456789012")
        self.assertEqual(me.json["Arn"], "arn:aws:iam::123456789012:user/test")
        c = assumed.json["Credentials"]
        self.assertTrue(c["AccessKeyId"].startswith("ASIA"))
        self.assertEqual(assumed.json["AssumedRoleUser"]["Arn"],
                         "arn:aws:sts::123456789012:assumed-role/dns-owner/renewer")
        w = web.json
        self.assertEqual(w["SubjectFromWebIdentityToken"], "system:serviceaccount:ns:renewer")
        self.assertEqual(wrong_secret.returncode, 254)
        self.assertIn("An error occurred (SignatureDoesNotMatch) when calling the "
                      "ListHostedZones operation: The request signature we calculated does "
                      "not match", wrong_secret.stderr)

        temp = {"AWS_ACCESS_KEY_ID": c["AccessKeyId"], "AWS_SECRET_ACCESS_KEY":
                c["SecretAccessKey"], "AWS_SESSION_TOKEN": c["SessionToken"]}
        wc = w["Credentials"]
        temp2 = {"AWS_ACCESS_KEY_ID": wc["AccessKeyId"], "AWS_SECRET_ACCESS_KEY":
                 wc["SecretAccessKey"], "AWS_SESSION_TOKEN": wc["SessionToken"]}
        as_role, as_web = cli.many((("sts", "get-caller-identity"), {"env": temp}),
                                   (("route53", "list-hosted-zones"), {"env": temp2}))
        self.assertEqual(as_role.json["Arn"], assumed.json["AssumedRoleUser"]["Arn"])
        self.assertIn("HostedZones", as_web.json)
        keys = [x["access_key"] for x in fake.calls()]
        self.assertIn(c["AccessKeyId"], keys)
        self.assertIn(wc["AccessKeyId"], keys)


if __name__ == "__main__":
    unittest.main()
