#!/usr/bin/python3
"""A run where nothing is due, over N certificates kept in a DynamoDB table
(tests/fakeaws): the store figure of a customer-domain fleet
(docs/stores.md#reading-many-certificates; target: under 2 s for 1,000).

One certificate is issued by the real renewer against Pebble into
dynamodb:bench-certs/c0000, its bundle item copied to c0001..c{N-1} (same
names, distinct keys), then `renewer run --config` with N certificates is
timed. Prints one FIGURE line with the wall time, the DynamoDB calls and
the time the store reads took in the fake's call log, and one COST line:
the read request units of the run (a strongly consistent read is one unit
per 4 KB of each item, BatchGetItem counting each item as its own read) and
what hourly and daily runs cost a month at $0.25 per million units.

  BUILD_DIR=build SOURCE_DIR=. PYTHONPATH=tests /usr/bin/python3 bench/dynamodb_nothing_due.py [N]
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

from e2e_common import Stack, ZONE  # noqa: E402

TABLE = "bench-certs"


def item_bytes(item):
    """DynamoDB's size of an item of S and N attributes ("Item sizes and
    formats"): names plus values (a number: about its digits / 2 + 1)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += len(value["N"]) // 2 + 1
    return size


def read_units(size):
    return max(1, -(-size // 4096))  # strongly consistent: 1 unit per 4 KB, rounded up per item


def print_cost(count, item, getitems):
    """The run reads each certificate's bundle item once (BatchGetItem); a
    renewed certificate's item also holds the previous bundle."""
    size = item_bytes(item)
    renewed = size + len("previous") + len(item["bundle"]["S"].encode())
    for label, nbytes in (("first bundle", size), ("with previous", renewed)):
        units = read_units(nbytes)
        per_run = count * units + getitems
        print("COST dynamodb-nothing-due: %d certificates, item (%s) %d bytes = %d read units; %d units a run; "
              "hourly %.2f M units = $%.3f/month, daily %.3f M units = $%.4f/month"
              % (count, label, nbytes, units, per_run, per_run * 720 / 1e6, per_run * 720 * 0.25 / 1e6,
                 per_run * 30 / 1e6, per_run * 30 * 0.25 / 1e6), flush=True)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    cleanups = []
    try:
        stack = Stack.start(lambda fn, *a: cleanups.append((fn, a)))
        ddb = stack.fake.client("dynamodb")
        ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}])
        name = "bench." + ZONE
        r = stack.renewer("run", "-d", name, "--store", "dynamodb:%s/c0000" % TABLE, account="bench")
        if r.rc != 0:
            raise SystemExit("the first certificate was not issued:\n" + r.stderr[-3000:])
        item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "c0000"}, "sk": {"S": "bundle"}})["Item"]
        for i in range(1, count):
            copy = dict(item, pk={"S": "c%04d" % i})
            ddb.put_item(TableName=TABLE, Item=copy)
        config = {"defaults": {"dns": stack.dns_config(), "store": "dynamodb:%s/{name}" % TABLE},
                  "certificates": [{"name": "c%04d" % i, "domains": [name]} for i in range(count)]}
        stack.fake.clear_calls()
        started = time.monotonic()
        r = stack.renewer_config("run", config, account="bench", timeout=600)
        took = time.monotonic() - started
        calls = stack.fake.calls(service="dynamodb")
        outcomes = {}
        for line in r.stdout.splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            listed = obj.get("certificates")
            for c in listed if isinstance(listed, list) else []:
                outcomes[c.get("outcome")] = outcomes.get(c.get("outcome"), 0) + 1
            if "outcome" in obj and "certificate" in obj:
                outcomes[obj["outcome"]] = outcomes.get(obj["outcome"], 0) + 1
        reads = [c for c in calls if c["action"] in ("GetItem", "BatchGetItem")]
        span = (max(c["time"] for c in reads) - min(c["time"] for c in reads)) if reads else 0.0
        print("FIGURE dynamodb-nothing-due: %d certificates, rc %d, outcomes %s, run %.2f s; %d DynamoDB calls "
              "(%d GetItem, %d BatchGetItem), store reads spanning %.2f s"
              % (count, r.rc, outcomes, took, len(calls), sum(c["action"] == "GetItem" for c in calls),
                 sum(c["action"] == "BatchGetItem" for c in calls), span), flush=True)
        print_cost(count, item, sum(c["action"] == "GetItem" for c in calls))
        if r.rc != 0:
            print(r.stderr[-3000:])
    finally:
        for fn, args in reversed(cleanups):
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - best effort
                print("cleanup: %s" % e, file=sys.stderr)


if __name__ == "__main__":
    main()
