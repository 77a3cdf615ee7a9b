#!/usr/bin/python3
"""A run over many certificates in a DynamoDB store reads them in batches
(docs/stores.md#reading-many-certificates): the real renewer against Pebble
and tests/fakeaws, the fake's call log counting the calls.

One certificate is issued into dynamodb:TABLE/c0000 and its bundle item
copied to the other keys (same names, distinct keys), so a run over them
finds nothing due without ordering anything.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from e2e_common import E2eCase, Stack, ZONE  # noqa: E402

READ_AHEAD_TABLE = "fleet-certs"
READ_AHEAD_COUNT = 250


def cert_key(i):
    return "c%04d" % i


class DynamoDbReadAhead(E2eCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = Stack.start_for(cls)
        cls.ddb = cls.stack.fake.client("dynamodb")
        cls.ddb.create_table(TableName=READ_AHEAD_TABLE, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": "sk", "KeyType": "RANGE"}])
        cls.domain = "fleet." + ZONE
        r = cls.stack.renewer("run", "-d", cls.domain, "--store",
                              "dynamodb:%s/%s" % (READ_AHEAD_TABLE, cert_key(0)), account="fleet")
        if r.rc != 0:
            raise AssertionError("the first certificate was not issued" + r.explain())
        item = cls.ddb.get_item(TableName=READ_AHEAD_TABLE,
                                Key={"pk": {"S": cert_key(0)}, "sk": {"S": "bundle"}})["Item"]
        cls.serial = item["serial"]["S"]
        for i in range(1, READ_AHEAD_COUNT):
            cls.ddb.put_item(TableName=READ_AHEAD_TABLE, Item=dict(item, pk={"S": cert_key(i)}))

    def setUp(self):
        self.stack.fake.clear_faults()
        self.stack.fake.clear_calls()

    def config(self, keys):
        return {"defaults": {"dns": self.stack.dns_config(),
                             "store": "dynamodb:%s/{name}" % READ_AHEAD_TABLE},
                "certificates": [{"name": k, "domains": [self.domain]} for k in keys]}

    def run_over(self, keys, command="run"):
        r = self.stack.renewer_config(command, self.config(keys), account="fleet", timeout=300)
        calls = self.stack.fake.calls(service="dynamodb")
        return r, calls

    def assert_all_not_due(self, r, count):
        certs = r.certs
        self.assertEqual(len(certs), count, r.explain())
        wrong = {k: (c["outcome"], c.get("serial")) for k, c in certs.items()
                 if c["outcome"] != "not due" or c.get("serial") != self.serial}
        self.assertEqual(wrong, {}, r.explain())

    def test_nothing_due_reads_in_batches(self):
        keys = [cert_key(i) for i in range(READ_AHEAD_COUNT)]
        r, calls = self.run_over(keys)
        self.assertEqual(r.rc, 0, r.explain())
        self.assert_all_not_due(r, READ_AHEAD_COUNT)
        actions = [c["action"] for c in calls]
        # 250 bundle items, 100 a call; no item read alone (no replacement
        # target: no replacement-owed note to read either).
        self.assertLessEqual(actions.count("BatchGetItem"), 3, actions[:20])
        self.assertEqual(actions.count("GetItem"), 0, "items read one by one")

    def test_unprocessed_keys_are_asked_again(self):
        # DynamoDB answers part of a batch when a partition throttles; the
        # rest comes back in UnprocessedKeys for the next call.
        self.stack.fake.control("POST", "faults", {"action": "BatchGetItem", "kind": "unprocessed",
                                                   "service": "dynamodb", "share": 0.5, "count": 3})
        keys = [cert_key(i) for i in range(READ_AHEAD_COUNT)]
        r, calls = self.run_over(keys)
        self.assertEqual(r.rc, 0, r.explain())
        self.assert_all_not_due(r, READ_AHEAD_COUNT)
        batches = [c for c in calls if c["action"] == "BatchGetItem"]
        self.assertGreater(sum(c["params"].get("unprocessed") or 0 for c in batches), 0,
                           "the fault left no key unprocessed: the test proves nothing")
        self.assertEqual(sum(c["action"] == "GetItem" for c in calls), 0,
                         "unprocessed keys were read one by one instead of asked again")

    def test_results_match_reads_one_by_one(self):
        # A corrupted bundle and a key without any item, among good ones: the
        # read ahead must give each certificate what its own GetItem gives,
        # errors named by the certificate's key.
        self.ddb.put_item(TableName=READ_AHEAD_TABLE,
                          Item={"pk": {"S": "corrupt"}, "sk": {"S": "bundle"}, "bundle": {"S": "{not json"},
                                "version": {"N": "1"}})
        keys = [cert_key(i) for i in range(120)] + ["corrupt", "absent"]
        batched, calls = self.run_over(keys, command="plan")
        self.assertEqual(sum(c["action"] == "GetItem" for c in calls), 0, "items read one by one")
        self.stack.fake.fault("BatchGetItem", "error500", service="dynamodb")
        one_by_one, calls = self.run_over(keys, command="plan")
        self.assertEqual(sum(c["action"] == "GetItem" for c in calls), len(keys),
                         "with the batch read failing, each certificate is read by itself")

        def outcomes(r):
            return {k: (c["outcome"], c.get("serial"), c["reason"] if c["outcome"] != "not due" else "")
                    for k, c in r.certs.items()}

        self.assertEqual(outcomes(batched), outcomes(one_by_one), batched.explain() + one_by_one.explain())
        corrupt = batched.certs["corrupt"]
        self.assertEqual(corrupt["outcome"], "due", batched.explain())
        self.assertIn("dynamodb:%s/corrupt" % READ_AHEAD_TABLE, batched.stderr)
        self.assertEqual(batched.certs["absent"]["outcome"], "due", batched.explain())


if __name__ == "__main__":
    unittest.main()
