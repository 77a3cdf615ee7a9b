"""Credential endpoints: the ECS container credentials endpoint and IMDSv2.

ECS:  GET /v2/credentials/<id>              (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)
      GET /ecs/credentials/<id>             (AWS_CONTAINER_CREDENTIALS_FULL_URI;
                                             Authorization must equal the id's token)
IMDS: PUT /latest/api/token                 (X-aws-ec2-metadata-token-ttl-seconds)
      GET /latest/meta-data/iam/security-credentials/[<role>]
      GET /latest/meta-data/placement/region, /latest/dynamic/instance-identity/document
      (X-aws-ec2-metadata-token required: 401 without)

Credentials issued here are registered as temporary keys with session tokens.
Configure via POST /_fake/metadata (see control.py).
"""

import json
import secrets
import time

from protocols import iso8601_seconds
from state import ACCOUNT

DEFAULT_ECS_ID = "task-credentials"
DEFAULT_ROLE = "renewer-instance-role"


def _cfg(store):
    md = store.metadata
    md.setdefault("ecs", {DEFAULT_ECS_ID: {"token": None, "duration": 21600}})
    md.setdefault("imds", {"role": DEFAULT_ROLE, "duration": 21600, "tokens": {},
                           "disabled": False})
    return md


def configure(store, body):
    with store.lock:
        md = _cfg(store)
        if "ecs_id" in body or "ecs_token" in body:
            eid = body.get("ecs_id", DEFAULT_ECS_ID)
            md["ecs"][eid] = {"token": body.get("ecs_token"),
                              "duration": int(body.get("duration", 21600))}
        if "imds_role" in body:
            md["imds"]["role"] = body["imds_role"]
            md["imds"].pop("creds", None)
        if "imds_disabled" in body:
            md["imds"]["disabled"] = bool(body["imds_disabled"])
        if "duration" in body and "ecs_id" not in body:
            md["imds"]["duration"] = int(body["duration"])
            md["imds"].pop("creds", None)
        return {"ecs": {k: {"relative_uri": f"/v2/credentials/{k}",
                            "full_path": f"/ecs/credentials/{k}",
                            "token": v.get("token")} for k, v in md["ecs"].items()},
                "imds_role": md["imds"]["role"]}


def _fresh(store, holder, arn, session):
    c = holder.get("creds")
    now = time.time()
    if c is None or c["Expiration"] - now < min(300, holder["duration"] / 2):
        c = store.issue_temporary(arn, f"AROA{secrets.token_hex(8).upper()}:{session}",
                                  holder["duration"])
        holder["creds"] = c
    return c


def _json(status, obj):
    return status, {"Content-Type": "application/json"}, json.dumps(obj).encode()


def _text(status, text):
    return status, {"Content-Type": "text/plain"}, text.encode()


def handle_ecs(store, method, path, headers):
    if method != "GET":
        return _text(405, "method not allowed")
    full = path.startswith("/ecs/credentials/")
    eid = path.rstrip("/").rsplit("/", 1)[-1]
    with store.lock:
        md = _cfg(store)
        holder = md["ecs"].get(eid)
        if holder is None:
            return _json(404, {"code": "NotFound", "message": "Unable to find credentials"})
        if full and holder.get("token") is not None:
            if headers.get("authorization") != holder["token"]:
                return _json(401, {"code": "AccessDenied",
                                   "message": "Authorization token mismatch"})
        role_arn = f"arn:aws:iam::{ACCOUNT}:role/ecs-task-role"
        c = _fresh(store, holder, f"arn:aws:sts::{ACCOUNT}:assumed-role/ecs-task-role/{eid}", eid)
        store.calls.append({"time": time.time(), "service": "ecs-credentials",
                            "action": "GetCredentials", "access_key": None,
                            "params": {"id": eid, "full_uri": full}, "status": 200,
                            "code": None})
        return _json(200, {"AccessKeyId": c["AccessKeyId"],
                           "SecretAccessKey": c["SecretAccessKey"],
                           "Token": c["SessionToken"],
                           "Expiration": iso8601_seconds(c["Expiration"]),
                           "RoleArn": role_arn})


def handle_imds(store, method, path, headers):
    with store.lock:
        md = _cfg(store)
        imds = md["imds"]
        if imds.get("disabled"):
            return _text(404, "Not Found")
        if path == "/latest/api/token":
            if method != "PUT":
                return _text(405, "")
            ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds")
            if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return _text(400, "")
            tok = "AQAEA" + secrets.token_urlsafe(40)
            imds["tokens"][tok] = time.time() + int(ttl)
            store.calls.append({"time": time.time(), "service": "imds", "action": "GetToken",
                                "access_key": None, "params": {"ttl": int(ttl)},
                                "status": 200, "code": None})
            return 200, {"Content-Type": "text/plain",
                         "X-aws-ec2-metadata-token-ttl-seconds": ttl}, tok.encode()
        if method != "GET":
            return _text(405, "")
        tok = headers.get("x-aws-ec2-metadata-token")
        exp = imds["tokens"].get(tok or "")
        if exp is None or exp < time.time():
            return _text(401, "")
        role = imds["role"]
        p = path.rstrip("/")
        base = "/latest/meta-data/iam/security-credentials"
        if path in (base, base + "/"):
            return _text(200, role)
        if p == f"{base}/{role}":
            c = _fresh(store, imds, f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/i-0fake",
                       "i-0fake")
            store.calls.append({"time": time.time(), "service": "imds",
                                "action": "GetRoleCredentials", "access_key": None,
                                "params": {"role": role}, "status": 200, "code": None})
            return _json(200, {"Code": "Success",
                               "LastUpdated": iso8601_seconds(time.time()),
                               "Type": "AWS-HMAC", "AccessKeyId": c["AccessKeyId"],
                               "SecretAccessKey": c["SecretAccessKey"],
                               "Token": c["SessionToken"],
                               "Expiration": iso8601_seconds(c["Expiration"])})
        if p == "/latest/meta-data/placement/region":
            return _text(200, store.region)
        if p == "/latest/meta-data/placement/availability-zone":
            return _text(200, store.region + "a")
        if p == "/latest/meta-data/instance-id":
            return _text(200, "i-0fake")
        if p == "/latest/dynamic/instance-identity/document":
            return _json(200, {"region": store.region, "accountId": ACCOUNT,
                               "instanceId": "i-0fake",
                               "availabilityZone": store.region + "a"})
        return _text(404, "Not Found")
