"""The deployment in progress, whichever strategy releases the stack, and the rollback alarms.

- ``codedeploy``: the group's deployment that is still active (Created, Queued, InProgress,
  Baking or Ready, the statuses in which it can still be stopped), its ECS lifecycle events as
  stages and the traffic weight of each task set (ListDeploymentTargets, GetDeploymentTarget).
- ``ecs_bluegreen``: the service deployment that is PENDING or IN_PROGRESS
  (ListServiceDeployments, DescribeServiceDeployments); ECS's lifecycle stages, each done,
  current or pending, and the production traffic weight requested for the new revision.
- ``rolling``: the service's deployment whose rollout is IN_PROGRESS (DescribeServices); no
  traffic split exists in a rolling update.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

CODEDEPLOY_ACTIVE = ("Created", "Queued", "InProgress", "Baking", "Ready")
ECS_ACTIVE = ("PENDING", "IN_PROGRESS")
ECS_STAGES = (
    "RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME", "CLEAN_UP",
)  # fmt: skip
"""ECS's service deployment lifecycle stages in the order they run (API reference)."""


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def codedeploy_deployment(cd: Any, application: str, group: str) -> dict[str, Any] | None:
    ids: list[str] = []
    for page in cd.get_paginator("list_deployments").paginate(
        applicationName=application, deploymentGroupName=group,
        includeOnlyStatuses=list(CODEDEPLOY_ACTIVE),
    ):  # fmt: skip
        ids.extend(page.get("deployments", []))
    for deployment_id in ids:
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        if info.get("status") not in CODEDEPLOY_ACTIVE:
            continue  # finished between the two calls
        out: dict[str, Any] = {
            "id": deployment_id,
            "status": info.get("status"),
            "deployment_config": info.get("deploymentConfigName"),
            "created": _iso(info.get("createTime")),
            "blue_termination_wait": bool(info.get("instanceTerminationWaitTimeStarted", False)),
            "stages": [],
            "traffic": {},
            "green_percent": None,
        }
        try:
            _codedeploy_target(cd, deployment_id, out)
        except ClientError as exc:  # the stages are detail; the deployment's status still stands
            out["detail_error"] = (f"cannot read the deployment's target: "
                                   f"{exc.response.get('Error', {}).get('Code', exc)}")  # fmt: skip
        return out
    return None


def _codedeploy_target(cd: Any, deployment_id: str, out: dict[str, Any]) -> None:
    """Stages (the ECS lifecycle events) and traffic per task set of the deployment's target."""
    targets = cd.list_deployment_targets(deploymentId=deployment_id).get("targetIds", [])
    for target_id in targets[:1]:  # an ECS deployment has one target: the service
        ecs = cd.get_deployment_target(deploymentId=deployment_id, targetId=target_id)[
            "deploymentTarget"
        ].get("ecsTarget", {})
        out["stages"] = [
            {"name": e.get("lifecycleEventName"), "state": e.get("status"),
             "started": _iso(e.get("startTime")), "ended": _iso(e.get("endTime"))}
            for e in ecs.get("lifecycleEvents", [])
        ]  # fmt: skip
        for task_set in ecs.get("taskSetsInfo", []):
            label = str(task_set.get("taskSetLabel", task_set.get("identifer", "?"))).lower()
            out["traffic"][label] = float(task_set.get("trafficWeight", 0))
        if "green" in out["traffic"]:
            out["green_percent"] = out["traffic"]["green"]


def ecs_bluegreen_deployment(ecs: Any, cluster: str, service: str) -> dict[str, Any] | None:
    if not hasattr(ecs, "list_service_deployments"):
        raise LookupError(
            "this runtime's boto3 has no ECS ListServiceDeployments: the deployment's stages "
            "cannot be read (update the function's runtime)"
        )
    resp = ecs.list_service_deployments(cluster=cluster, service=service, status=list(ECS_ACTIVE))
    arns = [d["serviceDeploymentArn"] for d in resp.get("serviceDeployments", [])]
    if not arns:
        return None
    found = ecs.describe_service_deployments(serviceDeploymentArns=arns[:1]).get(
        "serviceDeployments", []
    )
    if not found or found[0].get("status") not in ECS_ACTIVE:
        return None
    d = found[0]
    current = d.get("lifecycleStage")
    index = ECS_STAGES.index(current) if current in ECS_STAGES else -1
    target = d.get("targetServiceRevision") or {}
    weight = target.get("requestedProductionTrafficWeight")
    config = d.get("deploymentConfiguration") or {}
    return {
        "id": str(d.get("serviceDeploymentArn", "")).rsplit("/", 1)[-1],
        "arn": d.get("serviceDeploymentArn"),
        "status": d.get("status"),
        "strategy": config.get("strategy"),
        "created": _iso(d.get("createdAt")),
        "stages": [
            {"name": stage, "state": "done" if i < index else "current" if i == index else
             "pending"}
            for i, stage in enumerate(ECS_STAGES)
        ] if index >= 0 else [],  # fmt: skip
        "traffic": {"green": float(weight), "blue": 100.0 - float(weight)}
        if weight is not None else {},
        "green_percent": float(weight) if weight is not None else None,
        "tasks": {"running": target.get("runningTaskCount"),
                  "desired": target.get("requestedTaskCount")},
    }  # fmt: skip


def rolling_deployment(ecs: Any, cluster: str, service: str) -> dict[str, Any] | None:
    services = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    if not services:
        return None
    rolling = [d for d in services[0].get("deployments", [])
               if d.get("rolloutState") == "IN_PROGRESS"]  # fmt: skip
    if not rolling:
        return None
    d = rolling[0]
    return {
        "id": d.get("id"),
        "status": d.get("status"),
        "created": _iso(d.get("createdAt")),
        "task_definition": d.get("taskDefinition"),
        "stages": [{"name": "ROLLOUT", "state": d.get("rolloutState"),
                    "reason": d.get("rolloutStateReason")}],
        "traffic": {},
        "green_percent": None,
        "tasks": {"running": d.get("runningCount"), "desired": d.get("desiredCount"),
                  "failed": d.get("failedTasks")},
    }  # fmt: skip


def alarm_states(cloudwatch: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """The rollback alarms' states, in the order given; a missing alarm says so."""
    if not names:
        return []
    found: dict[str, dict[str, Any]] = {}
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNames=list(names), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    ):
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            found[alarm["AlarmName"]] = {
                "name": alarm["AlarmName"], "state": alarm.get("StateValue"),
                "reason": alarm.get("StateReason"),
                "since": _iso(alarm.get("StateUpdatedTimestamp")),
            }  # fmt: skip
    return [found.get(n, {"name": n, "state": "MISSING", "reason": "no such alarm"})
            for n in names]  # fmt: skip
