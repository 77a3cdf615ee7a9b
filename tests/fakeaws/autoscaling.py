"""Auto Scaling (Query, 2011-01-01): StartInstanceRefresh,
DescribeInstanceRefreshes, CancelInstanceRefresh, DescribeAutoScalingGroups.

Group: {"name", "arn", "min", "max", "desired", "instances": [ids], "created",
        "refresh_seconds", "tags": {k: v}, "refreshes": [refresh, newest last]}
A refresh runs for refresh_seconds (lazily evaluated), then is Successful and
the group's instances have been replaced by new ones with the same tags.
"""

import time

from protocols import AwsError, el, raw, members, iso8601, q_list
from state import ACCOUNT, new_uuid

import ec2

ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress")


def create_group(store, name, instances=None, size=None, min_size=None,
                 max_size=None, refresh_seconds=3.0, tags=None):
    with store.lock:
        group = {"name": name,
                 "arn": f"arn:aws:autoscaling:{store.region}:{ACCOUNT}:autoScalingGroup:"
                        f"{new_uuid()}:autoScalingGroupName/{name}",
                 "instances": [], "created": time.time(),
                 "refresh_seconds": float(refresh_seconds), "tags": dict(tags or {}),
                 "refreshes": []}
        store.data["asgs"][name] = group
        for iid in instances or []:
            inst = store.data["instances"].get(iid)
            if inst is None:
                inst = ec2.new_instance(store, tags=group["tags"], instance_id=iid, asg=name)
            inst["asg"] = name
            inst["Tags"]["aws:autoscaling:groupName"] = name
            group["instances"].append(iid)
        for _ in range(int(size or 0)):
            inst = ec2.new_instance(store, tags=group["tags"], asg=name)
            group["instances"].append(inst["InstanceId"])
        n = len(group["instances"])
        group["desired"] = n
        group["min"] = n if min_size is None else int(min_size)
        group["max"] = max(n, int(max_size or n))
        store.save()
        return group


def tick(store):
    now = time.time()
    with store.lock:
        changed = False
        for g in store.data["asgs"].values():
            for r in g["refreshes"]:
                if r["Status"] in ("Pending", "InProgress"):
                    dur = max(g["refresh_seconds"], 0.0)
                    done = dur == 0 or now - r["StartTime"] >= dur
                    if done:
                        r["Status"], r["EndTime"] = "Successful", now
                        r["PercentageComplete"] = 100
                        r["StatusReason"] = None
                        r["InstancesToUpdate"] = 0
                        for iid in list(g["instances"]):
                            if iid in store.data["instances"]:
                                ec2.terminate(store, iid, respawn=True)
                        changed = True
                    else:
                        r["Status"] = "InProgress"
                        r["PercentageComplete"] = int(100 * (now - r["StartTime"]) / dur)
                elif r["Status"] == "Cancelling":
                    r["Status"], r["EndTime"] = "Cancelled", now
                    changed = True
        if changed:
            store.save()


def _group(store, name):
    g = store.data["asgs"].get(name or "")
    if g is None:
        raise AwsError("ValidationError", f"AutoScalingGroup name not found - "
                       f"AutoScalingGroup '{name}' not found")
    return g


def refresh_xml(g, r):
    prefs = r.get("Preferences") or {}
    pref = "".join(el(k, v) for k, v in prefs.items())
    return (el("InstanceRefreshId", r["InstanceRefreshId"])
            + el("AutoScalingGroupName", g["name"]) + el("Status", r["Status"])
            + el("StatusReason", r.get("StatusReason"))
            + el("StartTime", iso8601(r["StartTime"]))
            + (el("EndTime", iso8601(r["EndTime"])) if r.get("EndTime") else "")
            + el("PercentageComplete", r["PercentageComplete"])
            + el("InstancesToUpdate", r["InstancesToUpdate"])
            + (raw("Preferences", pref) if pref else ""))


