"""Policy matches code (docs/deployment.md#iam-permissions).

1. aws/actions.hpp (the one table of AWS actions) equals the set of actions
   found at the call sites in aws/ dns/ secrets/ replace/ renewer/, and every call site
   has a shape the extractor understands.
2. deploy/cloudformation.yaml, evaluated for every mode x replacement x KMS x
   store (Secrets Manager, with the DynamoDB lease table, DynamoDB) combination, grants each action to the role that needs it, on the resources
   it needs and no others, with no wildcard action and nothing beyond the
   table (plus logs/KMS/ECR plumbing); certfetch's policy can only read its
   secret; the schedule's role can only start the run.
3. deploy/iam/*.json (single host) do the same; README's IAM JSON (if any) is
   one of those files.
4. The flags the template, units and cron line pass exist in `--help`.
5. Mutations of the template (a wildcard, a missing action, a widened
   resource) are reported: the checker can fail.
"""

import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cfn  # noqa: E402

SOURCE_DIR = os.environ.get("SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
TEMPLATE = os.path.join(SOURCE_DIR, "deploy", "cloudformation.yaml")
ACTIONS_HPP = os.path.join(SOURCE_DIR, "aws", "actions.hpp")

REGION, ACCOUNT = cfn.PSEUDO["AWS::Region"], cfn.PSEUDO["AWS::AccountId"]
SECRET = "certs/example.com"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TARGETS = {"none": "", "autoscaling": "web", "ec2-tag": "web-tier", "ecs": "prod/web"}

# Service variable in aws/endpoints.cpp -> IAM prefix.
SERVICE_VARS = {"route53": "route53", "secrets_manager": "secretsmanager", "ec2": "ec2",
                "autoscaling": "autoscaling", "ecs": "ecs", "sts": "sts", "dynamodb": "dynamodb"}
# Plumbing that is not an API call of ours but that the job needs.
PLUMBING = {"logs:CreateLogStream", "logs:PutLogEvents", "kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"}
TABLE_ARN = f"arn:aws:dynamodb:{cfn.PSEUDO['AWS::Region']}:{cfn.PSEUDO['AWS::AccountId']}:table/" \
            f"{cfn.PSEUDO['AWS::StackName']}-certificates"
# Store parameter x LeasesInDynamoDb: where the certificate and its lease live.
STORES = {"secretsmanager": ("secretsmanager", "false"), "sm+lease-table": ("secretsmanager", "true"),
          "dynamodb": ("dynamodb", "false")}
# Actions without resource-level permissions: the only ones allowed on "*".
NO_RESOURCE_LEVEL = {"route53:ListHostedZonesByName", "ec2:DescribeInstances", "ecr:GetAuthorizationToken",
                     "secretsmanager:ListSecrets"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def secret_arn(name, suffix=cfn.SECRET_SUFFIX):
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-{suffix}"


# --- 1. the table and the call sites ------------------------------------------

def table_rows():
    text = read(ACTIONS_HPP)
    rows = re.findall(r'ActionUse\{"(\w+)",\s*"(\w+)",\s*"([\w:-]+)",\s*"[^"]*"\}', text)
    if not rows:
        raise AssertionError("aws/actions.hpp: no ActionUse rows found")
    return [(service, action, caller) for service, action, caller in rows]


CALL = re.compile(r"\b(query|json|rest_xml)\(\s*(?:aws::)?(\w+)\s*,\s*([^,)]+)")


def call_site_actions():
    """{(iam prefix, action): [file:line, ...]} from the sources, and a list of
    call sites whose shape is not understood. A file whose client call takes
    the action as a variable is a wrapper: `call("X", ...)` names the action
    in that file and in every file that includes its header."""
    found, strange = {}, []
    files = []
    for d in ("aws", "dns", "secrets", "replace", "renewer", "core", "acme"):
        files += sorted(glob.glob(os.path.join(SOURCE_DIR, d, "*.cpp")))
    wrappers = {}  # file -> service of the client call it wraps
    for path in files:
        text = read(path)
        rel = os.path.relpath(path, SOURCE_DIR)
        for m in CALL.finditer(text):
            var, arg = m.group(2), m.group(3).strip()
            if var not in SERVICE_VARS:
                continue  # not an AWS client call (resolver.query(name, ...))
            line = text.count("\n", 0, m.start()) + 1
            if arg == "action":
                wrappers[rel] = SERVICE_VARS[var]  # call("X", ...) wraps this client call
                continue
            literal = re.fullmatch(r'"([A-Z][A-Za-z0-9]+)"', arg)
            if not literal:
                strange.append(f"{rel}:{line}: {m.group(0)}")
                continue
            found.setdefault((SERVICE_VARS[var], literal.group(1)), []).append(f"{rel}:{line}")
    headers = {rel[:-len(".cpp")] + ".hpp": service for rel, service in wrappers.items()}
    for path in files:
        text = read(path)
        rel = os.path.relpath(path, SOURCE_DIR)
        service = wrappers.get(rel) or next(
            (svc for header, svc in headers.items() if f'#include "{header}"' in text), None)
        if not service:
            continue
        for m in re.finditer(r'\bcall\(\s*"([A-Za-z0-9]+)"', text):
            line = text.count("\n", 0, m.start()) + 1
            found.setdefault((service, m.group(1)), []).append(f"{rel}:{line}")
    return found, strange


class TableMatchesCode(unittest.TestCase):
    def test_call_sites_equal_table(self):
        found, strange = call_site_actions()
        self.assertEqual(strange, [], "AWS call sites the extractor does not understand (name the action "
                                      "as a string literal, or teach tests/deploy/test_policy.py)")
        table = {(s, a) for s, a, _ in table_rows()}
        self.assertGreaterEqual(len(found), 10, f"suspiciously few call sites found: {found}")
        missing = sorted(set(found) - table)
        self.assertEqual(missing, [], "actions called in the code but missing from aws/actions.hpp: " +
                         "; ".join(f"{s}:{a} at {found[(s, a)]}" for s, a in missing))
        stale = sorted(table - set(found))
        self.assertEqual(stale, [], f"aws/actions.hpp rows no call site uses: {stale}")
        print(f"FIGURE policy-actions: {len(found)} actions at "
              f"{sum(len(v) for v in found.values())} call sites = {len(table)} table actions")

    def test_table_compiles(self):
        cxx = shutil.which("c++") or shutil.which("g++")
        if not cxx:
            self.skipTest("no C++ compiler")
        r = subprocess.run([cxx, "-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-I", SOURCE_DIR,
                            "-x", "c++", "-"], input='#include "aws/actions.hpp"\nint main() { return '
                           'aws::k_action_uses.size() > 0 ? 0 : 1; }\n', capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_extractor_sees_a_new_call(self):
        # The extractor itself: a literal, a wrapper call and an odd shape.
        text = ('x = client.query(aws::ec2, "RebootInstances", p);\n'
                'y = client->json(aws::ecs, kName, body);\n')
        hits = [(m.group(2), m.group(3).strip()) for m in CALL.finditer(text)]
        self.assertEqual(hits, [("ec2", '"RebootInstances"'), ("ecs", "kName")])


# --- 2. the template ------------------------------------------------------------

# DomainList=true (docs/customer-domains.md#deploying-with-cloudformation):
# the customers' certificates under this prefix, a customer's item id.
PREFIX = "customers"
CUSTOMER = "shop.example.com"
CUSTOMER_ZONE = "acme.example.net"


def scenario_parameters(mode, replace, kms, store="secretsmanager", domain_list=False):
    listed = {"DomainList": "true", "SecretPrefix": PREFIX, "CustomerDnsZone": CUSTOMER_ZONE} if domain_list else {}
    return {
        **listed,
        "Store": STORES[store][0], "LeasesInDynamoDb": STORES[store][1],
        "Mode": mode, "ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/renewer:1",
        "EcrRepositoryName": "renewer", "Domains": "" if domain_list else "example.com,*.example.com",
        "HostedZoneIds": "Z111,Z222",
        "Email": "ops@example.com", "SecretName": SECRET, "KmsKeyArn": KMS_KEY if kms else "",
        "ReplaceType": replace, "ReplaceTarget": TARGETS[replace],
        "EcsClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/jobs" if mode == "ecs" else "",
        "EcsSubnets": "subnet-0123456789abcdef0" if mode == "ecs" else "",
        "EcsSecurityGroups": "sg-0123456789abcdef0" if mode == "ecs" else "",
    }


SCENARIOS = [(mode, replace, kms, store, listed) for mode in ("lambda", "ecs") for replace in TARGETS
             for kms in (False, True) for store in STORES for listed in (False, True)]


def role_statements(resources, logical):
    role = resources[logical]["Properties"]
    out = []
    for policy in role.get("Policies", []):
        out += cfn.statements_of(policy["PolicyDocument"])
    return out


def change_context(names, types=("TXT",)):
    return {"route53:ChangeResourceRecordSetsNormalizedRecordNames": list(names),
            "route53:ChangeResourceRecordSetsRecordTypes": list(types)}


def check_renewer(statements, replace, zones, secret_resources, kms, where, not_yet_created=(),
                  store="secretsmanager", domain_list=False, cert=SECRET):
    """Problems with the job's statements (empty list: fine). `cert` is the
    secret of a certificate the job stores (with a domain list, a customer's)."""
    problems = []
    secrets_manager = store != "dynamodb"

    def expect(action, resource, context=None, granted=True, why=""):
        if cfn.allowed(statements, action, resource, context) != granted:
            problems.append(f"{where}: {action} on {resource} {'not ' if granted else ''}allowed"
                            f"{' (' + why + ')' if why else ''}")

    rows = table_rows()
    needed = {f"{s}:{a}" for s, a, c in rows if c == "renewer" or c == f"renewer:{replace}" or
              (c == "renewer:dynamodb" and store != "secretsmanager") or
              (c == "renewer:domain-list" and domain_list) or
              (c == "renewer:domain-list-dynamodb" and domain_list and store == "dynamodb")}
    for action in cfn.actions_of(statements):
        if "*" in action or "?" in action:
            problems.append(f"{where}: wildcard action {action}")
    granted_actions = set(cfn.actions_of(statements))
    extra = granted_actions - needed - PLUMBING
    if extra:
        problems.append(f"{where}: actions beyond aws/actions.hpp for this mode: {sorted(extra)}")
    for s in statements:
        if "*" in cfn.as_list(s.get("Resource", [])):
            wide = set(cfn.as_list(s.get("Action", []))) - NO_RESOURCE_LEVEL
            if wide:
                problems.append(f"{where}: Resource \"*\" for {sorted(wide)}")
    # Route53: the zones, TXT at _acme-challenge only.
    expect("route53:ListHostedZonesByName", "*")
    expect("route53:GetChange", "arn:aws:route53:::change/C0123456789")
    for zone in zones:
        arn = f"arn:aws:route53:::hostedzone/{zone}"
        expect("route53:ListResourceRecordSets", arn)
        expect("route53:ChangeResourceRecordSets", arn,
               change_context(["_acme-challenge.example.com", "_acme-challenge.www.example.com"]))
        expect("route53:ChangeResourceRecordSets", arn, change_context(["www.example.com"]), False, "not a challenge")
        expect("route53:ChangeResourceRecordSets", arn, change_context(["_acme-challenge.example.com"], ["A"]),
               False, "not TXT")
    expect("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/ZOTHER",
           change_context(["_acme-challenge.example.com"]), False, "another zone")
    expect("route53:ListResourceRecordSets", "arn:aws:route53:::hostedzone/ZOTHER", None, False, "another zone")
    # Secrets: certificate, account, lease; nothing else.
    for action, names in secret_resources.items():
        for name in names:
            expect(action, secret_arn(name))
    # A secret that does not exist yet is authorized by its ARN without the
    # suffix: the first GetSecretValue must get "not found", then CreateSecret.
    for name in not_yet_created:
        for action in secret_resources:
            expect(action, secret_arn(name)[:-7], None, True, "before it exists")
    problems += check_table(statements, store, expect, domain_list)
    for action in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"):
        expect(action, secret_arn(cert), None, secrets_manager, "the store")
        if cert != SECRET:
            expect(action, secret_arn(SECRET), None, False, "not a customer's secret")
    # The removed-items report lists an aws-sm: store only (renewer/domain_list.cpp).
    expect("secretsmanager:ListSecrets", "*", None, domain_list and secrets_manager, "the removed-items report")
    for action in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:CreateSecret"):
        expect(action, secret_arn("certs/other.com"), None, False, "another secret")
        expect(action, secret_arn(SECRET + "-lockX"), None, False, "another secret")
        expect(action, secret_arn(SECRET + "-lockX")[:-7], None, False, "another secret")
    expect("secretsmanager:DeleteSecret", secret_arn(SECRET), None, False)
    # KMS only with a key, only through the service that holds the data.
    via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    expect("kms:Decrypt", KMS_KEY, via, granted=kms and secrets_manager)
    expect("kms:GenerateDataKey", KMS_KEY, via, granted=kms and secrets_manager)
    via_table = {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}
    for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"):
        # The domain list table is only read: Decrypt alone.
        reads_table = domain_list and action == "kms:Decrypt"
        expect(action, KMS_KEY, via_table, granted=kms and (store != "secretsmanager" or reads_table))
    expect("kms:Decrypt", KMS_KEY, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}, False, "not via Secrets Manager")
    # Replacement: only the named target, only in its mode.
    asg = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:0-1-2:autoScalingGroupName/"
    instance = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
    service = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/"
    expect("autoscaling:StartInstanceRefresh", asg + "web", granted=replace == "autoscaling")
    expect("autoscaling:StartInstanceRefresh", asg + "other", None, False, "another group")
    expect("ec2:DescribeInstances", "*", granted=replace == "ec2-tag")
    expect("ec2:TerminateInstances", instance, {"aws:ResourceTag/renewer-replace": "web-tier"},
           granted=replace == "ec2-tag")
    expect("ec2:TerminateInstances", instance, {"aws:ResourceTag/renewer-replace": "db"}, False, "other tag value")
    expect("ec2:TerminateInstances", instance, {}, False, "untagged")
    expect("ecs:UpdateService", service + "prod/web", granted=replace == "ecs")
    expect("ecs:UpdateService", service + "prod/db", None, False, "another service")
    return problems


def keys(*pks):
    return {"dynamodb:LeadingKeys": list(pks)}


def check_table(statements, store, expect, domain_list=False):
    """The DynamoDB grants (docs/stores.md#dynamodb): the certificate's items,
    the account item only as the store, nothing without a table."""
    if store == "secretsmanager":
        for action in ("dynamodb:GetItem", "dynamodb:PutItem"):
            expect(action, TABLE_ARN, keys(SECRET), False, "no table")
        return []
    if domain_list:
        return check_listed_table(store, expect)
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"):
        expect(action, TABLE_ARN, keys(SECRET))
        expect(action, TABLE_ARN, keys("certs/other.com"), False, "another certificate's items")
        expect(action, TABLE_ARN + "-other", keys(SECRET), False, "another table")
    expect("dynamodb:UpdateItem", TABLE_ARN, keys(SECRET), store == "dynamodb", "the bundle item")
    expect("dynamodb:GetItem", TABLE_ARN, keys("_account"), store == "dynamodb", "the account item")
    expect("dynamodb:PutItem", TABLE_ARN, keys("_account"), store == "dynamodb", "the account item")
    expect("dynamodb:Scan", TABLE_ARN, None, False, "the whole table")
    return []


def check_listed_table(store, expect):
    """DomainList=true: with --lease-table the leases of the secrets under
    the prefix; as the store every item (any id, the account item), since
    the table is the stack's own; never another table, never a Scan."""
    customer = f"{PREFIX}/{CUSTOMER}" if store == "sm+lease-table" else CUSTOMER
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"):
        expect(action, TABLE_ARN, keys(customer), True, "a customer's items")
        expect(action, TABLE_ARN + "-other", keys(customer), False, "another table")
        if store == "sm+lease-table":
            expect(action, TABLE_ARN, keys(SECRET), False, "a lease outside the prefix")
            expect(action, TABLE_ARN, keys("_account"), False, "the account item")
        else:
            expect(action, TABLE_ARN, keys("_account"), True, "the account item")
    expect("dynamodb:UpdateItem", TABLE_ARN, keys(customer), store == "dynamodb", "the bundle item")
    expect("dynamodb:Scan", TABLE_ARN, None, False, "the whole table")
    return []


def check_certfetch_listed_items(statements, kms, where):
    """certfetch --all over the DynamoDB store: every customer's item, not
    the ACME account item, no secret; the listing (dynamodb:Scan) by keys and
    versions only (aws/actions.hpp, caller certfetch:dynamodb-all)."""
    problems = []
    wanted = {f"{s}:{a}" for s, a, c in table_rows() if c in ("certfetch:dynamodb", "certfetch:dynamodb-all") and
              s == "dynamodb"}
    granted = set(cfn.actions_of(statements)) - {"kms:Decrypt"}
    if granted != wanted:
        problems.append(f"{where}: grants {sorted(granted)}, the code needs {sorted(wanted)}")
    if not cfn.allowed(statements, "dynamodb:GetItem", TABLE_ARN, keys(CUSTOMER)):
        problems.append(f"{where}: certfetch --all cannot read the items of {CUSTOMER}")
    for other in (keys("_account"), keys(CUSTOMER, "_account")):
        if cfn.allowed(statements, "dynamodb:GetItem", TABLE_ARN, other):
            problems.append(f"{where}: certfetch --all can read the account item {other}")
    if cfn.allowed(statements, "dynamodb:GetItem", TABLE_ARN + "-other", keys(CUSTOMER)):
        problems.append(f"{where}: certfetch --all can read another table")
    if not cfn.allowed(statements, "dynamodb:Scan", TABLE_ARN, SCAN_AS_LISTED):
        problems.append(f"{where}: certfetch --all cannot list the table")
    if cfn.allowed(statements, "dynamodb:Scan", TABLE_ARN, dict(SCAN_AS_LISTED, **{
            "dynamodb:Attributes": ["pk", "sk", "version", "text"]})):
        problems.append(f"{where}: certfetch --all can scan every attribute (the account item's key)")
    via = {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}
    if cfn.allowed(statements, "kms:Decrypt", KMS_KEY, via) != kms:
        problems.append(f"{where}: kms:Decrypt via DynamoDB {'missing' if kms else 'granted without a key'}")
    return problems


def check_certfetch(statements, kms, where, store="secretsmanager"):
    problems = []
    if store == "dynamodb":
        return check_certfetch_table(statements, kms, where)
    for action in cfn.actions_of(statements):
        if action not in ("secretsmanager:GetSecretValue", "kms:Decrypt"):
            problems.append(f"{where}: certfetch may only read its secret, not {action}")
    if not cfn.allowed(statements, "secretsmanager:GetSecretValue", secret_arn(SECRET)):
        problems.append(f"{where}: certfetch cannot read {SECRET}")
    for other in (SECRET + "-account", SECRET + "-lock", "certs/other.com"):
        if cfn.allowed(statements, "secretsmanager:GetSecretValue", secret_arn(other)):
            problems.append(f"{where}: certfetch can read {other}")
    via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    if cfn.allowed(statements, "kms:Decrypt", KMS_KEY, via) != kms:
        problems.append(f"{where}: kms:Decrypt {'missing' if kms else 'granted without a key'}")
    return problems


def check_certfetch_all(statements, where):
    """certfetch --all (docs/customer-domains.md): the code's `certfetch:all`
    rows plus reading the secrets under the prefix, nothing else."""
    problems = []
    wanted = {f"secretsmanager:{a}" for s, a, caller in table_rows() if caller == "certfetch:all"}
    wanted.add("secretsmanager:GetSecretValue")
    granted = set(cfn.actions_of(statements))
    if granted != wanted:
        problems.append(f"{where}: grants {sorted(granted)}, the code needs {sorted(wanted)}")
    if not cfn.allowed(statements, "secretsmanager:ListSecrets", "*"):
        problems.append(f"{where}: certfetch --all cannot list (ListSecrets has no resource-level permissions)")
    if not cfn.allowed(statements, "secretsmanager:GetSecretValue", secret_arn("customers/shop.example.com")):
        problems.append(f"{where}: certfetch --all cannot read the secrets under the prefix")
    if cfn.allowed(statements, "secretsmanager:GetSecretValue", secret_arn("certs/other.com")):
        problems.append(f"{where}: certfetch --all can read a secret outside the prefix")
    return problems


SCAN_AS_LISTED = {"dynamodb:Attributes": ["pk", "sk", "version"], "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}


def check_certfetch_dynamodb_all(statements, where):
    """certfetch --all over a dynamodb: table (docs/stores.md#listing-a-table):
    the code's `certfetch:dynamodb-all` rows; the Scan sees only the key and
    version attributes (never a bundle or the ACME account key), GetItem only
    the items under the prefix; no write."""
    problems = []
    wanted = {f"{s}:{a}" for s, a, caller in table_rows() if caller == "certfetch:dynamodb-all"}
    granted = set(cfn.actions_of(statements))
    if granted != wanted:
        problems.append(f"{where}: grants {sorted(granted)}, the code needs {sorted(wanted)}")
    if not cfn.allowed(statements, "dynamodb:Scan", TABLE_ARN, SCAN_AS_LISTED):
        problems.append(f"{where}: certfetch --all cannot list the table as the code scans it")
    wider = [dict(SCAN_AS_LISTED, **{"dynamodb:Attributes": ["pk", "sk", "version", "text"]}),
             dict(SCAN_AS_LISTED, **{"dynamodb:Select": "ALL_ATTRIBUTES"}),
             {"dynamodb:Attributes": ["pk", "sk", "version"]}]
    if any(cfn.allowed(statements, "dynamodb:Scan", TABLE_ARN, context) for context in wider):
        problems.append(f"{where}: certfetch --all can scan every attribute (the account key among them)")
    if not cfn.allowed(statements, "dynamodb:GetItem", TABLE_ARN, keys("customers/shop.example.com")):
        problems.append(f"{where}: certfetch --all cannot read the items under the prefix")
    for other in ("_account", "certs/other.com"):
        if cfn.allowed(statements, "dynamodb:GetItem", TABLE_ARN, keys(other)):
            problems.append(f"{where}: certfetch --all can read the items of {other}")
    for action in wanted:
        if cfn.allowed(statements, action, TABLE_ARN + "-other", SCAN_AS_LISTED) or \
                cfn.allowed(statements, action, TABLE_ARN + "-other", keys("customers/shop.example.com")):
            problems.append(f"{where}: {action} on another table")
    return problems


def check_certfetch_table(statements, kms, where):
    problems = []
    for action in cfn.actions_of(statements):
        if action not in ("dynamodb:GetItem", "kms:Decrypt"):
            problems.append(f"{where}: certfetch may only read its items, not {action}")
    if not cfn.allowed(statements, "dynamodb:GetItem", TABLE_ARN, keys(SECRET)):
        problems.append(f"{where}: certfetch cannot read the items of {SECRET}")
    for other in ("_account", "certs/other.com"):
        if cfn.allowed(statements, "dynamodb:GetItem", TABLE_ARN, keys(other)):
            problems.append(f"{where}: certfetch can read the items of {other}")
    if cfn.allowed(statements, "secretsmanager:GetSecretValue", secret_arn(SECRET)):
        problems.append(f"{where}: certfetch can read a secret the dynamodb store does not use")
    via = {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}
    if cfn.allowed(statements, "kms:Decrypt", KMS_KEY, via) != kms:
        problems.append(f"{where}: kms:Decrypt via DynamoDB {'missing' if kms else 'granted without a key'}")
    return problems


DOMAIN_TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/%s"


def check_domain_list(statements, table_arn, where, store="secretsmanager"):
    """--certificates-from dynamodb:TABLE (docs/customer-domains.md#the-domain-list):
    the code's `renewer:domain-list` rows, Scan on that table only; ListSecrets
    only where the removed-items report lists an aws-sm: store."""
    problems = []
    wanted = {f"{s}:{a}" for s, a, caller in table_rows() if caller == "renewer:domain-list"}
    if store == "dynamodb":
        wanted.discard("secretsmanager:ListSecrets")
    granted = set(cfn.actions_of(statements)) - PLUMBING
    if granted != wanted:
        problems.append(f"{where}: grants {sorted(granted)}, the code needs {sorted(wanted)}")
    if not cfn.allowed(statements, "dynamodb:Scan", table_arn):
        problems.append(f"{where}: the job cannot read the domain list {table_arn}")
    for other in (TABLE_ARN, DOMAIN_TABLE_ARN % "other-table", table_arn + "/index/by-customer"):
        if cfn.allowed(statements, "dynamodb:Scan", other):
            problems.append(f"{where}: the job can scan {other}")
    if cfn.allowed(statements, "secretsmanager:ListSecrets", "*") != (store != "dynamodb"):
        problems.append(f"{where}: ListSecrets {'missing' if store != 'dynamodb' else 'granted'}: the job lists "
                        "an aws-sm: default store for the removed-items report (no resource-level permissions)")
    for action in ("secretsmanager:GetSecretValue", "dynamodb:PutItem", "dynamodb:DeleteItem"):
        if cfn.allowed(statements, action, "*") or cfn.allowed(statements, action, table_arn):
            problems.append(f"{where}: grants {action}")
    problems += check_item_state_writes(statements, table_arn, where)
    return problems


# The attributes one state write names (renewer/domain_list_state.cpp: the
# key and the job's renewer_* attributes, all through ExpressionAttributeNames).
STATE_WRITE = {"dynamodb:Attributes": ["id", "renewer_state", "renewer_reason", "renewer_not_after",
                                       "renewer_updated"]}


def check_item_state_writes(statements, table_arn, where):
    """The job writes its own attributes of the domain list's items
    (docs/customer-domains.md#the-item-shows-the-state) and nothing else:
    not the customer's names, not another table, not an unconditioned write."""
    problems = []
    if not cfn.allowed(statements, "dynamodb:UpdateItem", table_arn, STATE_WRITE):
        problems.append(f"{where}: the job cannot write the items' state on {table_arn}")
    wider = [dict(STATE_WRITE, **{"dynamodb:Attributes": STATE_WRITE["dynamodb:Attributes"] + ["domains"]}),
             dict(STATE_WRITE, **{"dynamodb:ReturnValues": "ALL_OLD"})]
    for context in wider:
        if cfn.allowed(statements, "dynamodb:UpdateItem", table_arn, context):
            problems.append(f"{where}: UpdateItem on the domain list is allowed with {context}")
    for other in (TABLE_ARN, DOMAIN_TABLE_ARN % "other-table"):
        if cfn.allowed(statements, "dynamodb:UpdateItem", other, STATE_WRITE):
            problems.append(f"{where}: the job can write items' state in {other}")
    return problems


def check_template(template):
    problems = []
    raw_actions = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("Action", "NotAction"):
                    raw_actions.extend(a for a in cfn.as_list(v) if isinstance(a, str))
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(template.get("Resources", {}))
    for action in raw_actions:
        if "*" in action or "?" in action:
            problems.append(f"template: wildcard action {action}")
    for mode, replace, kms, store, listed in SCENARIOS:
        where = f"{mode}/{replace}/{'kms' if kms else 'no-kms'}/{store}{'/domain-list' if listed else ''}"
        try:
            t = cfn.evaluate(template, scenario_parameters(mode, replace, kms, store, listed))
        except (ValueError, KeyError) as e:
            problems.append(f"{where}: cannot evaluate the template: {e}")
            continue
        if t["RuleFailures"]:
            problems.append(f"{where}: the template's rules refuse the parameters: {t['RuleFailures']}")
        res = t["Resources"]
        if listed:
            problems += check_listed_scenario(res, replace, kms, store, where)
            continue
        renewer_statements = role_statements(res, "RenewerRole")
        # The secrets the code touches (secrets/secretsmanager_store.cpp): the
        # template creates the certificate and account secrets; the lease
        # secret <name>-lock and the note <name>-replace-owed are created by the code.
        created = [SECRET + "-lock", SECRET + "-replace-owed"]
        secret_resources = {
            "secretsmanager:GetSecretValue": [SECRET, SECRET + "-account", *created],
            "secretsmanager:PutSecretValue": [SECRET, SECRET + "-account", *created],
            "secretsmanager:CreateSecret": created,
        }
        names = {p["Properties"]["Name"] for p in res.values() if p["Type"] == "AWS::SecretsManager::Secret"}
        if names != ({SECRET, SECRET + "-account"} if store != "dynamodb" else set()):
            problems.append(f"{where}: the template's secrets are {sorted(names)}")
        problems += check_table_resource(res, store, kms, where)
        if store == "dynamodb":
            secret_resources, created = {}, []
        problems += check_renewer(renewer_statements, replace, ["Z111", "Z222"], secret_resources, kms,
                                  f"{where} RenewerRole", not_yet_created=created, store=store)
        # Logs: only its own group.
        group = res["LogGroup"]["Properties"]["LogGroupName"]
        stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:x"
        if not cfn.allowed(renewer_statements, "logs:PutLogEvents", stream):
            problems.append(f"{where}: the job cannot write its logs")
        if cfn.allowed(renewer_statements, "logs:PutLogEvents",
                       f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:other:log-stream:x"):
            problems.append(f"{where}: the job can write other log groups")
        if "RetentionInDays" not in res["LogGroup"]["Properties"]:
            problems.append(f"{where}: the log group has no retention")
        # certfetch: the managed policy, and the instance role has nothing else.
        certfetch = cfn.statements_of(res["CertfetchPolicy"]["Properties"]["PolicyDocument"])
        problems += check_certfetch(certfetch, kms, f"{where} CertfetchPolicy", store)
        web = res["WebInstanceRole"]["Properties"]
        if web.get("Policies") or web.get("ManagedPolicyArns") != [cfn._ref_of(
                "CertfetchPolicy", template["Resources"]["CertfetchPolicy"], str)]:
            problems.append(f"{where}: WebInstanceRole has more than CertfetchPolicy")
        # The schedule starts the run and can do nothing else.
        scheduler = role_statements(res, "SchedulerRole")
        schedule = res["Schedule"]["Properties"]
        if schedule["FlexibleTimeWindow"].get("Mode") != "FLEXIBLE":
            problems.append(f"{where}: the schedule has no flexible window")
        if mode == "lambda":
            fn = res["Function"]["Properties"]
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn['FunctionName']}"
            if fn.get("PackageType") != "Image":
                problems.append(f"{where}: the function is not a container image")
            if schedule["Target"]["Arn"] != arn:
                problems.append(f"{where}: the schedule does not target the function")
            if set(cfn.actions_of(scheduler)) != {"lambda:InvokeFunction"} or \
                    not cfn.allowed(scheduler, "lambda:InvokeFunction", arn) or \
                    cfn.allowed(scheduler, "lambda:InvokeFunction", arn + "-other"):
                problems.append(f"{where}: SchedulerRole should only invoke {arn}")
            event = json.loads(schedule["Target"].get("Input", "{}"))
            if not isinstance(event, dict) or set(event) - {"force", "dry_run"}:
                problems.append(f"{where}: schedule Input {event} has fields the run does not read")
        else:
            task = res["TaskDefinition"]["Properties"]
            if task["TaskRoleArn"] != f"arn:aws:iam::{ACCOUNT}:role/RenewerRole":
                problems.append(f"{where}: the task does not run as RenewerRole")
            cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/jobs"
            taskdef = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{task['Family']}:7"
            if set(cfn.actions_of(scheduler)) != {"ecs:RunTask", "iam:PassRole"} or \
                    not cfn.allowed(scheduler, "ecs:RunTask", taskdef, {"ecs:cluster": cluster}) or \
                    cfn.allowed(scheduler, "ecs:RunTask", taskdef, {"ecs:cluster": cluster + "2"}) or \
                    cfn.allowed(scheduler, "ecs:RunTask", taskdef.replace(task["Family"], "other"),
                                {"ecs:cluster": cluster}):
                problems.append(f"{where}: SchedulerRole should only run {task['Family']} in {cluster}")
            passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
            for role in ("RenewerRole", "TaskExecutionRole"):
                if not cfn.allowed(scheduler, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{role}", passed):
                    problems.append(f"{where}: SchedulerRole cannot pass {role}")
            if cfn.allowed(scheduler, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin", passed):
                problems.append(f"{where}: SchedulerRole can pass any role")
            execution = role_statements(res, "TaskExecutionRole")
            for action in cfn.actions_of(execution):
                if action not in ("ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                  "logs:CreateLogStream", "logs:PutLogEvents"):
                    problems.append(f"{where}: TaskExecutionRole has {action}")
            if cfn.allowed(execution, "ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other"):
                problems.append(f"{where}: TaskExecutionRole can pull from any repository")
    return problems


def check_listed_scenario(res, replace, kms, store, where):
    """DomainList=true: the job writes the customers' secrets (or items)
    under the prefix, each created by the code on first use with its -lock,
    -replace-owed and the account beside the first; the hosts run certfetch --all."""
    problems = []
    names = {p["Properties"]["Name"] for p in res.values() if p["Type"] == "AWS::SecretsManager::Secret"}
    if names:
        problems.append(f"{where}: the template creates secrets {sorted(names)}; the job creates the customers'")
    problems += check_table_resource(res, store, kms, where)
    cert = f"{PREFIX}/{CUSTOMER}"
    secrets, created = {}, []
    if store != "dynamodb":
        created = [cert, cert + "-account", cert + "-lock", cert + "-replace-owed"]
        secrets = {a: created for a in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                                        "secretsmanager:CreateSecret")}
    problems += check_renewer(role_statements(res, "RenewerRole"), replace, ["Z111", "Z222"], secrets, kms,
                              f"{where} RenewerRole", not_yet_created=created, store=store, domain_list=True,
                              cert=cert)
    certfetch = cfn.statements_of(res["CertfetchPolicy"]["Properties"]["PolicyDocument"])
    if store == "dynamodb":
        problems += check_certfetch_listed_items(certfetch, kms, f"{where} CertfetchPolicy")
    else:
        kms_statements = [st for st in certfetch if "kms:Decrypt" in cfn.as_list(st.get("Action"))]
        problems += check_certfetch_all([st for st in certfetch if st not in kms_statements],
                                        f"{where} CertfetchPolicy")
        account = f"{cert}-account"  # the ACME account beside the first certificate
        if cfn.allowed(certfetch, "secretsmanager:GetSecretValue", secret_arn(account)) or \
                cfn.allowed(certfetch, "secretsmanager:GetSecretValue", secret_arn(account)[:-7]):
            problems.append(f"{where} CertfetchPolicy: the hosts can read the ACME account {account}")
        for other in (cert, f"{PREFIX}/blog.example.com", f"{PREFIX}/my-account.example.com"):
            if not cfn.allowed(certfetch, "secretsmanager:GetSecretValue", secret_arn(other)):
                problems.append(f"{where} CertfetchPolicy: the hosts cannot read {other}")
        via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
        if cfn.allowed(kms_statements, "kms:Decrypt", KMS_KEY, via) != kms:
            problems.append(f"{where} CertfetchPolicy: kms:Decrypt {'missing' if kms else 'granted without a key'}")
    return problems


def check_table_resource(res, store, kms, where):
    """The table: on demand, point-in-time recovery, the customer key when given."""
    tables = [r for k, r in res.items() if r["Type"] == "AWS::DynamoDB::Table" and k != "DomainListTable"]
    if store == "secretsmanager":
        return [f"{where}: a table without a DynamoDB store or lease table"] if tables else []
    if len(tables) != 1:
        return [f"{where}: {len(tables)} tables, expected 1"]
    props, problems = tables[0]["Properties"], []
    if props.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append(f"{where}: the table is not on-demand")
    if not props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
        problems.append(f"{where}: the table has no point-in-time recovery")
    sse = props.get("SSESpecification", {})
    if kms and (sse.get("KMSMasterKeyId") != KMS_KEY or not sse.get("SSEEnabled")):
        problems.append(f"{where}: the table is not encrypted with KmsKeyArn: {sse}")
    keys_ = {k["AttributeName"]: k["KeyType"] for k in props.get("KeySchema", [])}
    if keys_ != {"pk": "HASH", "sk": "RANGE"}:
        problems.append(f"{where}: the table's key is {keys_}, the store wants pk/sk")
    return problems


def command_of(res, mode):
    if mode == "lambda":
        return res["Function"]["Properties"]["ImageConfig"]["Command"]
    return res["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"]


def template_commands(template):
    """The argument lists the template gives the image, resolved."""
    out = []
    for mode, replace, store, listed in [(m, r, st, li) for m in ("lambda", "ecs") for r in TARGETS for st in STORES
                                         for li in (False, True)]:
        res = cfn.evaluate(template, scenario_parameters(mode, replace, False, store, listed))["Resources"]
        out.append(command_of(res, mode))
    return out


# The ECS task's own flags: Lambda's invocation deadline and one invocation
# at a time need neither (docs/deployment.md, "Parallel runs").
ECS_ONLY = ("--deadline", "--max-new-orders")


def without_ecs_only(command):
    out, skip = [], False
    for arg in command:
        if skip:
            skip = False
            continue
        if arg in ECS_ONLY:
            skip = True
            continue
        out.append(arg)
    return out


class TemplateGrantsWhatTheCodeNeeds(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = cfn.load(TEMPLATE)

    def test_template_least_privilege(self):
        problems = check_template(self.template)
        self.assertEqual(problems, [], "\n".join(problems))
        print(f"FIGURE policy-template: {len(SCENARIOS)} mode/replacement/KMS combinations checked")

    def test_domain_list_table_and_grant(self):
        """DomainList=true (docs/customer-domains.md#the-domain-list): the
        table like the certificate table, Scan on it alone, ListSecrets; and
        nothing of it without the parameter."""
        problems = []
        for mode, kms, store in [(m, k, st) for m in ("lambda", "ecs") for k in (False, True) for st in STORES]:
            where = f"domain-list {mode}/{'kms' if kms else 'no-kms'}/{store}"
            parameters = dict(scenario_parameters(mode, "none", kms, store), DomainList="true")
            res = cfn.evaluate(self.template, parameters)["Resources"]
            table = res.get("DomainListTable", {}).get("Properties", {})
            arn = DOMAIN_TABLE_ARN % table.get("TableName")
            if table.get("BillingMode") != "PAY_PER_REQUEST" or \
                    not table.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") or \
                    {k["AttributeName"]: k["KeyType"] for k in table.get("KeySchema", [])} != {"id": "HASH"}:
                problems.append(f"{where}: DomainListTable is not an on-demand, recoverable table keyed by id: {table}")
            sse = table.get("SSESpecification", {})
            if kms and (sse.get("KMSMasterKeyId") != KMS_KEY or not sse.get("SSEEnabled")):
                problems.append(f"{where}: the domain list is not encrypted with KmsKeyArn: {sse}")
            statements = role_statements(res, "RenewerRole")
            own = [st for st in statements if st.get("Sid") in ("ReadDomainList", "ShowStateInItems",
                                                                  "FindRemovedCertificates", "DomainListKey")]
            problems += check_domain_list(own, arn, where, store)
            # A dynamodb: store: the removed items' certificates by a Scan of
            # the certificate table, keys and versions only.
            if cfn.allowed(statements, "dynamodb:Scan", TABLE_ARN, SCAN_AS_LISTED) != (store == "dynamodb"):
                problems.append(f"{where}: Scan of the certificate table for removed items "
                                f"{'missing' if store == 'dynamodb' else 'granted without a dynamodb: store'}")
            if cfn.allowed(statements, "dynamodb:Scan", TABLE_ARN, dict(SCAN_AS_LISTED, **{
                    "dynamodb:Attributes": ["pk", "sk", "version", "text"]})):
                problems.append(f"{where}: the job can scan every attribute of the certificate table")
            without = cfn.evaluate(self.template, scenario_parameters(mode, "none", kms, store))["Resources"]
            if "DomainListTable" in without or cfn.allowed(role_statements(without, "RenewerRole"),
                                                           "dynamodb:Scan", arn):
                problems.append(f"{where}: the domain list exists or is granted without DomainList=true")
        self.assertEqual(problems, [], "\n".join(problems))

    def test_mutations_are_caught(self):
        statements = self.template["Resources"]["RenewerRole"]["Properties"]["Policies"][0]["PolicyDocument"][
            "Statement"]

        def mutated(change):
            t = copy.deepcopy(self.template)
            change(t["Resources"]["RenewerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"])
            return check_template(t)

        def sid(stmts, name):
            # A statement, or the statement inside "Fn::If" [condition, statement, NoValue].
            inner = [s["Fn::If"][1] if isinstance(s, dict) and "Fn::If" in s else s for s in stmts]
            return next(s for s in inner if isinstance(s, dict) and s.get("Sid") == name)

        def index_of(stmts, name):
            return next(i for i, s in enumerate(stmts)
                        if (s["Fn::If"][1] if isinstance(s, dict) and "Fn::If" in s else s) is sid(stmts, name))

        index = index_of(statements, "CertificateAndAccount")
        cases = {
            "wildcard action": (lambda s: s.append({"Effect": "Allow", "Action": "route53:*", "Resource": "*"}),
                                "wildcard action route53:*"),
            "Get* action": (lambda s: sid(s, "CertificateAndAccount").__setitem__(
                "Action", ["secretsmanager:Get*", "secretsmanager:PutSecretValue"]),
                            "wildcard action secretsmanager:Get*"),
            "missing action": (lambda s: sid(s, "CertificateAndAccount").__setitem__(
                "Action", ["secretsmanager:GetSecretValue"]),
                               "secretsmanager:PutSecretValue on"),
            "zone widened": (lambda s: sid(s, "ChangeChallengeTxtOnly").__setitem__("Resource", "*"),
                             "hostedzone/ZOTHER allowed"),
            "condition dropped": (lambda s: sid(s, "ChangeChallengeTxtOnly").pop("Condition"), "not TXT"),
            "extra action": (lambda s: s.append({"Effect": "Allow", "Action": "secretsmanager:DeleteSecret",
                                                 "Resource": {"Ref": "CertificateSecret"}}),
                             "beyond aws/actions.hpp"),
            "lease missing": (lambda s: s.pop(index_of(s, "Lease")), "CreateSecret on"),
            "items widened": (lambda s: sid(s, "CertificateItems").pop("Condition"),
                              "another certificate's items"),
            "account item for the lease table": (
                lambda s: sid(s, "CertificateItems").__setitem__("Condition", {"ForAllValues:StringEquals": {
                    "dynamodb:LeadingKeys": [{"Ref": "SecretName"}, "_account"]}}),
                "the account item"),
            # DomainList=true (check_listed_scenario).
            "customer secrets missing": (lambda s: s.pop(index_of(s, "CustomerSecrets")),
                                         f"secretsmanager:CreateSecret on {secret_arn(PREFIX + '/' + CUSTOMER)}"),
            "customer secrets widened": (
                lambda s: sid(s, "CustomerSecrets").__setitem__(
                    "Resource", {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                                            "${AWS::AccountId}:secret:*"}),
                "not a customer's secret"),
            "ListSecrets with the dynamodb store": (
                lambda s: s[index_of(s, "FindRemovedCertificates")]["Fn::If"].__setitem__(0, "HasDomainList"),
                "(the removed-items report)"),
            "customer items keyed by the secret name": (
                lambda s: sid(s, "CertificateItems").__setitem__("Condition", {"ForAllValues:StringEquals": {
                    "dynamodb:LeadingKeys": [{"Ref": "SecretName"}]}}),
                "(a customer's items)"),
            "leases outside the prefix": (lambda s: sid(s, "CertificateItems").pop("Condition"),
                                          "(a lease outside the prefix)"),
            "lease only once created": (
                lambda s: sid(s, "Lease").__setitem__("Resource", sid(s, "Lease")["Resource"][1:]),
                "before it exists"),
        }
        for name, (change, expected) in cases.items():
            with self.subTest(name):
                problems = mutated(change)
                self.assertTrue(any(expected in p for p in problems),
                                f"{name}: expected a problem containing {expected!r}, got {problems[:5]}")

    def test_host_mutations_are_caught(self):
        """The hosts' certfetch --all grants (DomainList=true) can fail the check."""
        def host(stmts, name):
            inner = [x["Fn::If"][1] if isinstance(x, dict) and "Fn::If" in x else x for x in stmts]
            return next(x for x in inner if isinstance(x, dict) and x.get("Sid") == name)

        def drop(name):
            return lambda stmts: stmts.remove(next(x for x in stmts if isinstance(x, dict) and "Fn::If" in x and
                                                    x["Fn::If"][1].get("Sid") == name))

        everything = {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}
        cases = {
            "account item readable": (lambda stmts: host(stmts, "ReadCustomerCertificateItems").pop("Condition"),
                                      "can read the account item"),
            "items: Scan of every attribute": (lambda stmts: host(stmts, "ListCustomerCertificateItems").pop(
                "Condition"), "can scan every attribute"),
            "items: PutItem beside GetItem": (
                lambda stmts: host(stmts, "ReadCustomerCertificateItems").__setitem__(
                    "Action", ["dynamodb:GetItem", "dynamodb:PutItem"]), "the code needs"),
            "every secret readable": (lambda stmts: host(stmts, "ReadCustomerCertificates").__setitem__(
                "Resource", everything), "outside the prefix"),
            "no listing": (drop("ListCustomerCertificates"), "cannot list"),
            "account key readable": (drop("NotTheAccountKey"), "can read the ACME account"),
        }
        for name, (change, expected) in cases.items():
            with self.subTest(name):
                t = copy.deepcopy(self.template)
                change(t["Resources"]["CertfetchPolicy"]["Properties"]["PolicyDocument"]["Statement"])
                problems = check_template(t)
                self.assertTrue(any(expected in p for p in problems),
                                f"{name}: expected a problem containing {expected!r}, got {problems[:5]}")

    def test_cfn_lint(self):
        lint = shutil.which("cfn-lint")
        if not lint:
            self.skipTest("cfn-lint is not installed: schema check skipped")
        r = subprocess.run([lint, TEMPLATE], capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


# --- 3. single-host policy files and README ------------------------------------

PLACEHOLDERS = {"REGION": REGION, "ACCOUNT_ID": ACCOUNT, "SECRET_NAME": SECRET, "PREFIX": "customers/", "ZONE_ID": "Z111",
                "GROUP": "web", "CLUSTER/SERVICE": "prod/web", "TAG_KEY": "renewer-replace",
                "TAG_VALUE": "web-tier", "TABLE_NAME": TABLE_ARN.rsplit("/", 1)[1], "DOMAIN_TABLE": "customer-domains"}


def policy_file(name):
    text = read(os.path.join(SOURCE_DIR, "deploy", "iam", name))
    for key, value in PLACEHOLDERS.items():
        text = text.replace(key, value)
    return cfn.statements_of(json.loads(text))


def table_actions(caller):
    """The IAM actions of aws/actions.hpp's rows for `caller`."""
    return {f"{s}:{a}" for s, a, c in table_rows() if c == caller}


def lease_actions():
    """The job's DynamoDB actions with --lease-table: what the lease code
    calls (secrets/dynamodb_locker.cpp, found like every call site; it reads
    the item through DynamoDbApi::get_item). Not the bundle's UpdateItem, nor
    the account item: a lease table holds leases only (docs/stores.md#dynamodb)."""
    found, _ = call_site_actions()
    locker = "secrets/dynamodb_locker.cpp"
    actions = {f"{s}:{a}" for (s, a), sites in found.items() if any(x.startswith(locker + ":") for x in sites)}
    if "get_item(" in read(os.path.join(SOURCE_DIR, locker)):
        actions.add("dynamodb:GetItem")
    return actions & table_actions("renewer:dynamodb")


def granted_on_table(statements, where, wanted, what):
    """The DynamoDB actions granted on the table equal `wanted`: one missing
    or one extra is a problem; so is a grant on any other resource."""
    problems = []
    granted = {a for a in cfn.actions_of(statements) if a.startswith("dynamodb:")}
    if granted != wanted:
        problems.append(f"{where}: grants {sorted(granted)}, {what} {sorted(wanted)}")
    for st in statements:
        for resource in cfn.as_list(st.get("Resource", [])):
            if any(a.startswith("dynamodb:") for a in cfn.as_list(st.get("Action", []))) and resource != TABLE_ARN:
                problems.append(f"{where}: {resource} is not the table, the code needs {sorted(wanted)} on it")
    return problems


def dynamodb_file_problems(load):
    """deploy/iam's DynamoDB files (docs/stores.md#dynamodb), each loaded by
    load(name): the job with a dynamodb: store, the job with --lease-table
    beside the Secrets Manager files, and a web host reading its certificate."""
    problems = []
    route53 = load("route53.json")
    job = load("renewer-dynamodb.json")
    for replace in TARGETS:
        extra = [] if replace == "none" else load(f"replace-{replace}.json")
        problems += check_renewer(route53 + job + extra, replace, ["Z111"], {}, False, f"iam/dynamodb/{replace}",
                                  store="dynamodb")
    problems += granted_on_table(job, "iam/renewer-dynamodb.json", table_actions("renewer:dynamodb"),
                                 "aws/actions.hpp's renewer:dynamodb rows are")
    everything = [SECRET, SECRET + "-account", SECRET + "-lock", SECRET + "-replace-owed"]
    secret_resources = {a: everything for a in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                                                 "secretsmanager:CreateSecret")}
    leases = load("renewer-dynamodb-lease-table.json")
    problems += check_renewer(route53 + load("renewer-secrets.json") + leases, "none", ["Z111"], secret_resources,
                              False, "iam/lease-table", not_yet_created=everything, store="sm+lease-table")
    problems += granted_on_table(leases, "iam/renewer-dynamodb-lease-table.json", lease_actions(),
                                 "the lease code needs")
    host = load("certfetch-dynamodb.json")
    problems += check_certfetch(host, False, "iam/certfetch-dynamodb.json", store="dynamodb")
    problems += granted_on_table(host, "iam/certfetch-dynamodb.json", table_actions("certfetch:dynamodb"),
                                 "the code needs (certfetch:dynamodb rows)")
    return problems


class PolicyFiles(unittest.TestCase):
    def test_single_host_files(self):
        files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(SOURCE_DIR, "deploy", "iam", "*.json")))
        self.assertEqual(files, ["certfetch-all.json", "certfetch-dynamodb-all.json", "certfetch-dynamodb.json",
                                 "certfetch.json",
                                 "renewer-domain-list.json", "renewer-dynamodb-lease-table.json",
                                 "renewer-dynamodb.json", "renewer-secrets.json", "replace-autoscaling.json",
                                 "replace-ec2-tag.json", "replace-ecs.json", "route53.json"])
        base = policy_file("route53.json") + policy_file("renewer-secrets.json")
        # On a single host nothing creates the secrets beforehand: the code
        # creates all four on first use.
        everything = [SECRET, SECRET + "-account", SECRET + "-lock", SECRET + "-replace-owed"]
        secret_resources = {a: everything for a in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                                                     "secretsmanager:CreateSecret")}
        problems = []
        for replace in TARGETS:
            extra = [] if replace == "none" else policy_file(f"replace-{replace}.json")
            problems += check_renewer(base + extra, replace, ["Z111"], secret_resources, False, f"iam/{replace}",
                                      not_yet_created=everything)
        problems += check_certfetch(policy_file("certfetch.json"), False, "iam/certfetch.json")
        problems += check_certfetch_all(policy_file("certfetch-all.json"), "iam/certfetch-all.json")
        problems += check_certfetch_dynamodb_all(policy_file("certfetch-dynamodb-all.json"),
                                                 "iam/certfetch-dynamodb-all.json")
        problems += check_domain_list(policy_file("renewer-domain-list.json"), DOMAIN_TABLE_ARN % "customer-domains",
                                      "iam/renewer-domain-list.json")
        self.assertEqual(problems, [], "\n".join(problems))

    def test_single_host_dynamodb_files(self):
        problems = dynamodb_file_problems(policy_file)
        self.assertEqual(problems, [], "\n".join(problems))
        print("FIGURE policy-dynamodb-files: renewer-dynamodb.json grants %s, the lease-table file %s, "
              "certfetch-dynamodb.json %s" % (sorted(table_actions("renewer:dynamodb")), sorted(lease_actions()),
                                               sorted(table_actions("certfetch:dynamodb"))))

    def test_certfetch_dynamodb_all_mutations_are_caught(self):
        """The checker of certfetch-dynamodb-all.json can fail."""
        def scan_open(stmts):
            stmts[0].pop("Condition")

        def any_key(stmts):
            stmts[1].pop("Condition")

        def put_too(stmts):
            stmts[1]["Action"] = ["dynamodb:GetItem", "dynamodb:PutItem"]

        def no_get(stmts):
            del stmts[1]

        cases = {"scan without the attribute condition": (scan_open, "every attribute"),
                 "GetItem on any key": (any_key, "items of _account"),
                 "PutItem extra": (put_too, "the code needs"),
                 "GetItem missing": (no_get, "cannot read")}
        for name, (change, expected) in cases.items():
            with self.subTest(name):
                stmts = copy.deepcopy(policy_file("certfetch-dynamodb-all.json"))
                change(stmts)
                problems = check_certfetch_dynamodb_all(stmts, "mutated")
                self.assertTrue(any(expected in p for p in problems), f"{name}: {problems}")

    def test_dynamodb_file_mutations_are_caught(self):
        """The checker of the DynamoDB files can fail: a grant missing, one
        extra, a key condition widened or dropped."""
        def statement(stmts):
            return stmts[0]

        def remove(action):
            return lambda stmts: statement(stmts).__setitem__(
                "Action", [a for a in cfn.as_list(statement(stmts)["Action"]) if a != action])

        def add(action):
            return lambda stmts: statement(stmts).__setitem__(
                "Action", cfn.as_list(statement(stmts)["Action"]) + [action])

        def keys_(*pks):
            return lambda stmts: statement(stmts)["Condition"]["ForAllValues:StringEquals"].__setitem__(
                "dynamodb:LeadingKeys", list(pks))

        cases = {
            "job: DeleteItem missing": ("renewer-dynamodb.json", remove("dynamodb:DeleteItem"),
                                        "dynamodb:DeleteItem on"),
            "job: UpdateItem missing": ("renewer-dynamodb.json", remove("dynamodb:UpdateItem"),
                                        "dynamodb:UpdateItem on"),
            "job: Scan extra": ("renewer-dynamodb.json", add("dynamodb:Scan"), "beyond aws/actions.hpp"),
            "job: any key": ("renewer-dynamodb.json", lambda stmts: statement(stmts).pop("Condition"),
                             "another certificate's items"),
            "job: no account item": ("renewer-dynamodb.json", keys_(SECRET), "the account item"),
            "lease table: UpdateItem extra": ("renewer-dynamodb-lease-table.json", add("dynamodb:UpdateItem"),
                                              "the lease code needs"),
            "lease table: account item": ("renewer-dynamodb-lease-table.json", keys_(SECRET, "_account"),
                                          "the account item"),
            "lease table: PutItem missing": ("renewer-dynamodb-lease-table.json", remove("dynamodb:PutItem"),
                                             "dynamodb:PutItem on"),
            "host: Query extra": ("certfetch-dynamodb.json", add("dynamodb:Query"), "the code needs"),
            "host: GetItem missing": ("certfetch-dynamodb.json", remove("dynamodb:GetItem"), "the code needs"),
            "host: account item": ("certfetch-dynamodb.json", keys_(SECRET, "_account"),
                                   "can read the items of _account"),
            "host: another table": ("certfetch-dynamodb.json",
                                    lambda stmts: statement(stmts).__setitem__("Resource", TABLE_ARN + "*"),
                                    "the code needs"),
        }
        for name, (file, change, expected) in cases.items():
            with self.subTest(name):
                def load(n, file=file, change=change):
                    stmts = copy.deepcopy(policy_file(n))
                    if n == file:
                        change(stmts)
                    return stmts
                problems = dynamodb_file_problems(load)
                self.assertTrue(any(expected in p for p in problems),
                                f"{name}: expected a problem containing {expected!r}, got {problems[:5]}")

    def test_readme_iam_json_is_a_policy_file(self):
        readme = read(os.path.join(SOURCE_DIR, "README.md"))
        files = {}
        for path in glob.glob(os.path.join(SOURCE_DIR, "deploy", "iam", "*.json")):
            files[os.path.basename(path)] = json.loads(read(path))
        for block in re.findall(r"```json\n(.*?)```", readme, re.S):
            if '"Statement"' not in block:
                continue
            document = json.loads(block)
            self.assertIn(document, list(files.values()),
                          "README.md has an IAM policy that is not one of deploy/iam/*.json (keep one source)")
        for name in files:
            self.assertIn(f"deploy/iam/{name}", readme, f"README.md does not point at deploy/iam/{name}")


# --- 4. flags ---------------------------------------------------------------------

def help_flags(binary, *args):
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"{binary} {' '.join(args)} --help: exit {r.returncode}: {r.stderr}")
    return set(re.findall(r"--[a-z0-9][a-z0-9-]*", r.stdout))


class FlagsExist(unittest.TestCase):
    def test_template_flags_are_real(self):
        renewer = os.path.join(BUILD_DIR, "bin", "renewer")
        self.assertTrue(os.access(renewer, os.X_OK), f"{renewer} is not built")
        flags = help_flags(renewer, "run")
        for command in template_commands(cfn.load(TEMPLATE)):
            self.assertEqual(command[0], "run")
            used = {a.split("=", 1)[0] for a in command if isinstance(a, str) and a.startswith("--")}
            self.assertEqual(used - flags, set(), f"template passes flags `renewer run --help` lacks: {command}")

    def test_help_parser_sees_a_bogus_flag(self):
        renewer = os.path.join(BUILD_DIR, "bin", "renewer")
        self.assertNotIn("--no-such-flag", help_flags(renewer, "run"))
        self.assertIn("--store", help_flags(renewer, "run"))


# --- 4. the commands of a domain list deployment -------------------------------

def value_after(command, flag):
    for i, arg in enumerate(command):
        if arg == flag:
            return command[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


class TemplateCommands(unittest.TestCase):
    """The job's command line for each store with and without DomainList
    (docs/customer-domains.md#deploying-with-cloudformation), the same in
    Lambda and ECS, and the hosts' certfetch command for the same store."""

    @classmethod
    def setUpClass(cls):
        cls.template = cfn.load(TEMPLATE)

    def resolved(self, mode, store, listed, **extra):
        params = dict(scenario_parameters(mode, "ec2-tag", False, store, listed), **extra)
        return cfn.evaluate(self.template, params)

    def test_lambda_and_ecs_run_the_same_command(self):
        for store in STORES:
            for listed in (False, True):
                with self.subTest(store=store, domain_list=listed):
                    lam = command_of(self.resolved("lambda", store, listed)["Resources"], "lambda")
                    ecs = command_of(self.resolved("ecs", store, listed)["Resources"], "ecs")
                    self.assertEqual(without_ecs_only(ecs), lam)
                    self.assertEqual([f for f in ecs if f in ECS_ONLY], list(ECS_ONLY))

    def test_domain_list_command(self):
        stores = {"secretsmanager": f"aws-sm:{PREFIX}/{{name}}", "sm+lease-table": f"aws-sm:{PREFIX}/{{name}}",
                  "dynamodb": "dynamodb:stack-certificates/{name}"}
        for store, expected in stores.items():
            with self.subTest(store=store):
                command = command_of(self.resolved("lambda", store, True)["Resources"], "lambda")
                self.assertNotIn("--cert", command)
                self.assertEqual(value_after(command, "--certificates-from"), "dynamodb:stack-domains")
                self.assertEqual(value_after(command, "--store"), expected)
                self.assertEqual(value_after(command, "--customer-dns-zone"), CUSTOMER_ZONE)
                self.assertEqual(value_after(command, "--lease-table"),
                                 "stack-certificates" if store == "sm+lease-table" else None)
                # With KmsKeyArn the secrets the job creates use that key too (docs/stores.md#encryption).
                self.assertIsNone(value_after(command, "--kms-key-id"))
                keyed = command_of(self.resolved("lambda", store, True, KmsKeyArn=KMS_KEY)["Resources"], "lambda")
                self.assertEqual(value_after(keyed, "--kms-key-id"), KMS_KEY if store != "dynamodb" else None)
                single = command_of(self.resolved("lambda", store, False)["Resources"], "lambda")
                self.assertEqual(value_after(single, "--cert"), "example.com,*.example.com")
                self.assertNotIn("--certificates-from", single)
                self.assertIsNone(value_after(single, "--customer-dns-zone"))

    def test_secret_prefix_makes_one_slash(self):
        # CloudFormation matches AllowedPattern against the whole value.
        pattern = self.template["Parameters"]["SecretPrefix"]["AllowedPattern"]
        for good in ("customers", "fleet/customers", "a.b-c_d"):
            self.assertTrue(re.fullmatch(pattern, good), good)
        for bad in ("customers/", "", "cust omers", "customers/*"):
            self.assertFalse(re.fullmatch(pattern, bad), bad)

    def test_domains_are_required_without_a_domain_list(self):
        self.assertEqual(self.resolved("lambda", "dynamodb", True)["RuleFailures"], [])
        self.assertEqual(self.resolved("lambda", "dynamodb", False)["RuleFailures"], [])
        refused = self.resolved("lambda", "dynamodb", False, Domains="")["RuleFailures"]
        self.assertEqual(refused, ["Domains is required unless DomainList=true"])

    def test_certfetch_command_reads_the_jobs_store(self):
        certfetch = os.path.join(BUILD_DIR, "bin", "certfetch")
        self.assertTrue(os.access(certfetch, os.X_OK), f"{certfetch} is not built")
        flags = help_flags(certfetch)
        for store in STORES:
            for listed in (False, True):
                with self.subTest(store=store, domain_list=listed):
                    t = self.resolved("lambda", store, listed)
                    line = t["Outputs"]["CertfetchCommand"]["Value"].split()
                    self.assertEqual(line[0], "certfetch")
                    used = {a.split("=", 1)[0] for a in line if a.startswith("--")}
                    self.assertEqual(used - flags, set(), f"flags `certfetch --help` lacks: {line}")
                    self.assertEqual("--all" in line, listed)
                    job_store = value_after(command_of(t["Resources"], "lambda"), "--store")
                    if listed and store == "dynamodb":
                        self.assertEqual(value_after(line, "--store") + "/{name}", job_store)
                    elif listed:
                        self.assertEqual("aws-sm:" + value_after(line, "--secret-id") + "{name}", job_store)
                    elif store == "dynamodb":
                        self.assertEqual(value_after(line, "--store"), job_store)
                    else:
                        self.assertEqual("aws-sm:" + value_after(line, "--secret-id"), job_store)


# --- 5. parallel tasks ----------------------------------------------------------

class ParallelTasks(unittest.TestCase):
    """ParallelTasks (docs/deployment.md, "Parallel runs"): the schedule starts
    that many ECS tasks at once, and they share Let's Encrypt's 300 new orders
    per account per 3 hours through --max-new-orders."""

    def resolved(self, tasks):
        params = dict(scenario_parameters("ecs", "none", False), ParallelTasks=str(tasks))
        return cfn.evaluate(cfn.load(TEMPLATE), params)["Resources"]

    def test_tasks_share_the_order_budget(self):
        spec = cfn.load(TEMPLATE)["Parameters"]["ParallelTasks"]
        self.assertEqual(str(spec["Default"]), "1")
        for tasks in range(int(spec["MinValue"]), int(spec["MaxValue"]) + 1):
            with self.subTest(tasks=tasks):
                res = self.resolved(tasks)
                self.assertEqual(str(res["Schedule"]["Properties"]["Target"]["EcsParameters"]["TaskCount"]),
                                 str(tasks))
                command = res["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"]
                per_task = int(command[command.index("--max-new-orders") + 1])
                self.assertLessEqual(per_task * tasks, 300, "the tasks together would exceed the CA's limit")
                self.assertGreaterEqual(per_task * tasks, 270, "the tasks leave much of the budget unused")

    def test_one_task_has_the_whole_budget(self):
        command = self.resolved(1)["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"]
        self.assertEqual(command[command.index("--max-new-orders") + 1], "300")


if __name__ == "__main__":
    unittest.main()
