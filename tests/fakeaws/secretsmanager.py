"""Secrets Manager (JSON 1.1, target prefix "secretsmanager").

Secret: {"name", "arn", "description", "kms_key_id", "tags": [{"Key","Value"}],
         "created", "last_changed", "deleted": epoch or None,
         "versions": {vid: {"string"|"binary"(base64), "stages": [...],
                            "created", "token"}}}
"""

import base64
import time

from protocols import AwsError
from state import ACCOUNT, new_uuid, rand_id

MAX_SIZE = 65536
NOT_FOUND = "Secrets Manager can't find the specified secret."


def _arn(store, name):
    import secrets as _s
    import string
    suffix = "".join(_s.choice(string.ascii_letters + string.digits) for _ in range(6))
    return f"arn:aws:secretsmanager:{store.region}:{ACCOUNT}:secret:{name}-{suffix}"


def find(store, secret_id, allow_deleted=True):
    if not secret_id:
        raise AwsError("InvalidParameterException", "You must provide SecretId.")
    secrets = store.data["secrets"]
    s = secrets.get(secret_id)
    if s is None:
        for cand in secrets.values():
            if secret_id == cand["arn"] or (secret_id.startswith("arn:") and
                                            cand["arn"].rsplit("-", 1)[0] == secret_id):
                s = cand
                break
    if s is None:
        raise AwsError("ResourceNotFoundException", NOT_FOUND)
    if s.get("deleted") and not allow_deleted:
        raise AwsError("InvalidRequestException",
                       "You can't perform this operation on the secret because it was "
                       "marked for deletion.")
    return s


def _value_from(body):
    has_s = "SecretString" in body and body["SecretString"] is not None
    has_b = "SecretBinary" in body and body["SecretBinary"] is not None
    if has_s and has_b:
        raise AwsError("InvalidParameterException",
                       "You can't specify both a binary secret value and a string "
                       "secret value in the same secret.")
    if has_s:
        s = body["SecretString"]
        if len(s.encode()) > MAX_SIZE:
            raise AwsError("ValidationException",
                           "1 validation error detected: Value at 'secretString' failed "
                           "to satisfy constraint: Member must have length less than or "
                           f"equal to {MAX_SIZE}")
        return {"string": s}
    if has_b:
        try:
            raw = base64.b64decode(body["SecretBinary"], validate=True)
        except Exception:
            raise AwsError("InvalidParameterException", "Invalid base64 in SecretBinary")
        if len(raw) > MAX_SIZE:
            raise AwsError("ValidationException",
                           "1 validation error detected: Value at 'secretBinary' failed "
                           "to satisfy constraint: Member must have length less than or "
                           f"equal to {MAX_SIZE}")
        return {"binary": body["SecretBinary"]}
    return None


def _add_version(secret, vid, value, token, now):
    """New version gets AWSCURRENT; the old current becomes AWSPREVIOUS; the old
    AWSPREVIOUS loses that label (AWS's rotation of labels)."""
    versions = secret["versions"]
    for v in versions.values():
        if "AWSPREVIOUS" in v["stages"]:
            v["stages"].remove("AWSPREVIOUS")
    for v in versions.values():
        if "AWSCURRENT" in v["stages"]:
            v["stages"].remove("AWSCURRENT")
            v["stages"].append("AWSPREVIOUS")
    entry = dict(value)
    entry.update({"stages": ["AWSCURRENT"], "created": now, "token": token})
    versions[vid] = entry
    secret["last_changed"] = now


def _same_value(a, b):
    return a.get("string") == b.get("string") and a.get("binary") == b.get("binary")


def handle(store, call):
    fn = globals().get("op_" + call.action)
    if fn is None:
        raise AwsError("UnknownOperationException", "")
    return fn(store, call, call.json)


def op_CreateSecret(store, call, b):
    name = b.get("Name")
    if not name:
        raise AwsError("InvalidParameterException", "You must provide Name.")
    call.log["name"] = name
    value = _value_from(b)
    now = time.time()
    token = b.get("ClientRequestToken") or new_uuid()
    with store.lock:
        existing = store.data["secrets"].get(name)
        if existing is not None:
            if existing.get("deleted"):
                raise AwsError("InvalidRequestException",
                               "You can't create this secret because a secret with this "
                               "name is already scheduled for deletion.")
            if token in existing["versions"] and value is not None and \
                    _same_value(existing["versions"][token], value):
                return {"ARN": existing["arn"], "Name": name, "VersionId": token}
            raise AwsError("ResourceExistsException",
                           f"The operation failed because the secret {name} already exists.")
        secret = {"name": name, "arn": _arn(store, name),
                  "description": b.get("Description"), "kms_key_id": b.get("KmsKeyId"),
                  "tags": list(b.get("Tags") or []), "created": now,
                  "last_changed": now, "deleted": None, "versions": {}}
        out = {"ARN": secret["arn"], "Name": name}
        if value is not None:
            _add_version(secret, token, value, token, now)
            out["VersionId"] = token
            call.log["version_id"] = token
        store.data["secrets"][name] = secret
        store.save()
        return out


