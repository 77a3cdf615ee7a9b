"""The fake's whole state: one lock, plain dicts, optional JSON persistence.

Every service module reads and writes `Store.data` while holding `Store.lock`
and calls `Store.save()` after a mutation.  Keeping the state as plain JSON
types makes the state file a straight dump of it.
"""

import copy
import json
import os
import random
import secrets
import string
import threading
import time

ACCOUNT = "123456789012"
DEFAULT_AKID = "AKIDEXAMPLE"
DEFAULT_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

_UPPER_ALNUM = string.ascii_uppercase + string.digits


def rand_id(prefix, n, alphabet=_UPPER_ALNUM):
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def hex_id(prefix, n):
    return prefix + secrets.token_hex((n + 1) // 2)[:n]


def new_uuid():
    import uuid
    return str(uuid.uuid4())


def empty_data():
    return {
        "zones": {},        # id -> zone (see route53.py)
        "changes": {},      # id -> change
        "seq": 0,           # monotonically increasing change sequence
        "secrets": {},      # name -> secret (see secretsmanager.py)
        "instances": {},    # id -> instance (see ec2.py)
        "asgs": {},         # name -> group (see autoscaling.py)
        "ecs": {},          # "cluster/service" -> service (see ecs.py)
        "credentials": {},  # access key -> {secret, token, arn, expires}
        "roles": {},        # role arn -> {external_id}
        "dynamodb": {},     # table name -> table (see dynamodb.py)
    }


class Store:
    def __init__(self, state_file=None, change_delay=0.0, region="us-east-1",
                 credentials=None):
        self.lock = threading.RLock()
        self.state_file = state_file
        self.change_delay = float(change_delay)
        self.region = region
        self.initial_credentials = credentials or [(DEFAULT_AKID, DEFAULT_SECRET)]
        self.data = empty_data()
        # Volatile (not persisted) parts.
        self.calls = []
        self.denies = []     # {"action", "access_key"}
        self.faults = []     # see faults.py
        self.rate_limits = {}  # service or action -> token bucket (faults.py)
        self.rng = random.Random(0)
        self.metadata = {}   # see metadata.py
        self._install_initial_credentials()
        if state_file and os.path.exists(state_file):
            with open(state_file, encoding="utf-8") as f:
                loaded = json.load(f)
            base = empty_data()
            base.update(loaded)
            self.data = base
            self._install_initial_credentials()

    def _install_initial_credentials(self):
        for akid, secret in self.initial_credentials:
            self.data["credentials"][akid] = {
                "secret": secret, "token": None,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/test",
                "user_id": "AIDA" + akid[-12:].upper().rjust(12, "X"),
                "expires": None}

    def reset(self):
        with self.lock:
            self.data = empty_data()
            self.calls.clear()
            self.denies.clear()
            self.faults.clear()
            self.rate_limits.clear()
            self.rng = random.Random(0)
            self.metadata.clear()
            self._install_initial_credentials()
            self.save()

    def save(self):
        """Write the state file atomically (temp file + rename)."""
        if not self.state_file:
            return
        with self.lock:
            text = json.dumps(self.data, sort_keys=True)
            tmp = f"{self.state_file}.tmp.{os.getpid()}.{threading.get_ident()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state_file)

    # ---- credentials -------------------------------------------------
    def add_credentials(self, akid, secret, token=None, arn=None,
                        expires=None, user_id=None):
        with self.lock:
            self.data["credentials"][akid] = {
                "secret": secret, "token": token,
                "arn": arn or f"arn:aws:iam::{ACCOUNT}:user/test",
                "user_id": user_id or ("AIDA" + rand_id("", 16)),
                "expires": expires}
            self.save()

    def issue_temporary(self, arn, user_id, duration):
        """Create a temporary key pair + session token, like STS does."""
        akid = rand_id("ASIA", 16)
        secret = "".join(secrets.choice(string.ascii_letters + string.digits + "+/")
                         for _ in range(40))
        token = "FQoGZXIvYXdzE" + secrets.token_urlsafe(96)
        expires = time.time() + duration
        self.add_credentials(akid, secret, token=token, arn=arn,
                             expires=expires, user_id=user_id)
        return {"AccessKeyId": akid, "SecretAccessKey": secret,
                "SessionToken": token, "Expiration": expires}

    def snapshot(self):
        with self.lock:
            return copy.deepcopy(self.data)
