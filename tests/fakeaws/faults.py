"""Fault injection and AccessDenied rules, configured via /_fake/.

A fault rule: {"action": "ChangeResourceRecordSets" | "*", "service": optional,
 "kind": "throttle" | "prior" | "error500" | "delay" | "drop" | "drop_after" | "custom",
 "count": N (calls still to affect; absent = unlimited),
 "probability": p (0..1, seeded RNG; absent = 1),
 "delay_ms": for kind delay, "code"/"status"/"message": for kind custom,
 "share": for kind unprocessed (DynamoDB BatchGetItem), the part of the keys
          answered as UnprocessedKeys (default 0.5; 1 = a throttling error)}
"""

import fnmatch
import time

from protocols import AwsError, DropConnection, code_for

KINDS = ("throttle", "prior", "error500", "delay", "drop", "drop_after", "custom",
         "unprocessed")


def add_fault(store, rule):
    kind = rule.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; one of {KINDS}")
    rule = dict(rule)
    rule.setdefault("action", "*")
    rule["hits"] = 0
    with store.lock:
        if "seed" in rule:
            import random
            store.rng = random.Random(rule["seed"])
        store.faults.append(rule)
    return rule


def add_deny(store, action, access_key=None, service=None, principal=None):
    """AccessDenied for `action` (or "*"), optionally only for one access key,
    one service, or principals whose ARN matches the glob `principal`
    (e.g. "*:assumed-role/dns-owner/*")."""
    with store.lock:
        store.denies.append({"action": action, "access_key": access_key,
                             "service": service, "principal": principal})


def check_deny(store, service, action, cred, resource):
    with store.lock:
        hit = any((d["action"] in (action, "*")) and
                  (d.get("access_key") in (None, cred["access_key"])) and
                  (d.get("service") in (None, service)) and
                  (d.get("principal") is None or
                   fnmatch.fnmatchcase(cred.get("arn") or "", d["principal"]))
                  for d in store.denies)
    if not hit:
        return
    from protocols import PROTOCOL
    protocol = PROTOCOL[service]
    code, status = code_for(protocol, service, "access_denied")
    prefix = {"ec2": "You are not authorized to perform this operation. "}.get(service, "")
    msg = (f"{prefix}User: {cred['arn']} is not authorized to perform: "
           f"{service}:{action} on resource: {resource}")
    if service == "ec2":
        msg = f"You are not authorized to perform this operation. User: {cred['arn']} is not authorized to perform: ec2:{action}"
    raise AwsError(code, msg, status)


def set_rate_limit(store, key, per_second, burst=None):
    """Token bucket per service (or action): beyond `per_second` calls per
    second (bursts up to `burst`) calls are throttled as AWS does, e.g.
    Route53's account-wide 5 requests per second.  per_second=None removes it."""
    with store.lock:
        if per_second is None:
            store.rate_limits.pop(key, None)
            return
        burst = float(burst if burst is not None else per_second)
        store.rate_limits[key] = {"rate": float(per_second), "burst": burst,
                                  "tokens": burst, "last": time.monotonic(),
                                  "throttled": 0}


def _rate_limited(store, service, action):
    now = time.monotonic()
    for key in (action, service):
        b = store.rate_limits.get(key)
        if b is None:
            continue
        b["tokens"] = min(b["burst"], b["tokens"] + (now - b["last"]) * b["rate"])
        b["last"] = now
        if b["tokens"] < 1.0:
            b["throttled"] += 1
            return True
        b["tokens"] -= 1.0
    return False


def apply_faults(store, service, action):
    """Called once per AWS call after authentication.  May sleep, raise an
    AwsError, or raise DropConnection.  Returns True when a "drop_after" rule
    matched: the call is carried out and then the connection closes without
    an answer (a lost response: the change happened, the caller cannot know)."""
    delay = 0.0
    error = None
    drop_after = False
    with store.lock:
        if store.rate_limits and _rate_limited(store, service, action):
            error = {"kind": "throttle"}
        for rule in ([] if error else store.faults):
            if rule["action"] not in (action, "*") or rule["kind"] == "unprocessed":
                continue
            if rule.get("service") not in (None, service):
                continue
            if rule.get("count") is not None and rule["hits"] >= rule["count"]:
                continue
            p = rule.get("probability")
            if p is not None and store.rng.random() >= float(p):
                continue
            rule["hits"] += 1
            kind = rule["kind"]
            if kind == "delay":
                delay += float(rule.get("delay_ms", 1000)) / 1000.0
                continue
            if kind == "drop_after":
                drop_after = True  # the call goes through: no other rule applies to it
                break
            error = rule
            break
    if delay:
        time.sleep(delay)
    if error is None:
        return drop_after
    from protocols import PROTOCOL
    protocol = PROTOCOL[service]
    kind = error["kind"]
    if kind == "drop":
        raise DropConnection()
    if kind == "throttle" and service == "dynamodb":
        import dynamodb
        raise AwsError(*dynamodb.throttle_code(action), 400)
    if kind == "throttle":
        code, status = code_for(protocol, service, "throttle")
        msg = "Request limit exceeded." if service == "ec2" else "Rate exceeded"
        raise AwsError(code, msg, status)
    if kind == "prior":
        raise AwsError("PriorRequestNotComplete",
                       "The request was rejected because Route 53 was still "
                       "processing a prior request.", 400)
    if kind == "error500":
        code, status = code_for(protocol, service, "internal")
        msg = ("An internal error has occurred" if service == "ec2" else
               "We encountered an internal error. Please try again.")
        raise AwsError(code, msg, status, sender=False)
    if kind == "custom":
        raise AwsError(error.get("code", "InternalFailure"),
                       error.get("message", "injected"),
                       int(error.get("status", 400)))


def take_unprocessed(store, service, action):
    """The share of a batch's keys an "unprocessed" rule leaves unanswered
    (0 when none applies); consumes one use of the rule like the others."""
    with store.lock:
        for rule in store.faults:
            if rule["kind"] != "unprocessed" or rule["action"] not in (action, "*"):
                continue
            if rule.get("service") not in (None, service):
                continue
            if rule.get("count") is not None and rule["hits"] >= rule["count"]:
                continue
            p = rule.get("probability")
            if p is not None and store.rng.random() >= float(p):
                continue
            rule["hits"] += 1
            return min(1.0, max(0.0, float(rule.get("share", 0.5))))
    return 0.0
