"""EC2 (Query, 2016-11-15): DescribeInstances (filters), TerminateInstances.

Instance: {"InstanceId", "State", "since", "Tags": {k: v}, "InstanceType",
           "ImageId", "LaunchTime", "AvailabilityZone", "PrivateIpAddress",
           "ReservationId", "asg": group name or None}
States move on their own: pending -> running and shutting-down -> terminated
after TRANSITION seconds.  Terminating an instance of an Auto Scaling group
makes the group launch a replacement with the same tags (the tier respawns).
"""

import fnmatch
import time

from protocols import AwsError, el, raw, iso8601, q_list, q_structs
from state import ACCOUNT, hex_id

TRANSITION = 1.0
CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
         "stopping": 64, "stopped": 80}
FILTERS = ("tag:", "tag-key", "tag-value", "instance-state-name", "instance-id",
           "instance-type", "instance-state-code", "image-id", "availability-zone")


def new_instance(store, tags=None, state="running", instance_id=None, asg=None,
                 instance_type="t3.micro", image_id="ami-0fake0000000000000"):
    iid = instance_id or hex_id("i-", 17)
    n = len(store.data["instances"]) + 10
    inst = {"InstanceId": iid, "State": state, "since": time.time(),
            "Tags": dict(tags or {}), "InstanceType": instance_type, "ImageId": image_id,
            "LaunchTime": time.time(), "AvailabilityZone": store.region + "a",
            "PrivateIpAddress": f"10.0.{(n // 250) % 250}.{n % 250 + 1}",
            "ReservationId": hex_id("r-", 17), "asg": asg}
    if asg:
        inst["Tags"].setdefault("aws:autoscaling:groupName", asg)
    store.data["instances"][iid] = inst
    return inst


def tick(store):
    now = time.time()
    with store.lock:
        changed = False
        for inst in list(store.data["instances"].values()):
            if inst["State"] == "pending" and now - inst["since"] >= TRANSITION:
                inst["State"], inst["since"], changed = "running", now, True
            elif inst["State"] == "shutting-down" and now - inst["since"] >= TRANSITION:
                inst["State"], inst["since"], changed = "terminated", now, True
        if changed:
            store.save()


def terminate(store, iid, respawn=True):
    """Returns (previous, current) state names."""
    inst = store.data["instances"][iid]
    prev = inst["State"]
    if prev not in ("shutting-down", "terminated"):
        inst["State"], inst["since"] = "shutting-down", time.time()
        group = store.data["asgs"].get(inst.get("asg") or "")
        if group is not None:
            if iid in group["instances"]:
                group["instances"].remove(iid)
            if respawn:
                tags = {k: v for k, v in inst["Tags"].items()}
                new = new_instance(store, tags=tags, state="pending", asg=group["name"],
                                   instance_type=inst["InstanceType"])
                group["instances"].append(new["InstanceId"])
    return prev, inst["State"]


def _state_xml(tag, name):
    return raw(tag, el("code", CODES[name]) + el("name", name))


def instance_xml(inst):
    tags = "".join(raw("item", el("key", k) + el("value", v)) for k, v in inst["Tags"].items())
    ip = inst["PrivateIpAddress"]
    return raw("item",
               el("instanceId", inst["InstanceId"]) + el("imageId", inst["ImageId"])
               + _state_xml("instanceState", inst["State"])
               + el("privateDnsName", f"ip-{ip.replace('.', '-')}.ec2.internal")
               + el("dnsName", "") + el("reason", "") + el("amiLaunchIndex", 0)
               + el("productCodes", "") + el("instanceType", inst["InstanceType"])
               + el("launchTime", iso8601(inst["LaunchTime"]))
               + raw("placement", el("availabilityZone", inst["AvailabilityZone"])
                     + el("groupName", "") + el("tenancy", "default"))
               + raw("monitoring", el("state", "disabled"))
               + el("privateIpAddress", ip) + el("groupSet", "")
               + el("architecture", "x86_64") + el("rootDeviceType", "ebs")
               + el("rootDeviceName", "/dev/xvda") + el("blockDeviceMapping", "")
               + el("virtualizationType", "hvm") + el("hypervisor", "xen")
               + raw("tagSet", tags))


