"""ECS (JSON 1.1, AmazonEC2ContainerServiceV20141113): UpdateService,
DescribeServices.

Service: {"cluster", "name", "arn", "cluster_arn", "task_definition",
          "desired", "rollout_seconds", "deployments": [newest first]}
A new deployment (forceNewDeployment, new task definition or count) becomes
PRIMARY; the old PRIMARY turns ACTIVE and disappears once the rollout
(rollout_seconds) is done.
"""

import time

from protocols import AwsError
from state import ACCOUNT, rand_id


def _cluster_name(c):
    c = c or "default"
    return c.rsplit("/", 1)[-1] if c.startswith("arn:") else c


def _service_name(s):
    return (s or "").rsplit("/", 1)[-1] if (s or "").startswith("arn:") else (s or "")


def _deployment(svc, now):
    return {"id": "ecs-svc/" + rand_id("", 19, "0123456789"), "status": "PRIMARY",
            "taskDefinition": svc["task_definition"], "desiredCount": svc["desired"],
            "pendingCount": svc["desired"], "runningCount": 0, "createdAt": now,
            "updatedAt": now, "launchType": "EC2", "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": "ECS deployment ecs-svc in progress."}


def create_service(store, cluster, name, task_definition=None, desired=2,
                   rollout_seconds=2.0):
    cluster = _cluster_name(cluster)
    now = time.time()
    with store.lock:
        svc = {"cluster": cluster, "name": name,
               "arn": f"arn:aws:ecs:{store.region}:{ACCOUNT}:service/{cluster}/{name}",
               "cluster_arn": f"arn:aws:ecs:{store.region}:{ACCOUNT}:cluster/{cluster}",
               "task_definition": task_definition or
               f"arn:aws:ecs:{store.region}:{ACCOUNT}:task-definition/{name}:1",
               "desired": int(desired), "rollout_seconds": float(rollout_seconds),
               "created": now, "deployments": []}
        d = _deployment(svc, now)
        d.update(runningCount=svc["desired"], pendingCount=0, rolloutState="COMPLETED",
                 rolloutStateReason="ECS deployment completed.")
        svc["deployments"].append(d)
        store.data["ecs"][f"{cluster}/{name}"] = svc
        store.save()
        return svc


def tick(store):
    now = time.time()
    with store.lock:
        for svc in store.data["ecs"].values():
            prim = svc["deployments"][0]
            if prim["rolloutState"] == "IN_PROGRESS" and \
                    now - prim["createdAt"] >= svc["rollout_seconds"]:
                prim.update(rolloutState="COMPLETED", runningCount=prim["desiredCount"],
                            pendingCount=0, updatedAt=now,
                            rolloutStateReason="ECS deployment completed.")
                svc["deployments"] = [prim]
                store.save()


def service_json(svc):
    prim = svc["deployments"][0]
    return {"serviceArn": svc["arn"], "serviceName": svc["name"],
            "clusterArn": svc["cluster_arn"], "status": "ACTIVE",
            "desiredCount": svc["desired"], "runningCount": prim["runningCount"],
            "pendingCount": prim["pendingCount"], "launchType": "EC2",
            "taskDefinition": svc["task_definition"],
            "deployments": [dict(d) for d in svc["deployments"]],
            "createdAt": svc["created"], "schedulingStrategy": "REPLICA",
            "deploymentConfiguration": {"maximumPercent": 200,
                                        "minimumHealthyPercent": 100}}


def handle(store, call):
    b = call.json
    tick(store)
    a = call.action
    if a == "UpdateService":
        cluster = _cluster_name(b.get("cluster"))
        name = _service_name(b.get("service"))
        call.log.update({"cluster": cluster, "service": name,
                         "forceNewDeployment": bool(b.get("forceNewDeployment"))})
        now = time.time()
        with store.lock:
            if not any(s["cluster"] == cluster for s in store.data["ecs"].values()):
                raise AwsError("ClusterNotFoundException", "Cluster not found.")
            svc = store.data["ecs"].get(f"{cluster}/{name}")
            if svc is None:
                raise AwsError("ServiceNotFoundException", "Service not found.")
            new = bool(b.get("forceNewDeployment"))
            if b.get("taskDefinition") and b["taskDefinition"] != svc["task_definition"]:
                svc["task_definition"] = b["taskDefinition"]
                new = True
            if b.get("desiredCount") is not None:
                svc["desired"] = int(b["desiredCount"])
                svc["deployments"][0]["desiredCount"] = svc["desired"]
            if new:
                for d in svc["deployments"]:
                    d["status"] = "ACTIVE"
                svc["deployments"].insert(0, _deployment(svc, now))
                call.log["deployment_id"] = svc["deployments"][0]["id"]
            store.save()
            return {"service": service_json(svc)}
    if a == "DescribeServices":
        cluster = _cluster_name(b.get("cluster"))
        with store.lock:
            if not any(s["cluster"] == cluster for s in store.data["ecs"].values()):
                raise AwsError("ClusterNotFoundException", "Cluster not found.")
            out, failures = [], []
            for s in b.get("services") or []:
                svc = store.data["ecs"].get(f"{cluster}/{_service_name(s)}")
                if svc is None:
                    failures.append({"arn": f"arn:aws:ecs:{store.region}:{ACCOUNT}:service/"
                                            f"{cluster}/{_service_name(s)}",
                                     "reason": "MISSING"})
                else:
                    out.append(service_json(svc))
            return {"services": out, "failures": failures}
    raise AwsError("UnknownOperationException", "")
