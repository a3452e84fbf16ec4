"""``deplight status``: what serves a stack right now, read from its outputs and from AWS.

The stack outputs (through :class:`~rollback.port.StackPort`) name the cluster, service, target
groups, listener and deployment group; boto3 then reads the live state: the image and task
definition that serve, running and desired tasks, target health per group, the production
listener's traffic split, the deployment in progress (CodeDeploy, ECS blue/green or a rolling
update) and the alarms in ALARM. Read-only: nothing is changed, nothing is recorded.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from components.contract import (
    BLUE_TARGET_GROUP_NAME,
    CLUSTER_NAME,
    CODEDEPLOY_APPLICATION,
    CODEDEPLOY_GROUP,
    CONTAINER_NAME,
    DEPLOY_STRATEGY,
    GREEN_TARGET_GROUP_NAME,
    IMAGE_TAG_KEY,
    PROD_LISTENER_ARN,
    SERVICE_NAME,
    SERVICE_URL,
    Strategy,
)
from rollback import aws as awsapi
from rollback.port import StackPort

log = logging.getLogger("deplight.release")

TARGET_GROUP_KEYS = (("blue", BLUE_TARGET_GROUP_NAME), ("green", GREEN_TARGET_GROUP_NAME))


def _name_of_group(arn: str) -> str:
    """``arn:...:targetgroup/web-prod-blue/abc`` -> ``web-prod-blue``."""
    parts = arn.split(":")[-1].split("/")
    return parts[1] if len(parts) > 2 else arn


def traffic_split(elbv2: Any, listener_arn: str) -> dict[str, float]:
    """Target group name -> percent of the production listener's traffic.

    The first non-default rule that forwards wins (ECS blue/green shifts traffic by rewriting
    the listener rule); otherwise the listener's default action (CodeDeploy rewrites that)."""
    rules = elbv2.describe_rules(ListenerArn=listener_arn).get("Rules", [])
    ordered = sorted((r for r in rules if not r.get("IsDefault")),
                     key=lambda r: int(r.get("Priority", "0")))  # fmt: skip
    ordered += [r for r in rules if r.get("IsDefault")]
    for rule in ordered:
        for action in rule.get("Actions", []):
            if action.get("Type") != "forward":
                continue
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
            if not groups and action.get("TargetGroupArn"):
                groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
            total = sum(int(g.get("Weight", 1)) for g in groups)
            if total:
                return {_name_of_group(g["TargetGroupArn"]): 100.0 * int(g.get("Weight", 1)) / total
                        for g in groups}  # fmt: skip
    return {}


def rolling_update(ecs: Any, cluster: str, service: str) -> dict[str, Any] | None:
    """An ECS rolling update still in progress (``rolloutState: IN_PROGRESS``), if any."""
    services = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    for d in services[0].get("deployments", []) if services else []:
        if d.get("rolloutState") == "IN_PROGRESS":
            return {"kind": Strategy.ROLLING.value, "id": d.get("id"), "status": "IN_PROGRESS",
                    "task_definition": d.get("taskDefinition"),
                    "running": d.get("runningCount"), "desired": d.get("desiredCount"),
                    "describe": f"rolling update {d.get('id')} to "
                                f"{str(d.get('taskDefinition', '')).rsplit('/', 1)[-1]}: "
                                f"{d.get('runningCount', 0)}/{d.get('desiredCount', 0)} running"}  # fmt: skip
    return None


def deployment_in_progress(aws: awsapi.Aws, outputs: Mapping[str, Any]) -> dict[str, Any] | None:
    strategy = outputs.get(DEPLOY_STRATEGY)
    cluster, service = outputs.get(CLUSTER_NAME), outputs.get(SERVICE_NAME)
    if strategy == Strategy.CODEDEPLOY and outputs.get(CODEDEPLOY_APPLICATION):
        state = awsapi.active_deployment(aws.client("codedeploy"),
                                         str(outputs[CODEDEPLOY_APPLICATION]),
                                         str(outputs.get(CODEDEPLOY_GROUP)))  # fmt: skip
        if state:
            return {"kind": Strategy.CODEDEPLOY.value, "id": state.id, "status": state.status,
                    "traffic": dict(state.traffic), "describe": state.describe()}  # fmt: skip
    elif strategy == Strategy.ECS_BLUEGREEN and cluster and service:
        ecs_state = awsapi.active_service_deployment(aws.client("ecs"), str(cluster), str(service))
        if ecs_state:
            return {"kind": Strategy.ECS_BLUEGREEN.value, "id": ecs_state.id, "status": ecs_state.status,
                    "stage": ecs_state.stage, "describe": ecs_state.describe()}  # fmt: skip
    if cluster and service:
        return rolling_update(aws.client("ecs"), str(cluster), str(service))
    return None