def _matches(inst, filters):
    for f in filters:
        name = f.get("Name", "")
        values = q_list(f, "Value")
        def any_match(candidates):
            return any(fnmatch.fnmatchcase(str(c), v) for c in candidates for v in values)
        if name.startswith("tag:"):
            key = name[4:]
            if key not in inst["Tags"] or not any_match([inst["Tags"][key]]):
                return False
        elif name == "tag-key":
            if not any_match(inst["Tags"].keys()):
                return False
        elif name == "tag-value":
            if not any_match(inst["Tags"].values()):
                return False
        elif name == "instance-state-name":
            if not any_match([inst["State"]]):
                return False
        elif name == "instance-state-code":
            if not any_match([CODES[inst["State"]]]):
                return False
        elif name == "instance-id":
            if not any_match([inst["InstanceId"]]):
                return False
        elif name == "instance-type":
            if not any_match([inst["InstanceType"]]):
                return False
        elif name == "image-id":
            if not any_match([inst["ImageId"]]):
                return False
        elif name == "availability-zone":
            if not any_match([inst["AvailabilityZone"]]):
                return False
        else:
            raise AwsError("InvalidParameterValue", f"The filter '{name}' is invalid")
    return True


def _ids(store, ids):
    missing = [i for i in ids if i not in store.data["instances"]]
    for i in ids:
        if not i.startswith("i-"):
            raise AwsError("InvalidInstanceID.Malformed",
                           f'Invalid id: "{i}" (expecting "i-...")')
    if len(missing) == 1:
        raise AwsError("InvalidInstanceID.NotFound",
                       f"The instance ID '{missing[0]}' does not exist")
    if missing:
        raise AwsError("InvalidInstanceID.NotFound",
                       f"The instance IDs '{', '.join(missing)}' do not exist")


def _dry_run(params):
    if params.get("DryRun") == "true":
        raise AwsError("DryRunOperation", "Request would have succeeded, but DryRun "
                       "flag is set.", 412)


def handle(store, call):
    p = call.params
    tick(store)
    if call.action == "DescribeInstances":
        _dry_run(p)
        ids = q_list(p, "InstanceId")
        filters = q_structs(p, "Filter")
        call.log["filters"] = {f.get("Name"): q_list(f, "Value") for f in filters}
        call.log["instance_ids"] = ids
        max_results = int(p.get("MaxResults", 1000))
        start = int(p.get("NextToken") or 0)
        with store.lock:
            _ids(store, ids)
            insts = [i for i in store.data["instances"].values()
                     if (not ids or i["InstanceId"] in ids) and _matches(i, filters)]
            page = insts[start:start + max_results]
            nxt = start + max_results if start + max_results < len(insts) else None
            res = "".join(raw("item", el("reservationId", i["ReservationId"])
                              + el("ownerId", ACCOUNT) + el("groupSet", "")
                              + raw("instancesSet", instance_xml(i))) for i in page)
            return raw("reservationSet", res) + (el("nextToken", str(nxt)) if nxt else "")
    if call.action == "TerminateInstances":
        ids = q_list(p, "InstanceId")
        call.log["instance_ids"] = ids
        if not ids:
            raise AwsError("MissingParameter", "The request must contain the parameter InstanceId")
        with store.lock:
            _ids(store, ids)
            _dry_run(p)
            items = []
            for iid in ids:
                prev, cur = terminate(store, iid)
                items.append(raw("item", el("instanceId", iid) + _state_xml("currentState", cur)
                                 + _state_xml("previousState", prev)))
            store.save()
            return raw("instancesSet", "".join(items))
    raise AwsError("InvalidAction", f"The action {call.action} is not valid for this web service.")