def group_xml(store, g):
    insts = []
    for iid in g["instances"]:
        inst = store.data["instances"].get(iid)
        if inst is None:
            continue
        life = {"pending": "Pending", "running": "InService"}.get(inst["State"], "Terminating")
        insts.append(el("InstanceId", iid) + el("InstanceType", inst["InstanceType"])
                     + el("AvailabilityZone", inst["AvailabilityZone"])
                     + el("LifecycleState", life) + el("HealthStatus", "Healthy")
                     + el("ProtectedFromScaleIn", False))
    tags = [el("ResourceId", g["name"]) + el("ResourceType", "auto-scaling-group")
            + el("Key", k) + el("Value", v) + el("PropagateAtLaunch", True)
            for k, v in g["tags"].items()]
    return (el("AutoScalingGroupName", g["name"]) + el("AutoScalingGroupARN", g["arn"])
            + el("MinSize", g["min"]) + el("MaxSize", g["max"])
            + el("DesiredCapacity", g["desired"]) + el("DefaultCooldown", 300)
            + members("AvailabilityZones", [store.region + "a"])
            + el("HealthCheckType", "EC2") + el("HealthCheckGracePeriod", 300)
            + members("Instances", insts) + el("CreatedTime", iso8601(g["created"]))
            + members("Tags", tags))


def handle(store, call):
    p = call.params
    ec2.tick(store)
    tick(store)
    a = call.action
    if a == "StartInstanceRefresh":
        name = p.get("AutoScalingGroupName")
        prefs = {}
        for k, v in p.items():
            if k.startswith("Preferences.") and k.count(".") == 1:
                prefs[k.split(".", 1)[1]] = v
        if "MinHealthyPercentage" in prefs:
            mhp = int(prefs["MinHealthyPercentage"])
            if not 0 <= mhp <= 100:
                raise AwsError("ValidationError", "1 validation error detected: Value "
                               f"'{mhp}' at 'preferences.minHealthyPercentage' failed to "
                               "satisfy constraint: Member must have value less than or "
                               "equal to 100")
        call.log.update({"AutoScalingGroupName": name, "Preferences": prefs,
                         "Strategy": p.get("Strategy", "Rolling")})
        with store.lock:
            g = _group(store, name)
            if any(r["Status"] in ACTIVE for r in g["refreshes"]):
                raise AwsError("InstanceRefreshInProgress", "An Instance Refresh is "
                               "already in progress and blocks the execution of this "
                               "Instance Refresh.")
            r = {"InstanceRefreshId": new_uuid(), "Status": "Pending",
                 "StartTime": time.time(), "EndTime": None, "PercentageComplete": 0,
                 "InstancesToUpdate": len(g["instances"]),
                 "Strategy": p.get("Strategy", "Rolling"), "Preferences": prefs,
                 "StatusReason": None}
            g["refreshes"].append(r)
            store.save()
            call.log["InstanceRefreshId"] = r["InstanceRefreshId"]
            return el("InstanceRefreshId", r["InstanceRefreshId"])
    if a == "DescribeInstanceRefreshes":
        name = p.get("AutoScalingGroupName")
        ids = q_list(p, "InstanceRefreshIds")
        with store.lock:
            g = _group(store, name)
            rs = [r for r in reversed(g["refreshes"])
                  if not ids or r["InstanceRefreshId"] in ids]
            maxr = int(p.get("MaxRecords", 50))
            start = int(p.get("NextToken") or 0)
            page = rs[start:start + maxr]
            out = members("InstanceRefreshes", [refresh_xml(g, r) for r in page])
            if start + maxr < len(rs):
                out += el("NextToken", str(start + maxr))
            return out
    if a == "CancelInstanceRefresh":
        with store.lock:
            g = _group(store, p.get("AutoScalingGroupName"))
            act = [r for r in g["refreshes"] if r["Status"] in ("Pending", "InProgress")]
            if not act:
                raise AwsError("ActiveInstanceRefreshNotFound", "No in progress or "
                               "pending Instance Refresh found for Auto Scaling group "
                               f"{g['name']}")
            act[0]["Status"] = "Cancelling"
            store.save()
            return el("InstanceRefreshId", act[0]["InstanceRefreshId"])
    if a == "DescribeAutoScalingGroups":
        names = q_list(p, "AutoScalingGroupNames")
        with store.lock:
            gs = [g for n, g in store.data["asgs"].items() if not names or n in names]
            return members("AutoScalingGroups", [group_xml(store, g) for g in gs])
    raise AwsError("InvalidAction", f"Could not find operation {a} for version 2011-01-01")
