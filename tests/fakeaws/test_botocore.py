"""The service rules in detail, driven in-process by botocore (the SDK the
AWS CLI is built on, so responses are parsed with the official models):
Route53's InvalidChangeBatch rules, limits, sorting and paging; Secrets
Manager's staging labels; DynamoDB's conditions, paging and batch reads; EC2 filters; refresh/rollout progress; STS."""

import os
import sys
import unittest
import warnings

from botocore.exceptions import ClientError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.fakeaws import FakeAws  # noqa: E402


def rrset(name, rtype, ttl, values):
    return {"Name": name, "Type": rtype, "TTL": ttl,
            "ResourceRecords": [{"Value": v} for v in values]}


def change(action, name, rtype, ttl, values):
    return {"Action": action, "ResourceRecordSet": rrset(name, rtype, ttl, values)}


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)  # botocore's pooled sockets
        cls.fake = FakeAws()
        cls.fake.start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()

    def error(self, fn, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        e = cm.exception.response
        return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


class Route53Rules(Base):
    def setUp(self):
        super().setUp()
        self.r53 = self.fake.client("route53")
        self.zid = self.r53.create_hosted_zone(Name="example.com", CallerReference="z1")[
            "HostedZone"]["Id"].split("/")[-1]

    def change(self, *changes, zid=None):
        return self.r53.change_resource_record_sets(
            HostedZoneId=zid or self.zid, ChangeBatch={"Changes": list(changes)})

    def sets(self, zid=None):
        out = self.r53.list_resource_record_sets(HostedZoneId=zid or self.zid)
        return {(s["Name"], s["Type"]): s for s in out["ResourceRecordSets"]}

    def batch_error(self, *changes):
        code, msg, status = self.error(self.r53.change_resource_record_sets,
                                       HostedZoneId=self.zid,
                                       ChangeBatch={"Changes": list(changes)})
        self.assertEqual((code, status), ("InvalidChangeBatch", 400), msg)
        return msg

    def test_zone_gets_soa_and_ns(self):
        s = self.sets()
        self.assertEqual(list(s), [("example.com.", "NS"), ("example.com.", "SOA")])
        self.assertEqual([r["Value"] for r in s[("example.com.", "NS")]["ResourceRecords"]],
                         ["ns1.example.com.", "ns2.example.com."])
        self.assertEqual(s[("example.com.", "SOA")]["TTL"], 900)

    def test_listing_order_and_paging_by_name(self):
        for i, n in enumerate(["b.example.com", "example.net", "a.example.org", "zz.com"]):
            self.r53.create_hosted_zone(Name=n, CallerReference=f"o{i}")
        self.r53.create_hosted_zone(Name="example.com", CallerReference="priv",
                                    VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-1"})
        out = self.r53.list_hosted_zones_by_name()
        names = [z["Name"] for z in out["HostedZones"]]
        self.assertEqual(names, ["example.com.", "example.com.", "b.example.com.",
                                 "zz.com.", "example.net.", "a.example.org."])
        page = self.r53.list_hosted_zones_by_name(DNSName="b.example.com", MaxItems="2")
        self.assertEqual([z["Name"] for z in page["HostedZones"]],
                         ["b.example.com.", "zz.com."])
        self.assertTrue(page["IsTruncated"])
        self.assertEqual(page["NextDNSName"], "example.net.")
        nxt = self.r53.list_hosted_zones_by_name(DNSName=page["NextDNSName"],
                                                 HostedZoneId=page["NextHostedZoneId"])
        self.assertEqual([z["Name"] for z in nxt["HostedZones"]],
                         ["example.net.", "a.example.org."])
        self.assertFalse(nxt["IsTruncated"])
        # ListHostedZones pages with a marker
        p1 = self.r53.list_hosted_zones(MaxItems="4")
        p2 = self.r53.list_hosted_zones(Marker=p1["NextMarker"])
        self.assertEqual(len(p1["HostedZones"]) + len(p2["HostedZones"]), 6)
        code, _, status = self.error(self.r53.list_hosted_zones_by_name, HostedZoneId="Z1")
        self.assertEqual((code, status), ("InvalidInput", 400))

    def test_private_and_public_same_name(self):
        priv = self.r53.create_hosted_zone(Name="example.com", CallerReference="p",
                                           VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-9"},
                                           HostedZoneConfig={"PrivateZone": True})
        pid = priv["HostedZone"]["Id"].split("/")[-1]
        self.assertNotEqual(pid, self.zid)
        self.change(change("CREATE", "x.example.com", "TXT", 60, ['"private"']), zid=pid)
        self.assertNotIn(("x.example.com.", "TXT"), self.sets())
        g = self.r53.get_hosted_zone(Id=pid)
        self.assertEqual(g["VPCs"], [{"VPCRegion": "us-east-1", "VPCId": "vpc-9"}])
        self.assertNotIn("DelegationSet", g)

    def test_create_exists_delete_mismatch_not_found(self):
        self.change(change("CREATE", "_acme-challenge.example.com", "TXT", 60, ['"a"', '"b"']))
        msg = self.batch_error(change("CREATE", "_acme-challenge.example.com.", "TXT", 60, ['"c"']))
        self.assertEqual(msg, "[Tried to create resource record set "
                              "[name='_acme-challenge.example.com.', type='TXT'] but it "
                              "already exists]")
        mism = ("[Tried to delete resource record set [name='_acme-challenge.example.com.', "
                "type='TXT'] but the values provided do not match the current values]")
        self.assertEqual(self.batch_error(change("DELETE", "_acme-challenge.example.com",
                                                 "TXT", 60, ['"a"'])), mism)
        self.assertEqual(self.batch_error(change("DELETE", "_acme-challenge.example.com",
                                                 "TXT", 300, ['"a"', '"b"'])), mism)
        self.assertEqual(self.batch_error(change("DELETE", "other.example.com", "TXT", 60,
                                                 ['"a"'])),
                         "[Tried to delete resource record set [name='other.example.com.', "
                         "type='TXT'] but it was not found]")
        # values in another order still match; names are case-insensitive
        self.change(change("DELETE", "_ACME-challenge.example.com", "TXT", 60, ['"b"', '"a"']))
        self.assertNotIn(("_acme-challenge.example.com.", "TXT"), self.sets())

    def test_batch_is_atomic_and_duplicates_rejected(self):
        msg = self.batch_error(change("CREATE", "new.example.com", "A", 60, ["192.0.2.1"]),
                               change("DELETE", "gone.example.com", "A", 60, ["192.0.2.1"]))
        self.assertIn("but it was not found", msg)
        self.assertNotIn(("new.example.com.", "A"), self.sets())
        msg = self.batch_error(change("UPSERT", "d.example.com", "TXT", 60, ['"1"']),
                               change("UPSERT", "d.example.com", "TXT", 60, ['"2"']))
        self.assertEqual(msg, "[The request contains an invalid set of changes for a "
                              "resource record set 'TXT d.example.com.']")
        # DELETE then CREATE of the same set in one batch is the classic replace
        self.change(change("CREATE", "r.example.com", "TXT", 60, ['"old"']))
        self.change(change("DELETE", "r.example.com", "TXT", 60, ['"old"']),
                    change("CREATE", "r.example.com", "TXT", 30, ['"new"']))
        s = self.sets()[("r.example.com.", "TXT")]
        self.assertEqual((s["TTL"], s["ResourceRecords"]), (30, [{"Value": '"new"'}]))

    def test_other_rules(self):
        self.assertIn("RRSet with DNS name a.example.org. is not permitted in zone example.com.",
                      self.batch_error(change("CREATE", "a.example.org", "TXT", 60, ['"x"'])))
        self.change(change("CREATE", "c.example.com", "CNAME", 60, ["t.example.com"]))
        self.assertIn("RRSet of type TXT with DNS name c.example.com. is not permitted because "
                      "a conflicting RRSet of type CNAME with the same DNS name already exists "
                      "in zone example.com.",
                      self.batch_error(change("CREATE", "c.example.com", "TXT", 60, ['"x"'])))
        self.assertIn("TXTRDATATooLong",
                      self.batch_error(change("CREATE", "l.example.com", "TXT", 60,
                                              ['"' + "x" * 256 + '"'])))
        self.change(change("CREATE", "l.example.com", "TXT", 60,
                           ['"' + "x" * 255 + '" "' + "y" * 255 + '"']))
        self.assertIn("ARRDATAIllegalIPv4Address",
                      self.batch_error(change("CREATE", "a.example.com", "A", 60, ["1.2.3"])))
        self.assertIn("A HostedZone must contain exactly one SOA record.",
                      self.batch_error({"Action": "DELETE",
                                        "ResourceRecordSet": self.sets()[("example.com.", "SOA")]}))
        code, msg, _ = self.error(self.r53.change_resource_record_sets, HostedZoneId=self.zid,
                                  ChangeBatch={"Changes": [{"Action": "CREATE",
                                                            "ResourceRecordSet": {
                                                                "Name": "n.example.com",
                                                                "Type": "TXT"}}]})
        self.assertEqual(code, "InvalidInput")

    def test_limits(self):
        vals = [f'"{i}"' for i in range(1001)]
        self.assertEqual(self.batch_error(change("CREATE", "m.example.com", "TXT", 60, vals)),
                         "Number of records limit of 1000 exceeded.")
        # UPSERT counts twice
        self.assertIn("limit of 1000", self.batch_error(
            change("UPSERT", "m.example.com", "TXT", 60, vals[:501])))
        self.change(change("UPSERT", "m.example.com", "TXT", 60, vals[:500]))
        big = ['"' + "v" * 250 + '"'] * 0 + [f'"{i:03d}' + "v" * 246 + '"' for i in range(129)]
        self.assertIn("32000", self.batch_error(change("CREATE", "big.example.com", "TXT", 60,
                                                       big)))

    def test_record_paging(self):
        for i in range(5):
            self.change(change("CREATE", f"h{i}.example.com", "TXT", 60, [f'"{i}"']))
        seen, kw = [], {}
        while True:
            out = self.r53.list_resource_record_sets(HostedZoneId=self.zid, MaxItems="2", **kw)
            seen += [(s["Name"], s["Type"]) for s in out["ResourceRecordSets"]]
            if not out["IsTruncated"]:
                break
            kw = {"StartRecordName": out["NextRecordName"],
                  "StartRecordType": out["NextRecordType"]}
        self.assertEqual(len(seen), 7)
        self.assertEqual(seen[:2], [("example.com.", "NS"), ("example.com.", "SOA")])
        out = self.r53.list_resource_record_sets(HostedZoneId=self.zid,
                                                 StartRecordName="h3.example.com")
        self.assertEqual(out["ResourceRecordSets"][0]["Name"], "h3.example.com.")

    def test_get_change_and_missing_things(self):
        cid = self.change(change("CREATE", "g.example.com", "TXT", 60, ['"g"']))["ChangeInfo"]["Id"]
        self.assertEqual(self.r53.get_change(Id=cid)["ChangeInfo"]["Status"], "INSYNC")
        code, _, status = self.error(self.r53.get_change, Id="CNOPE")
        self.assertEqual((code, status), ("NoSuchChange", 404))
        code, msg, status = self.error(self.r53.list_resource_record_sets, HostedZoneId="ZNOPE")
        self.assertEqual((code, msg, status),
                         ("NoSuchHostedZone", "No hosted zone found with ID: ZNOPE", 404))
        code, _, status = self.error(self.r53.create_hosted_zone, Name="dup.com",
                                     CallerReference="z1")
        self.assertEqual((code, status), ("HostedZoneAlreadyExists", 409))
        code, _, _ = self.error(self.r53.delete_hosted_zone, Id=self.zid)
        self.assertEqual(code, "HostedZoneNotEmpty") if self.sets().__len__() > 2 else None
        self.change(change("DELETE", "g.example.com", "TXT", 60, ['"g"']))
        self.r53.delete_hosted_zone(Id=self.zid)
        self.assertEqual(self.r53.list_hosted_zones()["HostedZones"], [])


class SecretsManagerRules(Base):
    def setUp(self):
        super().setUp()
        self.sm = self.fake.client("secretsmanager")

    def stages(self, name="s"):
        return self.sm.describe_secret(SecretId=name)["VersionIdsToStages"]

    def test_labels_move_like_aws(self):
        v = [self.sm.create_secret(Name="s", SecretString="1")["VersionId"]]
        for i in range(2, 5):
            v.append(self.sm.put_secret_value(SecretId="s", SecretString=str(i))["VersionId"])
            self.assertEqual(self.stages(), {v[-1]: ["AWSCURRENT"], v[-2]: ["AWSPREVIOUS"]})
        all_versions = self.sm.list_secret_version_ids(SecretId="s", IncludeDeprecated=True)
        self.assertEqual(len(all_versions["Versions"]), 4)
        self.assertEqual(len(self.sm.list_secret_version_ids(SecretId="s")["Versions"]), 2)
        self.assertEqual(self.sm.get_secret_value(SecretId="s", VersionId=v[0])["SecretString"], "1")
        code, msg, _ = self.error(self.sm.get_secret_value, SecretId="s", VersionId=v[0],
                                  VersionStage="AWSCURRENT")
        self.assertEqual(code, "ResourceNotFoundException")

    def test_idempotency_and_limits(self):
        arn = self.sm.create_secret(Name="s", SecretString="a", ClientRequestToken="t" * 32)["ARN"]
        again = self.sm.put_secret_value(SecretId="s", SecretString="a", ClientRequestToken="t" * 32)
        self.assertEqual(again["VersionId"], "t" * 32)
        code, msg, _ = self.error(self.sm.put_secret_value, SecretId="s", SecretString="b",
                                  ClientRequestToken="t" * 32)
        self.assertEqual(code, "ResourceExistsException")
        code, msg, _ = self.error(self.sm.create_secret, Name="s", SecretString="x")
        self.assertEqual((code, msg), ("ResourceExistsException",
                                       "The operation failed because the secret s already exists."))
        self.sm.put_secret_value(SecretId="s", SecretString="x" * 65536)
        code, msg, status = self.error(self.sm.put_secret_value, SecretId="s",
                                       SecretString="x" * 65537)
        self.assertEqual((code, status), ("ValidationException", 400))
        # partial ARN (without the random suffix) and full ARN both work
        self.assertEqual(self.sm.get_secret_value(SecretId=arn[:-7])["Name"], "s")
        self.assertEqual(self.sm.get_secret_value(SecretId=arn)["Name"], "s")

    def test_update_stage_and_tags(self):
        v1 = self.sm.create_secret(Name="u", SecretString="1",
                                   Tags=[{"Key": "a", "Value": "1"}])["VersionId"]
        v2 = self.sm.put_secret_value(SecretId="u", SecretString="2")["VersionId"]
        code, _, _ = self.error(self.sm.update_secret_version_stage, SecretId="u",
                                VersionStage="AWSCURRENT", MoveToVersionId=v1)
        self.assertEqual(code, "InvalidParameterException")   # must name the holder
        self.sm.update_secret_version_stage(SecretId="u", VersionStage="AWSCURRENT",
                                            MoveToVersionId=v1, RemoveFromVersionId=v2)
        self.assertEqual(self.stages("u"), {v1: ["AWSCURRENT"], v2: ["AWSPREVIOUS"]})
        self.assertEqual(self.sm.get_secret_value(SecretId="u")["SecretString"], "1")
        self.sm.update_secret_version_stage(SecretId="u", VersionStage="custom",
                                            MoveToVersionId=v2)
        self.assertEqual(self.stages("u")[v2], ["AWSPREVIOUS", "custom"])
        self.sm.tag_resource(SecretId="u", Tags=[{"Key": "a", "Value": "2"},
                                                 {"Key": "b", "Value": "3"}])
        self.assertEqual(self.sm.describe_secret(SecretId="u")["Tags"],
                         [{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}])

    def test_deleted_secret(self):
        self.sm.create_secret(Name="d", SecretString="a")
        self.sm.delete_secret(SecretId="d", RecoveryWindowInDays=7)
        code, _, _ = self.error(self.sm.get_secret_value, SecretId="d")
        self.assertEqual(code, "InvalidRequestException")
        self.assertIn("DeletedDate", self.sm.describe_secret(SecretId="d"))
        code, _, _ = self.error(self.sm.describe_secret, SecretId="nope")
        self.assertEqual(code, "ResourceNotFoundException")

    def test_list_secrets_name_filter_and_pages(self):
        # botocore's own paginator over the fake (certfetch --all's listing).
        for i in range(7):
            self.sm.create_secret(Name="fleet/c%d" % i, SecretString="x")
        self.sm.create_secret(Name="other/c", SecretString="x")
        pages = list(self.sm.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": ["fleet/"]}], PaginationConfig={"PageSize": 3}))
        self.assertEqual([len(p["SecretList"]) for p in pages], [3, 3, 1])
        self.assertEqual(sorted(s["Name"] for p in pages for s in p["SecretList"]),
                         ["fleet/c%d" % i for i in range(7)])
        negated = self.sm.list_secrets(Filters=[{"Key": "name", "Values": ["!fleet/"]}])
        self.assertEqual([s["Name"] for s in negated["SecretList"]], ["other/c"])
        code, _, _ = self.error(self.sm.list_secrets, NextToken="not-a-token")
        self.assertEqual(code, "InvalidNextTokenException")


class DynamoDbRules(Base):
    """DynamoDB's rules as its API reference states them: conditions,
    update expressions, paging, batch reads, the 400 KB limit."""

    def setUp(self):
        super().setUp()
        self.ddb = self.fake.client("dynamodb")
        self.ddb.create_table(TableName="tab", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}])

    def put(self, pk, sk, **attrs):
        item = {"pk": {"S": pk}, "sk": {"S": sk}}
        item.update(attrs)
        self.ddb.put_item(TableName="tab", Item=item)

    def test_table_lifecycle(self):
        d = self.ddb.describe_table(TableName="tab")["Table"]
        self.assertEqual(d["TableStatus"], "ACTIVE")
        self.assertEqual(d["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST")
        code, msg, _ = self.error(self.ddb.create_table, TableName="tab",
                                  BillingMode="PAY_PER_REQUEST",
                                  AttributeDefinitions=[{"AttributeName": "pk",
                                                         "AttributeType": "S"}],
                                  KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        self.assertEqual((code, msg), ("ResourceInUseException", "Table already exists: tab"))
        code, msg, _ = self.error(self.ddb.describe_table, TableName="nope")
        self.assertEqual((code, msg), ("ResourceNotFoundException",
                                       "Requested resource not found: Table: nope not found"))
        code, msg, _ = self.error(self.ddb.get_item, TableName="nope",
                                  Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
        self.assertEqual((code, msg), ("ResourceNotFoundException", "Requested resource not found"))
        self.assertEqual(self.ddb.list_tables()["TableNames"], ["tab"])

    def test_conditions(self):
        put = dict(TableName="tab", Item={"pk": {"S": "a"}, "sk": {"S": "lease"},
                                        "tok": {"S": "1"}, "exp": {"N": "100"}},
                   ConditionExpression="attribute_not_exists(#t) OR #e < :now",
                   ExpressionAttributeNames={"#t": "tok", "#e": "exp"},
                   ExpressionAttributeValues={":now": {"N": "50"}})
        self.ddb.put_item(**put)
        code, msg, status = self.error(self.ddb.put_item, **put)
        self.assertEqual((code, msg, status),
                         ("ConditionalCheckFailedException", "The conditional request failed", 400))
        put["ExpressionAttributeValues"] = {":now": {"N": "101"}}
        self.ddb.put_item(**put)   # expired: taken over
        key = {"pk": {"S": "a"}, "sk": {"S": "lease"}}
        for expr, values, want in (
                ("#t = :v AND NOT (#e > :n)", {":v": {"S": "1"}, ":n": {"N": "100"}}, True),
                ("#t = :v AND #e >= :n", {":v": {"S": "1"}, ":n": {"N": "101"}}, False),
                ("#t <> :v OR #e <= :n", {":v": {"S": "1"}, ":n": {"N": "99"}}, False),
                ("#e BETWEEN :a AND :b", {":a": {"N": "99"}, ":b": {"N": "100"}}, True),
                ("#t IN (:a, :b)", {":a": {"S": "0"}, ":b": {"S": "1"}}, True),
                ("begins_with(#t, :a) AND size(#t) = :b", {":a": {"S": "1"}, ":b": {"N": "1"}},
                 True)):
            names = {"#t": "tok", "#e": "exp"}
            names = {k: v for k, v in names.items() if k in expr}
            args = dict(TableName="tab", Key=key, ConditionExpression=expr,
                        ExpressionAttributeNames=names, ExpressionAttributeValues=values)
            if want:
                self.ddb.delete_item(**args)
                self.ddb.put_item(TableName="tab", Item={"pk": {"S": "a"}, "sk": {"S": "lease"},
                                                      "tok": {"S": "1"}, "exp": {"N": "100"}})
            else:
                self.assertEqual(self.error(self.ddb.delete_item, **args)[0],
                                 "ConditionalCheckFailedException", expr)

    def test_expression_errors(self):
        key = {"pk": {"S": "a"}, "sk": {"S": "b"}}
        cases = [
            (dict(ConditionExpression="attribute_exists(#x)", ExpressionAttributeValues={
                ":unused": {"S": "x"}}, ExpressionAttributeNames={"#x": "x"}),
             "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"),
            (dict(ConditionExpression="attribute_exists(#x)"),
             "Invalid ConditionExpression: An expression attribute name used in the document "
             "path is not defined; attribute name: #x"),
            (dict(ConditionExpression="attribute_exists(name)"),
             "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved "
             "keyword: name"),
            (dict(ConditionExpression="a = :v"),
             "Invalid ConditionExpression: An expression attribute value used in expression is "
             "not defined; attribute value: :v"),
        ]
        for extra, want in cases:
            code, msg, _ = self.error(self.ddb.delete_item, TableName="tab", Key=key, **extra)
            self.assertEqual((code, msg), ("ValidationException", want))
        code, msg, _ = self.error(self.ddb.get_item, TableName="tab", Key={"pk": {"S": "a"}})
        self.assertEqual((code, msg), ("ValidationException",
                                       "The provided key element does not match the schema"))

    def test_update_expression(self):
        key = {"pk": {"S": "c"}, "sk": {"S": "bundle"}}
        self.put("c", "bundle", cur={"S": "v1"}, n={"N": "1"})
        out = self.ddb.update_item(
            TableName="tab", Key=key, ReturnValues="ALL_NEW",
            UpdateExpression="SET #p = #c, #c = :new, #n = #n + :one, #f = if_not_exists(#f, :z) "
                             "REMOVE #gone",
            ConditionExpression="#n = :one",
            ExpressionAttributeNames={"#p": "prev", "#c": "cur", "#n": "n", "#f": "first",
                                      "#gone": "gone"},
            ExpressionAttributeValues={":new": {"S": "v2"}, ":one": {"N": "1"},
                                       ":z": {"S": "z"}})["Attributes"]
        self.assertEqual(out["prev"], {"S": "v1"})
        self.assertEqual(out["cur"], {"S": "v2"})
        self.assertEqual(out["n"], {"N": "2"})
        self.assertEqual(out["first"], {"S": "z"})
        code, msg, _ = self.error(self.ddb.update_item, TableName="tab", Key=key,
                                  UpdateExpression="SET #k = :v",
                                  ExpressionAttributeNames={"#k": "pk"},
                                  ExpressionAttributeValues={":v": {"S": "x"}})
        self.assertEqual(code, "ValidationException")
        self.assertIn("This attribute is part of the key", msg)

    def test_item_size_limit(self):
        big = "x" * (400 * 1024 - 100)
        self.put("s", "ok", v={"S": big[:-50]})
        code, msg, _ = self.error(self.ddb.put_item, TableName="tab",
                                  Item={"pk": {"S": "s"}, "sk": {"S": "big"}, "v": {"S": big + "y" * 200}})
        self.assertEqual((code, msg), ("ValidationException",
                                       "Item size has exceeded the maximum allowed size"))

    def test_query_scan_paging(self):
        for i in range(7):
            self.put("p", f"k{i}", v={"N": str(i)})
        self.put("q", "k0", v={"N": "0"})
        seen, start, pages = [], None, 0
        while True:
            kw = {"ExclusiveStartKey": start} if start else {}
            page = self.ddb.query(TableName="tab", KeyConditionExpression="pk = :p AND sk > :s",
                                  ExpressionAttributeValues={":p": {"S": "p"}, ":s": {"S": "k0"}},
                                  Limit=2, ConsistentRead=True, **kw)
            pages += 1
            seen += [i["sk"]["S"] for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        self.assertEqual(seen, [f"k{i}" for i in range(1, 7)])
        self.assertEqual(pages, 3)
        back = self.ddb.query(TableName="tab", KeyConditionExpression="pk = :p AND begins_with(sk, :k)",
                              ExpressionAttributeValues={":p": {"S": "p"}, ":k": {"S": "k"}},
                              ScanIndexForward=False, Limit=1)
        self.assertEqual(back["Items"][0]["sk"]["S"], "k6")
        paginator = self.ddb.get_paginator("scan")
        items = [i for page in paginator.paginate(TableName="tab", PaginationConfig={"PageSize": 3},
                                                   FilterExpression="#v >= :two",
                                                   ExpressionAttributeNames={"#v": "v"},
                                                   ExpressionAttributeValues={":two": {"N": "2"}})
                 for i in page["Items"]]
        self.assertEqual(len(items), 5)
        count = self.ddb.scan(TableName="tab", Select="COUNT")
        self.assertEqual((count["Count"], count["ScannedCount"]), (8, 8))

    def test_batch_get_unprocessed_and_throttling(self):
        for i in range(10):
            self.put("b", f"k{i}")
        keys = [{"pk": {"S": "b"}, "sk": {"S": f"k{i}"}} for i in range(10)]
        keys.append({"pk": {"S": "b"}, "sk": {"S": "missing"}})
        self.fake.control("POST", "faults", {"action": "BatchGetItem", "kind": "unprocessed",
                                             "share": 0.5, "count": 1})
        got = self.ddb.batch_get_item(RequestItems={"tab": {"Keys": keys, "ConsistentRead": True}})
        left = got["UnprocessedKeys"]["tab"]["Keys"]
        self.assertEqual(len(left), 5)
        self.assertTrue(got["UnprocessedKeys"]["tab"]["ConsistentRead"])
        again = self.ddb.batch_get_item(RequestItems={"tab": {"Keys": left}})
        self.assertEqual(again["UnprocessedKeys"], {})
        self.assertEqual(len(got["Responses"]["tab"]) + len(again["Responses"]["tab"]), 10)
        self.fake.control("POST", "faults", {"action": "BatchGetItem", "kind": "unprocessed",
                                             "share": 1, "count": 1})
        code, _, status = self.error(self.ddb.batch_get_item, RequestItems={"tab": {"Keys": keys}})
        self.assertEqual((code, status), ("ProvisionedThroughputExceededException", 400))
        self.fake.fault("PutItem", "throttle", count=1)
        code, _, _ = self.error(self.ddb.put_item, TableName="tab",
                                Item={"pk": {"S": "x"}, "sk": {"S": "y"}})
        self.assertEqual(code, "ProvisionedThroughputExceededException")
        self.fake.fault("GetItem", "error500", count=1)
        code, _, status = self.error(self.ddb.get_item, TableName="tab", Key=keys[0])
        self.assertEqual((code, status), ("InternalServerError", 500))
        too_many = [{"pk": {"S": "b"}, "sk": {"S": f"n{i}"}} for i in range(101)]
        code, msg, _ = self.error(self.ddb.batch_get_item, RequestItems={"tab": {"Keys": too_many}})
        self.assertEqual((code, msg), ("ValidationException",
                                       "Too many items requested for the BatchGetItem call"))


class Ec2AsgEcsSts(Base):
    def test_ec2_filters(self):
        a = self.fake.seed_instances(count=2, tags={"Role": "web-1", "App": "x"})
        b = self.fake.seed_instances(count=1, tags={"Role": "web-2"})
        ec2 = self.fake.client("ec2")

        def ids(**kw):
            return sorted(i["InstanceId"] for r in ec2.describe_instances(**kw)["Reservations"]
                          for i in r["Instances"])
        self.assertEqual(ids(Filters=[{"Name": "tag:Role", "Values": ["web-*"]}]), sorted(a + b))
        self.assertEqual(ids(Filters=[{"Name": "tag:Role", "Values": ["web-2", "none"]}]), b)
        self.assertEqual(ids(Filters=[{"Name": "tag-key", "Values": ["App"]}]), sorted(a))
        self.assertEqual(ids(Filters=[{"Name": "tag-value", "Values": ["web-2"]}]), b)
        self.assertEqual(ids(InstanceIds=[a[0]]), [a[0]])
        code, msg, _ = self.error(ec2.describe_instances, InstanceIds=["i-0123456789abcdef0"])
        self.assertEqual((code, msg), ("InvalidInstanceID.NotFound",
                                       "The instance ID 'i-0123456789abcdef0' does not exist"))
        code, _, status = self.error(ec2.terminate_instances, InstanceIds=[a[0]], DryRun=True)
        self.assertEqual((code, status), ("DryRunOperation", 412))
        ec2.terminate_instances(InstanceIds=[a[0]])
        self.fake.wait_for(lambda: ids(Filters=[{"Name": "instance-state-name",
                                                 "Values": ["terminated"]}]) == [a[0]],
                           what="instance terminated")

    def test_asg_refresh_completes_and_replaces(self):
        g = self.fake.seed_asg("g", size=2, refresh_seconds=0.5)
        asg = self.fake.client("autoscaling")
        rid = asg.start_instance_refresh(AutoScalingGroupName="g",
                                         Preferences={"MinHealthyPercentage": 50})["InstanceRefreshId"]
        code, msg, _ = self.error(asg.start_instance_refresh, AutoScalingGroupName="g")
        self.assertEqual(code, "InstanceRefreshInProgress")

        def status():
            r = asg.describe_instance_refreshes(AutoScalingGroupName="g")["InstanceRefreshes"][0]
            return r["InstanceRefreshId"] == rid and r["Status"] == "Successful"
        self.fake.wait_for(status, what="refresh Successful")
        now = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["g"])["AutoScalingGroups"][0]
        new_ids = [i["InstanceId"] for i in now["Instances"]]
        self.assertEqual(len(new_ids), 2)
        self.assertFalse(set(new_ids) & set(g["instances"]))
        asg.start_instance_refresh(AutoScalingGroupName="g")  # no longer blocked

    def test_terminated_asg_instance_respawns(self):
        g = self.fake.seed_asg("tier", size=1, tags={"Role": "tier"})
        ec2 = self.fake.client("ec2")
        ec2.terminate_instances(InstanceIds=g["instances"])
        running = self.fake.wait_for(lambda: [
            i for r in ec2.describe_instances(Filters=[
                {"Name": "tag:Role", "Values": ["tier"]},
                {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
            for i in r["Instances"]], what="replacement running")
        self.assertNotEqual(running[0]["InstanceId"], g["instances"][0])

    def test_ecs_rollout(self):
        self.fake.seed_ecs_service("c", "s", rollout_seconds=0.3)
        ecs = self.fake.client("ecs")
        out = ecs.update_service(cluster="c", service="s", forceNewDeployment=True)
        self.assertEqual(len(out["service"]["deployments"]), 2)
        self.fake.wait_for(lambda: ecs.describe_services(cluster="c", services=["s"])[
            "services"][0]["deployments"][0]["rolloutState"] == "COMPLETED", what="rollout")
        code, _, _ = self.error(ecs.update_service, cluster="nope", service="s")
        self.assertEqual(code, "ClusterNotFoundException")

    def test_web_identity(self):
        import base64
        import json
        from botocore import UNSIGNED
        from botocore.config import Config
        import botocore.session
        sts = botocore.session.Session().create_client(
            "sts", region_name="us-east-1", endpoint_url=self.fake.endpoint,
            config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}))
        claims = base64.urlsafe_b64encode(json.dumps(
            {"sub": "repo:o/r:ref:refs/heads/main", "aud": "sts.amazonaws.com",
             "iss": "https://token.actions.githubusercontent.com"}).encode()).decode().rstrip("=")
        out = sts.assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/gha", RoleSessionName="gha",
            WebIdentityToken=f"eyJhbGciOiJSUzI1NiJ9.{claims}.c2ln")
        self.assertEqual(out["SubjectFromWebIdentityToken"], "repo:o/r:ref:refs/heads/main")
        self.assertEqual(out["Provider"], "https://token.actions.githubusercontent.com")
        c = out["Credentials"]
        ec2 = self.fake.client("ec2", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        ec2.describe_instances()
        code, _, status = self.error(sts.assume_role_with_web_identity,
                                     RoleArn="arn:aws:iam::123456789012:role/gha",
                                     RoleSessionName="gha", WebIdentityToken="opaque-token")
        self.assertEqual((code, status), ("InvalidIdentityToken", 400))
        # unsigned calls of other actions are refused
        code, _, status = self.error(sts.get_caller_identity)
        self.assertEqual((code, status), ("MissingAuthenticationToken", 403))

    def test_sts_temporary_credentials(self):
        sts = self.fake.client("sts")
        role = "arn:aws:iam::123456789012:role/r"
        self.fake.set_role(role, external_id="ext-1")
        code, msg, status = self.error(sts.assume_role, RoleArn=role, RoleSessionName="ss")
        self.assertEqual((code, status), ("AccessDenied", 403))
        c = sts.assume_role(RoleArn=role, RoleSessionName="ss", ExternalId="ext-1",
                            DurationSeconds=900)["Credentials"]
        temp = self.fake.client("sts", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        self.assertIn("assumed-role/r/ss", temp.get_caller_identity()["Arn"])
        sm = self.fake.client("secretsmanager", c["AccessKeyId"], c["SecretAccessKey"], "bad")
        code, _, _ = self.error(sm.list_secrets)
        self.assertEqual(code, "UnrecognizedClientException")
        self.fake.expire_credentials(c["AccessKeyId"])
        code, _, status = self.error(temp.get_caller_identity)
        self.assertEqual((code, status), ("ExpiredToken", 403))
        sm = self.fake.client("secretsmanager", c["AccessKeyId"], c["SecretAccessKey"],
                              c["SessionToken"])
        code, _, _ = self.error(sm.list_secrets)
        self.assertEqual(code, "ExpiredTokenException")


if __name__ == "__main__":
    unittest.main()
