"""STS (Query, 2011-06-15): GetCallerIdentity, AssumeRole,
AssumeRoleWithWebIdentity.  Temporary credentials issued here are accepted
by the signature check (with their session token)."""

import base64
import json
import re

from protocols import AwsError, el, raw, iso8601_seconds
from state import ACCOUNT, rand_id

UNSIGNED = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}
_ROLE_RE = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")


def _role(params):
    arn = params.get("RoleArn", "")
    m = _ROLE_RE.match(arn)
    if not m:
        raise AwsError("ValidationError", f"{arn} is invalid" if arn else
                       "1 validation error detected: Value null at 'roleArn' failed "
                       "to satisfy constraint: Member must not be null")
    return arn, m.group(1), m.group(2)


def _session_name(params):
    name = params.get("RoleSessionName", "")
    if not re.match(r"^[\w+=,.@-]{2,64}$", name):
        raise AwsError("ValidationError", "1 validation error detected: Value at "
                       "'roleSessionName' failed to satisfy constraint: Member must "
                       "satisfy regular expression pattern: [\\w+=,.@-]*")
    return name


def _duration(params):
    d = int(params.get("DurationSeconds", 3600))
    if d < 900 or d > 43200:
        raise AwsError("ValidationError", f"1 validation error detected: Value '{d}' "
                       f"at 'durationSeconds' failed to satisfy constraint: Member must "
                       f"have value greater than or equal to 900")
    return d


def _creds_xml(store, arn, account, role, session, duration):
    role_id = "AROA" + rand_id("", 17)
    assumed = f"arn:aws:sts::{account}:assumed-role/{role}/{session}"
    c = store.issue_temporary(assumed, f"{role_id}:{session}", duration)
    return (raw("Credentials", el("AccessKeyId", c["AccessKeyId"])
                + el("SecretAccessKey", c["SecretAccessKey"])
                + el("SessionToken", c["SessionToken"])
                + el("Expiration", iso8601_seconds(c["Expiration"])))
            + raw("AssumedRoleUser", el("AssumedRoleId", f"{role_id}:{session}")
                  + el("Arn", assumed)), c)


def handle(store, call):
    p = call.params
    a = call.action
    if a == "GetCallerIdentity":
        cred = call.cred
        return (el("UserId", cred.get("user_id")) + el("Account", ACCOUNT)
                + el("Arn", cred["arn"]))
    if a == "AssumeRole":
        arn, account, role = _role(p)
        session = _session_name(p)
        duration = _duration(p)
        call.log.update({"RoleArn": arn, "RoleSessionName": session,
                         "ExternalId": p.get("ExternalId")})
        with store.lock:
            cfg = store.data["roles"].get(arn, {})
        want = cfg.get("external_id")
        if cfg.get("deny") or (want is not None and p.get("ExternalId") != want):
            raise AwsError("AccessDenied", f"User: {call.cred['arn']} is not authorized "
                           f"to perform: sts:AssumeRole on resource: {arn}", 403)
        xml, c = _creds_xml(store, arn, account, role, session, duration)
        call.log["issued_access_key"] = c["AccessKeyId"]
        return xml + el("PackedPolicySize", 0) if p.get("Policy") else xml
    if a == "AssumeRoleWithWebIdentity":
        arn, account, role = _role(p)
        session = _session_name(p)
        duration = _duration(p)
        token = p.get("WebIdentityToken", "")
        call.log.update({"RoleArn": arn, "RoleSessionName": session})
        parts = token.split(".")
        sub, aud, iss = "system:serviceaccount:default:renewer", "sts.amazonaws.com", None
        if len(parts) != 3 or not all(re.match(r"^[A-Za-z0-9_-]*$", x) for x in parts) \
                or not parts[0] or not parts[1]:
            raise AwsError("InvalidIdentityToken", "The ID Token provided is not a "
                           "valid JWT. (You may see this error if you sent an Access "
                           "Token)", 400)
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            sub = claims.get("sub", sub)
            aud = claims.get("aud", aud)
            iss = claims.get("iss")
        except Exception:
            pass
        with store.lock:
            cfg = store.data["roles"].get(arn, {})
        if cfg.get("deny"):
            raise AwsError("AccessDenied", "Not authorized to perform "
                           "sts:AssumeRoleWithWebIdentity", 403)
        xml, c = _creds_xml(store, arn, account, role, session, duration)
        call.log["issued_access_key"] = c["AccessKeyId"]
        if isinstance(aud, list):
            aud = aud[0] if aud else ""
        return (el("SubjectFromWebIdentityToken", sub) + el("Audience", aud) + xml
                + el("Provider", iss or "accounts.example.com"))
    raise AwsError("InvalidAction", f"Could not find operation {a} for version 2011-06-15")
