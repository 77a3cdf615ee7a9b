"""The unsigned JSON control endpoint under /_fake/ (tests only).

GET    /_fake/health                      {"ok": true, "http_port", "dns_port"}
POST   /_fake/reset                       forget everything (keeps initial keys)
GET    /_fake/calls[?action=&service=]    {"calls": [...]}   DELETE: clear
GET    /_fake/state                       full state dump
POST   /_fake/zones {name, private?, vpc_id?, vpc_region?, comment?} -> {id, name}
GET    /_fake/zones                       {"zones": [{id, name, private}]}
GET    /_fake/zones/<id>/records[?view=dns]  {"records": [...]} (API or published view)
POST   /_fake/zones/<id>/records {records: [{Name, Type, TTL, Values}]}  direct upsert
POST   /_fake/zones/<id>/race {after, records, count?}  another writer: upsert `records`
                                  right after each of the next `count` (1) `after` calls answered
GET    /_fake/changes                     {"changes": [{id, zone_id, status}]}
POST   /_fake/change-delay {seconds}
POST   /_fake/credentials {access_key, secret_key, token?, arn?, expires_in?}
POST   /_fake/credentials/expire {access_key}
POST   /_fake/roles {arn, external_id?, deny?}
POST   /_fake/deny {action, access_key?, service?, principal? (ARN glob)}          DELETE: clear all
POST   /_fake/faults {action, kind, count?, probability?, seed?, delay_ms?,
                      service?, code?, status?, message?}   GET: list  DELETE: clear
POST   /_fake/rate-limit {service | action, per_second, burst?}  GET: buckets  DELETE
POST   /_fake/secrets {name, string? | binary? (base64), description?, tags?}
GET    /_fake/secrets                     every secret with versions and values
POST   /_fake/instances {instances: [{tags, state?, id?, asg?, instance_type?}]}
GET    /_fake/instances
POST   /_fake/asgs {name, instances?: [ids], size?, tags?, refresh_seconds?}
GET    /_fake/asgs
POST   /_fake/ecs/services {cluster, service, task_definition?, desired?, rollout_seconds?}
GET    /_fake/ecs/services
POST   /_fake/metadata {ecs_id?, ecs_token?, imds_role?, imds_disabled?, duration?}
"""

import json
import time
import urllib.parse

import autoscaling
import ec2
import ecs
import faults
import metadata
import route53
import secretsmanager


def _resp(status, obj):
    return status, {"Content-Type": "application/json"}, json.dumps(obj, default=str).encode()


def handle(server, call):
    store = server.store
    try:
        body = json.loads(call.body) if call.body else {}
    except ValueError as e:
        return _resp(400, {"error": f"bad JSON: {e}"})
    if body is None:
        body = {}
    if not isinstance(body, dict):
        return _resp(400, {"error": "the body must be a JSON object"})
    parts = [urllib.parse.unquote(p) for p in call.path.split("/")[2:] if p]
    m = call.method
    try:
        return _route(server, store, m, parts, call.query, body)
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        return _resp(400, {"error": f"{type(e).__name__}: {e}"})
    except route53.AwsError as e:
        return _resp(404 if e.status == 404 else 400, {"error": e.message, "code": e.code})


