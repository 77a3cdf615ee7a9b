"""Policy matches code, observed: real runs with the template's own command
line, every AWS call they make judged against the template's policies.

renewer runs exactly the arguments deploy/cloudformation.yaml gives the Lambda
function (plus only what points it at the local peers: Pebble's TLS root and
the fake's DNS server) against Pebble and tests/fakeaws, once per replacement
mode, on secrets created the way the template creates them (empty). Each call
tests/fakeaws logged becomes (IAM action, resource ARN, condition context) and
must be allowed by RenewerRole's statements for that mode; certfetch's calls
must be allowed by CertfetchPolicy. A secret's ARN has Secrets Manager's
suffix once it exists and none before (the first read of the lease secret).
With DomainList=true the same is done for a domain table's items (issued,
one removed) and for the CertfetchCommand output (certfetch --all).
The static checks (test_policy.py) prove nothing more is granted.
"""

import os
import shlex
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

import botocore.session  # noqa: E402

import cfn  # noqa: E402
from e2e_common import CERTFETCH, RENEWER, ZONE, E2eCase, Stack, run  # noqa: E402
from test_policy import TEMPLATE, role_statements  # noqa: E402

SECRET = "certs/" + ZONE
TARGETS = {"autoscaling": "web", "ec2-tag": "web-tier", "ecs": "prod/web"}


