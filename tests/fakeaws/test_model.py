"""Every element / key the fake puts in a successful answer exists in the
service's botocore model at that place, with the model's spelling.

Clients (ours included) read answers by element name; a misspelt or
misplaced element would be silently ignored by a lenient parser and make a
client look right against the fake but wrong against AWS."""

import base64
import json
import os
import sys
import unittest
import warnings
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.fakeaws import FakeAws  # noqa: E402


def _local(tag):
    return tag.split("}", 1)[1] if "}" in tag else tag


def _member_name(name, shape, protocol):
    ser = shape.serialization
    if protocol == "ec2":
        return ser.get("name") or (name[:1].lower() + name[1:])
    return ser.get("name", name)


def check_xml(elem, shape, protocol, path, problems):
    if shape.type_name == "structure":
        names = {_member_name(n, s, protocol): s for n, s in shape.members.items()}
        for child in elem:
            tag = _local(child.tag)
            if tag not in names:
                problems.append(f"{path}/{tag}: not in {shape.name} ({sorted(names)})")
                continue
            check_xml(child, names[tag], protocol, f"{path}/{tag}", problems)
    elif shape.type_name == "list":
        member = shape.member
        want = member.serialization.get("name") or (
            "item" if protocol == "ec2" else "member")
        if shape.serialization.get("flattened"):
            return
        for child in elem:
            tag = _local(child.tag)
            if tag != want:
                problems.append(f"{path}/{tag}: list {shape.name} wants <{want}>")
                continue
            check_xml(child, member, protocol, f"{path}/{tag}", problems)
    elif shape.type_name == "map":
        return
    else:
        if len(elem):
            problems.append(f"{path}: scalar {shape.name} has children")


def check_json(value, shape, path, problems):
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: {shape.name} is not an object")
            return
        for k, v in value.items():
            if k not in shape.members:
                problems.append(f"{path}.{k}: not in {shape.name} ({sorted(shape.members)})")
                continue
            check_json(v, shape.members[k], f"{path}.{k}", problems)
    elif shape.type_name == "list":
        for i, v in enumerate(value):
            check_json(v, shape.member, f"{path}[{i}]", problems)
    elif shape.type_name == "map":
        for k, v in value.items():
            check_json(v, shape.value, f"{path}.{k}", problems)
    elif shape.type_name == "timestamp":
        if not isinstance(value, (int, float)):
            problems.append(f"{path}: timestamp should be epoch seconds, got {value!r}")


class ModelConformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        warnings.simplefilter("ignore", ResourceWarning)
        cls.fake = FakeAws()
        cls.fake.start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def watch(self, client):
        problems, seen = self.problems, self.seen
        model = client.meta.service_model

        def on_response(event_name=None, response_dict=None, **kw):
            if response_dict is None or response_dict["status_code"] >= 300:
                return
            operation_model = model.operation_model(event_name.rsplit(".", 1)[1])
            seen.add(operation_model.name)
            body = response_dict["body"]
            out = operation_model.output_shape
            proto = model.protocol
            where = operation_model.name
            if out is None or not body:
                return
            if proto == "json":
                check_json(json.loads(body), out, where, problems)
                return
            root = ET.fromstring(body)
            if proto == "query":
                root = root.find(f"{{*}}{operation_model.name}Result")
                if root is None:
                    problems.append(f"{where}: no <{operation_model.name}Result>")
                    return
            elif proto == "ec2":
                root = ET.fromstring(body)
                for child in list(root):
                    if _local(child.tag) == "requestId":
                        root.remove(child)
            check_xml(root, out, proto, where, problems)
        client.meta.events.register(
            f"response-received.{model.service_id.hyphenize()}.*", on_response)
        return client

    def setUp(self):
        self.problems, self.seen = [], set()

    def tearDown(self):
        self.assertEqual(self.problems, [])

    def test_route53(self):
        r53 = self.watch(self.fake.client("route53"))
        zid = r53.create_hosted_zone(Name="m.test", CallerReference="m",
                                     HostedZoneConfig={"Comment": "c"})["HostedZone"]["Id"]
        r53.create_hosted_zone(Name="m.test", CallerReference="m2",
                               VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-1"})
        cid = r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": "a.m.test", "Type": "TXT", "TTL": 1,
                "ResourceRecords": [{"Value": '"x"'}]}},
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": "b.m.test", "Type": "A", "AliasTarget": {
                    "HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": "d.cloudfront.net",
                    "EvaluateTargetHealth": False}}}]})["ChangeInfo"]["Id"]
        r53.get_change(Id=cid)
        r53.get_hosted_zone(Id=zid)
        r53.list_hosted_zones(MaxItems="1")
        r53.list_hosted_zones_by_name(DNSName="m.test", MaxItems="1")
        r53.list_resource_record_sets(HostedZoneId=zid, MaxItems="1")
        r53.list_resource_record_sets(HostedZoneId=zid)
        r53.get_hosted_zone_count()

    def test_secretsmanager(self):
        sm = self.watch(self.fake.client("secretsmanager"))
        v1 = sm.create_secret(Name="m", SecretString="1", Description="d", KmsKeyId="k",
                              Tags=[{"Key": "a", "Value": "b"}])["VersionId"]
        v2 = sm.put_secret_value(SecretId="m", SecretBinary=b"2")["VersionId"]
        sm.get_secret_value(SecretId="m")
        sm.get_secret_value(SecretId="m", VersionId=v1)
        sm.describe_secret(SecretId="m")
        sm.list_secret_version_ids(SecretId="m", IncludeDeprecated=True)
        sm.list_secrets()
        sm.update_secret_version_stage(SecretId="m", VersionStage="AWSCURRENT",
                                       MoveToVersionId=v1, RemoveFromVersionId=v2)
        sm.tag_resource(SecretId="m", Tags=[{"Key": "c", "Value": "d"}])
        sm.delete_secret(SecretId="m")
        self.assertEqual(base64.b64encode(b"2"), base64.b64encode(b"2"))

    def test_dynamodb(self):
        ddb = self.watch(self.fake.client("dynamodb"))
        ddb.create_table(TableName="model", BillingMode="PAY_PER_REQUEST",
                         SSESpecification={"Enabled": True, "SSEType": "KMS",
                                           "KMSMasterKeyId": "alias/k"},
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}])
        ddb.describe_table(TableName="model")
        ddb.list_tables()
        key = {"pk": {"S": "a"}, "sk": {"S": "b"}}
        item = dict(key, m={"M": {"l": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}]}}},
                    ss={"SS": ["x", "y"]}, b={"B": b"raw"})
        ddb.put_item(TableName="model", Item=item, ReturnConsumedCapacity="TOTAL")
        ddb.put_item(TableName="model", Item=item, ReturnValues="ALL_OLD")
        ddb.get_item(TableName="model", Key=key, ConsistentRead=True,
                     ReturnConsumedCapacity="TOTAL")
        ddb.update_item(TableName="model", Key=key, UpdateExpression="SET n = :n",
                        ExpressionAttributeValues={":n": {"N": "1"}}, ReturnValues="ALL_NEW")
        ddb.query(TableName="model", KeyConditionExpression="pk = :p",
                  ExpressionAttributeValues={":p": {"S": "a"}}, Limit=1,
                  ReturnConsumedCapacity="TOTAL")
        ddb.scan(TableName="model", Limit=1)
        ddb.batch_get_item(RequestItems={"model": {"Keys": [key]}}, ReturnConsumedCapacity="TOTAL")
        ddb.delete_item(TableName="model", Key=key, ReturnValues="ALL_OLD")
        ddb.delete_table(TableName="model")
        self.assertGreaterEqual(len(self.seen), 10)

    def test_ec2_autoscaling_ecs_sts(self):
        self.fake.seed_instances(count=2, tags={"Role": "m"})
        g = self.fake.seed_asg("mg", size=1, tags={"Role": "asg"}, refresh_seconds=60)
        self.fake.seed_ecs_service("c", "s")
        ec2 = self.watch(self.fake.client("ec2"))
        ec2.describe_instances(Filters=[{"Name": "tag:Role", "Values": ["m"]}])
        ec2.terminate_instances(InstanceIds=g["instances"])
        asg = self.watch(self.fake.client("autoscaling"))
        asg.start_instance_refresh(AutoScalingGroupName="mg",
                                   Preferences={"MinHealthyPercentage": 90,
                                                "InstanceWarmup": 10, "SkipMatching": True})
        asg.describe_instance_refreshes(AutoScalingGroupName="mg")
        asg.describe_auto_scaling_groups()
        asg.cancel_instance_refresh(AutoScalingGroupName="mg")
        ecs = self.watch(self.fake.client("ecs"))
        ecs.update_service(cluster="c", service="s", forceNewDeployment=True)
        ecs.describe_services(cluster="c", services=["s", "nope"])
        sts = self.watch(self.fake.client("sts"))
        sts.get_caller_identity()
        sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/m", RoleSessionName="mm")
        self.assertGreaterEqual(len(self.seen), 9)


if __name__ == "__main__":
    unittest.main()