def _route(server, store, m, parts, query, body):
    p0 = parts[0] if parts else ""
    if p0 == "health":
        return _resp(200, {"ok": True, "dns_port": server.dns_port,
                           "endpoint": server.endpoint})
    if p0 == "reset" and m == "POST":
        store.reset()
        return _resp(200, {"ok": True})
    if p0 == "state":
        return _resp(200, store.snapshot())
    if p0 == "calls":
        if m == "DELETE" or (m == "POST" and parts[1:] == ["clear"]):
            with store.lock:
                store.calls.clear()
            return _resp(200, {"ok": True})
        with store.lock:
            calls = list(store.calls)
        if query.get("action"):
            calls = [c for c in calls if c["action"] == query["action"]]
        if query.get("service"):
            calls = [c for c in calls if c["service"] == query["service"]]
        return _resp(200, {"calls": calls})
    if p0 == "zones":
        if len(parts) == 1 and m == "POST":
            vpcs = []
            if body.get("private") or body.get("vpc_id"):
                vpcs = [{"VPCRegion": body.get("vpc_region", store.region),
                         "VPCId": body.get("vpc_id", "vpc-0fake0001")}]
            zone, _ = route53.create_zone(store, body["name"], private=bool(vpcs),
                                          vpcs=vpcs, comment=body.get("comment"))
            return _resp(200, {"id": zone["id"], "name": zone["name"]})
        if len(parts) == 1:
            with store.lock:
                return _resp(200, {"zones": [{"id": z["id"], "name": z["name"],
                                              "private": z["private"]}
                                             for z in store.data["zones"].values()]})
        if len(parts) == 3 and parts[2] == "race" and m == "POST":
            route53.add_race(store, parts[1], body["after"], body["records"], body.get("count", 1))
            return _resp(200, {"ok": True})
        if len(parts) == 3 and parts[2] == "records":
            if m == "POST":
                route53.seed_records(store, parts[1], body["records"])
                return _resp(200, {"ok": True})
            route53.tick(store)
            with store.lock:
                zone = route53.get_zone(store, parts[1])
                return _resp(200, {"records": route53.records_json(
                    zone, published=query.get("view") == "dns")})
    if p0 == "changes":
        route53.tick(store)
        with store.lock:
            return _resp(200, {"changes": [{"id": c["id"], "zone_id": c["zone_id"],
                                            "status": c["status"], "seq": c["seq"]}
                                           for c in store.data["changes"].values()]})
    if p0 == "change-delay" and m == "POST":
        store.change_delay = float(body["seconds"])
        return _resp(200, {"ok": True})
    if p0 == "credentials" and m == "POST":
        if parts[1:] == ["expire"]:
            with store.lock:
                store.data["credentials"][body["access_key"]]["expires"] = time.time() - 1
                store.save()
            return _resp(200, {"ok": True})
        exp = time.time() + float(body["expires_in"]) if body.get("expires_in") else None
        store.add_credentials(body["access_key"], body["secret_key"], body.get("token"),
                              body.get("arn"), exp)
        return _resp(200, {"ok": True})
    if p0 == "roles" and m == "POST":
        with store.lock:
            store.data["roles"][body["arn"]] = {"external_id": body.get("external_id"),
                                                "deny": bool(body.get("deny"))}
            store.save()
        return _resp(200, {"ok": True})
    if p0 == "deny":
        if m == "DELETE":
            with store.lock:
                store.denies.clear()
            return _resp(200, {"ok": True})
        faults.add_deny(store, body["action"], body.get("access_key"), body.get("service"),
                        body.get("principal"))
        return _resp(200, {"ok": True})
    if p0 == "faults":
        if m == "DELETE":
            with store.lock:
                store.faults.clear()
            return _resp(200, {"ok": True})
        if m == "POST":
            rule = faults.add_fault(store, body)
            return _resp(200, {"ok": True, "rule": rule})
        with store.lock:
            return _resp(200, {"faults": [dict(f) for f in store.faults]})
    if p0 == "rate-limit":
        if m == "DELETE":
            with store.lock:
                store.rate_limits.clear()
            return _resp(200, {"ok": True})
        if m == "POST":
            faults.set_rate_limit(store, body.get("action") or body["service"],
                                  body.get("per_second"), body.get("burst"))
            return _resp(200, {"ok": True})
        with store.lock:
            return _resp(200, {"rate_limits": {k: dict(v) for k, v in store.rate_limits.items()}})
    if p0 == "secrets":
        if m == "POST":
            return _resp(200, secretsmanager.seed_secret(
                store, body["name"], string=body.get("string"), binary=body.get("binary"),
                description=body.get("description"), tags=body.get("tags"),
                version_id=body.get("version_id")))
        with store.lock:
            return _resp(200, {"secrets": list(store.snapshot()["secrets"].values())})
    if p0 == "instances":
        if m == "POST":
            ids = []
            with store.lock:
                for spec in body.get("instances", []):
                    inst = ec2.new_instance(store, tags=spec.get("tags"),
                                            state=spec.get("state", "running"),
                                            instance_id=spec.get("id"),
                                            asg=spec.get("asg"),
                                            instance_type=spec.get("instance_type", "t3.micro"))
                    if spec.get("asg") and spec["asg"] in store.data["asgs"]:
                        store.data["asgs"][spec["asg"]]["instances"].append(inst["InstanceId"])
                    ids.append(inst["InstanceId"])
                store.save()
            return _resp(200, {"ids": ids})
        ec2.tick(store)
        with store.lock:
            return _resp(200, {"instances": list(store.snapshot()["instances"].values())})
    if p0 == "asgs":
        if m == "POST":
            g = autoscaling.create_group(store, body["name"], instances=body.get("instances"),
                                         size=body.get("size"), min_size=body.get("min"),
                                         max_size=body.get("max"),
                                         refresh_seconds=body.get("refresh_seconds", 3.0),
                                         tags=body.get("tags"))
            return _resp(200, {"name": g["name"], "arn": g["arn"],
                               "instances": list(g["instances"])})
        ec2.tick(store)
        autoscaling.tick(store)
        with store.lock:
            return _resp(200, {"asgs": list(store.snapshot()["asgs"].values())})
    if p0 == "ecs" and parts[1:2] == ["services"]:
        if m == "POST":
            svc = ecs.create_service(store, body.get("cluster"), body["service"],
                                     task_definition=body.get("task_definition"),
                                     desired=body.get("desired", 2),
                                     rollout_seconds=body.get("rollout_seconds", 2.0))
            return _resp(200, {"arn": svc["arn"]})
        ecs.tick(store)
        with store.lock:
            return _resp(200, {"services": list(store.snapshot()["ecs"].values())})
    if p0 == "metadata" and m == "POST":
        return _resp(200, metadata.configure(store, body))
    return _resp(404, {"error": f"unknown control path {'/'.join(parts)} ({m})"})
