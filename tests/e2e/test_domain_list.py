"""The domain list from DynamoDB (docs/customer-domains.md#the-domain-list):
`renewer run --config FILE` with "certificates_from": "dynamodb:domains" and
the real renewer against Pebble, tests/fakeaws (Route53, Secrets Manager,
DynamoDB) and, in DomainListMoto, moto_server's DynamoDB for the table
(skipped with a message where moto_server is not on PATH).

- 3 good items and 2 bad ones (a name outside the allowlist, "domains" of
  the wrong type): the 3 are issued, the 2 reported by key with the reason,
  exit 1 (a refused certificate, like a failed one);
- one item removed, one added: the next run issues the new one, does not
  renew the removed one and reports its secret "left in place" (not deleted);
  DomainListDynamoDbStore runs this with the certificates in a dynamodb:
  table (the removed item's bundle item found by a Scan of it);
- each item shows its state (docs/customer-domains.md#the-item-shows-the-state):
  "issued" and the certificate's notAfter, or "failed" and why; a plan
  writes nothing, a run writes only the items whose state changed;
- an item whose customer has not made the _acme-challenge CNAME shows
  "waiting for customer DNS" (no order), then "issued" once it exists;
- `renewer plan` and `renewer status` read the same list;
- an unreadable table (AccessDenied, throttled past retries, missing) fails
  the run before any order and touches no secret.

Run: BUILD_DIR=build /usr/bin/python3 -m unittest -v tests/e2e/test_domain_list.py
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import E2eCase, Stack, ZONE  # noqa: E402
from harness.moto import MotoServer  # noqa: E402

TABLE = "domains"
PREFIX = "customers/"
GOOD = {
    "shop": {"domains": {"L": [{"S": "shop." + ZONE}]}},
    "blog": {"domains": {"SS": ["blog." + ZONE, "www.blog." + ZONE]}, "key_type": {"S": "ec384"}},
    "wild": {"domains": {"L": [{"S": "*.wild." + ZONE}, {"S": "wild." + ZONE}]}},
}
BAD = {
    "elsewhere": ({"domains": {"L": [{"S": "shop.other.test"}]}}, "not in the allowlist"),
    "typo": ({"domains": {"S": "typo." + ZONE}}, "domains: expected SS or L of S, got S"),
}


class DomainListScenario:
    """The scenario (a mixin: unittest runs it only in the subclasses below,
    which say where the table lives)."""

    # Where the certificates go: the default store is LOCATION + "{name}".
    LOCATION = "aws-sm:" + PREFIX

    def table_endpoint(self):
        return None  # the fake's

    def setUp(self):
        self.stack = Stack.start(self.addCleanup)
        self.endpoint = self.table_endpoint() or self.stack.fake.endpoint
        self.ddb = self.ddb_client()
        self.ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        self.config = {
            "allow": ["." + ZONE],
            "certificates_from": "dynamodb:" + TABLE,
            "defaults": {"store": self.LOCATION + "{name}", "dns": self.stack.dns_config()},
        }

    def ddb_client(self):
        import botocore.session
        from botocore.config import Config
        fake = self.stack.fake
        session = botocore.session.Session()
        session.set_credentials(fake.access_key, fake.secret_key)
        return session.create_client("dynamodb", region_name=fake.region, endpoint_url=self.endpoint,
                                     config=Config(retries={"total_max_attempts": 1}))

    def env(self):
        return self.stack.env(AWS_ENDPOINT_URL_DYNAMODB=self.endpoint)

    def put(self, key, attributes):
        self.ddb.put_item(TableName=TABLE, Item=dict(attributes, id={"S": key}))

    def renewer(self, command="run", *args):
        return self.stack.renewer_config(command, self.config, *args, env=self.env())

    def bundle(self, key):
        secret = self.stack.secret(PREFIX + key)
        for version in secret["versions"].values():
            if "AWSCURRENT" in version["stages"]:
                return json.loads(version["string"])
        self.fail("no AWSCURRENT bundle for " + key)

    def item(self, key):
        return self.ddb.get_item(TableName=TABLE, Key={"id": {"S": key}}, ConsistentRead=True).get("Item")

    def state_writes(self):
        """UpdateItem calls on the domain list so far, where the fake holds it."""
        if self.endpoint != self.stack.fake.endpoint:
            return None
        return len([c for c in self.stack.fake.calls(action="UpdateItem")
                    if (c.get("params") or {}).get("TableName") == TABLE])

    def assert_shows(self, key, state, reason=None, not_after=None):
        item = self.item(key)
        self.assertEqual(item["renewer_state"]["S"], state, item)
        if reason is None:
            self.assertNotIn("renewer_reason", item)
        else:
            self.assertIn(reason, item["renewer_reason"]["S"])
        if not_after is not None:
            self.assertEqual(item["renewer_not_after"]["S"], not_after, item)
        self.assertRegex(item["renewer_updated"]["S"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def stored_keys(self):
        """The keys below LOCATION that hold a certificate."""
        names = (s.get("name", s.get("Name")) for s in self.stack.fake.secrets())
        return sorted(n[len(PREFIX):] for n in names if n.startswith(PREFIX))

    def test_issues_the_good_items_reports_the_bad_then_follows_the_list(self):
        for key, attributes in GOOD.items():
            self.put(key, attributes)
        for key, (attributes, _) in BAD.items():
            self.put(key, attributes)

        plan = self.renewer("plan")
        self.assertEqual(plan.rc, 1, plan.explain())
        self.assertEqual({k: v["outcome"] for k, v in plan.certs.items()},
                         {"shop": "due", "blog": "due", "wild": "due", "elsewhere": "failed", "typo": "failed"},
                         plan.explain())
        self.assertEqual(self.stack.orders(), 0)
        self.assertNotIn("renewer_state", self.item("shop"), "a plan wrote the item's state")

        first = self.renewer()
        self.assertEqual(first.rc, 1, first.explain())
        for key in GOOD:
            self.assertEqual(first.certs[key]["outcome"], "renewed", first.explain())
            self.assertEqual(first.certs[key]["store"], self.LOCATION + key)
        for key, (_, reason) in BAD.items():
            self.assertEqual(first.certs[key]["outcome"], "failed", first.explain())
            self.assertIn("refused by the domain list dynamodb:" + TABLE, first.certs[key]["reason"])
            self.assertIn(reason, first.certs[key]["reason"], first.explain())
        self.assertEqual(self.stack.orders(), 3)
        blog = self.bundle("blog")
        self.assertEqual(blog["domains"], ["blog." + ZONE, "www.blog." + ZONE])
        self.assertEqual(blog["key_type"], "ec384")
        self.assertEqual(self.bundle("wild")["domains"], ["*.wild." + ZONE, "wild." + ZONE])
        self.assertNotIn("elsewhere", self.stored_keys())
        for key in GOOD:
            self.assert_shows(key, "issued", not_after=first.certs[key]["not_after"])
        for key, (_, reason) in BAD.items():
            self.assert_shows(key, "failed", reason=reason)

        # The operator fixes nothing; a customer leaves, another arrives.
        self.ddb.delete_item(TableName=TABLE, Key={"id": {"S": "shop"}})
        self.put("news", {"domains": {"L": [{"S": "news." + ZONE}]}})
        writes_before = self.state_writes()
        second = self.renewer()
        self.assertEqual(second.rc, 1, second.explain())  # the two bad items are still there
        self.assert_shows("news", "issued", not_after=second.certs["news"]["not_after"])
        self.assertIsNone(self.item("shop"), "the removed item came back")
        if writes_before is not None:
            self.assertEqual(self.state_writes() - writes_before, 1, "only the new item's state changed")
        self.assertEqual(second.certs["news"]["outcome"], "renewed", second.explain())
        self.assertEqual(second.certs["blog"]["outcome"], "not due", second.explain())
        self.assertEqual(second.certs["wild"]["outcome"], "not due", second.explain())
        left = second.certs[self.LOCATION.split(":", 1)[1] + "shop"]
        self.assertEqual(left["outcome"], "left in place", second.explain())
        self.assertEqual(left["store"], self.LOCATION + "shop")
        self.assertEqual(self.stack.orders(), 4, "the removed item was renewed, or a kept one ordered again")
        self.assertIn("shop", self.stored_keys(), "the removed item's certificate was deleted")

        status = run_status(self)
        self.assertEqual(status.rc, 1, status.explain())
        ids = [json.loads(line)["certificate"] for line in status.stdout.splitlines() if line.startswith("{")]
        self.assertEqual(sorted(ids), ["blog", "news", "wild"], status.explain())
        self.assertIn("refused by the domain list", status.stderr, status.explain())

    def test_an_unreadable_table_fails_before_any_order(self):
        self.put("shop", GOOD["shop"])
        self.unreadable()
        before = len(self.stack.fake.calls(service="secretsmanager"))
        bad = self.renewer()
        self.assertEqual(bad.rc, 1, bad.explain())
        self.assertEqual(list(bad.certs), ["dynamodb:" + TABLE], bad.explain())
        self.assertIn("nothing was ordered and no store was touched", bad.certs["dynamodb:" + TABLE]["reason"])
        self.assertIn(self.unreadable_code, bad.certs["dynamodb:" + TABLE]["reason"], bad.explain())
        self.assertEqual(self.stack.orders(), 0)
        self.assertEqual(len(self.stack.fake.calls(service="secretsmanager")), before)

    unreadable_code = "ResourceNotFoundException"

    def unreadable(self):
        self.ddb.delete_table(TableName=TABLE)


def run_status(case):
    from e2e_common import RENEWER, run
    path = os.path.join(tempfile.mkdtemp(dir=case.stack.workdir, prefix="config-"), "renewer.json")
    with open(path, "w") as f:
        json.dump(case.config, f)
    return run([RENEWER, "status", "--config", path, "--json", *case.stack.acme_args("default")[:4],
                "--spool-dir", case.stack.spool], env=case.env(), timeout=120)


class DomainListFake(DomainListScenario, E2eCase):
    """The table in tests/fakeaws; its faults for the unreadable cases."""

    def test_access_denied(self):
        self.put("shop", GOOD["shop"])
        self.stack.fake.deny("Scan")
        self.check_unreadable("AccessDenied")

    def test_throttled_past_retries(self):
        self.put("shop", GOOD["shop"])
        self.stack.fake.fault("Scan", "throttle", count=1000)
        self.check_unreadable("ProvisionedThroughputExceededException")

    def check_unreadable(self, code):
        before = len(self.stack.fake.calls(service="secretsmanager"))
        bad = self.renewer()
        self.assertEqual(bad.rc, 1, bad.explain())
        self.assertEqual(list(bad.certs), ["dynamodb:" + TABLE], bad.explain())
        self.assertIn(code, bad.certs["dynamodb:" + TABLE]["reason"], bad.explain())
        self.assertEqual(self.stack.orders(), 0)
        self.assertEqual(len(self.stack.fake.calls(service="secretsmanager")), before)

    def test_an_item_waiting_for_customer_dns_shows_it_until_the_record_exists(self):
        # The customer's zone is served by the fake's DNS too, without the
        # _acme-challenge CNAME into ours at first (docs/customer-domains.md).
        customer_zone = self.stack.fake.create_zone("customer.test")
        name = "shop.customer.test"
        self.config["allow"].append(".customer.test")
        self.config["customer_dns_zone"] = ZONE
        self.put("shop", {"domains": {"L": [{"S": name}]}})
        waiting = self.renewer()
        self.assertEqual(waiting.rc, 0, waiting.explain())
        self.assertEqual(waiting.certs["shop"]["outcome"], "waiting for customer DNS", waiting.explain())
        self.assertEqual(self.stack.orders(), 0)
        self.assert_shows("shop", "waiting for customer DNS", reason="_acme-challenge." + name)

        self.stack.fake.put_records(customer_zone, [{
            "Name": "_acme-challenge.%s." % name, "Type": "CNAME", "TTL": 60,
            "Values": ["%s.%s." % (name, ZONE)]}])
        issued = self.renewer()
        self.assertEqual(issued.rc, 0, issued.explain())
        self.assertEqual(issued.certs["shop"]["outcome"], "renewed", issued.explain())
        self.assert_shows("shop", "issued", not_after=issued.certs["shop"]["not_after"])

    def test_pages_of_the_scan_are_all_read(self):
        # Over 1 MB of items: the fake (like DynamoDB) answers in pages.
        padding = "x" * (300 * 1024)
        for i in range(8):
            self.put("pad%d" % i, {"domains": {"L": [{"S": "pad%d.%s" % (i, ZONE)}]}, "notes": {"S": padding}})
        plan = self.renewer("plan")
        self.assertEqual(sorted(plan.certs), ["pad%d" % i for i in range(8)], plan.explain())
        scans = self.stack.fake.calls(action="Scan")
        self.assertGreaterEqual(len(scans), 2, "one page only: pagination not exercised")


class DomainListDynamoDbStore(DomainListScenario, E2eCase):
    """The scenario with the certificates in a dynamodb: table of the fake
    (docs/stores.md#listing-a-table) beside the domain list's."""

    CERT_TABLE = "certs-customers"
    LOCATION = "dynamodb:%s/%s" % (CERT_TABLE, PREFIX)

    def setUp(self):
        super().setUp()
        self.ddb.create_table(TableName=self.CERT_TABLE, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}])

    def bundle(self, key):
        item = self.ddb.get_item(TableName=self.CERT_TABLE, ConsistentRead=True,
                                 Key={"pk": {"S": PREFIX + key}, "sk": {"S": "bundle"}}).get("Item")
        if not item:
            self.fail("no bundle item for " + key)
        return json.loads(item["bundle"]["S"])

    def stored_keys(self):
        items = self.ddb.scan(TableName=self.CERT_TABLE)["Items"]
        return sorted(i["pk"]["S"][len(PREFIX):] for i in items
                      if i["sk"]["S"] == "bundle" and i["pk"]["S"].startswith(PREFIX))


class DomainListMoto(DomainListScenario, E2eCase):
    """The same scenario with the table in moto_server (a second opinion on
    the Scan and its pages); Route53 and Secrets Manager stay in the fake."""

    def table_endpoint(self):
        moto = MotoServer.find()
        if not moto:
            self.skipTest("moto_server is not on PATH: the domain list ran against tests/fakeaws only")
        logdir = tempfile.mkdtemp(prefix="moto-domains-")
        self.addCleanup(shutil.rmtree, logdir, True)
        endpoint = moto.start(logdir)
        self.addCleanup(moto.stop)
        return endpoint


if __name__ == "__main__":
    unittest.main(verbosity=2)