def status_report(stack: StackPort, aws: awsapi.Aws) -> dict[str, Any]:
    """Everything ``deplight status`` shows, as plain data (the ``--json`` document)."""
    outputs = stack.outputs()
    cluster, service = outputs.get(CLUSTER_NAME), outputs.get(SERVICE_NAME)
    report: dict[str, Any] = {
        "stack": stack.name, "strategy": outputs.get(DEPLOY_STRATEGY),
        "service_url": outputs.get(SERVICE_URL), "configured_image_tag":
        stack.get_config(IMAGE_TAG_KEY), "service": None, "image": None, "target_groups": [],
        "traffic": {}, "deployment": None, "alarms": [], "notes": [],
    }  # fmt: skip
    if not cluster or not service:
        report["notes"].append("the stack has no ECS service outputs yet (before its first `up`)")
        return report
    ecs, elbv2 = aws.client("ecs"), aws.client("elbv2")
    state = awsapi.service_state(ecs, str(cluster), str(service))
    if state is None:
        report["notes"].append(f"ECS has no service {service} in cluster {cluster} (bootstrap: no "
                               "image released yet, or it was deleted)")  # fmt: skip
    else:
        report["service"] = {"name": service, "cluster": cluster, "controller": state.controller,
                             "task_definition": state.task_definition, "running": state.running,
                             "desired": state.desired}  # fmt: skip
        if state.task_definition and outputs.get(CONTAINER_NAME):
            report["image"] = awsapi.container_image(ecs, state.task_definition,
                                                     str(outputs[CONTAINER_NAME]))  # fmt: skip
    for color, key in TARGET_GROUP_KEYS:
        name = outputs.get(key)
        if not name:
            continue
        arn = awsapi.target_group_arn(elbv2, str(name))
        targets = awsapi.target_health(elbv2, arn) if arn else []
        report["target_groups"].append({
            "color": color, "name": name, "exists": arn is not None,
            "health": dict(Counter(s for _, s, _ in targets)),
            "targets": [{"id": t, "state": s, "reason": r} for t, s, r in targets],
        })  # fmt: skip
    if outputs.get(PROD_LISTENER_ARN):
        report["traffic"] = traffic_split(elbv2, str(outputs[PROD_LISTENER_ARN]))
    report["deployment"] = deployment_in_progress(aws, outputs)
    alarms = aws.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{service}-",
                                                      StateValue="ALARM")  # fmt: skip
    # StateValue again here: moto's server applies only the name prefix of the two filters.
    report["alarms"] = [{"name": a["AlarmName"], "reason": a.get("StateReason", ""),
                         "since": str(a.get("StateUpdatedTimestamp", ""))}
                        for a in alarms.get("MetricAlarms", [])
                        if a.get("StateValue") == "ALARM"]  # fmt: skip
    return report


def render_status(report: Mapping[str, Any]) -> str:
    lines = [f"Status of stack {report['stack']}"
             + (f" (strategy {report['strategy']})" if report.get("strategy") else "")]  # fmt: skip
    svc = report.get("service")
    if report.get("service_url"):
        lines.append(f"  url:        {report['service_url']}")
    if svc:
        td = str(svc["task_definition"] or "?").rsplit("/", 1)[-1]
        lines.append(
            f"  serving:    {report.get('image') or '(image unknown)'} (task definition {td})"
        )
        lines.append(f"  tasks:      {svc['running']} running / {svc['desired']} desired "
                     f"({svc['controller']} controller)")  # fmt: skip
    tag = report.get("configured_image_tag")
    if tag and report.get("image") and not str(report["image"]).endswith(f":{tag}"):
        lines.append(
            f"  note:       the stack config says image_tag {tag}, which is not what serves"
        )
    for group in report.get("target_groups", []):
        health = ", ".join(f"{n} {s}" for s, n in sorted(group["health"].items())) or "no targets"
        if not group["exists"]:
            health = "does not exist in AWS"
        lines.append(f"  {group['color']:<6} {group['name']}: {health}")
        for t in group["targets"]:
            if t["state"] != "healthy":
                lines.append(
                    f"           {t['id']} {t['state']}"
                    + (f" ({t['reason']})" if t["reason"] else "")
                )
    if report.get("traffic"):
        lines.append("  traffic:    " + ", ".join(f"{name} {share:g}%" for name, share in
                                                  sorted(report["traffic"].items())))  # fmt: skip
    dep = report.get("deployment")
    lines.append(f"  deployment: {dep['describe'] if dep else 'none in progress'}")
    alarms = report.get("alarms") or []
    lines.append("  alarms:     " + (", ".join(a["name"] for a in alarms) + " in ALARM"
                                     if alarms else "none in ALARM"))  # fmt: skip
    for a in alarms:
        if a["reason"]:
            lines.append(f"           {a['name']}: {a['reason']}")
    lines += [f"  note:       {n}" for n in report.get("notes", [])]
    return "\n".join(lines)