def op_PutSecretValue(store, call, b):
    value = _value_from(b)
    if value is None:
        raise AwsError("InvalidRequestException",
                       "You must provide either SecretString or SecretBinary.")
    token = b.get("ClientRequestToken") or new_uuid()
    stages = b.get("VersionStages")
    now = time.time()
    with store.lock:
        secret = find(store, b.get("SecretId"), allow_deleted=False)
        call.log["name"] = secret["name"]
        call.log["version_id"] = token
        existing = secret["versions"].get(token)
        if existing is not None:
            if _same_value(existing, value):
                return {"ARN": secret["arn"], "Name": secret["name"],
                        "VersionId": token, "VersionStages": list(existing["stages"])}
            raise AwsError("ResourceExistsException",
                           "You can't modify an existing version, you can only create a "
                           "new version.")
        if stages and "AWSCURRENT" not in stages:
            for st in stages:
                for v in secret["versions"].values():
                    if st in v["stages"]:
                        v["stages"].remove(st)
            entry = dict(value)
            entry.update({"stages": list(stages), "created": now, "token": token})
            secret["versions"][token] = entry
        else:
            _add_version(secret, token, value, token, now)
            extra = [s for s in (stages or []) if s != "AWSCURRENT"]
            for st in extra:
                for v in secret["versions"].values():
                    if st in v["stages"]:
                        v["stages"].remove(st)
                secret["versions"][token]["stages"].append(st)
        secret["last_changed"] = now
        store.save()
        return {"ARN": secret["arn"], "Name": secret["name"], "VersionId": token,
                "VersionStages": list(secret["versions"][token]["stages"])}


def op_GetSecretValue(store, call, b):
    vid = b.get("VersionId")
    stage = b.get("VersionStage")
    with store.lock:
        secret = find(store, b.get("SecretId"), allow_deleted=False)
        call.log["name"] = secret["name"]
        if vid:
            v = secret["versions"].get(vid)
            if v is None or (stage and stage not in v["stages"]):
                raise AwsError("ResourceNotFoundException",
                               f"Secrets Manager can't find the specified secret value "
                               f"for VersionId: {vid}")
        else:
            stage = stage or "AWSCURRENT"
            found = [(k, v) for k, v in secret["versions"].items() if stage in v["stages"]]
            if not found:
                raise AwsError("ResourceNotFoundException",
                               f"Secrets Manager can't find the specified secret value "
                               f"for staging label: {stage}")
            vid, v = found[0]
        call.log["version_id"] = vid
        call.log["stage"] = stage
        out = {"ARN": secret["arn"], "Name": secret["name"], "VersionId": vid,
               "VersionStages": list(v["stages"]), "CreatedDate": v["created"]}
        if "string" in v:
            out["SecretString"] = v["string"]
        else:
            out["SecretBinary"] = v["binary"]
        return out


def _describe(secret):
    out = {"ARN": secret["arn"], "Name": secret["name"],
           "LastChangedDate": secret["last_changed"], "CreatedDate": secret["created"],
           "VersionIdsToStages": {k: list(v["stages"]) for k, v in
                                  secret["versions"].items() if v["stages"]}}
    if secret.get("description"):
        out["Description"] = secret["description"]
    if secret.get("kms_key_id"):
        out["KmsKeyId"] = secret["kms_key_id"]
    if secret.get("tags"):
        out["Tags"] = list(secret["tags"])
    if secret.get("deleted"):
        out["DeletedDate"] = secret["deleted"]
    return out


def op_DescribeSecret(store, call, b):
    with store.lock:
        secret = find(store, b.get("SecretId"))
        call.log["name"] = secret["name"]
        return _describe(secret)


def op_ListSecretVersionIds(store, call, b):
    include = bool(b.get("IncludeDeprecated"))
    with store.lock:
        secret = find(store, b.get("SecretId"))
        call.log["name"] = secret["name"]
        vs = sorted(secret["versions"].items(), key=lambda kv: kv[1]["created"], reverse=True)
        out = []
        for vid, v in vs:
            if not v["stages"] and not include:
                continue
            e = {"VersionId": vid, "CreatedDate": v["created"]}
            if v["stages"]:
                e["VersionStages"] = list(v["stages"])
            out.append(e)
        return {"Versions": out, "ARN": secret["arn"], "Name": secret["name"]}


def _name_filters(b):
    """ListSecrets Filters, only the "name" key (prefix match, case-sensitive;
    a leading "!" negates), which is all renewer sends; other keys are refused
    so a client relying on them notices."""
    prefixes = []
    for f in b.get("Filters") or []:
        if f.get("Key") != "name":
            raise AwsError("InvalidParameterException",
                           "fakeaws supports only the 'name' filter key, not %r" % f.get("Key"))
        prefixes.extend(f.get("Values") or [])
    return prefixes


def _name_matches(name, prefixes):
    positive = [p for p in prefixes if not p.startswith("!")]
    negative = [p[1:] for p in prefixes if p.startswith("!")]
    if positive and not any(name.startswith(p) for p in positive):
        return False
    return not any(name.startswith(p) for p in negative)