class TemplateAllowsEveryCall(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for path in (RENEWER, CERTFETCH):
            if not os.access(path, os.X_OK):
                raise unittest.SkipTest(f"{path} is not built")
        cls.stack = Stack.start_for(cls)
        fake = cls.stack.fake
        # As CloudFormation does: the certificate and account secrets, empty.
        client = botocore.session.get_session().create_client(
            "secretsmanager", region_name=fake.region, endpoint_url=fake.endpoint,
            aws_access_key_id=fake.access_key, aws_secret_access_key=fake.secret_key)
        for name in (SECRET, SECRET + "-account"):
            client.create_secret(Name=name, Description="created like deploy/cloudformation.yaml does")
        client.close()
        fake.seed_asg("web", size=2, refresh_seconds=0.1)
        fake.seed_instances(count=2, tags={"renewer-replace": "web-tier"})
        fake.seed_instances(count=1, tags={"renewer-replace": "db"})
        fake.seed_ecs_service("prod", "web", rollout_seconds=0.1)
        cls.template = cfn.load(TEMPLATE)

    def secrets(self):
        return {s["name"]: s for s in self.stack.fake.secrets()}

    def account(self):
        arn = self.secrets()[SECRET]["arn"]
        return arn.split(":")[4]

    def resolved(self, replace):
        secrets = self.secrets()
        return cfn.evaluate(self.template, {
            "Mode": "lambda", "ImageUri": "x/renewer:1", "EcrRepositoryName": "renewer",
            "Domains": f"{ZONE},*.{ZONE}", "HostedZoneIds": self.stack.zone_id, "Email": "ops@" + ZONE,
            "CaDirectoryUrl": self.stack.ca.directory, "SecretName": SECRET,
            "ReplaceType": replace, "ReplaceTarget": TARGETS[replace],
        }, refs={"CertificateSecret": secrets[SECRET]["arn"], "AccountSecret": secrets[SECRET + "-account"]["arn"]},
            pseudo={"AWS::Region": self.stack.fake.region, "AWS::AccountId": self.account()})

    def judge(self, calls, statements, instances):
        """[(call summary, why)] of calls the statements do not allow."""
        region, account = self.stack.fake.region, self.account()
        secrets = self.secrets()
        denied = []
        for c in calls:
            service, action, p = c["service"], c["action"], c.get("params") or {}
            context = {}
            if service in ("imds", "ecs-credentials"):
                continue
            if service == "route53":
                if action == "ListHostedZonesByName":
                    resource = "*"
                elif action == "GetChange":
                    resource = "arn:aws:route53:::change/" + str(p.get("change_id", "")).split("/")[-1]
                elif action in ("ListResourceRecordSets", "ChangeResourceRecordSets"):
                    resource = f"arn:aws:route53:::hostedzone/{p.get('zone_id')}"
                    if action == "ChangeResourceRecordSets":
                        changes = p.get("changes") or []
                        context = {
                            "route53:ChangeResourceRecordSetsNormalizedRecordNames":
                                [ch["name"].lower().rstrip(".") for ch in changes],
                            "route53:ChangeResourceRecordSetsRecordTypes": [ch["type"] for ch in changes]}
                else:
                    resource = "?"
            elif service == "secretsmanager":
                name = p.get("SecretId") or p.get("Name") or p.get("name")
                secret = next((s for s in secrets.values() if name in (s["name"], s["arn"])), None)
                if secret and (action == "CreateSecret" or secret["created"] <= c["time"]):
                    resource = secret["arn"]
                else:
                    resource = f"arn:aws:secretsmanager:{region}:{account}:secret:{name}"  # not created yet
            elif service == "autoscaling":
                group = p.get("AutoScalingGroupName")
                resource = (f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:"
                            f"11111111-2222-3333-4444-555555555555:autoScalingGroupName/{group}")
            elif service == "ec2" and action == "DescribeInstances":
                resource = "*"
            elif service == "ec2" and action == "TerminateInstances":
                ids = [v for k, v in sorted(p.items()) if k.startswith("InstanceId")]
                for instance_id in ids:
                    tags = instances.get(instance_id, {})
                    ctx = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
                    arn = f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"
                    if not cfn.allowed(statements, "ec2:TerminateInstances", arn, ctx):
                        denied.append((f"ec2:TerminateInstances {arn} {ctx}", c.get("code")))
                continue
            elif service == "dynamodb" and action == "BatchGetItem":
                # One authorization per table, with every key of the batch.
                for table, wanted in (p.get("RequestItems") or {}).items():
                    arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
                    ctx = {"dynamodb:LeadingKeys": [k["pk"]["S"] for k in wanted.get("Keys", []) if "pk" in k]}
                    if not cfn.allowed(statements, "dynamodb:BatchGetItem", arn, ctx):
                        denied.append((f"dynamodb:BatchGetItem {arn} {ctx}", c.get("code")))
                continue
            elif service == "dynamodb":
                resource = f"arn:aws:dynamodb:{region}:{account}:table/{p.get('TableName')}"
                item = p.get("Key") or p.get("Item") or {}
                if "pk" in item:
                    context = {"dynamodb:LeadingKeys": [item["pk"]["S"]]}
                if action == "Scan":
                    # The attributes the request names, and its Select.
                    context = {"dynamodb:Attributes": sorted(set((p.get("ExpressionAttributeNames") or {}).values())),
                               "dynamodb:Select": p.get("Select") or "ALL_ATTRIBUTES"}
                elif action == "UpdateItem" and "pk" not in item:
                    # A domain-list item's state: the key and the attributes
                    # the expressions name, and what the answer returns.
                    named = set((p.get("ExpressionAttributeNames") or {}).values()) | set(item)
                    context = {"dynamodb:Attributes": sorted(named),
                               "dynamodb:ReturnValues": p.get("ReturnValues") or "NONE"}
            elif service == "ecs":
                resource = f"arn:aws:ecs:{region}:{account}:service/{p.get('cluster')}/{p.get('service')}"
            else:
                resource = "?"
            if not cfn.allowed(statements, f"{service}:{action}", resource, context):
                denied.append((f"{service}:{action} {resource} {context}", c.get("code")))
        return denied

    def test_runs_and_certfetch_stay_inside_the_template_policies(self):
        fake = self.stack.fake
        seen = set()
        first = True
        for replace in ("autoscaling", "ec2-tag", "ecs"):
            with self.subTest(replace):
                t = self.resolved(replace)
                command = t["Resources"]["Function"]["Properties"]["ImageConfig"]["Command"]
                statements = role_statements(t["Resources"], "RenewerRole")
                instances = {i["InstanceId"]: i.get("Tags", {}) for i in fake.instances()}
                spool = tempfile.mkdtemp(dir=self.stack.workdir, prefix="spool-")
                fake.clear_calls()
                argv = [RENEWER, *command, "--ca-bundle", self.stack.ca.ca_bundle, "--trust-root",
                        self.stack.root_file, *self.stack.dns_args()]
                if not first:
                    argv.append("--force")  # renew again so the replacement runs again
                r = run(argv, env=self.stack.env(RENEWER_SPOOL_DIR=spool), timeout=180)
                self.assertEqual(r.rc, 0, r.explain())
                self.assertEqual([c["outcome"] for c in r.certs.values()], ["renewed"], r.explain())
                self.assertTrue(r.replacements, r.explain())
                calls = fake.calls()
                seen |= {f"{c['service']}:{c['action']}" for c in calls}
                denied = self.judge(calls, statements, instances)
                self.assertEqual(denied, [], f"calls RenewerRole ({replace}) does not allow")
                first = False
        for needed in ("route53:ChangeResourceRecordSets", "route53:GetChange", "secretsmanager:CreateSecret",
                       "secretsmanager:PutSecretValue", "autoscaling:StartInstanceRefresh",
                       "ec2:TerminateInstances", "ecs:UpdateService"):
            self.assertIn(needed, seen, "the runs did not exercise every kind of call")
        # certfetch on a web host, with CertfetchPolicy only.
        t = self.resolved("autoscaling")
        statements = cfn.statements_of(t["Resources"]["CertfetchPolicy"]["Properties"]["PolicyDocument"])
        out = tempfile.mkdtemp(dir=self.stack.workdir, prefix="certfetch-")
        fake.clear_calls()
        r = run([CERTFETCH, "--secret-id", SECRET, "--out", out, "--expect-name", ZONE], env=self.stack.env())
        self.assertEqual(r.rc, 0, r.explain())
        calls = fake.calls()
        self.assertTrue(any(c["action"] == "GetSecretValue" for c in calls))
        self.assertEqual(self.judge(calls, statements, {}), [], "calls CertfetchPolicy does not allow")
        print(f"FIGURE policy-live: {len(seen)} kinds of AWS call in 3 runs + certfetch, all inside the template")

    def test_domain_list_deployment_stays_inside_the_template_policies(self):
        """DomainList=true (docs/customer-domains.md#deploying-with-cloudformation),
        for each store: the template's command issues the table's items, reports
        a removed one (an aws-sm: store lists), and the CertfetchCommand output
        fetches them all, every call inside RenewerRole / CertfetchPolicy."""
        fake = self.stack.fake
        ddb = botocore.session.get_session().create_client(
            "dynamodb", region_name=fake.region, endpoint_url=fake.endpoint,
            aws_access_key_id=fake.access_key, aws_secret_access_key=fake.secret_key)
        self.addCleanup(ddb.close)
        # Store, LeasesInDynamoDb, SecretPrefix; each its own stack name, so its own tables.
        stores = {"sm": ("secretsmanager", "false", "customers"), "leased": ("secretsmanager", "true", "leased"),
                  "ddb": ("dynamodb", "false", "unused")}
        for stack, (store, leases, prefix) in stores.items():
            with self.subTest(store=store, leases=leases):
                self.domain_list_stack(ddb, stack, {"Store": store, "LeasesInDynamoDb": leases,
                                                    "SecretPrefix": prefix})

    def domain_list_stack(self, ddb, stack, parameters):
        fake = self.stack.fake
        key = [{"AttributeName": "id", "AttributeType": "S"}], [{"AttributeName": "id", "KeyType": "HASH"}]
        ddb.create_table(TableName=stack + "-domains", BillingMode="PAY_PER_REQUEST", AttributeDefinitions=key[0],
                         KeySchema=key[1])
        ddb.create_table(TableName=stack + "-certificates", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}])
        customers = [f"shop-{stack}.{ZONE}", f"blog-{stack}.{ZONE}"]
        for name in customers:
            ddb.put_item(TableName=stack + "-domains", Item={"id": {"S": name}, "domains": {"L": [{"S": name}]}})
        t = cfn.evaluate(self.template, dict(parameters, **{
            "Mode": "lambda", "ImageUri": "x/renewer:1", "EcrRepositoryName": "renewer", "DomainList": "true",
            "CustomerDnsZone": ZONE, "HostedZoneIds": self.stack.zone_id,
            "Email": "ops@" + ZONE, "CaDirectoryUrl": self.stack.ca.directory,
        }), pseudo={"AWS::Region": fake.region, "AWS::AccountId": self.account(), "AWS::StackName": stack})
        command = t["Resources"]["Function"]["Properties"]["ImageConfig"]["Command"]
        statements = role_statements(t["Resources"], "RenewerRole")
        argv = [RENEWER, *command, "--ca-bundle", self.stack.ca.ca_bundle, "--trust-root", self.stack.root_file,
                *self.stack.dns_args()]
        env = self.stack.env(RENEWER_SPOOL_DIR=tempfile.mkdtemp(dir=self.stack.workdir, prefix="spool-"),
                             AWS_ENDPOINT_URL_DYNAMODB=fake.endpoint)
        fake.clear_calls()
        r = run(argv, env=env, timeout=180)
        self.assertEqual(r.rc, 0, r.explain())
        self.assertEqual({k: v["outcome"] for k, v in r.certs.items()}, {n: "renewed" for n in customers},
                         r.explain())
        calls = fake.calls()
        # A customer leaves: not renewed; in an aws-sm: store reported and left in place.
        ddb.delete_item(TableName=stack + "-domains", Key={"id": {"S": customers[0]}})
        fake.clear_calls()
        second = run(argv, env=env, timeout=180)
        self.assertEqual(second.rc, 0, second.explain())
        self.assertNotIn(customers[0], second.certs, second.explain())
        secrets_manager = parameters["Store"] == "secretsmanager"
        prefix = parameters["SecretPrefix"] + "/"
        if secrets_manager:
            self.assertEqual(second.certs[prefix + customers[0]]["outcome"], "left in place", second.explain())
        calls += fake.calls()
        seen = {f"{c['service']}:{c['action']}" for c in calls}
        needed = ["dynamodb:Scan"] + (["secretsmanager:ListSecrets", "secretsmanager:CreateSecret"]
                                      if secrets_manager else ["dynamodb:GetItem", "dynamodb:PutItem"])
        for action in needed:
            self.assertIn(action, seen, "the runs did not exercise every kind of call")
        self.assertTrue([c for c in calls if c["action"] == "UpdateItem" and
                         (c.get("params") or {}).get("TableName") == stack + "-domains"],
                        "the runs wrote no item's state (docs/customer-domains.md#the-item-shows-the-state)")
        self.assertEqual(self.judge(calls, statements, {}), [], "calls RenewerRole (DomainList) does not allow")
        if not secrets_manager:
            return  # certfetch --all over DynamoDB comes with its listing (docs/customer-domains.md)
        # The hosts: the output's own command, into a scratch folder. The ACME
        # account beside the first certificate is under the prefix too, and
        # CertfetchPolicy denies reading it.
        self.assertTrue([n for n in self.secrets() if n.startswith(prefix) and n.endswith("-account")],
                        sorted(self.secrets()))
        line = shlex.split(t["Outputs"]["CertfetchCommand"]["Value"])
        self.assertEqual(line[:2], ["certfetch", "--all"])
        out = tempfile.mkdtemp(dir=self.stack.workdir, prefix="certfetch-all-")
        line[line.index("--out") + 1] = out
        line[line.index("--group") + 1] = str(os.getgid())  # www-data need not exist here
        line[line.index("--reload") + 1] = "true"
        fake.clear_calls()
        fetched = run([CERTFETCH, *line[1:]], env=self.stack.env())
        self.assertEqual(fetched.rc, 0, fetched.explain())
        for name in customers:
            self.assertTrue(os.path.exists(os.path.join(out, name, "fullchain.pem")), fetched.explain())
        host = cfn.statements_of(t["Resources"]["CertfetchPolicy"]["Properties"]["PolicyDocument"])
        self.assertEqual(self.judge(fake.calls(), host, {}), [], "calls CertfetchPolicy (DomainList) does not allow")

    def test_judge_can_refuse(self):
        # The judge itself: a call on another secret or zone is refused.
        t = self.resolved("ecs")
        statements = role_statements(t["Resources"], "RenewerRole")
        calls = [{"service": "secretsmanager", "action": "GetSecretValue", "time": 0,
                  "params": {"SecretId": "certs/other"}},
                 {"service": "route53", "action": "ChangeResourceRecordSets", "time": 0,
                  "params": {"zone_id": "ZOTHER", "changes": [{"name": "_acme-challenge.x.", "type": "TXT"}]}},
                 {"service": "autoscaling", "action": "StartInstanceRefresh", "time": 0,
                  "params": {"AutoScalingGroupName": "web"}}]
        self.assertEqual(len(self.judge(calls, statements, {})), 3)


if __name__ == "__main__":
    unittest.main()
