"""Shared pieces of the fault and crash suites (docs/architecture.md#crash-safety): the real
`renewer` against Pebble and tests/fakeaws, with faults injected through the
fake's /_fake/ control endpoint, a Pebble that can be stopped and restarted
on the same port, runs that are killed when their log reaches a phase, and
snapshots of the zone and the secret to compare before/after.

Every figure a test measures is printed as one line starting with "FIGURE "
(grep the CTest log: `ctest -L faults -V | grep FIGURE`). Each suite adds its
counts to TOTALS and prints them once at the end: faults injected, kills
survived, certificates checked and lost/bad ones (must be zero).
"""

import calendar
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.path.insert(0, os.path.dirname(HERE))

import e2e_common  # noqa: E402
from e2e_common import (BlocklistPebble, E2eCase, RENEWER, Result, Stack, ZONE,  # noqa: E402,F401
                        cert_serial, norm_serial, openssl, split_pem)
from harness import pebble as pebble_mod  # noqa: E402
from keep_logs import KeepLogs  # noqa: E402

# Which store the suites run over (FAULTS_STORE): aws-sm (default), dynamodb,
# or lease-table (aws-sm keeping its leases in TABLE: --lease-table).
STORE = os.environ.get("FAULTS_STORE", "aws-sm")
STORES = ("aws-sm", "dynamodb", "lease-table")
if STORE not in STORES:
    raise SystemExit("FAULTS_STORE=%s: expected one of %s" % (STORE, ", ".join(STORES)))
TABLE = "faults-certs"
LEASE_SK = "lease"

TOTALS = {"faults_injected": 0, "kills_survived": 0, "certificates_checked": 0, "lost_or_bad": 0}


def figure(text):
    line = "FIGURE " + text
    print(line, flush=True)
    return line


def print_totals(suite):
    figure("%s totals: %d faults injected, %d kills survived, %d certificates checked, %d lost or bad" %
           (suite, TOTALS["faults_injected"], TOTALS["kills_survived"], TOTALS["certificates_checked"],
            TOTALS["lost_or_bad"]))


# ---- the run report (stdout), whatever its shape --------------------------------
def outcomes(result):
    """{certificate id: report entry} from a run's stdout: one JSON line per
    certificate ({"certificate": id, ...}) or one object with a
    "certificates" list ({"id": ...})."""
    out = {}
    for line in result.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "certificate" in obj and "outcome" in obj:
            out[obj["certificate"]] = obj
        for c in obj.get("certificates", []) if isinstance(obj.get("certificates"), list) else []:
            if isinstance(c, dict) and "id" in c:
                out[c["id"]] = c
    return out


# ---- Pebble that can stop and come back on the same port ------------------------
class RestartablePebble(BlocklistPebble):
    """The harness's Pebble, remembering its command line and environment so
    stop_process()/restart() can take it down and bring it back on the same
    ports with the same TLS certificate. Pebble keeps orders, accounts and
    its issuing root in memory: a restarted Pebble has forgotten them."""

    def start(self, dns_port, **kw):
        real_popen = pebble_mod.subprocess.Popen
        me = self

        def popen(cmd, *a, **k):
            if cmd and cmd[0] == pebble_mod.PEBBLE:
                me._cmd, me._env, me._cwd = list(cmd), dict(k.get("env") or os.environ), k.get("cwd")
            return real_popen(cmd, *a, **k)

        pebble_mod.subprocess.Popen = popen
        try:
            return super().start(dns_port, **kw)
        finally:
            pebble_mod.subprocess.Popen = real_popen

    def stop_process(self):
        pebble_mod._stop(self.proc)
        self.proc = None

    def restart(self, timeout=30):
        if self.proc is not None:
            self.stop_process()
        if getattr(self, "_log", None):
            self._log.close()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self._cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self._env,
                                     cwd=self._cwd)
        pebble_mod._wait(lambda: self._get(self.directory).status == 200, timeout, "pebble (restarted)", self.proc)
        return self