def op_ListSecrets(store, call, b):
    # Pages of MaxResults (1..100, botocore's MaxResultsType), NextToken an
    # opaque offset into the name-sorted list.
    limit = b.get("MaxResults") or 100
    if not 1 <= int(limit) <= 100:
        raise AwsError("InvalidParameterException", "MaxResults must be between 1 and 100")
    prefixes = _name_filters(b)
    try:
        start = int(b.get("NextToken") or 0)
    except ValueError:
        raise AwsError("InvalidNextTokenException", "The NextToken value is invalid.")
    with store.lock:
        names = sorted(n for n, s in store.data["secrets"].items()
                       if not s.get("deleted") and _name_matches(n, prefixes))
        out = []
        for name in names[start:start + int(limit)]:
            d = _describe(store.data["secrets"][name])
            d["SecretVersionsToStages"] = d.pop("VersionIdsToStages")
            out.append(d)
        answer = {"SecretList": out}
        if start + int(limit) < len(names):
            answer["NextToken"] = str(start + int(limit))
        return answer


def op_DeleteSecret(store, call, b):
    now = time.time()
    with store.lock:
        secret = find(store, b.get("SecretId"))
        call.log["name"] = secret["name"]
        if b.get("ForceDeleteWithoutRecovery"):
            del store.data["secrets"][secret["name"]]
            when = now
        else:
            days = int(b.get("RecoveryWindowInDays") or 30)
            when = now + days * 86400
            secret["deleted"] = when
        store.save()
        return {"ARN": secret["arn"], "Name": secret["name"], "DeletionDate": when}


def op_RestoreSecret(store, call, b):
    with store.lock:
        secret = find(store, b.get("SecretId"))
        secret["deleted"] = None
        store.save()
        return {"ARN": secret["arn"], "Name": secret["name"]}


def op_UpdateSecretVersionStage(store, call, b):
    stage = b.get("VersionStage")
    move_to = b.get("MoveToVersionId")
    remove_from = b.get("RemoveFromVersionId")
    with store.lock:
        secret = find(store, b.get("SecretId"), allow_deleted=False)
        versions = secret["versions"]
        holder = [k for k, v in versions.items() if stage in v["stages"]]
        if holder and move_to and holder[0] != move_to and remove_from != holder[0]:
            raise AwsError("InvalidParameterException",
                           f"The parameter RemoveFromVersionId can't be empty. Staging "
                           f"label {stage} is currently attached to version {holder[0]}, "
                           f"so you must explicitly reference that version in "
                           f"RemoveFromVersionId.")
        for vid in (move_to, remove_from):
            if vid and vid not in versions:
                raise AwsError("ResourceNotFoundException",
                               f"Secrets Manager can't find the specified secret value "
                               f"for VersionId: {vid}")
        if remove_from and stage in versions[remove_from]["stages"]:
            versions[remove_from]["stages"].remove(stage)
            if stage == "AWSCURRENT":
                for v in versions.values():
                    if "AWSPREVIOUS" in v["stages"]:
                        v["stages"].remove("AWSPREVIOUS")
                versions[remove_from]["stages"].append("AWSPREVIOUS")
        if move_to and stage not in versions[move_to]["stages"]:
            versions[move_to]["stages"].append(stage)
            if stage == "AWSCURRENT" and "AWSPREVIOUS" in versions[move_to]["stages"]:
                versions[move_to]["stages"].remove("AWSPREVIOUS")
        store.save()
        return {"ARN": secret["arn"], "Name": secret["name"]}


def op_TagResource(store, call, b):
    with store.lock:
        secret = find(store, b.get("SecretId"), allow_deleted=False)
        tags = {t["Key"]: t["Value"] for t in secret["tags"]}
        for t in b.get("Tags") or []:
            tags[t["Key"]] = t["Value"]
        secret["tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        store.save()
        return {}


def op_UpdateSecret(store, call, b):
    value = _value_from(b)
    now = time.time()
    with store.lock:
        secret = find(store, b.get("SecretId"), allow_deleted=False)
        if "Description" in b:
            secret["description"] = b["Description"]
        if "KmsKeyId" in b:
            secret["kms_key_id"] = b["KmsKeyId"]
        out = {"ARN": secret["arn"], "Name": secret["name"]}
        if value is not None:
            token = b.get("ClientRequestToken") or new_uuid()
            _add_version(secret, token, value, token, now)
            out["VersionId"] = token
        store.save()
        return out


def seed_secret(store, name, string=None, binary=None, **kw):
    """Control endpoint: create a secret (or add a version) directly."""
    now = time.time()
    with store.lock:
        secret = store.data["secrets"].get(name)
        if secret is None:
            secret = {"name": name, "arn": _arn(store, name),
                      "description": kw.get("description"), "kms_key_id": kw.get("kms_key_id"),
                      "tags": kw.get("tags") or [], "created": now, "last_changed": now,
                      "deleted": None, "versions": {}}
            store.data["secrets"][name] = secret
        vid = kw.get("version_id") or new_uuid()
        value = {"string": string} if binary is None else {"binary": binary}
        _add_version(secret, vid, value, vid, now)
        store.save()
        return {"ARN": secret["arn"], "Name": name, "VersionId": vid}


_ = rand_id