class FaultStack(Stack):
    """tests/fakeaws + a restartable Pebble; helpers to snapshot the zone and
    secrets and to count what the fake saw."""

    pebble_class = RestartablePebble

    def refresh_root(self):
        """After a Pebble restart: its new issuing root for --trust-root."""
        with open(self.root_file, "w") as f:
            f.write(self.ca.root_pem())

    # ---- zone ------------------------------------------------------------------
    def txt_sets(self, published=False):
        """{name: sorted values} of every TXT set in the zone (API or DNS view)."""
        out = {}
        for r in self.fake.records(self.zone_id, published=published):
            if r["Type"] == "TXT":
                vals = r.get("Values") or [x.get("Value") for x in r.get("ResourceRecords", [])]
                out[r["Name"]] = sorted(vals)
        return out

    def zone_state(self):
        return {"api": self.txt_sets(), "dns": self.txt_sets(published=True)}

    # ---- secrets ---------------------------------------------------------------
    def secret_state(self, name):
        """{"versions": {id: stages}, "current": parsed AWSCURRENT or None} for
        a secret in the fake (None when absent)."""
        s = self.secret(name)
        if s is None:
            return None
        versions, current = {}, None
        for vid, v in s["versions"].items():
            versions[vid] = sorted(v.get("stages", []))
            if "AWSCURRENT" in v.get("stages", []):
                current = json.loads(v["string"])
        return {"versions": versions, "current": current}

    def call_count(self, action=None, status_min=None, code=None):
        calls = self.fake.calls(action) if action else self.fake.calls()
        if status_min is not None:
            calls = [c for c in calls if (c.get("status") or 0) >= status_min]
        if code is not None:
            calls = [c for c in calls if c.get("error_code") == code or c.get("code") == code]
        return len(calls)

    # ---- the store, whichever FAULTS_STORE names -------------------------------
    # The suites reach the store only through these, so one suite runs over
    # every store (docs/stores.md).
    def store_spec(self, secret):
        """The --store value of the certificate `secret` (which may hold {name})."""
        if STORE == "dynamodb":
            self.dynamodb_table()
            return "dynamodb:%s/%s" % (TABLE, secret)
        return "aws-sm:" + secret

    def store_args(self, secret):
        args = ["--store", self.store_spec(secret)]
        if STORE == "lease-table":
            self.dynamodb_table()
            args += ["--lease-table", TABLE]
        return args

    @staticmethod
    def leases_in_table():
        return STORE in ("dynamodb", "lease-table")

    @staticmethod
    def store_actions():
        """Every AWS action the store (bundle, lease, notes) uses in a run."""
        sm = ["GetSecretValue", "CreateSecret", "PutSecretValue"]
        ddb = ["GetItem", "PutItem", "UpdateItem", "DeleteItem"]
        return {"aws-sm": sm, "dynamodb": ddb, "lease-table": sm + ["GetItem", "PutItem", "DeleteItem"]}[STORE]

    @staticmethod
    def bundle_write_actions():
        """The actions that write a certificate (the first one and the next)."""
        return ["UpdateItem", "PutItem"] if STORE == "dynamodb" else ["PutSecretValue", "CreateSecret"]

    @staticmethod
    def bundle_update_action():
        """The action that replaces a stored certificate by a new one: in
        Secrets Manager also the lease's write (docs/stores.md#leases), in
        DynamoDB the bundle item's alone (UpdateItem)."""
        return "UpdateItem" if STORE == "dynamodb" else "PutSecretValue"

    @staticmethod
    def lease_write_action(first=True):
        """The action that takes a lease (`first`: no run held it before)."""
        if STORE in ("dynamodb", "lease-table"):
            return "PutItem"
        return "CreateSecret" if first else "PutSecretValue"

    @staticmethod
    def lease_refusal_code():
        """What the store answers the loser of a race for a lease."""
        return "ConditionalCheckFailedException" if STORE in ("dynamodb", "lease-table") else \
            "ResourceExistsException"

    @staticmethod
    def writes_bundle(call, secret):
        """Whether the fake's logged `call` wrote the certificate `secret`."""
        p = call.get("params") or {}
        if STORE != "dynamodb":
            return call["action"] in ("PutSecretValue", "CreateSecret") and \
                secret in (p.get("SecretId"), p.get("Name"))
        key = p.get("Key") or p.get("Item") or {}
        return call["action"] in ("UpdateItem", "PutItem") and key.get("pk", {}).get("S") == secret and \
            key.get("sk", {}).get("S") == "bundle"

    def lease_item(self, secret):
        """The lease of `secret` as the store keeps it: {"token", "record"}
        (record: the parsed lease JSON), or None when there is none."""
        if not self.leases_in_table():
            s = super().secret(secret + "-lock")
            cur = [v["string"] for v in (s or {}).get("versions", {}).values() if "AWSCURRENT" in v["stages"]]
            if not cur:
                return None
            record = json.loads(cur[0])
            return {"token": record.get("token", ""), "record": record}
        item = self.dynamodb_table().get_item(TableName=TABLE, ConsistentRead=True,
                                              Key={"pk": {"S": secret}, "sk": {"S": LEASE_SK}}).get("Item")
        if item is None:
            return None
        return {"token": item.get("token", {}).get("S", ""), "record": json.loads(item["lease"]["S"])}

    def lease_writer(self):
        """A function writing a lease record for a secret as another run
        would (plant one, or take one over), unconditionally. The client is
        made now: building one costs a second of CPU on a loaded machine."""
        if not self.leases_in_table():
            sm = self.fake.client("secretsmanager", retries=3)

            def write_secret(secret, record):
                try:
                    sm.put_secret_value(SecretId=secret + "-lock", SecretString=json.dumps(record))
                except sm.exceptions.ResourceNotFoundException:
                    sm.create_secret(Name=secret + "-lock", SecretString=json.dumps(record))
            return write_secret
        ddb = self.dynamodb_table()

        def write_item(secret, record):
            expires = calendar.timegm(time.strptime(record["expires_at"], "%Y-%m-%dT%H:%M:%SZ"))
            ddb.put_item(TableName=TABLE, Item={"pk": {"S": secret}, "sk": {"S": LEASE_SK},
                                                "token": {"S": record["token"]}, "expires": {"N": str(expires)},
                                                "owner": {"S": record["owner"]}, "lease": {"S": json.dumps(record)}})
        return write_item

    # ---- FAULTS_STORE=dynamodb: the same suites over the DynamoDB store -------
    # (docs/stores.md#dynamodb). A "secret" NAME is the item (NAME, "bundle"),
    # NAME-lock the item (NAME, "lease"), NAME-replace-owed the note; each is
    # shown in the Secrets Manager shape the suites read, its versions being
    # the bundle item's version (AWSCURRENT) and its previous (AWSPREVIOUS).
    # With FAULTS_STORE=lease-table only NAME-lock is an item.
    def dynamodb_table(self):
        if getattr(self, "_ddb", None) is not None:
            return self._ddb
        ddb = self._ddb = self.fake.client("dynamodb")
        try:
            ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": "sk", "KeyType": "RANGE"}])
        except ddb.exceptions.ResourceInUseException:
            pass
        return ddb

    def secret(self, name):
        if STORE == "aws-sm" or (STORE == "lease-table" and not name.endswith("-lock")):
            return super().secret(name)
        ddb = self.dynamodb_table()
        pk, sk, field = name, "bundle", "bundle"
        if name.endswith("-lock"):
            pk, sk, field = name[:-len("-lock")], "lease", "lease"
        elif name.endswith("-replace-owed"):
            pk, sk, field = name[:-len("-replace-owed")], "note#replace-owed", "text"
        item = ddb.get_item(TableName=TABLE, ConsistentRead=True,
                            Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        if item is None or field not in item:
            return None
        versions = {"v%s" % item.get("version", {}).get("N", "1"): {"string": item[field]["S"],
                                                                    "stages": ["AWSCURRENT"]}}
        if "previous" in item:
            versions["previous"] = {"string": item["previous"]["S"], "stages": ["AWSPREVIOUS"]}
        return {"name": name, "versions": versions}


# ---- bundle checks ---------------------------------------------------------------
def bundle_problems(case, bundle, names, root_pem):
    """Why `bundle` (the secret's JSON) is not a complete, valid certificate
    for `names` chaining to root_pem; empty list when it is."""
    problems = []
    for key in ("certificate", "private_key", "chain", "domains", "not_after", "serial"):
        if key not in bundle:
            problems.append("missing " + key)
    if problems:
        return problems
    blocks = split_pem(bundle["certificate"])
    if len(blocks) < 2:
        return ["certificate holds %d PEM blocks, expected leaf + chain" % len(blocks)]
    leaf = blocks[0]
    try:
        if openssl("x509", "-noout", "-pubkey", input=leaf) != openssl("pkey", "-pubout", input=bundle["private_key"]):
            problems.append("private key does not match the certificate")
        try:
            case.assert_chain_verifies(leaf, "".join(blocks[1:]), root_pem)
        except AssertionError as e:
            problems.append(str(e))
        from e2e_common import cert_sans
        if cert_sans(leaf) != sorted(names):
            problems.append("names %s, expected %s" % (cert_sans(leaf), sorted(names)))
        if norm_serial(bundle["serial"]) != cert_serial(leaf):
            problems.append("serial field %s does not match the leaf %s" % (bundle["serial"], cert_serial(leaf)))
    except AssertionError as e:
        problems.append(str(e))
    return problems


# ---- a renewer process that can be killed at a phase -----------------------------
class Child:
    """`renewer` started in the background with stderr read line by line (JSON
    log records) on a thread. wait_for_log() blocks (bounded) until a record
    matches; kill()/term() signal it; finish() collects a Result."""

    def __init__(self, cmd, env):
        self.cmd = cmd
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.stdout = ""
        self._err_thread = threading.Thread(target=self._read_err, daemon=True)
        self._out_thread = threading.Thread(target=self._read_out, daemon=True)
        self._err_thread.start()
        self._out_thread.start()

    def _read_err(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF
            self.cond.notify_all()

    def _read_out(self):
        self.stdout = self.proc.stdout.read()

    def wait_for_log(self, pattern, timeout=60.0):
        """The first stderr line matching regex `pattern` (searched in the raw
        line); AssertionError when the process ends or `timeout` passes first."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    if line is None:
                        raise AssertionError("renewer ended before logging /%s/:\n%s" % (pattern, self.stderr()[-6000:]))
                    if rx.search(line):
                        return line
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("no log line /%s/ within %ss:\n%s" % (pattern, timeout, self.stderr()[-6000:]))
                self.cond.wait(min(left, 0.5))

    def stderr(self):
        with self.cond:
            return "".join(l for l in self.lines if l)

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        return self.finish(timeout=10)

    def finish(self, timeout=120):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError("renewer did not exit within %ss:\n%s" % (timeout, self.stderr()[-6000:]))
        self._err_thread.join(timeout=10)
        self._out_thread.join(timeout=10)
        return Result(self.cmd, self.proc.returncode, self.stdout, self.stderr(), time.monotonic() - self.started)

    def ensure_dead(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class FaultCase(KeepLogs, E2eCase):
    """Base class: one FaultStack per class; setUp clears faults and calls.
    A failed test keeps the stack's folders (spool, journal, accounts), the
    Pebble and fakeaws logs, its children's stderr and the logs of the runs
    it made (keep_logs.py)."""

    pebble_args = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Pebble reuses half of the valid authorizations by default
        # (PEBBLE_AUTHZREUSE=50): an order might then need no DNS-01 at all
        # and never reach the phases the crash tests wait for.
        args = dict(cls.pebble_args)
        args["extra_env"] = dict(args.get("extra_env") or {}, PEBBLE_AUTHZREUSE="0")
        cls.stack = FaultStack.start_for(cls, **args)

    def setUp(self):
        self.stack.fake.clear_faults()
        self.stack.fake.clear_denies()
        self.stack.fake.set_change_delay(0)
        self.addCleanup(self.stack.fake.clear_faults)

    def spawn(self, *args, env=None, account="default", log_level="debug"):
        s = self.stack
        cmd = [RENEWER, "run", *s.acme_args(account), *s.dns_args(), "--log-level", log_level, *args]
        child = Child(cmd, env or s.env())
        self.addCleanup(child.ensure_dead)
        self.started_child("renewer", lambda: "$ %s\n--- stdout ---\n%s\n--- stderr ---\n%s" %
                           (" ".join(cmd), child.stdout, child.stderr()))
        return child

    def tmpdir(self, prefix="e2e-"):
        """A new folder, kept when the test fails (removed after the copy)."""
        parent = self.defer_removal(tempfile.mkdtemp(prefix="e2e-"))
        return tempfile.mkdtemp(prefix=prefix, dir=parent)

    def run(self, result=None):
        self._first_log = e2e_common._log_counter[0]
        return super().run(result)

    def evidence(self):
        s = getattr(type(self), "stack", None)
        kept = []
        if s is not None:
            kept += [("stack", s.workdir), ("pebble", s.ca.workdir), ("fakeaws", s.fake.tmpdir)]
        # The runs made through e2e_common.run(), logged by keep_log() as
        # <binary>-<pid>-<n>.log: this test's are those numbered after its start.
        for n in range(self._first_log + 1, e2e_common._log_counter[0] + 1):
            for path in glob.glob(os.path.join(e2e_common.LOG_DIR, "*-%d-%03d.log" % (os.getpid(), n))):
                kept.append(("runs/" + os.path.basename(path), path))
        return kept

    def run_renewer(self, *args, account="default", log_level="debug", timeout=180, env=None):
        return self.stack.renewer("run", "--log-level", log_level, *args, account=account, timeout=timeout, env=env)

    def assert_no_txt(self, msg=""):
        state = self.stack.zone_state()
        self.assertEqual(state["api"], {}, "TXT values left in the zone (API view) %s" % msg)
        self.assertEqual(state["dns"], {}, "TXT values left in the zone (DNS view) %s" % msg)

    def assert_good_current(self, secret, names):
        """The secret's AWSCURRENT is a complete valid bundle for names (counted)."""
        state = self.stack.secret_state(secret)
        TOTALS["certificates_checked"] += 1
        if state is None or state["current"] is None:
            TOTALS["lost_or_bad"] += 1
            self.fail("%s has no AWSCURRENT" % secret)
        problems = bundle_problems(self, state["current"], names, self.stack.root_pem())
        if problems:
            TOTALS["lost_or_bad"] += 1
        self.assertEqual(problems, [], "%s AWSCURRENT is not a good bundle" % secret)
        return state["current"]

    def outcome(self, result, cert_id):
        o = outcomes(result)
        self.assertIn(cert_id, o, result.explain())
        return o[cert_id]
